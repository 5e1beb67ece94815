"""First-order optimizer updates: fused, in place, over the flat parameters.

Every optimizer keeps its state in ``state``, a ``(n_slots, n_params)`` array
allocated once per fit, and its hyper-parameters in a float64 array ``hyper``.
``optimizer_step`` updates the parameter range ``[lo, hi)`` (each worker of a
parallel epoch owns one range) and selects the update by code, a compile-time
``Constant`` (a kernel compiles only its optimizer's update); see
``skdeep.optim`` for the registry of names.

The common case is one branch-free pass per optimizer: the data gradient times
``gs`` (gradient-norm clipping) plus the L2 term ``l2 * w``, the update, and
the sum of squared weights the loss needs. The rarer penalties get passes of
their own, so that they cannot keep the compiler from vectorising that loop
(a loop with them inside ran 4-15 times slower in float32):

- the pull towards a prior network (``prior_coef``, soft parameter sharing) is
  added to the gradient in a pass before;
- L1 (``l1``) is a proximal step in a pass after: soft-thresholding by ``l1``
  times the step each coordinate just took (``lr`` for SGD, the adaptive
  per-coordinate step for AdaGrad, RMSProp, Adam and AdaHessian, recomputed
  from the updated state), which sets weights exactly to zero instead of
  making them oscillate around it as a subgradient would.

``optimizer_step`` returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the
weights before the step. Kernels loop from 0 over slices (see ``linalg``) so
that numba can vectorise them.
"""

import math

import numpy as np

from ._jit import Constant, entry_jit, inline_jit, jit, switch

SGD, ADAM, ADAGRAD, RMSPROP, ADAMW, ADAHESSIAN = map(Constant, range(6))


@jit
def soft_threshold(w, threshold):
    """The proximal operator of ``threshold * |w|``, without branches (so
    that its loops vectorise)."""
    return math.copysign(max(abs(w) - threshold, w - w), w)


@jit
def sgd_update(theta, grad, velocity, lr, momentum, nesterov, gs, l2):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    lr_, mu, g_s, c = dt(lr), dt(momentum), dt(gs), dt(l2)
    squares = 0.0
    if momentum == 0.0:
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            theta[i] = th - lr_ * (g_s * grad[i] + c * th)
    elif nesterov:
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            g = g_s * grad[i] + c * th
            v = mu * velocity[i] - lr_ * g
            velocity[i] = v
            theta[i] = th + mu * v - lr_ * g
    else:
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            v = mu * velocity[i] - lr_ * (g_s * grad[i] + c * th)
            velocity[i] = v
            theta[i] = th + v
    return squares


@jit
def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, gs, l2, decay):
    """Adam as scikit-learn writes it (Kingma & Ba, 2014, section 2):
    ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    With ``decay > 0``, AdamW's decoupled weight decay:
    ``theta *= 1 - lr * decay`` (Loshchilov & Hutter, 2019)."""
    dt = theta.dtype.type
    step = dt(lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t))
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(eps)
    g_s, c, shrink = dt(gs), dt(l2), dt(1.0 - lr * decay)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        theta[i] = th * shrink - step / (np.sqrt(vi) + e) * mi
    return squares


@jit
def scaled_update(theta, grad, accumulated, lr, keep, add, eps, gs, l2):
    """Per-coordinate steps ``lr / (sqrt(a) + eps)`` with the accumulator
    ``a <- keep * a + add * g^2``: AdaGrad (Duchi, Hazan & Singer, 2011) with
    ``keep = add = 1`` (the sum of squared gradients), RMSProp (Tieleman &
    Hinton, 2012) with ``keep = rho``, ``add = 1 - rho`` (their moving
    average)."""
    dt = theta.dtype.type
    lr_, r, rc, e, g_s, c = dt(lr), dt(keep), dt(add), dt(eps), dt(gs), dt(l2)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        a = r * accumulated[i] + rc * g * g
        accumulated[i] = a
        theta[i] = th - lr_ / (np.sqrt(a) + e) * g
    return squares


