"""First-order optimizer updates: fused, in place, over the flat parameters.

Every optimizer keeps its state in ``state``, a ``(n_slots, n_params)`` array
allocated once per fit, and its hyper-parameters in a ``records.Hyper``, read
by name (``hyper.beta_1``). ``optimizer_step`` updates the parameter range
``[lo, hi)`` (each worker of a parallel epoch owns one range) of the
optimizer ``opt`` (a ``records.OptimizerStep``).

``UPDATE_RULES`` maps each optimizer's code to its ``UpdateRule``: the kernel
that updates a range, the kernel of its L1 proximal step and the number of
state slots. The selections ``optimizer_step`` makes by code are generated
from it (``_jit.switch``; with the code a compile-time ``Constant``, a kernel
compiles only its optimizer's), so adding an optimizer is one entry and its
kernels; see ``skdeep.optim`` for the registry of names.

The common case is one branch-free pass per optimizer: the data gradient times
``gs`` (gradient-norm clipping) plus the L2 term ``l2 * w``, the update, and
the sum of squared weights the loss needs. The rarer penalties get passes of
their own, so that they cannot keep the compiler from vectorising that loop
(a loop with them inside ran several times slower in float32):

- the pull towards a prior network (``prior_coef``, soft parameter sharing) is
  added to the gradient in a pass before;
- L1 (``l1``) is a proximal step in a pass after: soft-thresholding by ``l1``
  times the step each coordinate just took (``lr`` for SGD, the adaptive
  per-coordinate step for AdaGrad, RMSProp, Adam, AdaHessian, AdaDelta,
  RAdam and LAMB, recomputed from the updated state), which sets weights
  exactly to zero instead of making them oscillate around it as a
  subgradient would.

LAMB scales each layer's step by a ratio of norms over the whole layer,
while each worker of a parallel epoch steps one range of the parameters: a
phase before the update (``layer_norms_range``) writes each range's share of
every layer's norms into ``opt.layers.parts``, and its update adds the
shares in range order (``trust_ratio``). Lookahead's synchronisation
(``lookahead_sync``) runs after a range's update.

A penalty that is off reaches the kernels as None and its code is pruned;
numba prunes ``if x is None`` only for an argument of the function it
compiles, so a field that may be None (``penalties.l1``) is handed to a
helper as an argument. Biases are not penalised nor decayed.

``optimizer_step`` returns ``(sum w^2, sum |w|, sum (w - prior)^2)`` over the
weights before the step. Kernels loop from 0 over slices (see ``linalg``) so
that numba can vectorise them.
"""

import math
from collections import namedtuple

import numpy as np

from ._jit import Constant, is_kernel, jit, larger, smaller, switch
from .records import Diagonal, DirectionTerms

SGD, ADAM, ADAGRAD, RMSPROP, ADAMW, ADAHESSIAN, ADADELTA, RADAM, LAMB = map(Constant, range(9))

#: RAdam's threshold on the length of the approximated simple moving average
#: ``rho_t``: at and below it the variance of the adaptive rate is not
#: tractable and the step is the bias-corrected momentum alone. Liu et al.
#: (2020) define the rectification for ``rho_t > 4``; their released code
#: and PyTorch use 5, which skips the steps where the rectification term is
#: below 0.1 and rests on an estimate of the variance from three to four
#: squared gradients (and gives the same trajectories as PyTorch).
RADAM_THRESHOLD = 5.0


@jit
def soft_threshold(w, threshold):
    """The proximal operator of ``threshold * |w|``, without branches (so
    that its loops vectorise)."""
    return math.copysign(larger(abs(w) - threshold, w - w), w)


# ------------------------------------------------ the updates of a slice


