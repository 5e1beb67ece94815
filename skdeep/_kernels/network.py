"""Forward and backward passes over ONE flat parameter vector.

Layout of ``theta`` (scikit-learn's packing order): every weight matrix, layer
after layer, in C order, then every bias vector. Weights come first so that the
penalties, which never touch biases, run over one contiguous block
``theta[:n_weights]``.

The network is described to the kernels by the tuple
``net = (sizes, w_off, b_off, act, loss, segments)``:

sizes : int64 array ``[n_in, h_1, ..., n_out]``
w_off, b_off : int64 arrays, start of each layer's weights / bias in ``theta``
act : hidden activation code (see ``activations``), a compile-time constant
    unless ``_jit.SPECIALISE`` is off
loss : loss code (see ``losses``), chosen at run time
segments : int64 array, softmax head boundaries of the output

Per-layer buffers live in one flat array per kind (``acts``, ``deltas``, dropout
``masks``) with block ``l`` starting at ``a_off[l]``; a block holds up to
``batch_size`` rows of layer ``l + 1``. Every view below is a reshape of a
slice, so nothing is allocated per batch; matrix products go to BLAS through
``np.dot(a, b, out)``.

The input of the first layer is either a dense C-contiguous batch ``Xb`` or,
when ``sparse`` is true, the rows ``rows`` of a CSR matrix ``csr = (data,
indices, indptr)``; ``csr`` is None for dense input (unless
``_jit.SPECIALISE`` is off: then placeholder arrays), which prunes the sparse
code.

numba prunes a branch ``if arg is not None`` when ``arg`` is a None argument,
and compiles (and caches) a separate specialisation for each type, so a
configuration does not compile the code of what it passes as None. The
costly extras, the tangent-propagation tuple (see ``tangent_reverse``) and
the batch-normalisation tuple ``bn = (bn_off, xhat, inv, target, momentum,
stats)`` (see ``batchnorm``), are None when off. So are the cheap ones, the
per-layer dropout rates ``drop`` and the activity-L1 coefficient, unless
``_jit.SPECIALISE`` is off: then zeros switch them off at run time. The
input-gradient buffer ``dx`` is empty when not wanted. Prediction never drops
units and never normalises: ``Network.fold`` merges a trained normalisation
into the weights first.
"""

import numpy as np

from ._jit import entry_jit, jit, optional
from .activations import (
    activation_backward,
    activation_forward,
    activation_second,
    identity_forward,
)
from .batchnorm import bn_backward, bn_forward
from .linalg import (
    add_matrix,
    add_vector,
    column_sums,
    copy_matrix,
    copy_vector,
    csr_rows_dot,
    csr_rows_t_dot,
)
from .losses import loss_gradient
from .random import HIDDEN_DROPOUT, INPUT_DROPOUT, make_key
from .regularizers import (
    activity_backward,
    activity_penalty,
    dropout_backward,
    dropout_forward,
    perturb_inputs,
)


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


@entry_jit
def block_view(buf, sizes, a_off, layer, n):
    """Rows ``0..n`` of the buffer block holding layer ``layer + 1``."""
    m = sizes[layer + 1]
    start = a_off[layer]
    return buf[start : start + n * m].reshape((n, m))


@jit
def _first_layer_product(Xb, csr, sparse, rows, W, Z):
    if csr is not None and sparse:
        csr_rows_dot(csr[0], csr[1], csr[2], rows, W, Z)
    else:
        np.dot(Xb, W, Z)


@entry_jit
def forward_raw(theta, net, Xb, csr, sparse, rows, n, acts, a_off):
    """Forward pass for prediction (no dropout); returns the output block
    before the output activation."""
    out, _ = forward_train(
        theta, net, Xb, csr, sparse, rows, n, acts[:0], acts, a_off, None, acts,
        np.uint64(0), None, None,
    )
    return out


