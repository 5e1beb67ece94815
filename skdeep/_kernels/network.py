"""Forward and backward passes over ONE flat parameter vector.

Layout of ``theta`` (scikit-learn's packing order): every weight matrix, layer
after layer, in C order, then every bias vector. Weights come first so that the
penalties, which never touch biases, run over one contiguous block
``theta[:n_weights]``.

The network is described to the kernels by a ``records.Layout`` (``net``:
sizes, weight and bias offsets, the activation and loss codes, the softmax
heads); the rows of a pass by a ``records.Block``, its buffers by a
``records.Work``: per-layer buffers live in one flat array per kind
(``acts``, ``deltas``, dropout ``masks``) with block ``l`` starting at
``a_off[l]``; a block holds up to ``batch_size`` rows of layer ``l + 1``.
Every view below is a reshape of a slice, so nothing is allocated per batch;
matrix products go to BLAS through ``linalg.dot(a, b, out)`` (numba's ``np.dot(a, b, out)``).

The input of the first layer is either the dense C-contiguous rows
``block.X`` or, when ``block.sparse`` is true, the rows ``block.rows`` of a
CSR matrix ``block.csr = (data, indices, indptr)``; ``csr`` is None for
dense input (unless ``_jit.SPECIALISE`` is off: then placeholder arrays),
which prunes the sparse code.

numba prunes a branch ``if arg is not None`` when ``arg`` is a None
argument, and compiles (and caches) a separate specialisation for each type,
so a configuration does not compile the code of what it passes as None. The
costly extras, the tangent-propagation record (``records.Tangent``) and the
batch-normalisation record (``records.BatchNorm``, see ``batchnorm``), are
None when off. So are the cheap ones in ``records.Hidden``, the per-layer
dropout rates and the activity-L1 coefficient, unless ``_jit.SPECIALISE`` is
off: then zeros switch them off at run time; the kernels hand them to the
helpers below as arguments, where the pruning happens. The input-gradient
buffer ``dx`` is empty when not wanted. Prediction never drops units and
never normalises: ``Network.fold`` merges a trained normalisation into the
weights first.
"""

import numpy as np

from ._jit import by_presence, entry_jit, integer_jit, jit, optional, smaller
from .activations import (
    activation_backward,
    activation_forward,
    activation_second,
    identity_forward,
)
from .batchnorm import bn_backward, bn_forward
from .contractive import (
    contractive_backward,
    contractive_forward,
    contractive_weight_grad,
)
from .linalg import (
    add_matrix,
    add_vector,
    column_sums,
    copy_matrix,
    copy_vector,
    csr_rows_dot,
    csr_rows_t_dot,
    dot,
    subtract_matrix,
)
from .losses import output_link
from .random import DROPCONNECT, HIDDEN_DROPOUT, INPUT_DROPOUT, make_key
from .records import Block, Hidden, Tangent, Work
from .regularizers import (
    activity_backward,
    activity_penalty,
    dropconnect_weights,
    dropout_backward,
    dropout_forward,
    perturb_inputs,
)
from .unlabeled import data_term


@integer_jit
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


@integer_jit
def block_view(buf, sizes, a_off, layer, n):
    """Rows ``0..n`` of the buffer block holding layer ``layer + 1``."""
    m = sizes[layer + 1]
    start = a_off[layer]
    return buf[start : start + n * m].reshape((n, m))


@jit
def block_rows(data, start, stop):
    """The ``Block`` of rows ``start:stop`` of the block ``data``."""
    X = data.X[start:stop] if not data.sparse else data.X
    return Block(
        X, data.csr, data.sparse, data.rows[start:stop], stop - start,
        data.Y[start:stop], data.sw[start:stop], data.scale,
    )


@jit
def _input_product(X, csr, sparse, rows, W, Z):
    if csr is not None and sparse:
        csr_rows_dot(csr[0], csr[1], csr[2], rows, W, Z)
    else:
        dot(X, W, Z)


