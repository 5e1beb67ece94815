"""Output activations and losses, fused with their gradient.

Each loss is paired with its canonical link, so the gradient with respect to the
raw output ``z`` is ``prediction - y`` (times the sample weight). Kernels follow
``sklearn/_loss``'s signature: inputs, then preallocated outputs, then scalars.
Every loss has four kernels, carried by its ``Loss`` entry in ``LOSSES``:

``gradient(Z, Y, sw, segments, scale, D)``
    ``Z`` holds the raw output (bias already added) and is overwritten with the
    prediction; ``D <- scale * sw * dloss/dz``; returns ``sum_i sw_i * loss_i``
    accumulated in float64.
``value(Z, Y, sw, segments)``
    the same sum without touching ``Z`` or writing a gradient.
``link(Z, segments)``
    raw output -> prediction, in place (used by ``predict``).
``hessian_vector(P, Y, sw, segments, scale, R, out)``
    ``out_i = scale * sw_i * H_i R_i`` with ``H_i`` the Hessian of sample i's
    loss with respect to the raw output and ``P`` the prediction (one loop
    per loss: a branch on the loss inside the row loop kept it scalar, and
    several times slower).

``segments`` holds the column boundaries of softmax heads: ``[0, K]`` for one
multiclass output, ``[0, K1, K1 + K2, ...]`` for several categorical outputs that
share the hidden layers. Log-losses are computed from the logits (log-sum-exp),
not from clipped probabilities, so they stay exact for confident predictions.

``loss_gradient``, ``loss_value``, ``output_activation`` and
``loss_hessian_vector`` select the kernel by the loss's code; they are
generated from ``LOSSES`` (adding a loss is its four kernels and one entry),
and an unknown code raises. Unlike the activation and the optimizer, the loss
is chosen at run time: it follows from the target (multiclass, binary,
multilabel, regression), not from a parameter a user picks, and a
compile-time code would recompile the engine for each kind of target (see
``docs/engine.md``).
"""

from dataclasses import dataclass

import numpy as np

from ._jit import by_layout, entry_jit, jit, larger, switch
from .elementary import exp, logistic, softplus


@jit
def _xlogy(x, y):
    if x == 0:
        return 0.0
    return x * np.log(y)


@jit
def _softmax_inplace(z):
    """Softmax of one row segment in place; returns its log-sum-exp."""
    zmax = z[0]
    for k in range(1, z.shape[0]):
        zmax = larger(zmax, z[k])
    total = z.dtype.type(0)
    for k in range(z.shape[0]):
        e = exp(z[k] - zmax)
        z[k] = e
        total += e
    inv = 1 / total
    for k in range(z.shape[0]):
        z[k] *= inv
    return zmax + np.log(total)


@jit
def _logsumexp(z):
    zmax = z[0]
    for k in range(1, z.shape[0]):
        zmax = larger(zmax, z[k])
    total = z.dtype.type(0)
    for k in range(z.shape[0]):
        total += exp(z[k] - zmax)
    return zmax + np.log(total)


@jit
def _softmax_segment_gradient(z, y, d, w):
    """Cross-entropy of one softmax head: ``z`` (logits -> probabilities),
    targets ``y``, gradient ``d`` scaled by ``w``; returns the loss. Slices are
    taken by the caller: loops from 0 let numba drop index wraparound checks
    and vectorise. Three passes: max and target sums, exponentials,
    normalisation fused with the gradient."""
    zero = z.dtype.type(0)
    zmax = z[0]
    ysum = zero
    yz = zero
    for c in range(z.shape[0]):
        zmax = larger(zmax, z[c])
        ysum += y[c]
        yz += y[c] * z[c]
    total = zero
    for c in range(z.shape[0]):
        e = exp(z[c] - zmax)
        z[c] = e
        total += e
    inv = 1 / total
    wy = w * ysum
    for c in range(z.shape[0]):
        p = z[c] * inv
        z[c] = p
        # general form p * sum(y) - y: exact for smoothed labels too
        d[c] = wy * p - w * y[c]
    return (zmax + np.log(total)) * ysum - yz


# -------------------------------------------------------------- log loss


@jit
def log_loss_gradient(Z, Y, sw, segments, scale, D):
    n = Z.shape[0]
    total = 0.0
    for i in range(n):
        w = Z.dtype.type(scale * sw[i])
        row = 0.0
        for s in range(segments.shape[0] - 1):
            lo = segments[s]
            hi = segments[s + 1]
            row += _softmax_segment_gradient(Z[i, lo:hi], Y[i, lo:hi], D[i, lo:hi], w)
        total += sw[i] * row
    return total