@jit
def sgd_update(theta, grad, velocity, lr, hyper, gs, l2):
    """scikit-learn's SGD: ``v <- momentum * v - lr * g``, then
    ``theta += v`` or, with Nesterov, ``theta += momentum * v - lr * g``."""
    dt = theta.dtype.type
    momentum = hyper.momentum
    lr_, mu, g_s, c = dt(lr), dt(momentum), dt(gs), dt(l2)
    squares = 0.0
    if momentum == 0.0:
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            theta[i] = th - lr_ * (g_s * grad[i] + c * th)
    elif hyper.nesterov:
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
def adam_update(theta, grad, m, v, lr, hyper, t, gs, l2, decay):
    """Adam as scikit-learn writes it (Kingma & Ba, 2014, section 2):
    ``theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
    With ``decay > 0``, AdamW's decoupled weight decay:
    ``theta *= 1 - lr * decay`` (Loshchilov & Hutter, 2019)."""
    dt = theta.dtype.type
    beta1, beta2 = hyper.beta_1, hyper.beta_2
    step = dt(lr * np.sqrt(1.0 - beta2**t) / (1.0 - beta1**t))
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(hyper.epsilon)
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
def adahessian_moments(theta, grad, diagonal, m, v, hyper, gs, l2, curvature):
    """AdaHessian's moments (Yao et al., 2021): Adam's, with the squared
    Hessian diagonal in place of the squared gradient. ``z * hz`` is
    Hutchinson's estimate of the diagonal of the data term's Hessian
    (``diagonal.hz = H z`` for random signs ``diagonal.z``); the penalties
    add their constant ``curvature``. Returns ``sum w^2``."""
    dt = theta.dtype.type
    beta1, beta2 = hyper.beta_1, hyper.beta_2
    b1, b2, c1, c2 = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2)
    g_s, c, cv = dt(gs), dt(l2), dt(curvature)
    z, hz = diagonal.z, diagonal.hz
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        d = z[i] * hz[i] + cv
        m[i] = b1 * m[i] + c1 * g
        v[i] = b2 * v[i] + c2 * d * d
    return squares


@jit
def adahessian_step(theta, m, v, lr, hyper, t):
    """AdaHessian's step from its moments:
    ``theta -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) ** k + eps)``,
    ``k`` the Hessian power (a plain square root for the default 1)."""
    dt = theta.dtype.type
    step = dt(lr / (1.0 - hyper.beta_1**t))
    scale = dt(1.0 / (1.0 - hyper.beta_2**t))
    power, eps = hyper.hessian_power, dt(hyper.epsilon)
    if power == 1.0:
        for i in range(theta.shape[0]):
            theta[i] -= step / (np.sqrt(scale * v[i]) + eps) * m[i]
    else:
        half = dt(0.5 * power)
        for i in range(theta.shape[0]):
            theta[i] -= step / ((scale * v[i]) ** half + eps) * m[i]


@jit
def adadelta_update(theta, grad, squares_avg, deltas_avg, unit_steps, lr, hyper, gs, l2):
    """AdaDelta (Zeiler, 2012, Algorithm 1): ``E[g^2] <- rho E[g^2] + (1 - rho) g^2``,
    ``d = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g``,
    ``E[dx^2] <- rho E[dx^2] + (1 - rho) d^2``, ``theta -= lr * d``. The
    running average of the updates is of ``d`` before the rate, as in
    PyTorch, so that a schedule does not feed back into it; the paper's rate
    is 1. ``unit_steps`` keeps each coordinate's ``d / g`` for the L1 step."""
    dt = theta.dtype.type
    rho = hyper.rho
    lr_, r, rc, e, g_s, c = dt(lr), dt(rho), dt(1.0 - rho), dt(hyper.epsilon), dt(gs), dt(l2)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        a = r * squares_avg[i] + rc * g * g
        squares_avg[i] = a
        unit = np.sqrt(deltas_avg[i] + e) / np.sqrt(a + e)
        d = unit * g
        deltas_avg[i] = r * deltas_avg[i] + rc * d * d
        unit_steps[i] = unit
        theta[i] = th - lr_ * d
    return squares