@jit
def _input_t_product(X, csr, sparse, rows, D, G):
    if csr is not None and sparse:
        csr_rows_t_dot(csr[0], csr[1], csr[2], rows, D, G)
    else:
        dot(X.T, D, G)


@jit
def input_product(block, W, Z):
    """``Z <- X W`` for the block's input rows ``X`` (dense or CSR)."""
    _input_product(block.X, block.csr, block.sparse, block.rows, W, Z)


@jit
def input_t_product(block, D, G):
    """``G <- X^T D`` for the block's input rows ``X`` (dense or CSR)."""
    _input_t_product(block.X, block.csr, block.sparse, block.rows, D, G)


@jit
def forward_raw(theta, net, block, work):
    """Forward pass for prediction (no dropout); returns the output block
    before the output activation."""
    hidden = Hidden(None, work.acts, np.uint64(0), None, None, None)
    out, _ = forward_train(theta, net, block, work, hidden, None)
    return out


@entry_jit
def hidden_forward(theta, net, block, work):
    """``forward_raw`` from Python, for the hidden activations it leaves in
    ``work.acts`` (``transform`` and feature extraction)."""
    forward_raw(theta, net, block, work)


def _no_activity_forward(activity, Z, sw, penalty):
    return penalty


def _activity_forward(activity, Z, sw, penalty):
    """``penalty + activity * sum_i sw_i sum |Z_i|``; ``penalty`` when
    ``activity`` is None."""
    if activity > 0:
        penalty += activity * activity_penalty(Z, sw)
    return penalty


def _no_dropout_forward(drop, masks, Z, sizes, a_off, layer, key):
    pass


def _dropout_forward_layer(drop, masks, Z, sizes, a_off, layer, key):
    """Hidden layer ``layer``'s dropout (rate ``drop[layer]``), its mask in
    ``masks``; nothing when ``drop`` is None."""
    if drop[layer] > 0:
        M = block_view(masks, sizes, a_off, layer, Z.shape[0])
        dropout_forward(Z, M, drop[layer], key, layer)


def _no_dropout_backward(drop, masks, A, D, sizes, a_off, layer):
    pass


def _dropout_backward_layer(drop, masks, A, D, sizes, a_off, layer):
    """Undo hidden layer ``layer``'s dropout on ``A`` and mask ``D``;
    nothing when ``drop`` is None."""
    if drop[layer] > 0:
        dropout_backward(A, block_view(masks, sizes, a_off, layer, A.shape[0]), D)


def _no_activity_backward(activity, A, D, sw, scale):
    pass


def _activity_backward(activity, A, D, sw, scale):
    """The activity penalty's gradient into ``D``; nothing when
    ``activity`` is None."""
    if activity > 0:
        activity_backward(A, D, sw, activity * scale)


def _no_shortcut(residual, layer):
    return False


def has_shortcut(residual, layer):
    """Whether layer ``layer`` has an identity shortcut around it (never
    without shortcuts: ``residual`` None)."""
    return residual[layer] != 0


def _no_shortcut_forward(residual, Z, prev, layer):
    pass


def _shortcut_forward(residual, Z, prev, layer):
    """``Z += prev`` (``h_{l+1} = h_l + branch``) for a layer with a
    shortcut; nothing without shortcuts."""
    if residual[layer] != 0:
        add_matrix(Z, prev)


def _plain_delta_below(residual, D, W, D_prev, acts, sizes, a_off, layer, n):
    dot(D, W.T, D_prev)


def _delta_below(residual, D, W, D_prev, acts, sizes, a_off, layer, n):
    """``D_prev <- D W^T``, plus, for a layer with a shortcut, the gradient
    of its output that ``D_prev`` holds already (carried along the
    shortcut by ``_carry_below``); the output's activations are spent by
    then and hold the product."""
    if residual[layer] != 0:
        E = block_view(acts, sizes, a_off, layer, n)
        dot(D, W.T, E)
        add_matrix(D_prev, E)
    else:
        dot(D, W.T, D_prev)