@jit
def forward_train(theta, net, Xb, csr, sparse, rows, n, sw, acts, a_off, drop, masks, key, activity, bn):
    """Training forward pass: batch normalisation before and dropout after
    the hidden activations (rate ``drop[l]`` for hidden layer ``l``); returns
    ``(raw output block, activity penalty sum_i sw_i * activity * sum |A|)``;
    ``drop``, ``activity`` and ``bn`` are None when off."""
    sizes, w_off, b_off, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    prev = block_view(acts, sizes, a_off, 0, n)
    penalty = 0.0
    for layer in range(n_layers):
        W = weights_view(theta, sizes, w_off, layer)
        b = bias_view(theta, sizes, b_off, layer)
        Z = block_view(acts, sizes, a_off, layer, n)
        if layer == 0:
            _first_layer_product(Xb, csr, sparse, rows, W, Z)
        else:
            np.dot(prev, W, Z)
        if layer < n_layers - 1:
            if bn is not None:  # the shift beta replaces the bias
                bn_off, xhat, inv, target, momentum, stats = bn
                bn_forward(
                    Z, sw, theta, bn_off, layer, block_view(xhat, sizes, a_off, layer, n),
                    inv, target, momentum, stats,
                )
                H = bn_off[bn_off.shape[0] - 1] - bn_off[0]
                b = theta[bn_off[layer] + H : bn_off[layer] + H + sizes[layer + 1]]
            activation_forward(act, Z, b)
            if activity is not None:
                if activity > 0:
                    penalty += activity * activity_penalty(Z, sw)
            if drop is not None:
                if drop[layer] > 0:
                    dropout_forward(Z, block_view(masks, sizes, a_off, layer, n), drop[layer], key, layer)
        else:
            identity_forward(Z, b)
        prev = Z
    return prev, penalty


@jit
def backward_train(
    theta, grad, net, Xb, csr, sparse, rows, n, sw, scale, acts, deltas, a_off,
    drop, masks, activity, dx, extra, param_grad, bn,
):
    """Back-propagate the output delta (last block of ``deltas``).

    Writes the parameter gradient into ``grad`` when ``param_grad``, the input
    gradient into ``dx`` when it is not empty, and adds ``extra`` (per hidden
    layer, in the layout of ``deltas``) to the pre-activation deltas when it is
    not None (tangent propagation's second-order terms); ``drop``,
    ``activity`` and ``bn`` as in ``forward_train``."""
    sizes, w_off, b_off, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers - 1, -1, -1):
        D = block_view(deltas, sizes, a_off, layer, n)
        W = weights_view(theta, sizes, w_off, layer)
        if layer == 0:
            if param_grad:
                GW = weights_view(grad, sizes, w_off, layer)
                if csr is not None and sparse:
                    csr_rows_t_dot(csr[0], csr[1], csr[2], rows, D, GW)
                else:
                    np.dot(Xb.T, D, GW)
            if dx.shape[0] > 0:
                np.dot(D, W.T, dx[:n])
        else:
            A = block_view(acts, sizes, a_off, layer - 1, n)
            if param_grad:
                np.dot(A.T, D, weights_view(grad, sizes, w_off, layer))
            D_prev = block_view(deltas, sizes, a_off, layer - 1, n)
            np.dot(D, W.T, D_prev)
            if drop is not None:
                if drop[layer - 1] > 0:
                    dropout_backward(A, block_view(masks, sizes, a_off, layer - 1, n), D_prev)
            if activity is not None:
                if activity > 0:
                    activity_backward(A, D_prev, sw, activity * scale)
            activation_backward(act, A, D_prev)
            if bn is not None:
                bn_off, xhat, inv, _, _, stats = bn
                bn_backward(
                    D_prev, sw, theta, grad, bn_off, layer - 1,
                    block_view(xhat, sizes, a_off, layer - 1, n), inv, param_grad, stats,
                )
            if extra is not None:
                add_matrix(D_prev, block_view(extra, sizes, a_off, layer - 1, n))
        if param_grad:
            column_sums(D, bias_view(grad, sizes, b_off, layer))
    if bn is not None and param_grad:
        bn_off = bn[0]
        for layer in range(n_layers - 1):  # the shifts replace these biases
            bias_view(grad, sizes, b_off, layer)[:] = 0
        H = bn_off[bn_off.shape[0] - 1] - bn_off[0]
        grad[bn_off[0] + 2 * H : bn_off[0] + 4 * H] = 0  # running statistics


# ------------------------------------------------------- tangent propagation


@jit
def _scale_repeated_rows(M, F, repeats):
    """``M[i * repeats + t] *= F[i]`` for every t."""
    for i in range(F.shape[0]):
        f = F[i]
        for t in range(repeats):
            m = M[i * repeats + t]
            for j in range(f.shape[0]):
                m[j] *= f[j]