@jit
def log_loss_value(Z, Y, sw, segments):
    total = 0.0
    for i in range(Z.shape[0]):
        row = 0.0
        for s in range(segments.shape[0] - 1):
            z = Z[i, segments[s] : segments[s + 1]]
            y = Y[i, segments[s] : segments[s + 1]]
            ysum = 0.0
            yz = 0.0
            for c in range(z.shape[0]):
                ysum += y[c]
                yz += y[c] * z[c]
            row += _logsumexp(z) * ysum - yz
        total += sw[i] * row
    return total


@jit
def _exp_rows(Z, lo, hi):
    """``Z[:, lo:hi] <- exp(Z[:, lo:hi])``, row by row."""
    for i in range(Z.shape[0]):
        for k in range(lo, hi):
            Z[i, k] = exp(Z[i, k])


@jit
def _exp_block(Z, lo, hi):
    """``_exp_rows`` for a C-contiguous ``Z``: one flat loop, which LLVM
    vectorises whatever the number of columns, when ``lo:hi`` spans them."""
    if lo == 0 and hi == Z.shape[1]:
        flat = Z.reshape(Z.size)
        for j in range(flat.shape[0]):
            flat[j] = exp(flat[j])
    else:
        _exp_rows(Z, lo, hi)


_exp_columns = by_layout(_exp_block, _exp_rows)


@jit
def softmax_link(Z, segments):
    """Softmax of each row segment in place, in three passes over the block
    rather than one row at a time: each row's maximum subtracted, the
    exponentials (``_exp_columns``: one vectorised loop for a single head),
    each row scaled by its sum; per row, the arithmetic of
    ``_softmax_inplace``."""
    n = Z.shape[0]
    for s in range(segments.shape[0] - 1):
        lo, hi = segments[s], segments[s + 1]
        for i in range(n):
            z = Z[i, lo:hi]
            zmax = z[0]
            for k in range(1, z.shape[0]):
                zmax = larger(zmax, z[k])
            for k in range(z.shape[0]):
                z[k] -= zmax
        _exp_columns(Z, lo, hi)
        for i in range(n):
            z = Z[i, lo:hi]
            total = z.dtype.type(0)
            for k in range(z.shape[0]):
                total += z[k]
            inv = 1 / total
            for k in range(z.shape[0]):
                z[k] *= inv


@jit
def log_loss_hessian_vector(P, Y, sw, segments, scale, R, out):
    n = P.shape[0]
    for s in range(segments.shape[0] - 1):
        lo, hi = segments[s], segments[s + 1]
        for i in range(n):
            w = P.dtype.type(scale * sw[i])
            p, r, y, o = P[i, lo:hi], R[i, lo:hi], Y[i, lo:hi], out[i, lo:hi]
            ysum = P.dtype.type(0)
            pr = P.dtype.type(0)
            for c in range(p.shape[0]):
                ysum += y[c]
                pr += p[c] * r[c]
            f = w * ysum
            for c in range(p.shape[0]):
                o[c] = f * p[c] * (r[c] - pr)


# ------------------------------------------------------- binary log loss


@jit
def binary_log_loss_gradient(Z, Y, sw, segments, scale, D):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = 0.0
        for c in range(k):
            zc = z[c]
            row += softplus(zc) - y[c] * zc
            p = logistic(zc)
            z[c] = p
            d[c] = w * (p - y[c])
        total += sw[i] * row
    return total


@jit
def binary_log_loss_value(Z, Y, sw, segments):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        row = 0.0
        for c in range(k):
            row += softplus(Z[i, c]) - Y[i, c] * Z[i, c]
        total += sw[i] * row
    return total


@jit
def logistic_link(Z, segments):
    n, k = Z.shape
    for i in range(n):
        for c in range(k):
            Z[i, c] = logistic(Z[i, c])


@jit
def binary_log_loss_hessian_vector(P, Y, sw, segments, scale, R, out):
    n, k = P.shape
    one = P.dtype.type(1)
    for i in range(n):
        w = P.dtype.type(scale * sw[i])
        for c in range(k):
            out[i, c] = w * P[i, c] * (one - P[i, c]) * R[i, c]


# --------------------------------------------------------------- poisson