def _no_carry(residual, D_prev, A, deltas, acts, sizes, a_off, layer, n):
    pass


def _carry_below(residual, D_prev, A, deltas, acts, sizes, a_off, layer, n):
    """For a hidden layer ``layer`` with a shortcut: the gradient of its
    output ``D_prev`` into the delta block of the layer below (free until
    that layer's turn, which adds it), and its branch's output ``A - h_l``
    recovered in ``A``, from which ``f'`` is computed; nothing without
    shortcuts."""
    if residual[layer] != 0:
        copy_matrix(D_prev, block_view(deltas, sizes, a_off, layer - 1, n))
        subtract_matrix(A, block_view(acts, sizes, a_off, layer - 1, n))


_activity_forward = by_presence(_no_activity_forward, _activity_forward)
has_shortcut = by_presence(_no_shortcut, has_shortcut)
_shortcut_forward = by_presence(_no_shortcut_forward, _shortcut_forward)
_delta_below = by_presence(_plain_delta_below, _delta_below)
_carry_below = by_presence(_no_carry, _carry_below)
_dropout_forward_layer = by_presence(_no_dropout_forward, _dropout_forward_layer)
_dropout_backward_layer = by_presence(_no_dropout_backward, _dropout_backward_layer)
_activity_backward = by_presence(_no_activity_backward, _activity_backward)


@jit
def forward_train(theta, net, block, work, hidden, bn):
    """Training forward pass: batch normalisation before and dropout after
    the hidden activations (rate ``hidden.drop[l]`` for hidden layer
    ``l``), then the identity shortcut of a layer that has one
    (``net.residual``: ``h_{l+1} = h_l + dropout(f(BN(h_l W_l) + b_l))``,
    kept in the layer's activation block); returns ``(raw output block,
    activity penalty sum_i sw_i * activity * sum |A|)``, the penalty on
    the branches' outputs; ``bn`` is None when off."""
    sizes, w_off, b_off = net.sizes, net.w_off, net.b_off
    acts, a_off, n = work.acts, work.a_off, block.n
    n_layers = sizes.shape[0] - 1
    prev = block_view(acts, sizes, a_off, 0, n)
    penalty = 0.0
    for layer in range(n_layers):
        W = weights_view(theta, sizes, w_off, layer)
        b = bias_view(theta, sizes, b_off, layer)
        Z = block_view(acts, sizes, a_off, layer, n)
        if layer == 0:
            input_product(block, W, Z)
        else:
            dot(prev, W, Z)
        if layer < n_layers - 1:
            if bn is not None:  # the shift beta replaces the bias
                offsets = bn.offsets
                bn_forward(
                    Z, block.sw, theta, offsets, layer,
                    block_view(bn.xhat, sizes, a_off, layer, n), bn.inv, bn.target,
                    bn.momentum, bn.stats,
                )
                H = offsets[offsets.shape[0] - 1] - offsets[0]
                b = theta[offsets[layer] + H : offsets[layer] + H + sizes[layer + 1]]
            activation_forward(net.activation, Z, b)
            if layer == 0:
                penalty = contractive_forward(hidden.contractive, net.activation, Z, W, block.sw, penalty)
            # the activity penalty on the units as the next layer sees them
            # (after dropout: unbiased, and its gradient is the masked one)
            _dropout_forward_layer(hidden.drop, hidden.masks, Z, sizes, a_off, layer, hidden.key)
            penalty = _activity_forward(hidden.activity, Z, block.sw, penalty)
            _shortcut_forward(net.residual, Z, prev, layer)
        else:
            identity_forward(Z, b)
        prev = Z
    return prev, penalty


