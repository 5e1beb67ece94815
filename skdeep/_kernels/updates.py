"""First-order optimizer updates: fused, in place, over the flat parameters.

Every optimizer keeps its state in ``state``, a ``(n_slots, n_params)`` array
allocated once per fit, its hyper-parameters in a float64 array ``hyper`` and
its step counter in ``counters[0]``. ``optimizer_step`` selects the update by
code (see ``skdeep.optim`` for the registry of names).
"""

import numpy as np

from ._jit import jit

SGD, ADAM = range(2)


@jit
def sgd_update(theta, grad, velocity, lr, momentum, nesterov):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    lr_ = dt(lr)
    mu = dt(momentum)
    if momentum == 0.0:
        for i in range(theta.shape[0]):
            theta[i] -= lr_ * grad[i]
        return
    for i in range(theta.shape[0]):
        g = grad[i]
        v = mu * velocity[i] - lr_ * g
        velocity[i] = v
        if nesterov:
            theta[i] += mu * v - lr_ * g
        else:
            theta[i] += v


@jit
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t):
    """Adam as scikit-learn writes it (Kingma & Ba, 2014, section 2):
    ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``."""
    dt = theta.dtype.type
    step = dt(lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t))
    b1 = dt(beta1)
    b2 = dt(beta2)
    c1 = dt(1.0 - beta1)
    c2 = dt(1.0 - beta2)
    e = dt(eps)
    for i in range(theta.shape[0]):
        g = grad[i]
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        theta[i] -= step * mi / (np.sqrt(vi) + e)


@jit
def optimizer_step(code, theta, grad, state, hyper, counters, lr):
    counters[0] += 1
    if code == ADAM:
        adam_update(
            theta, grad, state[0], state[1], lr, hyper[0], hyper[1], hyper[2],
            counters[0],
        )
    else:
        sgd_update(theta, grad, state[0], lr, hyper[0], hyper[1] != 0.0)