@jit
def radam_rectification(beta_2, t):
    """RAdam's rectification term ``r_t`` at step ``t`` (Liu et al., 2020,
    Algorithm 2), or 0 while ``rho_t <= RADAM_THRESHOLD``:
    ``rho_inf = 2 / (1 - b2) - 1``, ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``,
    ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``."""
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    power = beta_2**t
    rho_t = rho_inf - 2.0 * t * power / (1.0 - power)
    if rho_t <= RADAM_THRESHOLD:
        return 0.0
    return np.sqrt(
        (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
    )


@jit
def radam_update(theta, grad, m, v, lr, hyper, t, gs, l2):
    """RAdam (Liu et al., 2020, Algorithm 2): Adam's moments; with the
    rectification ``r_t`` (``radam_rectification``) available,
    ``theta -= lr r_t m_hat / (sqrt(v_hat) + eps)``, else the bias-corrected
    momentum alone, ``theta -= lr m_hat`` (``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)``)."""
    dt = theta.dtype.type
    beta1, beta2 = hyper.beta_1, hyper.beta_2
    rect = radam_rectification(beta2, t)
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(hyper.epsilon)
    g_s, c = dt(gs), dt(l2)
    scale = dt(1.0 / (1.0 - beta2**t))
    squares = 0.0
    if rect > 0.0:
        step = dt(lr * rect / (1.0 - beta1**t))
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            g = g_s * grad[i] + c * th
            mi = b1 * m[i] + c1 * g
            vi = b2 * v[i] + c2 * g * g
            m[i] = mi
            v[i] = vi
            theta[i] = th - step / (np.sqrt(scale * vi) + e) * mi
    else:
        step = dt(lr / (1.0 - beta1**t))
        for i in range(theta.shape[0]):
            th = theta[i]
            squares += th * th
            g = g_s * grad[i] + c * th
            mi = b1 * m[i] + c1 * g
            m[i] = mi
            v[i] = b2 * v[i] + c2 * g * g
            theta[i] = th - step * mi
    return squares


@jit
def _lamb_direction(mi, vi, th, bc1, scale, e, decay):
    """LAMB's direction ``m_hat / (sqrt(v_hat) + eps) + decay * w``."""
    return bc1 * mi / (np.sqrt(scale * vi) + e) + decay * th


@jit
def lamb_update(theta, grad, m, v, lr, hyper, t, gs, l2, decay):
    """LAMB's step on one layer's slice (You et al., 2020, Algorithm 2):
    Adam's moments, the direction ``u = m_hat / (sqrt(v_hat) + eps) + decay w``
    and ``theta -= lr * u``, ``lr`` already times the layer's trust ratio."""
    dt = theta.dtype.type
    beta1, beta2 = hyper.beta_1, hyper.beta_2
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(hyper.epsilon)
    bc1, scale = dt(1.0 / (1.0 - beta1**t)), dt(1.0 / (1.0 - beta2**t))
    lr_, g_s, c, dcy = dt(lr), dt(gs), dt(l2), dt(decay)
    squares = 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        squares += th * th
        g = g_s * grad[i] + c * th
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        theta[i] = th - lr_ * _lamb_direction(mi, vi, th, bc1, scale, e, dcy)
    return squares


@jit
def lamb_direction_norms(theta, grads, summed, m, v, hyper, t, terms, prior, offset):
    """``(sum w^2, sum u^2)`` over a slice of one layer, ``u`` the direction
    LAMB's step will take (``lamb_update``), from the moments it will have:
    the gradient is the shards' sum (``grads[0]`` alone when ``summed``),
    plus the prior's pull ``terms.pull * (w - prior[offset:])`` when
    ``prior`` is not None, times ``terms.gs``, plus ``terms.l2 * w``
    (``records.DirectionTerms``). Reads, never writes: the step itself
    recomputes them."""
    dt = theta.dtype.type
    beta1, beta2 = hyper.beta_1, hyper.beta_2
    b1, b2, c1, c2, e = dt(beta1), dt(beta2), dt(1.0 - beta1), dt(1.0 - beta2), dt(hyper.epsilon)
    bc1, scale = dt(1.0 / (1.0 - beta1**t)), dt(1.0 / (1.0 - beta2**t))
    pull = terms.pull
    g_s, c, dcy, pc = dt(terms.gs), dt(terms.l2), dt(terms.decay), dt(pull)
    n_shards = 1 if summed else grads.shape[0]
    weights, directions = 0.0, 0.0
    for i in range(theta.shape[0]):
        th = theta[i]
        raw = grads[0, i]
        for s in range(1, n_shards):
            raw += grads[s, i]
        if prior is not None:
            if pull > 0.0:  # (a run-time choice passes an empty prior when off)
                raw += pc * (th - prior[offset + i])
        g = g_s * raw + c * th
        u = _lamb_direction(b1 * m[i] + c1 * g, b2 * v[i] + c2 * g * g, th, bc1, scale, e, dcy)
        weights += th * th
        directions += u * u
    return weights, directions


@jit
def trust_ratio(parts, layer):
    """LAMB's trust ratio ``||w|| / ||u||`` of ``layer``, from the ranges'
    shares added in range order; 1 when either norm is 0."""
    weights, directions = 0.0, 0.0
    for r in range(parts.shape[0]):
        weights += parts[r, layer, 0]
        directions += parts[r, layer, 1]
    if weights > 0.0 and directions > 0.0:
        return np.sqrt(weights) / np.sqrt(directions)
    return 1.0


# What a range's penalties are: those of ``penalties`` for weights, none for
# biases (``weights`` False): biases are not penalised (Goodfellow et al.,
# 2016, 7.1) nor decayed. (A flag, not None penalties: the two ranges then
# share one compile of the update.)


@jit
def _l2(penalties, weights):
    """The L2 coefficient."""
    return penalties.l2 if weights else 0.0


@jit
def _decay(hyper, weights):
    """AdamW's decoupled decay (0 in the other optimizers' ``Hyper``)."""
    return hyper.weight_decay if weights else 0.0


@jit
def _curvature(penalties, weights):
    """The penalties' constant curvature, added to AdaHessian's diagonal."""
    return penalties.l2 + penalties.prior_coef if weights else 0.0


# Each optimizer's update of ``[lo, hi)`` (the ``update`` of its rule), with
# the arguments of ``optimizer_step`` and whether the range holds
# ``weights``; each returns ``sum w^2``. (The slices are taken here: a row of
# a 2-D slice would lose its unit stride in numba's types, and the loop its
# vectorisation.)


@jit
def _sgd_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return sgd_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, opt.hyper, gs,
        _l2(penalties, weights),
    )