@jit
def backward_train(theta, grad, net, block, work, hidden, dx, extra, param_grad, bn):
    """Back-propagate the output delta (last block of ``work.deltas``).

    Writes the parameter gradient into ``grad`` when ``param_grad``, the input
    gradient into ``dx`` when it is not empty, and adds ``extra`` (per hidden
    layer, in the layout of ``deltas``) to the pre-activation deltas when it is
    not None (tangent propagation's second-order terms); ``hidden`` and
    ``bn`` as in ``forward_train``.

    With shortcuts, the gradient of a shortcut's output ``h_{l+1}`` goes
    both through the branch and, unchanged, to ``h_l``: it is carried in
    the free delta block of the layer below, and the branch's output
    ``h_{l+1} - h_l``, from which ``f'`` is computed, is recovered in place
    (the activations of a layer are spent once its weights' gradient is
    taken, so they also hold the product ``D W^T`` before it is added)."""
    sizes, w_off, b_off = net.sizes, net.w_off, net.b_off
    acts, deltas, a_off, n = work.acts, work.deltas, work.a_off, block.n
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers - 1, -1, -1):
        D = block_view(deltas, sizes, a_off, layer, n)
        W = weights_view(theta, sizes, w_off, layer)
        if layer == 0:
            if param_grad:
                GW = weights_view(grad, sizes, w_off, layer)
                input_t_product(block, D, GW)
                contractive_weight_grad(hidden.contractive, W, GW, block.sw, block.scale)
            if dx.shape[0] > 0:
                dot(D, W.T, dx[:n])
        else:
            A = block_view(acts, sizes, a_off, layer - 1, n)
            if param_grad:
                dot(A.T, D, weights_view(grad, sizes, w_off, layer))
            D_prev = block_view(deltas, sizes, a_off, layer - 1, n)
            _delta_below(net.residual, D, W, D_prev, acts, sizes, a_off, layer, n)
            _carry_below(net.residual, D_prev, A, deltas, acts, sizes, a_off, layer - 1, n)
            _activity_backward(hidden.activity, A, D_prev, block.sw, block.scale)
            _dropout_backward_layer(hidden.drop, hidden.masks, A, D_prev, sizes, a_off, layer - 1)
            activation_backward(net.activation, A, D_prev)
            if layer == 1:
                contractive_backward(
                    hidden.contractive, weights_view(theta, sizes, w_off, 0), D_prev,
                    block.sw, block.scale,
                )
            if bn is not None:
                bn_backward(
                    D_prev, block.sw, theta, grad, bn.offsets, layer - 1,
                    block_view(bn.xhat, sizes, a_off, layer - 1, n), bn.inv, param_grad, bn.stats,
                )
            if extra is not None:
                add_matrix(D_prev, block_view(extra, sizes, a_off, layer - 1, n))
        if param_grad:
            column_sums(D, bias_view(grad, sizes, b_off, layer))
    if bn is not None and param_grad:
        offsets = bn.offsets
        for layer in range(n_layers - 1):  # the shifts replace these biases
            bias_view(grad, sizes, b_off, layer)[:] = 0
        H = offsets[offsets.shape[0] - 1] - offsets[0]
        grad[offsets[0] + 2 * H : offsets[0] + 4 * H] = 0  # running statistics


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
def _tangent_block(buf, a_off, layer, n_tangents, rows, m):
    """Layer ``layer``'s ``(rows, m)`` block of a tangent buffer, laid out
    like the activations with ``n_tangents`` rows per sample."""
    start = a_off[layer] * n_tangents
    return buf[start : start + rows * m].reshape((rows, m))