@jit
def tangent_forward(theta, net, acts, a_off, n, Tb, n_tangents, S, U, F):
    """Forward-mode derivative of the raw output along each tangent.

    ``Tb`` holds ``n_tangents`` rows per sample (sample-major). Fills ``S``
    (pre-activation tangents ``S_l = U_{l-1} W_l``) and ``U`` (post-activation
    tangents ``U_l = f'(Z_l) * S_l``; the output's is ``S``) per layer, in blocks
    of ``n * n_tangents`` rows laid out like ``acts``. ``F`` is scratch of
    ``n * max_units``."""
    sizes, w_off, _, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    rows = n * n_tangents
    prev = Tb[:rows]
    for layer in range(n_layers):
        W = weights_view(theta, sizes, w_off, layer)
        m = sizes[layer + 1]
        S_l = S[a_off[layer] * n_tangents : a_off[layer] * n_tangents + rows * m].reshape((rows, m))
        U_l = U[a_off[layer] * n_tangents : a_off[layer] * n_tangents + rows * m].reshape((rows, m))
        np.dot(prev, W, S_l)
        copy_matrix(S_l, U_l)
        if layer < n_layers - 1:
            F_l = F[: n * m].reshape((n, m))
            F_l[:, :] = 1
            activation_backward(act, block_view(acts, sizes, a_off, layer, n), F_l)
            _scale_repeated_rows(U_l, F_l, n_tangents)
        prev = U_l


@jit
def tangent_reverse(
    theta, net, acts, a_off, n, sw, scale, Tb, n_tangents, strength, S, U,
    dU, dU_next, F, F2, extra, gt,
):
    """Gradient of the tangent-propagation penalty
    ``strength / 2 * sum_i sw_i sum_t ||J_f(x_i) t_it||^2`` (``f`` the raw
    output), by reverse mode through ``tangent_forward``.

    Writes the weight gradient into ``gt`` and, per hidden layer, the gradient
    with respect to the pre-activations that comes through ``f'(Z)`` into
    ``extra`` (added to the deltas by ``backward_train``). Returns the penalty
    without ``scale``, like the data term."""
    sizes, w_off, _, act, _, _ = net
    n_layers = sizes.shape[0] - 1
    rows = n * n_tangents
    last = n_layers - 1
    m = sizes[last + 1]
    U_out = U[a_off[last] * n_tangents : a_off[last] * n_tangents + rows * m].reshape((rows, m))
    g = dU[: rows * m].reshape((rows, m))
    penalty = 0.0
    for i in range(n):
        c = U_out.dtype.type(strength * scale * sw[i])
        for t in range(n_tangents):
            r = i * n_tangents + t
            u = U_out[r]
            gr = g[r]
            row = U_out.dtype.type(0)
            for j in range(m):
                row += u[j] * u[j]
                gr[j] = c * u[j]
            penalty += 0.5 * strength * sw[i] * row
    current = dU
    following = dU_next
    for layer in range(last, -1, -1):
        m = sizes[layer + 1]
        dS = current[: rows * m].reshape((rows, m))  # dU of this layer, made dS in place
        if layer < last:
            A = block_view(acts, sizes, a_off, layer, n)
            S_l = S[a_off[layer] * n_tangents : a_off[layer] * n_tangents + rows * m].reshape((rows, m))
            F_l = F[: n * m].reshape((n, m))
            F_l[:, :] = 1
            activation_backward(act, A, F_l)
            F2_l = F2[: n * m].reshape((n, m))
            activation_second(act, A, F2_l)
            E = block_view(extra, sizes, a_off, layer, n)
            for i in range(n):
                e = E[i]
                f2 = F2_l[i]
                e[:] = 0
                for t in range(n_tangents):
                    d = dS[i * n_tangents + t]
                    s = S_l[i * n_tangents + t]
                    for j in range(m):
                        e[j] += d[j] * s[j] * f2[j]
            _scale_repeated_rows(dS, F_l, n_tangents)
        GW = weights_view(gt, sizes, w_off, layer)
        if layer == 0:
            np.dot(Tb[:rows].T, dS, GW)
        else:
            k = sizes[layer]
            U_prev = U[a_off[layer - 1] * n_tangents : a_off[layer - 1] * n_tangents + rows * k].reshape((rows, k))
            np.dot(U_prev.T, dS, GW)
            np.dot(dS, weights_view(theta, sizes, w_off, layer).T, following[: rows * k].reshape((rows, k)))
            current, following = following, current
    return penalty


# --------------------------------------------------------------- passes