@jit
def _adam_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return adam_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.state[1, lo:hi], opt.lr,
        opt.hyper, t, gs, _l2(penalties, weights), _decay(opt.hyper, weights),
    )


@jit
def _adagrad_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return scaled_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, 1.0, 1.0, opt.hyper.epsilon,
        gs, _l2(penalties, weights),
    )


@jit
def _rmsprop_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    rho = opt.hyper.rho
    return scaled_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, rho, 1.0 - rho,
        opt.hyper.epsilon, gs, _l2(penalties, weights),
    )


@jit
def _adahessian_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    th, m, v = theta[lo:hi], opt.state[0, lo:hi], opt.state[1, lo:hi]
    squares = adahessian_moments(
        th, grad[lo:hi], Diagonal(diagonal.z[lo:hi], diagonal.hz[lo:hi]), m, v, opt.hyper,
        gs, _l2(penalties, weights), _curvature(penalties, weights),
    )
    adahessian_step(th, m, v, opt.lr, opt.hyper, t)
    return squares


@jit
def _adadelta_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    state = opt.state
    return adadelta_update(
        theta[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], state[2, lo:hi], opt.lr,
        opt.hyper, gs, _l2(penalties, weights),
    )


@jit
def _radam_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return radam_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.state[1, lo:hi], opt.lr,
        opt.hyper, t, gs, _l2(penalties, weights),
    )


@jit
def _lamb_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    """Layer by layer (``opt.layers.segments``), each at ``lr`` times its
    trust ratio."""
    layers = opt.layers
    segments = layers.segments
    l2, decay = _l2(penalties, weights), _decay(opt.hyper, weights)
    squares = 0.0
    for j in range(segments.shape[0]):
        a, b = larger(segments[j, 0], lo), smaller(segments[j, 1], hi)
        if b > a:
            lr = opt.lr * trust_ratio(layers.parts, segments[j, 2])
            squares += lamb_update(
                theta[a:b], grad[a:b], opt.state[0, a:b], opt.state[1, a:b], lr, opt.hyper,
                t, gs, l2, decay,
            )
    return squares