@jit
def adahessian_update(theta, grad, hz, z, m, v, lr, beta1, beta2, eps, power, t, gs, l2, curvature):
    """AdaHessian (Yao et al., 2021): Adam with the squared Hessian diagonal
    in place of the squared gradient. ``z * hz`` is Hutchinson's estimate of
    the diagonal of the data term's Hessian (``hz = H z`` for random signs
    ``z``); the penalties add their constant curvature. The denominator is
    ``sqrt(v_hat) ** power`` (a plain square root for the default power 1)."""
    dt = theta.dtype.type
    step = dt(lr / (1.0 - beta1**t))
    correction = dt(1.0 / (1.0 - beta2**t))
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(eps)
    g_s, c, cv = dt(gs), dt(l2), dt(curvature)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        d = z[i] * hz[i] + cv
        m[i] = b1 * m[i] + c1 * g
        v[i] = b2 * v[i] + c2 * d * d
    _adaptive_step(theta, m, v, step, correction, power, e)
    return squares


@jit
def _adaptive_step(theta, m, v, step, scale, power, eps):
    """``theta -= step * m / (sqrt(scale * v) ** power + eps)``."""
    if power == 1.0:
        for i in range(theta.shape[0]):
            theta[i] -= step / (np.sqrt(scale * v[i]) + eps) * m[i]
    else:
        half = theta.dtype.type(0.5 * power)
        for i in range(theta.shape[0]):
            theta[i] -= step / ((scale * v[i]) ** half + eps) * m[i]


@jit
def _pull_towards_prior(theta, grad, prior, coef):
    """``grad += coef * (theta - prior)``; returns ``sum (theta - prior)^2``."""
    dt = theta.dtype.type
    pc = dt(coef)
    distances = 0.0
    for i in range(theta.shape[0]):
        diff = theta[i] - prior[i]
        distances += diff * diff
        grad[i] += pc * diff
    return distances


@jit
def _absolute_sum(theta):
    total = 0.0
    for i in range(theta.shape[0]):
        total += abs(theta[i])
    return total


@jit
def _l1_proximal(code, theta, state, hyper, lo, hi, lr, t, l1):
    """Soft-threshold ``theta[lo:hi]`` by ``l1`` times the step each
    coordinate took, recomputed from the updated ``state``. (The slices are
    taken here: a row of a 2-D slice would lose its unit stride in numba's
    types, and the loop its vectorisation.)"""
    dt = theta.dtype.type
    theta = theta[lo:hi]
    if code == SGD:
        threshold = dt(l1 * lr)
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], threshold)
        return
    if code == ADAGRAD or code == RMSPROP:
        eps = hyper[0] if code == ADAGRAD else hyper[1]
        a, scale, power, slot = l1 * lr, 1.0, 1.0, 0
    elif code == ADAHESSIAN:
        a = l1 * lr / (1.0 - hyper[0] ** t)
        scale, power, eps, slot = 1.0 / (1.0 - hyper[1] ** t), hyper[3], hyper[2], 1
    else:  # Adam, AdamW
        a = l1 * lr * np.sqrt(1.0 - hyper[1] ** t) / (1.0 - hyper[0] ** t)
        scale, power, eps, slot = 1.0, 1.0, hyper[2], 1
    second = state[slot, lo:hi]
    a_, s_, e = dt(a), dt(scale), dt(eps)
    if power == 1.0:
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], a_ / (np.sqrt(s_ * second[i]) + e))
    else:
        half = dt(0.5 * power)
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], a_ / ((s_ * second[i]) ** half + e))


# The update of ``[lo, hi)`` by each optimizer, with an L2 term (AdamW's
# ``decay``, AdaHessian's penalty ``curvature``); each returns ``sum w^2``.


@inline_jit
def _adahessian_slice(theta, grad, state, hyper, lo, hi, t, lr, gs, l2, decay, curvature, hz, z):
    return adahessian_update(
        theta[lo:hi], grad[lo:hi], hz[lo:hi], z[lo:hi], state[0, lo:hi], state[1, lo:hi],
        lr, hyper[0], hyper[1], hyper[2], hyper[3], t, gs, l2, curvature,
    )


