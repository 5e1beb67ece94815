"""First-order optimizer updates: fused, in place, over the flat parameters.

Every optimizer keeps its state in ``state``, a ``(n_slots, n_params)`` array
allocated once per fit, and its hyper-parameters in a float64 array ``hyper``.
``optimizer_step`` updates the parameter range ``[lo, hi)`` (each worker of a
parallel epoch owns one range) and selects the update by code; see
``skdeep.optim`` for the registry of names.

The L2 penalty is folded into the same pass: each kernel adds ``l2 * theta``
to the gradient and returns ``sum(theta ** 2)`` of the values it read, which is
what the loss needs, so the penalty costs no pass of its own. Kernels loop from
0 over slices (see ``linalg``) so that numba can vectorise them.
"""

import numpy as np

from ._jit import jit

SGD, ADAM = range(2)


@jit
def sgd_update(theta, grad, velocity, lr, momentum, nesterov, l2):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    lr_ = dt(lr)
    mu = dt(momentum)
    c = dt(l2)
    squares = 0.0
    if momentum == 0.0:
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            theta[i] = th - lr_ * (grad[i] + c * th)
        return squares
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = grad[i] + c * th
        v = mu * velocity[i] - lr_ * g
        velocity[i] = v
        if nesterov:
            theta[i] = th + mu * v - lr_ * g
        else:
            theta[i] = th + v
    return squares


@jit
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, l2):
    """Adam as scikit-learn writes it (Kingma & Ba, 2014, section 2):
    ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``."""
    dt = theta.dtype.type
    step = dt(lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t))
    b1 = dt(beta1)
    b2 = dt(beta2)
    c1 = dt(1.0 - beta1)
    c2 = dt(1.0 - beta2)
    e = dt(eps)
    c = dt(l2)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = grad[i] + c * th
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        theta[i] = th - step * mi / (np.sqrt(vi) + e)
    return squares


@jit
def _update_slice(code, theta, grad, state, hyper, lo, hi, t, lr, l2):
    if code == ADAM:
        return adam_update(
            theta[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], lr,
            hyper[0], hyper[1], hyper[2], t, l2,
        )
    return sgd_update(
        theta[lo:hi], grad[lo:hi], state[0, lo:hi], lr, hyper[0], hyper[1] != 0.0, l2
    )


@jit
def optimizer_step(code, theta, grad, state, hyper, lo, hi, n_weights, t, lr, l2):
    """Step ``t`` (1-based) of optimizer ``code`` on ``theta[lo:hi]``.

    The L2 coefficient ``l2`` applies to the weights (indices below
    ``n_weights``), never to the biases. Returns ``sum(w ** 2)`` over the
    weights of the range, before the step.
    """
    mid = min(max(n_weights, lo), hi)
    squares = 0.0
    if mid > lo:
        squares = _update_slice(code, theta, grad, state, hyper, lo, mid, t, lr, l2)
    if hi > mid:
        _update_slice(code, theta, grad, state, hyper, mid, hi, t, lr, 0.0)
    return squares