@jit
def layer_norms_range(opt, theta, grads, summed, lo, hi, t, gs, penalties, r):
    """The phase before a layer-wise step (LAMB): the range ``[lo, hi)``'s
    share of each layer's ``sum w^2`` and ``sum u^2`` into
    ``opt.layers.parts[r]``, with the step's gradient (``grads``, summed
    over the shards unless ``summed``; the prior's pull and L2 on the
    weights) and decay."""
    layers = opt.layers
    parts = layers.parts[r]
    parts[:, :] = 0.0
    segments = layers.segments
    hyper = opt.hyper
    for j in range(segments.shape[0]):
        a, b = larger(segments[j, 0], lo), smaller(segments[j, 1], hi)
        if b > a:
            weights = a < opt.n_weights
            pull = penalties.prior_coef / gs if weights else 0.0
            terms = DirectionTerms(gs, _l2(penalties, weights), _decay(hyper, weights), pull)
            w, u = lamb_direction_norms(
                theta[a:b], grads[:, a:b], summed, opt.state[0, a:b], opt.state[1, a:b], hyper,
                t, terms, penalties.prior, a,
            )
            layer = segments[j, 2]
            parts[layer, 0] += w
            parts[layer, 1] += u


# ------------------------------------------------------ the L1 proximal steps
# Each optimizer's soft-thresholding of the weights ``theta[lo:hi]`` (the
# ``l1_proximal`` of its rule) by ``l1`` times the step each coordinate took,
# recomputed from the updated state.


@jit
def _adaptive_soft_threshold(theta, second, a, scale, power, eps):
    """Soft-threshold ``theta`` by ``a / (sqrt(scale * second) ** power + eps)``.

    Inlined into its caller, so that ``a`` and the loop are optimised
    together as in the single kernel this replaced: LLVM then folds
    ``(x / y) / d`` into ``x / (y * d)`` (``reassoc``, ``arcp``) as it did,
    and Adam's float64 thresholds keep their bits.
    """
    dt = theta.dtype.type
    a_, s_, e = dt(a), dt(scale), dt(eps)
    if power == 1.0:
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], a_ / (np.sqrt(s_ * second[i]) + e))
    else:
        half = dt(0.5 * power)
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], a_ / ((s_ * second[i]) ** half + e))


@jit
def sgd_l1_proximal(opt, theta, lo, hi, t, l1):
    """SGD's step is ``lr`` for every coordinate (momentum aside)."""
    threshold = theta.dtype.type(l1 * opt.lr)
    theta = theta[lo:hi]
    for i in range(theta.shape[0]):
        theta[i] = soft_threshold(theta[i], threshold)


@jit
def scaled_l1_proximal(opt, theta, lo, hi, t, l1):
    """AdaGrad's and RMSProp's step ``lr / (sqrt(a) + eps)``."""
    _adaptive_soft_threshold(
        theta[lo:hi], opt.state[0, lo:hi], l1 * opt.lr, 1.0, 1.0, opt.hyper.epsilon
    )


@jit
def adam_l1_proximal(opt, theta, lo, hi, t, l1):
    """Adam's and AdamW's step
    ``lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)``."""
    hyper = opt.hyper
    a = l1 * opt.lr * np.sqrt(1.0 - hyper.beta_2**t) / (1.0 - hyper.beta_1**t)
    _adaptive_soft_threshold(theta[lo:hi], opt.state[1, lo:hi], a, 1.0, 1.0, hyper.epsilon)


@jit
def adahessian_l1_proximal(opt, theta, lo, hi, t, l1):
    """AdaHessian's step ``lr / (1 - b1^t) / (sqrt(v / (1 - b2^t)) ** k + eps)``."""
    hyper = opt.hyper
    a = l1 * opt.lr / (1.0 - hyper.beta_1**t)
    _adaptive_soft_threshold(
        theta[lo:hi], opt.state[1, lo:hi], a, 1.0 / (1.0 - hyper.beta_2**t),
        hyper.hessian_power, hyper.epsilon,
    )


