"""Output activations and losses, fused with their gradient.

Each loss is paired with its canonical link, so the gradient with respect to the
raw output ``z`` is ``prediction - y`` (times the sample weight). Kernels follow
``sklearn/_loss``'s signature: inputs, then preallocated outputs, then scalars.

``loss_gradient(code, Z, Y, sw, segments, scale, D)``
    ``Z`` holds the raw output (bias already added) and is overwritten with the
    prediction; ``D <- scale * sw * dloss/dz``; returns ``sum_i sw_i * loss_i``
    accumulated in float64.
``loss_value(code, Z, Y, sw, segments)``
    the same sum without touching ``Z`` or writing a gradient.
``output_activation(code, Z, segments)``
    raw output -> prediction, in place (used by ``predict``).

``segments`` holds the column boundaries of softmax heads: ``[0, K]`` for one
multiclass output, ``[0, K1, K1 + K2, ...]`` for several categorical outputs that
share the hidden layers. Log-losses are computed from the logits (log-sum-exp),
not from clipped probabilities, so they stay exact for confident predictions.

Each function is a ``switch`` over one kernel per loss. The library passes
the loss code as a plain integer, chosen at run time: the loss follows from
the target (multiclass, binary, multilabel, regression), not from a parameter
a user picks, and a compile-time code would recompile the engine for each
kind of target (see ``docs/engine.md``).
"""

from dataclasses import dataclass

import numpy as np

from ._jit import Constant, entry_jit, inline_jit, jit, switch
from .elementary import exp, logistic, softplus

SQUARED_ERROR, POISSON, BINARY_LOG_LOSS, LOG_LOSS = map(Constant, range(4))


@dataclass(frozen=True)
class Loss:
    """A loss and the output activation that is its canonical link."""

    code: int
    out_activation: str


LOSSES = {
    "squared_error": Loss(SQUARED_ERROR, "identity"),
    "poisson": Loss(POISSON, "exp"),
    "binary_log_loss": Loss(BINARY_LOG_LOSS, "logistic"),
    "log_loss": Loss(LOG_LOSS, "softmax"),
}


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
        zmax = max(zmax, z[k])
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
        zmax = max(zmax, z[k])
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
        zmax = max(zmax, z[c])
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


# ------------------------------------------------- loss and gradient


@inline_jit
def _log_loss_gradient(Z, Y, sw, segments, scale, D):
    total = 0.0
    for i in range(Z.shape[0]):
        w = Z.dtype.type(scale * sw[i])
        row = 0.0
        for s in range(segments.shape[0] - 1):
            lo = segments[s]
            hi = segments[s + 1]
            row += _softmax_segment_gradient(Z[i, lo:hi], Y[i, lo:hi], D[i, lo:hi], w)
        total += sw[i] * row
    return total


@inline_jit
def _binary_log_loss_gradient(Z, Y, sw, segments, scale, D):
    total = 0.0
    for i in range(Z.shape[0]):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = 0.0
        for c in range(z.shape[0]):
            zc = z[c]
            row += softplus(zc) - y[c] * zc
            p = logistic(zc)
            z[c] = p
            d[c] = w * (p - y[c])
        total += sw[i] * row
    return total


@inline_jit
def _poisson_gradient(Z, Y, sw, segments, scale, D):
    total = 0.0
    for i in range(Z.shape[0]):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = 0.0
        for c in range(z.shape[0]):
            p = exp(z[c])
            # half Poisson deviance with log link, as scikit-learn's MLP:
            # y log(y / p) - y + p
            row += _xlogy(y[c], y[c]) - y[c] * z[c] - y[c] + p
            z[c] = p
            d[c] = w * (p - y[c])
        total += sw[i] * row
    return total


@inline_jit
def _squared_error_gradient(Z, Y, sw, segments, scale, D):
    total = 0.0
    for i in range(Z.shape[0]):
        w = Z.dtype.type(scale * sw[i])
        z, y, d = Z[i], Y[i], D[i]
        row = Z.dtype.type(0)
        for c in range(z.shape[0]):
            r = z[c] - y[c]
            row += r * r
            d[c] = w * r
        total += 0.5 * sw[i] * row
    return total


#: ``loss_gradient(code, Z, Y, sw, segments, scale, D)``
loss_gradient = switch(
    "loss_gradient",
    {
        LOG_LOSS: _log_loss_gradient,
        BINARY_LOG_LOSS: _binary_log_loss_gradient,
        POISSON: _poisson_gradient,
        SQUARED_ERROR: _squared_error_gradient,
    },
)


# -------------------------------------------------------------- loss alone


@inline_jit
def _log_loss_value(Z, Y, sw, segments):
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


@inline_jit
def _binary_log_loss_value(Z, Y, sw, segments):
    total = 0.0
    for i in range(Z.shape[0]):
        row = 0.0
        for c in range(Z.shape[1]):
            row += softplus(Z[i, c]) - Y[i, c] * Z[i, c]
        total += sw[i] * row
    return total


@inline_jit
def _poisson_value(Z, Y, sw, segments):
    total = 0.0
    for i in range(Z.shape[0]):
        row = 0.0
        for c in range(Z.shape[1]):
            y = Y[i, c]
            row += _xlogy(y, y) - y * Z[i, c] - y + np.exp(Z[i, c])
        total += sw[i] * row
    return total


@inline_jit
def _squared_error_value(Z, Y, sw, segments):
    total = 0.0
    for i in range(Z.shape[0]):
        row = 0.0
        for c in range(Z.shape[1]):
            r = Z[i, c] - Y[i, c]
            row += 0.5 * r * r
        total += sw[i] * row
    return total


_loss_value = switch(
    "loss_value",
    {
        LOG_LOSS: _log_loss_value,
        BINARY_LOG_LOSS: _binary_log_loss_value,
        POISSON: _poisson_value,
        SQUARED_ERROR: _squared_error_value,
    },
)


@entry_jit
def loss_value(code, Z, Y, sw, segments):
    return _loss_value(code, Z, Y, sw, segments)


# ------------------------------------------------------ output activation


@inline_jit
def _softmax_output(Z, segments):
    for i in range(Z.shape[0]):
        for s in range(segments.shape[0] - 1):
            _softmax_inplace(Z[i, segments[s] : segments[s + 1]])


@inline_jit
def _logistic_output(Z, segments):
    for i in range(Z.shape[0]):
        for c in range(Z.shape[1]):
            Z[i, c] = logistic(Z[i, c])


@inline_jit
def _exp_output(Z, segments):
    for i in range(Z.shape[0]):
        for c in range(Z.shape[1]):
            Z[i, c] = exp(Z[i, c])


@inline_jit
def _identity_output(Z, segments):
    """The identity: nothing to do."""


_output_activation = switch(
    "output_activation",
    {
        LOG_LOSS: _softmax_output,
        BINARY_LOG_LOSS: _logistic_output,
        POISSON: _exp_output,
        SQUARED_ERROR: _identity_output,
    },
)


@entry_jit
def output_activation(code, Z, segments):
    _output_activation(code, Z, segments)
