"""Forward and backward passes over ONE flat parameter vector.

Layout of ``theta`` (scikit-learn's packing order): every weight matrix, layer
after layer, in C order, then every bias vector. Weights come first so that the
penalties, which never touch biases, run over one contiguous block
``theta[:n_weights]``.

The network is described to the kernels by the tuple
``net = (sizes, w_off, b_off, act, loss, segments)``:

sizes : int64 array ``[n_in, h_1, ..., n_out]``
w_off, b_off : int64 arrays, start of each layer's weights / bias in ``theta``
act : hidden activation code (see ``activations``)
loss : loss code (see ``losses``)
segments : int64 array, softmax head boundaries of the output

Per-layer buffers live in one flat array per kind (``acts``, ``deltas``) with
block ``l`` starting at ``a_off[l]``; a block holds up to ``batch_size`` rows of
layer ``l + 1``. Every view below is a reshape of a slice, so nothing is
allocated per batch; matrix products go to BLAS through ``np.dot(a, b, out)``.

The input of the first layer is either a dense C-contiguous batch ``Xb`` or,
when ``sparse`` is true, the rows ``rows`` of a CSR matrix ``csr = (data,
indices, indptr)``.
"""

import numpy as np

from ._jit import jit
from .activations import activation_backward, activation_forward, identity_forward
from .linalg import column_sums, csr_rows_dot, csr_rows_t_dot
from .losses import loss_gradient


@jit
def weights_view(theta, sizes, w_off, layer):
    """The ``(n_in, n_out)`` weight matrix of ``layer`` as a view of ``theta``."""
    n_in = sizes[layer]
    n_out = sizes[layer + 1]
    start = w_off[layer]
    return theta[start : start + n_in * n_out].reshape((n_in, n_out))


@jit
def bias_view(theta, sizes, b_off, layer):
    start = b_off[layer]
    return theta[start : start + sizes[layer + 1]]


@jit
def block_view(buf, sizes, a_off, layer, n):
    """Rows ``0..n`` of the buffer block holding layer ``layer + 1``."""
    m = sizes[layer + 1]
    start = a_off[layer]
    return buf[start : start + n * m].reshape((n, m))


@jit
def forward_raw(theta, net, Xb, csr, sparse, rows, n, acts, a_off):
    """Forward pass; returns the output block before the output activation."""
    sizes, w_off, b_off, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    prev = block_view(acts, sizes, a_off, 0, n)
    for layer in range(n_layers):
        W = weights_view(theta, sizes, w_off, layer)
        b = bias_view(theta, sizes, b_off, layer)
        Z = block_view(acts, sizes, a_off, layer, n)
        if layer == 0:
            if sparse:
                csr_rows_dot(csr[0], csr[1], csr[2], rows, W, Z)
            else:
                np.dot(Xb, W, Z)
        else:
            np.dot(prev, W, Z)
        if layer < n_layers - 1:
            activation_forward(act, Z, b)
        else:
            identity_forward(Z, b)
        prev = Z
    return prev


@jit
def backward(theta, grad, net, Xb, csr, sparse, rows, n, acts, deltas, a_off):
    """Back-propagate the output delta (last block of ``deltas``) into ``grad``."""
    sizes, w_off, b_off, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers - 1, -1, -1):
        D = block_view(deltas, sizes, a_off, layer, n)
        GW = weights_view(grad, sizes, w_off, layer)
        if layer == 0:
            if sparse:
                csr_rows_t_dot(csr[0], csr[1], csr[2], rows, D, GW)
            else:
                np.dot(Xb.T, D, GW)
        else:
            A = block_view(acts, sizes, a_off, layer - 1, n)
            np.dot(A.T, D, GW)
            D_prev = block_view(deltas, sizes, a_off, layer - 1, n)
            np.dot(D, weights_view(theta, sizes, w_off, layer).T, D_prev)
            activation_backward(act, A, D_prev)
        column_sums(D, bias_view(grad, sizes, b_off, layer))


@jit
def forward_backward(
    theta, grad, net, Xb, csr, sparse, rows, n, Y, sw, scale, acts, deltas, a_off
):
    """Data term: returns ``sum_i sw_i loss_i``; ``grad <- scale * d/dtheta``."""
    sizes = net[0]
    Z = forward_raw(theta, net, Xb, csr, sparse, rows, n, acts, a_off)
    D = block_view(deltas, sizes, a_off, sizes.shape[0] - 2, n)
    total = loss_gradient(net[4], Z, Y, sw, net[5], scale, D)
    backward(theta, grad, net, Xb, csr, sparse, rows, n, acts, deltas, a_off)
    return total


@jit
def add_l2_penalty(theta, grad, n_weights, coef):
    """``grad[:n_weights] += coef * w``; returns ``0.5 * coef * ||w||^2``.

    Only the weight block is penalised: biases are never regularised
    (Goodfellow et al., Deep Learning, 7.1).
    """
    c = theta.dtype.type(coef)
    total = 0.0
    for i in range(n_weights):
        w = theta[i]
        total += w * w
        grad[i] += c * w
    return 0.5 * coef * total


@jit
def predict_raw(theta, net, X, csr, sparse, rows, chunk, acts, a_off, out):
    """Raw network output for every row, ``chunk`` rows at a time."""
    n = out.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xb = X[start:stop] if not sparse else X
        Z = forward_raw(
            theta, net, Xb, csr, sparse, rows[start:stop], stop - start, acts, a_off
        )
        out[start:stop] = Z


@jit
def full_loss_grad(
    theta, grad, net, X, csr, sparse, rows, Y, sw, scale, chunk, acts, deltas,
    a_off, grad_chunk,
):
    """Data term over the whole data set, ``chunk`` rows at a time."""
    n = Y.shape[0]
    if n <= chunk:
        return forward_backward(
            theta, grad, net, X, csr, sparse, rows, n, Y, sw, scale, acts, deltas,
            a_off,
        )
    grad[:] = 0
    total = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xb = X[start:stop] if not sparse else X
        total += forward_backward(
            theta, grad_chunk, net, Xb, csr, sparse, rows[start:stop], stop - start,
            Y[start:stop], sw[start:stop], scale, acts, deltas, a_off,
        )
        for i in range(grad.shape[0]):
            grad[i] += grad_chunk[i]
    return total