@jit
def adadelta_l1_proximal(opt, theta, lo, hi, t, l1):
    """AdaDelta's step ``lr * sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps)``,
    with ``E[dx^2]`` before the step (the update kept it in ``state[2]``)."""
    a = theta.dtype.type(l1 * opt.lr)
    theta, unit = theta[lo:hi], opt.state[2, lo:hi]
    for i in range(theta.shape[0]):
        theta[i] = soft_threshold(theta[i], a * unit[i])


@jit
def radam_l1_proximal(opt, theta, lo, hi, t, l1):
    """RAdam's step ``lr r_t / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)``,
    or ``lr / (1 - b1^t)`` while it is not rectified."""
    hyper = opt.hyper
    rect = radam_rectification(hyper.beta_2, t)
    a = l1 * opt.lr / (1.0 - hyper.beta_1**t)
    if rect > 0.0:
        _adaptive_soft_threshold(
            theta[lo:hi], opt.state[1, lo:hi], a * rect, 1.0 / (1.0 - hyper.beta_2**t), 1.0,
            hyper.epsilon,
        )
    else:
        threshold = theta.dtype.type(a)
        theta = theta[lo:hi]
        for i in range(theta.shape[0]):
            theta[i] = soft_threshold(theta[i], threshold)


@jit
def lamb_l1_proximal(opt, theta, lo, hi, t, l1):
    """LAMB's step ``lr ratio / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)``,
    ``ratio`` the trust ratio of each coordinate's layer."""
    hyper, layers = opt.hyper, opt.layers
    segments = layers.segments
    a = l1 * opt.lr / (1.0 - hyper.beta_1**t)
    scale = 1.0 / (1.0 - hyper.beta_2**t)
    for j in range(segments.shape[0]):
        s, e = larger(segments[j, 0], lo), smaller(segments[j, 1], hi)
        if e > s:
            _adaptive_soft_threshold(
                theta[s:e], opt.state[1, s:e], a * trust_ratio(layers.parts, segments[j, 2]),
                scale, 1.0, hyper.epsilon,
            )


# ------------------------------------------------------------ the registry

UpdateRule = namedtuple("UpdateRule", "update l1_proximal n_slots")
UpdateRule.__doc__ = """An optimizer as the compiled step sees it.

update : kernel ``(opt, theta, grad, lo, hi, t, gs, penalties, diagonal,
    weights)`` updating ``[lo, hi)`` and returning ``sum w^2`` before the
    step; ``weights``: whether the penalties and decay apply (not to biases)
l1_proximal : kernel ``(opt, theta, lo, hi, t, l1)``, the proximal step of
    ``l1 * |w|`` on the weights ``[lo, hi)`` after the update
n_slots : number of rows of the optimizer's ``state``
"""

#: optimizer code -> its ``UpdateRule``
UPDATE_RULES = {
    SGD: UpdateRule(_sgd_slice, sgd_l1_proximal, 1),
    ADAM: UpdateRule(_adam_slice, adam_l1_proximal, 2),
    ADAGRAD: UpdateRule(_adagrad_slice, scaled_l1_proximal, 1),
    RMSPROP: UpdateRule(_rmsprop_slice, scaled_l1_proximal, 1),
    ADAMW: UpdateRule(_adam_slice, adam_l1_proximal, 2),  # its Hyper has the decay
    ADAHESSIAN: UpdateRule(_adahessian_slice, adahessian_l1_proximal, 2),
    ADADELTA: UpdateRule(_adadelta_slice, adadelta_l1_proximal, 3),
    RADAM: UpdateRule(_radam_slice, radam_l1_proximal, 2),
    LAMB: UpdateRule(_lamb_slice, lamb_l1_proximal, 2),  # its step needs opt.layers
}


def selections(rules):
    """The switches ``(update_slice, l1_proximal)`` over the kernels of
    ``rules``; a rule that lacks a kernel is an error, never a default."""
    for code, rule in rules.items():
        for field in ("update", "l1_proximal"):
            if not is_kernel(getattr(rule, field)):
                raise TypeError(f"optimizer {int(code)}: its {field} is not a compiled kernel")
        if not isinstance(rule.n_slots, int) or rule.n_slots < 1:
            raise TypeError(f"optimizer {int(code)}: n_slots must be a positive integer")
    return (
        switch("update_slice", {code: rule.update for code, rule in rules.items()}),
        switch("l1_proximal", {code: rule.l1_proximal for code, rule in rules.items()}),
    )