@jit
def poisson_gradient(Z, Y, sw, segments, scale, D):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = 0.0
        for c in range(k):
            p = exp(z[c])
            # half Poisson deviance with log link, as scikit-learn's MLP:
            # y log(y / p) - y + p
            row += _xlogy(y[c], y[c]) - y[c] * z[c] - y[c] + p
            z[c] = p
            d[c] = w * (p - y[c])
        total += sw[i] * row
    return total


@jit
def poisson_value(Z, Y, sw, segments):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        row = 0.0
        for c in range(k):
            y = Y[i, c]
            row += _xlogy(y, y) - y * Z[i, c] - y + np.exp(Z[i, c])
        total += sw[i] * row
    return total


@jit
def exp_link(Z, segments):
    n, k = Z.shape
    for i in range(n):
        for c in range(k):
            Z[i, c] = exp(Z[i, c])


@jit
def poisson_hessian_vector(P, Y, sw, segments, scale, R, out):
    n, k = P.shape
    for i in range(n):
        w = P.dtype.type(scale * sw[i])
        for c in range(k):
            out[i, c] = w * P[i, c] * R[i, c]


# --------------------------------------------------------- squared error


@jit
def squared_error_gradient(Z, Y, sw, segments, scale, D):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = Z.dtype.type(0)
        for c in range(k):
            r = z[c] - y[c]
            row += r * r
            d[c] = w * r
        total += 0.5 * sw[i] * row
    return total


@jit
def squared_error_value(Z, Y, sw, segments):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        row = 0.0
        for c in range(k):
            r = Z[i, c] - Y[i, c]
            row += 0.5 * r * r
        total += sw[i] * row
    return total


@jit
def identity_link(Z, segments):
    """The identity: nothing to do."""


@jit
def squared_error_hessian_vector(P, Y, sw, segments, scale, R, out):
    n, k = P.shape
    for i in range(n):
        w = P.dtype.type(scale * sw[i])
        for c in range(k):
            out[i, c] = w * R[i, c]


# -------------------------------------------------------------- registry


@dataclass(frozen=True)
class Loss:
    """A loss: its engine code, the output activation that is its canonical
    link (scikit-learn's ``out_activation_``), whether regressors offer it,
    and its kernels (see the module docstring)."""

    code: int
    out_activation: str
    regression: bool
    gradient: object
    value: object
    link: object
    hessian_vector: object


LOSSES = {
    "squared_error": Loss(
        0, "identity", True, squared_error_gradient, squared_error_value, identity_link,
        squared_error_hessian_vector,
    ),
    "poisson": Loss(1, "exp", True, poisson_gradient, poisson_value, exp_link, poisson_hessian_vector),
    "binary_log_loss": Loss(
        2, "logistic", False, binary_log_loss_gradient, binary_log_loss_value, logistic_link,
        binary_log_loss_hessian_vector,
    ),
    "log_loss": Loss(
        3, "softmax", False, log_loss_gradient, log_loss_value, softmax_link,
        log_loss_hessian_vector,
    ),
}

SQUARED_ERROR, POISSON, BINARY_LOG_LOSS, LOG_LOSS = (loss.code for loss in LOSSES.values())


def _selection(name, kernel):
    return switch(name, {loss.code: getattr(loss, kernel) for loss in LOSSES.values()})


#: ``loss_gradient(code, Z, Y, sw, segments, scale, D)``
loss_gradient = _selection("loss_gradient", "gradient")
#: ``loss_hessian_vector(code, P, Y, sw, segments, scale, R, out)``
loss_hessian_vector = _selection("loss_hessian_vector", "hessian_vector")
_loss_value = _selection("loss_value", "value")
#: ``output_link(code, Z, segments)``: raw output -> prediction, in place
output_link = _selection("output_link", "link")


@entry_jit
def loss_value(code, Z, Y, sw, segments):
    """``sum_i sw_i * loss_i`` of the raw output ``Z`` (from Python)."""
    return _loss_value(code, Z, Y, sw, segments)


@entry_jit
def output_activation(code, Z, segments):
    """Raw output -> prediction, in place (from Python)."""
    output_link(code, Z, segments)


@entry_jit
def row_losses(code, Z, Y, segments, ones, out):
    """``out_i = loss_i`` of each row of the raw output ``Z``, unweighted
    (``ones``: a one-element array of ones, the weight of each one-row call
    of the value kernel; from Python, for self-paced curricula)."""
    for i in range(Z.shape[0]):
        out[i] = _loss_value(code, Z[i : i + 1], Y[i : i + 1], ones, segments)
