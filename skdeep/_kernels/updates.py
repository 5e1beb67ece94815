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
  per-coordinate step for AdaGrad, RMSProp, Adam and AdaHessian, recomputed
  from the updated state), which sets weights exactly to zero instead of
  making them oscillate around it as a subgradient would.

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

from ._jit import Constant, entry_jit, inline_jit, is_kernel, jit, switch
from .records import Diagonal

SGD, ADAM, ADAGRAD, RMSPROP, ADAMW, ADAHESSIAN = map(Constant, range(6))


@jit
def soft_threshold(w, threshold):
    """The proximal operator of ``threshold * |w|``, without branches (so
    that its loops vectorise)."""
    return math.copysign(max(abs(w) - threshold, w - w), w)


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


# What a range's penalties are: those of ``penalties`` for weights, none for
# biases (``weights`` False): biases are not penalised (Goodfellow et al.,
# 2016, 7.1) nor decayed. (A flag, not None penalties: the two ranges then
# share one compile of the update.)


@inline_jit
def _l2(penalties, weights):
    """The L2 coefficient."""
    return penalties.l2 if weights else 0.0


@inline_jit
def _decay(hyper, weights):
    """AdamW's decoupled decay (0 in the other optimizers' ``Hyper``)."""
    return hyper.weight_decay if weights else 0.0


@inline_jit
def _curvature(penalties, weights):
    """The penalties' constant curvature, added to AdaHessian's diagonal."""
    return penalties.l2 + penalties.prior_coef if weights else 0.0


# Each optimizer's update of ``[lo, hi)`` (the ``update`` of its rule), with
# the arguments of ``optimizer_step`` and whether the range holds
# ``weights``; each returns ``sum w^2``. (The slices are taken here: a row of
# a 2-D slice would lose its unit stride in numba's types, and the loop its
# vectorisation.)


@inline_jit
def _sgd_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return sgd_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, opt.hyper, gs,
        _l2(penalties, weights),
    )


@inline_jit
def _adam_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return adam_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.state[1, lo:hi], opt.lr,
        opt.hyper, t, gs, _l2(penalties, weights), _decay(opt.hyper, weights),
    )


@inline_jit
def _adagrad_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    return scaled_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, 1.0, 1.0, opt.hyper.epsilon,
        gs, _l2(penalties, weights),
    )


@inline_jit
def _rmsprop_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    rho = opt.hyper.rho
    return scaled_update(
        theta[lo:hi], grad[lo:hi], opt.state[0, lo:hi], opt.lr, rho, 1.0 - rho,
        opt.hyper.epsilon, gs, _l2(penalties, weights),
    )


@inline_jit
def _adahessian_slice(opt, theta, grad, lo, hi, t, gs, penalties, diagonal, weights):
    th, m, v = theta[lo:hi], opt.state[0, lo:hi], opt.state[1, lo:hi]
    squares = adahessian_moments(
        th, grad[lo:hi], Diagonal(diagonal.z[lo:hi], diagonal.hz[lo:hi]), m, v, opt.hyper,
        gs, _l2(penalties, weights), _curvature(penalties, weights),
    )
    adahessian_step(th, m, v, opt.lr, opt.hyper, t)
    return squares


# ------------------------------------------------------ the L1 proximal steps
# Each optimizer's soft-thresholding of the weights ``theta[lo:hi]`` (the
# ``l1_proximal`` of its rule) by ``l1`` times the step each coordinate took,
# recomputed from the updated state.


@inline_jit
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


@entry_jit
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
    mid = min(max(opt.n_weights, lo), hi)
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


@entry_jit
def average_update(average, theta, weight):
    """``average += weight * (theta - average)``: Polyak averaging with
    ``weight = 1 / k`` at the k-th averaged step, exponential with
    ``weight = 1 - decay``."""
    w = theta.dtype.type(weight)
    for i in range(theta.shape[0]):
        average[i] += w * (theta[i] - average[i])