@jit
def train_pass(
    theta, grad, net, Xb, csr, sparse, rows, n, Y, sw, scale, acts, deltas,
    a_off, drop, masks, key, activity, dx, tangent, param_grad, bn,
):
    """Forward, loss and backward for one block of rows; returns the weighted
    sum ``sum_i sw_i loss_i`` plus the activity and tangent penalties (all to
    be multiplied by ``scale``); ``grad <- scale * d/dtheta`` of it.

    ``tangent = (strength, Tb, n_tangents, S, U, dU, dU_next, F, F2, extra,
    gt)``, or None without tangent propagation; ``bn`` likewise."""
    sizes = net[0]
    out, penalty = forward_train(
        theta, net, Xb, csr, sparse, rows, n, sw, acts, a_off, drop, masks, key, activity, bn
    )
    D = block_view(deltas, sizes, a_off, sizes.shape[0] - 2, n)
    total = loss_gradient(net[4], out, Y, sw, net[5], scale, D) + penalty
    if tangent is not None:
        strength, Tb, n_tangents, S, U, dU, dU_next, F, F2, extra, gt = tangent
        tangent_forward(theta, net, acts, a_off, n, Tb, n_tangents, S, U, F)
        total += tangent_reverse(
            theta, net, acts, a_off, n, sw, scale, Tb, n_tangents, strength, S, U,
            dU, dU_next, F, F2, extra, gt,
        )
        backward_train(
            theta, grad, net, Xb, csr, sparse, rows, n, sw, scale, acts, deltas,
            a_off, drop, masks, activity, dx, extra, param_grad, bn,
        )
        if param_grad:
            n_weights = net[2][0]
            add_vector(grad[:n_weights], gt[:n_weights])
    else:
        backward_train(
            theta, grad, net, Xb, csr, sparse, rows, n, sw, scale, acts, deltas,
            a_off, drop, masks, activity, dx, None, param_grad, bn,
        )
    return total


@entry_jit
def predict_raw(theta, net, X, csr, sparse, rows, chunk, acts, a_off, out):
    """Raw network output for every row, ``chunk`` rows at a time."""
    n = out.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xb = X[start:stop] if not sparse else X
        Z = forward_raw(theta, net, Xb, csr, sparse, rows[start:stop], stop - start, acts, a_off)
        copy_matrix(Z, out[start:stop])


@entry_jit
def predict_dropout_raw(
    theta, net, X, csr, sparse, rows, chunk, acts, a_off, drop, input_dropout,
    x_buf, masks, sw, seed, sample, out,
):
    """Raw output with dropout on (Monte-Carlo dropout): hidden masks, and input
    masks for dense input when ``input_dropout > 0`` (``x_buf`` holds the
    dropped copy of a chunk), drawn from the keys of ``(seed, sample,
    chunk)``."""
    n = out.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = start // chunk
        if not sparse and input_dropout > 0:  # perturb the private copy
            copy_matrix(X[start:stop], x_buf[: stop - start])
            perturb_inputs(
                x_buf[: stop - start], input_dropout, None,
                make_key(seed, sample, block, INPUT_DROPOUT), np.uint64(0),
            )
        if sparse:
            Xb = X
        elif input_dropout > 0:
            Xb = x_buf[: stop - start]
        else:
            Xb = X[start:stop]
        key = make_key(seed, sample, block, HIDDEN_DROPOUT)
        Z, _ = forward_train(
            theta, net, Xb, csr, sparse, rows[start:stop], stop - start, sw, acts,
            a_off, drop, masks, key, None, None,
        )
        copy_matrix(Z, out[start:stop])


@optional
def _chunk_tangent(tangent, start, stop):
    """``train_pass``'s tangent tuple for rows ``start:stop`` of the full-batch
    tuple ``(strength, T, S, U, dU, dU_next, F, F2, extra, gt)``."""
    strength, T, S, U, dU, dU_next, F, F2, extra, gt = tangent
    n_t = T.shape[1]
    Tb = T[start:stop].reshape(((stop - start) * n_t, T.shape[2]))
    return (strength, Tb, n_t, S, U, dU, dU_next, F, F2, extra, gt)


@entry_jit
def full_loss_grad(
    theta, grad, net, X, csr, sparse, rows, Y, sw, scale, chunk, acts, deltas,
    a_off, grad_chunk, activity, tangent,
):
    """Data term (with the activity and tangent penalties) over the whole data
    set, ``chunk`` rows at a time. ``tangent = (strength, T, S, U, dU,
    dU_next, F, F2, extra, gt)`` with the tangents ``T``, ``(n, n_t, d)``, or
    None; ``activity`` as in ``forward_train``."""
    n = Y.shape[0]
    no_dx = acts[:0].reshape((0, 1))
    total = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xb = X[start:stop] if not sparse else X
        target = grad if stop - start == n else grad_chunk
        part = _chunk_tangent(tangent, start, stop)
        total += train_pass(
            theta, target, net, Xb, csr, sparse, rows[start:stop], stop - start,
            Y[start:stop], sw[start:stop], scale, acts, deltas, a_off, None,
            acts, np.uint64(0), activity, no_dx, part, True, None,
        )
        if stop - start < n:
            if start == 0:
                copy_vector(grad_chunk, grad)
            else:
                add_vector(grad, grad_chunk)
    return total