@jit
def tangent_forward(theta, net, work, n, tangent):
    """Forward-mode derivative of the raw output along each tangent.

    ``tangent.Tb`` holds ``n_tangents`` rows per sample (sample-major).
    Fills ``S`` (pre-activation tangents ``S_l = U_{l-1} W_l``) and ``U``
    (post-activation tangents ``U_l = f'(Z_l) * S_l``; the output's is
    ``S``) per layer, in blocks of ``n * n_tangents`` rows laid out like
    ``acts``. ``F`` is scratch of ``n * max_units``."""
    sizes, w_off, a_off = net.sizes, net.w_off, work.a_off
    n_tangents = tangent.n_tangents
    n_layers = sizes.shape[0] - 1
    rows = n * n_tangents
    prev = tangent.Tb[:rows]
    for layer in range(n_layers):
        W = weights_view(theta, sizes, w_off, layer)
        m = sizes[layer + 1]
        S_l = _tangent_block(tangent.S, a_off, layer, n_tangents, rows, m)
        U_l = _tangent_block(tangent.U, a_off, layer, n_tangents, rows, m)
        dot(prev, W, S_l)
        copy_matrix(S_l, U_l)
        if layer < n_layers - 1:
            F_l = tangent.F[: n * m].reshape((n, m))
            F_l[:, :] = 1
            activation_backward(net.activation, block_view(work.acts, sizes, a_off, layer, n), F_l)
            _scale_repeated_rows(U_l, F_l, n_tangents)
        prev = U_l


@jit
def tangent_reverse(theta, net, block, work, tangent):
    """Gradient of the tangent-propagation penalty
    ``strength / 2 * sum_i sw_i sum_t ||J_f(x_i) t_it||^2`` (``f`` the raw
    output), by reverse mode through ``tangent_forward``.

    Writes the weight gradient into ``tangent.gt`` and, per hidden layer,
    the gradient with respect to the pre-activations that comes through
    ``f'(Z)`` into ``tangent.extra`` (added to the deltas by
    ``backward_train``). Returns the penalty without ``scale``, like the
    data term."""
    sizes, w_off, a_off = net.sizes, net.w_off, work.a_off
    n, sw, scale = block.n, block.sw, block.scale
    strength, n_tangents, U = tangent.strength, tangent.n_tangents, tangent.U
    n_layers = sizes.shape[0] - 1
    rows = n * n_tangents
    last = n_layers - 1
    m = sizes[last + 1]
    U_out = _tangent_block(U, a_off, last, n_tangents, rows, m)
    g = tangent.dU[: rows * m].reshape((rows, m))
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
    current = tangent.dU
    following = tangent.dU_next
    for layer in range(last, -1, -1):
        m = sizes[layer + 1]
        dS = current[: rows * m].reshape((rows, m))  # dU of this layer, made dS in place
        if layer < last:
            A = block_view(work.acts, sizes, a_off, layer, n)
            S_l = _tangent_block(tangent.S, a_off, layer, n_tangents, rows, m)
            F_l = tangent.F[: n * m].reshape((n, m))
            F_l[:, :] = 1
            activation_backward(net.activation, A, F_l)
            F2_l = tangent.F2[: n * m].reshape((n, m))
            activation_second(net.activation, A, F2_l)
            E = block_view(tangent.extra, sizes, a_off, layer, n)
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
        GW = weights_view(tangent.gt, sizes, w_off, layer)
        if layer == 0:
            dot(tangent.Tb[:rows].T, dS, GW)
        else:
            k = sizes[layer]
            U_prev = _tangent_block(U, a_off, layer - 1, n_tangents, rows, k)
            dot(U_prev.T, dS, GW)
            dot(dS, weights_view(theta, sizes, w_off, layer).T, following[: rows * k].reshape((rows, k)))
            current, following = following, current
    return penalty


# --------------------------------------------------------------- passes


