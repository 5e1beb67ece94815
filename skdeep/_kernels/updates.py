"""First-order optimizer updates: fused, in place, over the flat parameters.

Every optimizer keeps its state in ``state``, a ``(n_slots, n_params)`` array
allocated once per fit, and its hyper-parameters in a float64 array ``hyper``.
``optimizer_step`` updates the parameter range ``[lo, hi)`` (each worker of a
parallel epoch owns one range) and selects the update by code; see
``skdeep.optim`` for the registry of names.

The weight penalties are folded into the same pass over the weights:

- L2 (``l2``) and the pull towards a prior network (``prior_coef``, soft
  parameter sharing) are added to the gradient;
- L1 (``l1``) is a proximal step after the update: soft-thresholding by ``l1``
  times the step each coordinate just took (``lr`` for SGD, Adam's
  preconditioned step for Adam), which sets weights exactly to zero instead
  of making them oscillate around it as a subgradient would.

Each kernel returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the values
it read, which is what the loss needs. Kernels loop from 0 over slices (see
``linalg``) so that numba can vectorise them.
"""

import numpy as np

from ._jit import jit

SGD, ADAM = range(2)


@jit
def soft_threshold(w, threshold):
    """The proximal operator of ``threshold * |w|``."""
    if w > threshold:
        return w - threshold
    if w < -threshold:
        return w + threshold
    return w - w  # a zero of w's type


@jit
def sgd_update(theta, grad, velocity, lr, momentum, nesterov, l2, l1, prior_coef, prior):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    lr_ = dt(lr)
    mu = dt(momentum)
    c = dt(l2)
    pc = dt(prior_coef)
    threshold = dt(l1 * lr)
    use_prior = prior_coef > 0
    use_l1 = l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = grad[i] + c * th
        if use_prior:
            diff = th - prior[i]
            distances += diff * diff
            g += pc * diff
        if momentum == 0.0:
            new = th - lr_ * g
        else:
            v = mu * velocity[i] - lr_ * g
            velocity[i] = v
            new = th + mu * v - lr_ * g if nesterov else th + v
        if use_l1:
            absolutes += abs(th)
            new = soft_threshold(new, threshold)
        theta[i] = new
    return squares, absolutes, distances


@jit
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, l2, l1, prior_coef, prior):
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
    pc = dt(prior_coef)
    l1_ = dt(l1)
    use_prior = prior_coef > 0
    use_l1 = l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = grad[i] + c * th
        if use_prior:
            diff = th - prior[i]
            distances += diff * diff
            g += pc * diff
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        coordinate_step = step / (np.sqrt(vi) + e)
        new = th - coordinate_step * mi
        if use_l1:
            absolutes += abs(th)
            new = soft_threshold(new, l1_ * coordinate_step)
        theta[i] = new
    return squares, absolutes, distances


@jit
def _update_slice(code, theta, grad, state, hyper, lo, hi, t, lr, l2, l1, prior_coef, prior):
    p = prior[lo:hi] if prior_coef > 0 else prior[:0]
    if code == ADAM:
        return adam_update(
            theta[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], lr,
            hyper[0], hyper[1], hyper[2], t, l2, l1, prior_coef, p,
        )
    return sgd_update(
        theta[lo:hi], grad[lo:hi], state[0, lo:hi], lr, hyper[0], hyper[1] != 0.0,
        l2, l1, prior_coef, p,
    )


@jit
def optimizer_step(code, theta, grad, state, hyper, lo, hi, n_weights, t, lr, l2, l1, prior_coef, prior):
    """Step ``t`` (1-based) of optimizer ``code`` on ``theta[lo:hi]``.

    The penalties apply to the weights (indices below ``n_weights``), never to
    the biases. Returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the
    weights of the range, before the step.
    """
    mid = min(max(n_weights, lo), hi)
    penalties = (0.0, 0.0, 0.0)
    if mid > lo:
        penalties = _update_slice(
            code, theta, grad, state, hyper, lo, mid, t, lr, l2, l1, prior_coef, prior
        )
    if hi > mid:
        _update_slice(code, theta, grad, state, hyper, mid, hi, t, lr, 0.0, 0.0, 0.0, prior)
    return penalties
