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

Unlike the activation and the optimizer, the loss is chosen at run time, by
branches on ``code``: it follows from the target (multiclass, binary,
multilabel, regression), not from a parameter a user picks, and a
compile-time code would recompile the engine for each kind of target (see
``docs/engine.md``).
"""

from dataclasses import dataclass

import numpy as np

from ._jit import entry_jit, jit
from .elementary import exp, logistic, softplus

SQUARED_ERROR, POISSON, BINARY_LOG_LOSS, LOG_LOSS = range(4)


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


@entry_jit
def loss_gradient(code, Z, Y, sw, segments, scale, D):
    n, k = Z.shape
    total = 0.0
    if code == LOG_LOSS:
        for i in range(n):
            w = Z.dtype.type(scale * sw[i])
            row = 0.0
            for s in range(segments.shape[0] - 1):
                lo = segments[s]
                hi = segments[s + 1]
                row += _softmax_segment_gradient(Z[i, lo:hi], Y[i, lo:hi], D[i, lo:hi], w)
            total += sw[i] * row
    elif code == BINARY_LOG_LOSS:
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
    elif code == POISSON:
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
    else:  # SQUARED_ERROR
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


@entry_jit
def loss_value(code, Z, Y, sw, segments):
    n, k = Z.shape
    total = 0.0
    for i in range(n):
        row = 0.0
        if code == LOG_LOSS:
            for s in range(segments.shape[0] - 1):
                z = Z[i, segments[s] : segments[s + 1]]
                y = Y[i, segments[s] : segments[s + 1]]
                ysum = 0.0
                yz = 0.0
                for c in range(z.shape[0]):
                    ysum += y[c]
                    yz += y[c] * z[c]
                row += _logsumexp(z) * ysum - yz
        elif code == BINARY_LOG_LOSS:
            for c in range(k):
                row += softplus(Z[i, c]) - Y[i, c] * Z[i, c]
        elif code == POISSON:
            for c in range(k):
                y = Y[i, c]
                row += _xlogy(y, y) - y * Z[i, c] - y + np.exp(Z[i, c])
        else:
            for c in range(k):
                r = Z[i, c] - Y[i, c]
                row += 0.5 * r * r
        total += sw[i] * row
    return total


@entry_jit
def output_activation(code, Z, segments):
    n, k = Z.shape
    if code == LOG_LOSS:
        for i in range(n):
            for s in range(segments.shape[0] - 1):
                _softmax_inplace(Z[i, segments[s] : segments[s + 1]])
    elif code == BINARY_LOG_LOSS:
        for i in range(n):
            for c in range(k):
                Z[i, c] = logistic(Z[i, c])
    elif code == POISSON:
        for i in range(n):
            for c in range(k):
                Z[i, c] = exp(Z[i, c])
