"""Batch normalisation of hidden pre-activations (Ioffe & Szegedy, 2015).

In training, each hidden layer's pre-activations ``Z`` (without bias: the
shift ``beta`` takes its place) are normalised with the statistics of the
batch, weighted by the sample weights ``w_i = sw_i / sum(sw)`` so that a row of
weight 2 counts as two rows and a row of weight 0 as none:

    mu = sum_i w_i z_i,   var = sum_i w_i (z_i - mu)^2,   s = sqrt(var + eps)
    xhat_i = (z_i - mu) / s,   y_i = gamma * xhat_i + beta

and back-propagated exactly through the statistics:

    dgamma = sum_i g_i xhat_i,   dbeta = sum_i g_i,   dxhat_i = gamma g_i
    dz_i = (dxhat_i - w_i sum_j dxhat_j - w_i xhat_i sum_j dxhat_j xhat_j) / s

Running averages of ``mu`` and ``var`` (``r <- (1 - momentum) r + momentum
x``) replace the batch statistics at prediction time, where the layer is an
affine map that ``Network.fold`` merges into the weights.

Layout: the normalisation parameters follow the biases in ``theta``: for the
``H`` hidden units in all, ``gamma`` (H), ``beta`` (H), running means (H) and
running variances (H); ``bn_off[l]`` is where layer ``l``'s gammas start
(``bn_off[-1] = bn_off[0] + H``). An empty ``bn_off`` switches it off.

The per-unit sums go to ``stats``, a float64 scratch of four times the widest
layer allocated with the fit, so that nothing is allocated per batch.
"""

import numpy as np

from ._jit import jit

#: added to the variance, as in Ioffe & Szegedy and every framework
EPSILON = 1e-5


@jit
def _weight_sum(sw, n):
    total = 0.0
    for i in range(n):
        total += sw[i]
    return total


@jit
def bn_forward(Z, sw, theta, bn_off, layer, xhat, inv, target, momentum, stats):
    """``Z <- gamma * xhat`` (the caller adds ``beta`` with the activation);
    ``xhat`` and ``inv = 1/s`` (per unit, at the layer's offset) are kept for
    the backward pass. With ``momentum > 0`` the running statistics in
    ``target`` (the model's own parameters) move towards the batch's."""
    n, m = Z.shape
    H = bn_off[bn_off.shape[0] - 1] - bn_off[0]
    g0 = bn_off[layer]
    u0 = g0 - bn_off[0]  # the layer's first unit among all hidden units
    total = _weight_sum(sw, n)
    mean = stats[:m]
    var = stats[m : 2 * m]
    mean[:] = 0
    var[:] = 0
    for i in range(n):  # row by row: Z is C-ordered
        w, z = sw[i], Z[i]
        for j in range(m):
            mean[j] += w * z[j]
    mean /= total
    for i in range(n):
        w, z = sw[i], Z[i]
        for j in range(m):
            d = z[j] - mean[j]
            var[j] += w * d * d
    var /= total
    r = inv[u0 : u0 + m]
    gamma = theta[g0 : g0 + m]
    for j in range(m):
        r[j] = 1.0 / np.sqrt(var[j] + EPSILON)
    for i in range(n):
        z, x = Z[i], xhat[i]
        for j in range(m):
            x[j] = (z[j] - mean[j]) * r[j]
            z[j] = gamma[j] * x[j]
    if momentum > 0:
        keep = 1.0 - momentum
        for j in range(m):
            rm, rv = g0 + 2 * H + j, g0 + 3 * H + j
            target[rm] = keep * target[rm] + momentum * mean[j]
            target[rv] = keep * target[rv] + momentum * var[j]


@jit
def bn_backward(D, sw, theta, grad, bn_off, layer, xhat, inv, param_grad, stats):
    """``D`` holds the deltas of the normalised output ``y``; replaces them
    by those of ``Z`` and writes ``dgamma``, ``dbeta`` into ``grad`` when
    ``param_grad``."""
    n, m = D.shape
    H = bn_off[bn_off.shape[0] - 1] - bn_off[0]
    g0 = bn_off[layer]
    u0 = g0 - bn_off[0]
    total = _weight_sum(sw, n)
    dgamma = stats[:m]
    dbeta = stats[m : 2 * m]
    dgamma[:] = 0
    dbeta[:] = 0
    for i in range(n):
        d, x = D[i], xhat[i]
        for j in range(m):
            dgamma[j] += d[j] * x[j]
            dbeta[j] += d[j]
    if param_grad:
        for j in range(m):
            grad[g0 + j] = dgamma[j]
            grad[g0 + H + j] = dbeta[j]
    gamma = theta[g0 : g0 + m]
    r = inv[u0 : u0 + m]
    # sum_i dxhat_i = gamma * dbeta and sum_i dxhat_i xhat_i = gamma * dgamma
    a = stats[2 * m : 3 * m]
    b = stats[3 * m : 4 * m]
    for j in range(m):
        a[j] = gamma[j] * dbeta[j] / total
        b[j] = gamma[j] * dgamma[j] / total
    for i in range(n):
        d, x, w = D[i], xhat[i], sw[i]
        for j in range(m):
            d[j] = r[j] * (gamma[j] * d[j] - w * (a[j] + x[j] * b[j]))