@jit
def train_pass(theta, grad, net, block, work, hidden, dx, tangent, param_grad, bn):
    """Forward, loss and backward for one block of rows; returns the weighted
    sum ``sum_i sw_i loss_i`` plus the activity and tangent penalties (all to
    be multiplied by ``block.scale``); ``grad <- scale * d/dtheta`` of it.

    ``tangent`` (a ``records.Tangent`` of the block's rows) and ``bn`` are
    None when off."""
    sizes = net.sizes
    out, penalty = forward_train(theta, net, block, work, hidden, bn)
    D = block_view(work.deltas, sizes, work.a_off, sizes.shape[0] - 2, block.n)
    total = data_term(
        hidden.unlabeled, net.loss, out, block.Y, block.sw, net.segments, block.scale, D
    ) + penalty
    if tangent is not None:
        tangent_forward(theta, net, work, block.n, tangent)
        total += tangent_reverse(theta, net, block, work, tangent)
        backward_train(theta, grad, net, block, work, hidden, dx, tangent.extra, param_grad, bn)
        if param_grad:
            n_weights = net.b_off[0]
            add_vector(grad[:n_weights], tangent.gt[:n_weights])
    else:
        backward_train(theta, grad, net, block, work, hidden, dx, None, param_grad, bn)
    return total


# ------------------------------------------------------------ prediction
#
# A prediction is one call: the rows go through the network chunk by chunk
# and the output activation is applied in the same call. The buffers are
# allocated inside, per call, so threads predicting with one model share
# nothing (and a call costs one small allocation instead of numpy's
# bookkeeping in Python).


@jit
def _scratch(sizes, rows, like):
    """A ``Work`` of fresh buffers for ``rows`` rows of every layer, in the
    dtype of the array ``like`` (no deltas: prediction has no backward
    pass)."""
    n_layers = sizes.shape[0] - 1
    a_off = np.empty(n_layers, dtype=np.int64)
    total = 0
    for layer in range(n_layers):
        a_off[layer] = total
        total += sizes[layer + 1] * rows
    return Work(np.empty(total, dtype=like.dtype), np.empty(0, dtype=like.dtype), a_off)


@jit
def _all_rows(X, csr, sparse, n, like):
    """The ``Block`` of the ``n`` input rows (dense ``X``, or CSR ``csr`` when
    ``sparse``), without targets (empty views of ``like``, a 1-D array)."""
    rows = np.empty(n if sparse else 0, dtype=np.int64)
    for i in range(rows.shape[0]):
        rows[i] = i
    return Block(X, csr, sparse, rows, n, like[:0].reshape((0, 1)), like[:0], 0.0)


@entry_jit
def predict_output(theta, net, X, csr, sparse, chunk, link, out):
    """``out`` <- the network's output for every input row, ``chunk`` rows at
    a time, after the output activation when ``link`` (else raw)."""
    n = out.shape[0]
    work = _scratch(net.sizes, smaller(n, chunk), theta)
    data = _all_rows(X, csr, sparse, n, theta)
    for start in range(0, n, chunk):
        stop = smaller(start + chunk, n)
        rows = out[start:stop]
        copy_matrix(forward_raw(theta, net, block_rows(data, start, stop), work), rows)
        if link:
            output_link(net.loss, rows, net.segments)


@entry_jit
def hidden_zero_counts(theta, net, X, csr, sparse, n, chunk, zeros):
    """``zeros[l]`` <- how many activations of hidden layer ``l`` are exactly
    zero over the ``n`` input rows (counted chunk by chunk: the activations
    are not kept)."""
    sizes = net.sizes
    work = _scratch(sizes, smaller(n, chunk), theta)
    data = _all_rows(X, csr, sparse, n, theta)
    zeros[:] = 0
    for start in range(0, n, chunk):
        stop = smaller(start + chunk, n)
        forward_raw(theta, net, block_rows(data, start, stop), work)
        for layer in range(sizes.shape[0] - 2):
            A = block_view(work.acts, sizes, work.a_off, layer, stop - start)
            zero = A.dtype.type(0)
            count = 0
            for i in range(A.shape[0]):
                a = A[i]
                row = 0  # an int per row, a select per value: vectorised
                for j in range(a.shape[0]):
                    row += 1 if a[j] == zero else 0
                count += row
            zeros[layer] += count


