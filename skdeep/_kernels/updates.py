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
  times the step each coordinate just took (``lr`` for SGD, the adaptive
  per-coordinate step for AdaGrad, RMSProp and Adam), which sets weights
  exactly to zero instead of making them oscillate around it as a subgradient
  would.

The data gradient is multiplied by ``grad_scale`` first (gradient-norm
clipping). Each kernel returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over
the values it read, which is what the loss needs. Kernels loop from 0 over
slices (see ``linalg``) so that numba can vectorise them.
"""

import numpy as np

from ._jit import jit

SGD, ADAM, ADAGRAD, RMSPROP, ADAMW, ADAHESSIAN = range(6)


@jit
def soft_threshold(w, threshold):
    """The proximal operator of ``threshold * |w|``."""
    if w > threshold:
        return w - threshold
    if w < -threshold:
        return w + threshold
    return w - w  # a zero of w's type


@jit
def _store(theta, i, th, new, threshold, use_l1):
    """``theta[i] = new``, soft-thresholded by ``threshold`` under L1;
    returns ``|th|``, the old value's share of the L1 penalty (0 without)."""
    if use_l1:
        theta[i] = soft_threshold(new, threshold)
        return abs(th)
    theta[i] = new
    return th - th


@jit
def _penalties(theta, grad, prior, i, gs, c, pc, use_prior):
    """``(theta_i, g_i, theta_i^2, (theta_i - prior_i)^2)``: the scaled
    gradient with the L2 and prior terms added, and what the loss needs."""
    th = theta[i]
    g = gs * grad[i] + c * th
    distance = th - th  # a zero of theta's type
    if use_prior:
        diff = th - prior[i]
        distance = diff * diff
        g += pc * diff
    return th, g, th * th, distance


@jit
def sgd_update(theta, grad, velocity, lr, momentum, nesterov, gs, l2, l1, prior_coef, prior):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    lr_, mu, g_s, c, pc = dt(lr), dt(momentum), dt(gs), dt(l2), dt(prior_coef)
    threshold = dt(l1 * lr)
    use_prior, use_l1 = prior_coef > 0, l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th, g, square, distance = _penalties(theta, grad, prior, i, g_s, c, pc, use_prior)
        squares += square
        distances += distance
        if momentum == 0.0:
            new = th - lr_ * g
        else:
            v = mu * velocity[i] - lr_ * g
            velocity[i] = v
            new = th + mu * v - lr_ * g if nesterov else th + v
        absolutes += _store(theta, i, th, new, threshold, use_l1)
    return squares, absolutes, distances


@jit
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, gs, l2, l1, prior_coef, prior, decay):
    """Adam as scikit-learn writes it (Kingma & Ba, 2014, section 2):
    ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    With ``decay > 0``, AdamW's decoupled weight decay first:
    ``theta *= 1 - lr * decay`` (Loshchilov & Hutter, 2019)."""
    dt = theta.dtype.type
    step = dt(lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t))
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(eps)
    g_s, c, pc, l1_ = dt(gs), dt(l2), dt(prior_coef), dt(l1)
    shrink = dt(1.0 - lr * decay)
    use_prior, use_l1 = prior_coef > 0, l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th, g, square, distance = _penalties(theta, grad, prior, i, g_s, c, pc, use_prior)
        squares += square
        distances += distance
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        coordinate_step = step / (np.sqrt(vi) + e)
        new = th * shrink - coordinate_step * mi
        absolutes += _store(theta, i, th, new, l1_ * coordinate_step, use_l1)
    return squares, absolutes, distances


@jit
def scaled_update(theta, grad, accumulated, lr, keep, add, eps, gs, l2, l1, prior_coef, prior):
    """Per-coordinate steps ``lr / (sqrt(a) + eps)`` with the accumulator
    ``a <- keep * a + add * g^2``: AdaGrad (Duchi, Hazan & Singer, 2011) with
    ``keep = add = 1`` (the sum of squared gradients), RMSProp (Tieleman &
    Hinton, 2012) with ``keep = rho``, ``add = 1 - rho`` (their moving
    average)."""
    dt = theta.dtype.type
    lr_, r, rc, e = dt(lr), dt(keep), dt(add), dt(eps)
    g_s, c, pc, l1_ = dt(gs), dt(l2), dt(prior_coef), dt(l1)
    use_prior, use_l1 = prior_coef > 0, l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th, g, square, distance = _penalties(theta, grad, prior, i, g_s, c, pc, use_prior)
        squares += square
        distances += distance
        a = r * accumulated[i] + rc * g * g
        accumulated[i] = a
        coordinate_step = lr_ / (np.sqrt(a) + e)
        new = th - coordinate_step * g
        absolutes += _store(theta, i, th, new, l1_ * coordinate_step, use_l1)
    return squares, absolutes, distances