_update_slice, _l1_proximal_step = selections(UPDATE_RULES)


# -------------------------------------------------------------- the step
# The cheap penalties, each pruned when its field is None (an argument here).


@jit
def _l1_norm_if_on(l1, theta):
    """``sum |theta|`` when L1 is on, else 0."""
    if l1 is not None:
        if l1 > 0:
            return _absolute_sum(theta)
    return 0.0


@jit
def _pull_towards_prior_if_on(prior, prior_coef, gs, theta, grad, lo, hi):
    """The prior's pull on ``[lo, hi)`` when it is on (see
    ``_pull_towards_prior``), else 0."""
    if prior is not None:
        if prior_coef > 0:  # scaled by gs with the data gradient: pc * diff in all
            return _pull_towards_prior(theta[lo:hi], grad[lo:hi], prior[lo:hi], prior_coef / gs)
    return 0.0


@jit
def _l1_proximal_if_on(l1, opt, theta, lo, hi, t):
    """The optimizer's L1 proximal step on ``[lo, hi)`` when L1 is on."""
    if l1 is not None:
        if l1 > 0:
            _l1_proximal_step(opt.code, opt, theta, lo, hi, t, l1)


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
def optimizer_step(opt, theta, grad, lo, hi, t, gs, penalties, diagonal):
    """Step ``t`` (1-based) of the optimizer ``opt`` (a ``records.OptimizerStep``)
    on ``theta[lo:hi]``.

    The data gradient is scaled by ``gs``; the ``penalties``
    (``records.Penalties``, scaled to the batch) apply to the weights
    (indices below ``opt.n_weights``), never to the biases, as does AdamW's
    decay. AdaHessian reads the ``diagonal`` probe (``records.Diagonal``);
    the penalties' curvature ``l2 + prior_coef`` adds to its Hessian
    estimate on the weights. Returns ``(sum w^2, sum |w|, sum (w - prior)^2)``
    over the weights of the range, before the step. The prior's pull is
    added to ``grad`` (the caller's summed gradient, which the step
    consumes). ``penalties.l1`` and ``penalties.prior`` are None when off
    (their code pruned), or switched off by zeros.
    """
    mid = smaller(larger(opt.n_weights, lo), hi)
    squares, absolutes, distances = 0.0, 0.0, 0.0
    # the update's last argument, whether the range holds weights, is
    # computed (true, then false): literal True and False would compile the
    # update once for each
    if mid > lo:
        absolutes = _l1_norm_if_on(penalties.l1, theta[lo:mid])
        distances = _pull_towards_prior_if_on(
            penalties.prior, penalties.prior_coef, gs, theta, grad, lo, mid
        )
        squares = _update_slice(
            opt.code, opt, theta, grad, lo, mid, t, gs, penalties, diagonal, lo < opt.n_weights
        )
        _l1_proximal_if_on(penalties.l1, opt, theta, lo, mid, t)
    if hi > mid:
        _update_slice(
            opt.code, opt, theta, grad, mid, hi, t, gs, penalties, diagonal, mid < opt.n_weights
        )
    return squares, absolutes, distances


@jit
def lookahead_sync(slow, theta, alpha):
    """Lookahead's synchronisation (Zhang et al., 2019, Algorithm 1):
    ``slow += alpha * (theta - slow)``, then ``theta <- slow``."""
    a = theta.dtype.type(alpha)
    for i in range(theta.shape[0]):
        s = slow[i] + a * (theta[i] - slow[i])
        slow[i] = s
        theta[i] = s


@jit
def average_update(average, theta, weight):
    """``average += weight * (theta - average)``: Polyak averaging with
    ``weight = 1 / k`` at the k-th averaged step, exponential with
    ``weight = 1 - decay``."""
    w = theta.dtype.type(weight)
    for i in range(theta.shape[0]):
        average[i] += w * (theta[i] - average[i])