@entry_jit
def predict_sampled(theta, net, X, csr, sparse, chunk, sampling, out):
    """``out[s]`` <- the output with dropout on (Monte-Carlo dropout) for
    every ``s < out.shape[0]``: hidden masks at the rates ``sampling.drop``
    and, for dense input, input masks at ``sampling.input_dropout``, drawn
    from the keys of ``(sampling.seed, s, chunk number)``, and with
    ``sampling.dropconnect`` > 0 one DropConnect mask of the weights per
    sample (the key of ``(sampling.seed, s)``: a sample is one network);
    then the output activation."""
    n_samples, n = out.shape[0], out.shape[1]
    rows = smaller(n, chunk)
    work = _scratch(net.sizes, rows, theta)
    masks = np.empty_like(work.acts)
    input_dropout = sampling.input_dropout
    x_buf = np.empty((rows if input_dropout > 0 else 0, X.shape[1]), dtype=out.dtype)
    data = _all_rows(X, csr, sparse, n, theta)
    rate = sampling.dropconnect
    n_weights = net.b_off[0]
    masked = np.empty(theta.shape[0] if rate > 0 else 0, dtype=theta.dtype)
    factors = np.empty(n_weights if rate > 0 else 0, dtype=theta.dtype)
    weights = theta
    for sample in range(n_samples):
        if rate > 0:
            weight_key = make_key(sampling.seed, sample, 0, DROPCONNECT)
            dropconnect_weights(theta, masked, factors, n_weights, rate, weight_key)
            weights = masked
        for start in range(0, n, chunk):
            stop = smaller(start + chunk, n)
            index = start // chunk
            X_rows = data.X[start:stop] if not sparse else data.X
            if not sparse and input_dropout > 0:  # perturb a private copy
                copy_matrix(X_rows, x_buf[: stop - start])
                perturb_inputs(
                    x_buf[: stop - start], input_dropout, None,
                    make_key(sampling.seed, sample, index, INPUT_DROPOUT), np.uint64(0),
                )
                X_rows = x_buf[: stop - start]
            block = Block(
                X_rows, data.csr, sparse, data.rows[start:stop], stop - start,
                data.Y[start:stop], data.sw[start:stop], data.scale,
            )
            key = make_key(sampling.seed, sample, index, HIDDEN_DROPOUT)
            Z, _ = forward_train(weights, net, block, work, Hidden(sampling.drop, masks, key, None, None, None), None)
            rows_out = out[sample, start:stop]
            copy_matrix(Z, rows_out)
            output_link(net.loss, rows_out, net.segments)


@optional
def _chunk_tangent(tangent, start, stop):
    """The ``Tangent`` of rows ``start:stop`` of the whole data set's
    (whose ``Tb`` holds every row's tangents)."""
    t = tangent.n_tangents
    return Tangent(
        tangent.strength, tangent.Tb[start * t : stop * t], t, tangent.S, tangent.U,
        tangent.dU, tangent.dU_next, tangent.F, tangent.F2, tangent.extra, tangent.gt,
    )


@entry_jit
def full_loss_grad(theta, grad, grad_chunk, net, data, work, chunk, tangent, hidden):
    """Data term (with the activity, unlabelled, tangent and contractive
    terms) over the whole data set ``data``, ``chunk`` rows at a time.
    ``tangent`` is a ``Tangent`` over every row, or None; ``hidden`` a
    ``records.Hidden`` without dropout (its ``masks`` are ``work.acts``)."""
    n = data.n
    no_dx = work.acts[:0].reshape((0, 1))
    total = 0.0
    for start in range(0, n, chunk):
        stop = smaller(start + chunk, n)
        target = grad if stop - start == n else grad_chunk
        total += train_pass(
            theta, target, net, block_rows(data, start, stop), work, hidden, no_dx,
            _chunk_tangent(tangent, start, stop), True, None,
        )
        if stop - start < n:
            if start == 0:
                copy_vector(grad_chunk, grad)
            else:
                add_vector(grad, grad_chunk)
    return total