@jit
def adahessian_update(theta, grad, hz, z, m, v, lr, beta1, beta2, eps, power, t, gs, l2, l1, prior_coef, prior):
    """AdaHessian (Yao et al., 2021): Adam with the squared Hessian diagonal
    in place of the squared gradient. ``z * hz`` is Hutchinson's estimate of
    the diagonal of the data term's Hessian (``hz = H z`` for random signs
    ``z``); the penalties add their constant curvature ``l2 + prior_coef``."""
    dt = theta.dtype.type
    step = dt(lr / (1.0 - beta1**t))
    correction = dt(1.0 / (1.0 - beta2**t))
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(eps)
    g_s, c, pc, l1_, k = dt(gs), dt(l2), dt(prior_coef), dt(l1), dt(power)
    curvature = c + pc
    use_prior, use_l1 = prior_coef > 0, l1 > 0
    squares = 0.0
    absolutes = 0.0
    distances = 0.0
    for i in range(theta.shape[0]):
        th, g, square, distance = _penalties(theta, grad, prior, i, g_s, c, pc, use_prior)
        squares += square
        distances += distance
        d = z[i] * hz[i] + curvature
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * d * d
        m[i] = mi
        v[i] = vi
        coordinate_step = step / (np.sqrt(vi * correction) ** k + e)
        new = th - coordinate_step * mi
        absolutes += _store(theta, i, th, new, l1_ * coordinate_step, use_l1)
    return squares, absolutes, distances


@jit
def _update_slice(code, theta, grad, state, hyper, lo, hi, t, lr, gs, l2, l1, prior_coef, prior, decay, hz, z):
    p = prior[lo:hi] if prior_coef > 0 else prior[:0]
    th, g = theta[lo:hi], grad[lo:hi]
    if code == ADAHESSIAN:
        return adahessian_update(
            th, g, hz[lo:hi], z[lo:hi], state[0, lo:hi], state[1, lo:hi], lr, hyper[0],
            hyper[1], hyper[2], hyper[3], t, gs, l2, l1, prior_coef, p,
        )
    if code == ADAM or code == ADAMW:
        return adam_update(
            th, g, state[0, lo:hi], state[1, lo:hi], lr, hyper[0], hyper[1], hyper[2],
            t, gs, l2, l1, prior_coef, p, decay,
        )
    if code == ADAGRAD:
        return scaled_update(th, g, state[0, lo:hi], lr, 1.0, 1.0, hyper[0], gs, l2, l1, prior_coef, p)
    if code == RMSPROP:
        return scaled_update(
            th, g, state[0, lo:hi], lr, hyper[0], 1.0 - hyper[0], hyper[1], gs, l2, l1,
            prior_coef, p,
        )
    return sgd_update(
        th, g, state[0, lo:hi], lr, hyper[0], hyper[1] != 0.0, gs, l2, l1, prior_coef, p
    )


@jit
def optimizer_step(code, theta, grad, state, hyper, lo, hi, n_weights, t, lr, gs, l2, l1, prior_coef, prior, hz, z):
    """Step ``t`` (1-based) of optimizer ``code`` on ``theta[lo:hi]``.

    The data gradient is scaled by ``gs``; the penalties apply to the weights
    (indices below ``n_weights``), never to the biases, as does AdamW's decay
    (``hyper[3]``). AdaHessian reads ``hz = H z`` and the probe ``z``. Returns
    ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the weights of the range,
    before the step.
    """
    decay = hyper[3] if code == ADAMW else 0.0
    mid = min(max(n_weights, lo), hi)
    penalties = (0.0, 0.0, 0.0)
    if mid > lo:
        penalties = _update_slice(
            code, theta, grad, state, hyper, lo, mid, t, lr, gs, l2, l1, prior_coef,
            prior, decay, hz, z,
        )
    if hi > mid:
        _update_slice(
            code, theta, grad, state, hyper, mid, hi, t, lr, gs, 0.0, 0.0, 0.0, prior,
            0.0, hz, z,
        )
    return penalties


@jit
def average_update(average, theta, weight):
    """``average += weight * (theta - average)``: Polyak averaging with
    ``weight = 1 / k`` at the k-th averaged step, exponential with
    ``weight = 1 - decay``."""
    w = theta.dtype.type(weight)
    for i in range(theta.shape[0]):
        average[i] += w * (theta[i] - average[i])