@inline_jit
def _adam_slice(theta, grad, state, hyper, lo, hi, t, lr, gs, l2, decay, curvature, hz, z):
    return adam_update(
        theta[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], lr, hyper[0],
        hyper[1], hyper[2], t, gs, l2, decay,
    )


@inline_jit
def _adagrad_slice(theta, grad, state, hyper, lo, hi, t, lr, gs, l2, decay, curvature, hz, z):
    return scaled_update(theta[lo:hi], grad[lo:hi], state[0, lo:hi], lr, 1.0, 1.0, hyper[0], gs, l2)


@inline_jit
def _rmsprop_slice(theta, grad, state, hyper, lo, hi, t, lr, gs, l2, decay, curvature, hz, z):
    return scaled_update(
        theta[lo:hi], grad[lo:hi], state[0, lo:hi], lr, hyper[0], 1.0 - hyper[0], hyper[1], gs, l2
    )


@inline_jit
def _sgd_slice(theta, grad, state, hyper, lo, hi, t, lr, gs, l2, decay, curvature, hz, z):
    return sgd_update(theta[lo:hi], grad[lo:hi], state[0, lo:hi], lr, hyper[0], hyper[1] != 0.0, gs, l2)


_update_slice = switch(
    "update_slice",
    {
        SGD: _sgd_slice,
        ADAM: _adam_slice,
        ADAGRAD: _adagrad_slice,
        RMSPROP: _rmsprop_slice,
        ADAMW: _adam_slice,
        ADAHESSIAN: _adahessian_slice,
    },
)


@entry_jit
def optimizer_step(code, theta, grad, state, hyper, lo, hi, n_weights, t, lr, gs, l2, l1, prior_coef, prior, hz, z):
    """Step ``t`` (1-based) of optimizer ``code`` on ``theta[lo:hi]``.

    The data gradient is scaled by ``gs``; the penalties apply to the weights
    (indices below ``n_weights``), never to the biases, as does AdamW's decay
    (``hyper[3]``). AdaHessian reads ``hz = H z`` and the probe ``z``; the
    penalties' curvature ``l2 + prior_coef`` adds to its Hessian estimate on
    the weights. Returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the
    weights of the range, before the step. The prior's pull is added to
    ``grad`` (the caller's summed gradient, which the step consumes). ``l1``
    and ``prior`` are None when off (their code pruned), or switched off by
    zeros.
    """
    mid = min(max(n_weights, lo), hi)
    decay = hyper[3] if code == ADAMW else 0.0
    squares, absolutes, distances = 0.0, 0.0, 0.0
    if mid > lo:
        th = theta[lo:mid]
        if l1 is not None:
            if l1 > 0:
                absolutes = _absolute_sum(th)
        if prior is not None:
            if prior_coef > 0:  # scaled by gs with the data gradient: pc * diff in all
                distances = _pull_towards_prior(th, grad[lo:mid], prior[lo:mid], prior_coef / gs)
        squares = _update_slice(
            code, theta, grad, state, hyper, lo, mid, t, lr, gs, l2, decay,
            l2 + prior_coef, hz, z,
        )
        if l1 is not None:
            if l1 > 0:
                _l1_proximal(code, theta, state, hyper, lo, mid, lr, t, l1)
    if hi > mid:
        _update_slice(code, theta, grad, state, hyper, mid, hi, t, lr, gs, 0.0, 0.0, 0.0, hz, z)
    return squares, absolutes, distances


@entry_jit
def average_update(average, theta, weight):
    """``average += weight * (theta - average)``: Polyak averaging with
    ``weight = 1 / k`` at the k-th averaged step, exponential with
    ``weight = 1 - decay``."""
    w = theta.dtype.type(weight)
    for i in range(theta.shape[0]):
        average[i] += w * (theta[i] - average[i])
