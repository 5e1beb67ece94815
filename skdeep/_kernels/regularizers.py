"""Kernels of the regularisers that act inside the forward/backward pass.

Dropout is inverted (Srivastava et al., 2014): kept units are scaled by
``1 / (1 - rate)`` during training, so prediction needs no rescaling. The mask
is kept (``0`` or ``1 / (1 - rate)`` per unit) for the backward pass, which
multiplies the delta by it and divides the activations back, so that the
activation's derivative is computed from the undropped output.
"""

import numpy as np

from ._jit import entry_jit, jit
from .linalg import copy_vector
from .random import add_normal, mix, uniform

#: counter stride between layers of a stream of draws (rows * units < 2**40)
_LAYER_STRIDE = 1 << 40


@jit
def dropout_forward(A, M, rate, key, layer):
    """``A *= M`` with ``M`` a fresh inverted-dropout mask."""
    keep = A.dtype.type(1.0 / (1.0 - rate))
    zero = A.dtype.type(0)
    n, m = A.shape
    base = layer * _LAYER_STRIDE
    for i in range(n):
        a = A[i]
        mask = M[i]
        for j in range(m):
            if uniform(key, base + i * m + j) < rate:
                mask[j] = zero
                a[j] = zero
            else:
                mask[j] = keep
                a[j] *= keep


@jit
def dropout_backward(A, M, D):
    """``D *= M`` and undo the mask on ``A`` where a unit was kept (dropped
    units get ``D = 0``, so their activation no longer matters)."""
    zero = A.dtype.type(0)
    n, m = A.shape
    for i in range(n):
        a = A[i]
        mask = M[i]
        d = D[i]
        for j in range(m):
            k = mask[j]
            d[j] *= k
            if k != zero:
                a[j] /= k


@jit
def dropconnect_weights(theta, masked, factors, n_weights, rate, key):
    """DropConnect (Wan et al., 2013): ``masked <- theta * factors`` on the
    weights, with ``factors`` a fresh inverted mask (``0`` with probability
    ``rate``, else ``1 / (1 - rate)``, weight ``j`` from counter ``j`` of
    ``key``), and a copy of ``theta`` on the biases (and normalisation
    parameters), which are never dropped."""
    keep = theta.dtype.type(1.0 / (1.0 - rate))
    zero = theta.dtype.type(0)
    for j in range(n_weights):
        if uniform(key, j) < rate:
            factors[j] = zero
            masked[j] = zero
        else:
            factors[j] = keep
            masked[j] = theta[j] * keep
    copy_vector(theta[n_weights:], masked[n_weights:])


@jit
def dropconnect_gradient(grad, factors):
    """The chain rule through the mask: ``grad[j] *= factors[j]`` on the
    weights (a gradient with respect to the masked weights becomes one
    with respect to the weights)."""
    for j in range(factors.shape[0]):
        grad[j] *= factors[j]


@jit
def perturb_inputs(Xb, dropout, noise, key_dropout, key_noise):
    """Input dropout (inverted) and additive Gaussian noise, in place; the
    rate ``dropout`` and the std ``noise`` may be None (off, and their code
    pruned)."""
    n, m = Xb.shape
    if dropout is not None:
        if dropout > 0:
            keep = Xb.dtype.type(1.0 / (1.0 - dropout))
            for i in range(n):
                x = Xb[i]
                for j in range(m):
                    if uniform(key_dropout, i * m + j) < dropout:
                        x[j] = 0
                    else:
                        x[j] *= keep
    if noise is not None:
        if noise > 0:
            # one stream per row: rows are independent whatever the batch
            for i in range(n):
                add_normal(Xb[i], noise, mix(key_noise + np.uint64(i)))


@jit
def activity_penalty(A, sw):
    """``sum_i sw_i sum_j |A_ij|``."""
    total = 0.0
    n, m = A.shape
    for i in range(n):
        a = A[i]
        row = A.dtype.type(0)
        for j in range(m):
            row += abs(a[j])
        total += sw[i] * row
    return total


@jit
def activity_backward(A, D, sw, coef):
    """``D += coef * sw_i * sign(A)``: the gradient of the activity L1 term
    with respect to the (undropped) activations."""
    n, m = A.shape
    zero = A.dtype.type(0)
    for i in range(n):
        c = A.dtype.type(coef * sw[i])
        a = A[i]
        d = D[i]
        for j in range(m):  # selects, not branches: the loop vectorises
            x = a[j]
            d[j] += (c if x > zero else zero) - (c if x < zero else zero)


@jit
def max_norm_project(W, bound, norms):
    """Scale every column of ``W`` (a unit's incoming weights) whose L2 norm
    exceeds ``bound`` back onto the ball; ``norms`` is a buffer of
    ``W.shape[1]`` entries. The scale leaves a margin of a few ulps so that
    the bound holds exactly after rounding."""
    n_in, n_out = W.shape
    norms[:n_out] = 0
    for i in range(n_in):
        w = W[i]
        for j in range(n_out):
            norms[j] += w[j] * w[j]
    eps = 4 * np.finfo(W.dtype).eps
    any_over = False
    for j in range(n_out):
        r = np.sqrt(norms[j])
        if r > bound:
            norms[j] = bound / r * (1 - eps)
            any_over = True
        else:
            norms[j] = 1
    if not any_over:
        return
    for i in range(n_in):
        w = W[i]
        for j in range(n_out):
            w[j] *= norms[j]


@entry_jit
def weight_penalty(theta, grad, n_weights, l2, prior_coef, prior):
    """Smooth weight penalties for the full-batch solvers: adds
    ``l2 * w + prior_coef * (w - prior)`` to ``grad`` over the weights and
    returns ``l2/2 ||w||^2 + prior_coef/2 ||w - prior||^2``. (L1 is handled by
    the solver, with bound constraints.)"""
    c = theta.dtype.type(l2)
    p = theta.dtype.type(prior_coef)
    squares = 0.0
    distances = 0.0
    for i in range(n_weights):
        w = theta[i]
        squares += w * w
        g = c * w
        if prior_coef > 0:
            d = w - prior[i]
            distances += d * d
            g += p * d
        grad[i] += g
    return 0.5 * l2 * squares + 0.5 * prior_coef * distances
