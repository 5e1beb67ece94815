"""Exact Hessian-vector products: Pearlmutter's R-operator (1994).

``R{x}`` denotes the derivative of ``x`` along a direction ``v`` of the
parameters. Forward pass, layer by layer (``A`` the layer inputs, ``Z`` the
pre-activations, ``V`` and ``Vb`` the direction's weights and biases):

    R{Z_l} = R{A_{l-1}} W_l + A_{l-1} V_l + Vb_l,   R{A_0} = 0
    R{A_l} = f'(Z_l) R{Z_l}

Backward pass, alongside the ordinary one (``D_l`` the delta of ``Z_l``,
``E = D_l W_l^T`` the delta of ``A_{l-1}``):

    R{D_L} = (d^2 loss / dz^2) R{Z_L}
    R{grad W_l} = R{A_{l-1}}^T D_l + A_{l-1}^T R{D_l},   R{grad b_l} = sum R{D_l}
    R{E} = R{D_l} W_l^T + D_l V_l^T
    R{D_{l-1}} = f'(Z_{l-1}) R{E} + f''(Z_{l-1}) E R{Z_{l-1}}

so ``H v`` costs about two gradients, exactly (no finite differences). The
derivatives of the activations are computed from their outputs, as elsewhere.

Around a layer with an identity shortcut (``h_{l+1} = h_l + f(Z_l)``, the
layer's activation block holding ``h_{l+1}``), ``R{h_{l+1}} = R{h_l} + f'(Z_l)
R{Z_l}``, and ``E`` and ``R{E}`` of ``h_{l+1}`` also reach ``h_l`` unchanged;
``f'`` and ``f''`` come from the branch's output ``h_{l+1} - h_l``, in
``hvp_pass`` in place (a layer's activations are spent once its weights'
products are taken), in ``hessian_rows``, whose directions all read the
activations, in a scratch buffer.
"""


from ._jit import entry_jit, jit, smaller
from .activations import activation_backward, activation_second
from .linalg import (
    add_matrix,
    add_vector,
    column_sums,
    copy_matrix,
    copy_vector,
    dot,
    dot_csr_rows,
    subtract_matrix,
)
from .losses import loss_gradient, loss_hessian_vector
from .network import (
    bias_view,
    block_rows,
    block_view,
    forward_raw,
    has_shortcut,
    input_product,
    input_t_product,
    weights_view,
)


@jit
def hvp_pass(theta, v, grad, hv, net, block, work, rbuf):
    """Gradient and Hessian-vector product of the data term over one block of
    rows: ``grad <- scale * d/dtheta``, ``hv <- scale * H v``; returns the
    weighted loss sum. ``rbuf`` holds the R-operator's buffers
    (``records.RBuffers``)."""
    sizes, w_off, b_off, act = net.sizes, net.w_off, net.b_off, net.activation
    acts, deltas, a_off, n = work.acts, work.deltas, work.a_off, block.n
    rz, ra, rd, scratch = rbuf.rz, rbuf.ra, rbuf.rd, rbuf.scratch
    L = sizes.shape[0] - 1
    out = forward_raw(theta, net, block, work)
    D_out = block_view(deltas, sizes, a_off, L - 1, n)
    total = loss_gradient(net.loss, out, block.Y, block.sw, net.segments, block.scale, D_out)

    # R-forward
    for layer in range(L):
        RZ = block_view(rz, sizes, a_off, layer, n)
        V = weights_view(v, sizes, w_off, layer)
        if layer == 0:
            input_product(block, V, RZ)
        else:
            A_prev = block_view(acts, sizes, a_off, layer - 1, n)
            dot(A_prev, V, RZ)
            S = scratch[: n * sizes[layer + 1]].reshape((n, sizes[layer + 1]))
            dot(block_view(ra, sizes, a_off, layer - 1, n), weights_view(theta, sizes, w_off, layer), S)
            add_matrix(RZ, S)
        vb = bias_view(v, sizes, b_off, layer)
        for i in range(n):  # a loop: ``RZ[i] += vb`` allocated a temporary
            r = RZ[i]
            for k in range(r.shape[0]):
                r[k] += vb[k]
        if layer < L - 1:
            RA = block_view(ra, sizes, a_off, layer, n)
            copy_matrix(RZ, RA)
            A_out = block_view(acts, sizes, a_off, layer, n)
            if has_shortcut(net.residual, layer):  # R{h_{l+1}} = R{h_l} + f' R{Z_l}
                branch = scratch[: n * sizes[layer + 1]].reshape((n, sizes[layer + 1]))
                copy_matrix(A_out, branch)
                subtract_matrix(branch, block_view(acts, sizes, a_off, layer - 1, n))
                activation_backward(act, branch, RA)
                add_matrix(RA, block_view(ra, sizes, a_off, layer - 1, n))
            else:
                activation_backward(act, A_out, RA)

    # R{D_L} from the loss's Hessian; ``out`` holds the prediction now
    RD_out = block_view(rd, sizes, a_off, L - 1, n)
    loss_hessian_vector(
        net.loss, out, block.Y, block.sw, net.segments, block.scale,
        block_view(rz, sizes, a_off, L - 1, n), RD_out,
    )

    # joint backward
    for layer in range(L - 1, -1, -1):
        D = block_view(deltas, sizes, a_off, layer, n)
        RD = block_view(rd, sizes, a_off, layer, n)
        GW = weights_view(grad, sizes, w_off, layer)
        HW = weights_view(hv, sizes, w_off, layer)
        W = weights_view(theta, sizes, w_off, layer)
        if layer == 0:
            input_t_product(block, D, GW)
            input_t_product(block, RD, HW)
        else:
            A = block_view(acts, sizes, a_off, layer - 1, n)
            RA = block_view(ra, sizes, a_off, layer - 1, n)
            dot(A.T, D, GW)
            dot(A.T, RD, HW)
            T = rbuf.gtmp[: sizes[layer] * sizes[layer + 1]].reshape((sizes[layer], sizes[layer + 1]))
            dot(RA.T, D, T)
            add_matrix(HW, T)
            # E = D W^T (into the delta block below), R{E} = RD W^T + D V^T
            E = block_view(deltas, sizes, a_off, layer - 1, n)
            RE = block_view(rd, sizes, a_off, layer - 1, n)
            if has_shortcut(net.residual, layer):
                # E and R{E} hold the output's carried along the shortcut;
                # the output's activations and R-activations are spent
                T_out = block_view(acts, sizes, a_off, layer, n)
                dot(D, W.T, T_out)
                add_matrix(E, T_out)
                RT_out = block_view(ra, sizes, a_off, layer, n)
                dot(RD, W.T, RT_out)
                add_matrix(RE, RT_out)
            else:
                dot(D, W.T, E)
                dot(RD, W.T, RE)
            S = scratch[: n * sizes[layer]].reshape((n, sizes[layer]))
            dot(D, weights_view(v, sizes, w_off, layer).T, S)
            add_matrix(RE, S)
            if has_shortcut(net.residual, layer - 1):
                # carry E and R{E} to the layer below's input, and recover
                # the branch's output, from which f' and f'' are computed
                copy_matrix(E, block_view(deltas, sizes, a_off, layer - 2, n))
                copy_matrix(RE, block_view(rd, sizes, a_off, layer - 2, n))
                subtract_matrix(A, block_view(acts, sizes, a_off, layer - 2, n))
            # R{D} = f' R{E} + f'' E R{Z}; then D = f' E
            activation_backward(act, A, RE)
            activation_second(act, A, S)
            n_rows, m = S.shape
            RZ_prev = block_view(rz, sizes, a_off, layer - 1, n)
            for i in range(n_rows):
                s, e, r, o = S[i], E[i], RZ_prev[i], RE[i]
                for j in range(m):
                    o[j] += s[j] * e[j] * r[j]
            activation_backward(act, A, E)
        column_sums(D, bias_view(grad, sizes, b_off, layer))
        column_sums(RD, bias_view(hv, sizes, b_off, layer))
    return total


@entry_jit
def full_hvp(theta, v, out, net, data, work, rbuf, chunk):
    """``out.hv <- scale * H v`` (and ``out.grad``, the gradient) of the
    data term over the whole data set ``data``, ``chunk`` rows at a time;
    returns the weighted loss sum."""
    n = data.n
    total = 0.0
    for start in range(0, n, chunk):
        stop = smaller(start + chunk, n)
        whole = stop - start == n
        total += hvp_pass(
            theta, v, out.grad if whole else out.grad_chunk, out.hv if whole else out.hv_chunk,
            net, block_rows(data, start, stop), work, rbuf,
        )
        if not whole:
            if start == 0:
                copy_vector(out.grad_chunk, out.grad)
                copy_vector(out.hv_chunk, out.hv)
            else:
                add_vector(out.grad, out.grad_chunk)
                add_vector(out.hv, out.hv_chunk)
    return total


@jit
def _parameter_position(sizes, w_off, b_off, j):
    """``(layer, row, column)`` of parameter ``j``: its weight matrix entry,
    or ``row = -1`` for a bias."""
    for layer in range(sizes.shape[0] - 1):
        n_out = sizes[layer + 1]
        q = j - w_off[layer]
        if 0 <= q < sizes[layer] * n_out:
            return layer, q // n_out, q % n_out
        q = j - b_off[layer]
        if 0 <= q < n_out:
            return layer, -1, q
    return -1, -1, -1


@jit
def _input_column(Xb, csr, sparse, rows, n, a, out, b):
    """``out[:, b] <- X[rows, a]`` (the first layer's input ``a``)."""
    if csr is not None and sparse:
        data, indices, indptr = csr
        zero = out.dtype.type(0)
        for i in range(n):
            r = rows[i]
            out[i, b] = zero
            for p in range(indptr[r], indptr[r + 1]):
                if indices[p] == a:
                    out[i, b] = data[p]
    else:
        for i in range(n):
            out[i, b] = Xb[i, a]


@jit
def _stacked_input_product(stacked, block, G):
    """``G <- stacked X`` for the block's input rows ``X`` (dense or CSR)."""
    _stacked_product(stacked, block.X, block.csr, block.sparse, block.rows, G)


@jit
def _stacked_product(stacked, X, csr, sparse, rows, G):
    if csr is not None and sparse:
        dot_csr_rows(stacked, csr[0], csr[1], csr[2], rows, G)
    else:
        dot(stacked, X, G)


@entry_jit
def hessian_rows(theta, H, net, data, work, rbuf, job, chunk):
    """``H[j] += scale * H_data e_j`` for ``j = job.first, job.first +
    job.step, ...``: rows of the data term's Hessian (``H`` float64,
    ``n_params`` square, zeros on entry), ``chunk`` rows of data at a time.

    The same R-operator as ``hvp_pass``, arranged for unit directions: the
    forward pass, the deltas ``D`` and the curvature terms ``f''(Z) E`` (in
    ``job.curv``) are computed once per chunk and serve every direction; for
    ``e_j`` with ``j`` in layer ``l``, ``R{Z}`` and ``R{A}`` vanish below
    ``l``, ``A_{l-1} V_l`` is one column of ``A_{l-1}`` and ``D_l V_l^T`` one
    column of ``D_l``, so the R-passes need no products with the direction.
    The first layer's weight rows ``X^T R{D_0}``, the largest product, are
    computed ``job.group`` directions at a time, as ``[R{D_0}^T ...] X``
    (``job.stack`` holds ``group x sizes[1] x chunk`` values,
    ``job.products`` ``group x sizes[1] x sizes[0]``): one tall product
    instead of ``group`` narrow ones, for each of which BLAS would pack ``X``
    again.
    """
    sizes, w_off, act = net.sizes, net.w_off, net.activation
    acts, deltas, a_off = work.acts, work.deltas, work.a_off
    first, step, group, hv, curv = job.first, job.step, job.group, job.hv, job.curv
    L = sizes.shape[0] - 1
    n_all = data.n
    n_params = theta.shape[0]
    for start in range(0, n_all, chunk):
        stop = smaller(start + chunk, n_all)
        n = stop - start
        block = block_rows(data, start, stop)
        out = forward_raw(theta, net, block, work)
        loss_gradient(
            net.loss, out, block.Y, block.sw, net.segments, block.scale,
            block_view(deltas, sizes, a_off, L - 1, n),
        )
        for layer in range(L - 1, 0, -1):  # D_{l-1} = f' E and f'' E, E = D_l W_l^T
            E = block_view(curv, sizes, a_off, layer - 1, n)
            dot(block_view(deltas, sizes, a_off, layer, n), weights_view(theta, sizes, w_off, layer).T, E)
            D_prev = block_view(deltas, sizes, a_off, layer - 1, n)
            if has_shortcut(net.residual, layer):  # + E of the output, carried in D_prev
                add_matrix(E, D_prev)
            copy_matrix(E, D_prev)
            if has_shortcut(net.residual, layer - 1):
                copy_matrix(E, block_view(deltas, sizes, a_off, layer - 2, n))
            S = rbuf.scratch[: n * sizes[layer]].reshape((n, sizes[layer]))
            A = _branch_output(net, acts, a_off, layer - 1, n, S)
            activation_backward(act, A, D_prev)
            activation_second(act, A, S)  # in place when A is S: element by element
            for i in range(n):
                e, s = E[i], S[i]
                for k in range(e.shape[0]):
                    e[k] *= s[k]

        # the first layer's weight rows, X^T R{D_0}, are one product per
        # group of directions: the R{D_0}^T stacked in ``stack``
        width = sizes[1]
        n_first = sizes[0] * width  # the first layer's weights lead theta
        n_directions = (n_params - first + step - 1) // step
        for g0 in range(0, n_directions, group):
            g1 = smaller(g0 + group, n_directions)
            stacked = job.stack[: (g1 - g0) * width * n].reshape(((g1 - g0) * width, n))
            for m in range(g0, g1):
                j = first + m * step
                _direction_rows(j, theta, net, block, out, work, rbuf, job)
                RD0 = block_view(rbuf.rd, sizes, a_off, 0, n)
                dst = stacked[(m - g0) * width : (m - g0 + 1) * width]
                for i in range(n):  # transposed: one stream per column
                    src = RD0[i]
                    for c in range(width):
                        dst[c, i] = src[c]
                row = H[j]
                for k in range(n_first, n_params):
                    row[k] += hv[k]
            # G = stacked X: row g * width + c holds (X^T R{D_0})[:, c] of
            # direction g
            G = job.products[: (g1 - g0) * width * sizes[0]].reshape(((g1 - g0) * width, sizes[0]))
            _stacked_input_product(stacked, block, G)
            for m in range(g0, g1):
                row = H[first + m * step]
                block_g = G[(m - g0) * width : (m - g0 + 1) * width]
                for c in range(width):
                    src = block_g[c]
                    for a in range(sizes[0]):
                        row[a * width + c] += src[a]


@jit
def _branch_output(net, acts, a_off, layer, n, scratch):
    """Hidden layer ``layer``'s output without its shortcut, from which its
    activation's derivatives are computed: its activation block itself
    without a shortcut, else ``h_{l+1} - h_l`` written into ``scratch``
    (the activations stay: the other directions' passes read them)."""
    sizes = net.sizes
    A = block_view(acts, sizes, a_off, layer, n)
    if has_shortcut(net.residual, layer):
        copy_matrix(A, scratch)
        subtract_matrix(scratch, block_view(acts, sizes, a_off, layer - 1, n))
        return scratch
    return A


@jit
def _direction_rows(j, theta, net, block, out, work, rbuf, job):
    """``hessian_rows``' R-passes for the unit direction ``e_j`` over one
    chunk (``out`` its prediction): ``job.hv`` gets every part of ``H e_j``
    but the first layer's weights, whose ``R{D_0}`` is left in ``rbuf.rd``."""
    sizes, w_off, b_off, act = net.sizes, net.w_off, net.b_off, net.activation
    acts, deltas, a_off, n = work.acts, work.deltas, work.a_off, block.n
    rz, ra, rd, hv = rbuf.rz, rbuf.ra, rbuf.rd, job.hv
    L = sizes.shape[0] - 1
    lj, a, b = _parameter_position(sizes, w_off, b_off, j)
    # R-forward from layer lj: R{Z_lj} = A_{lj-1} V + Vb, one column
    for layer in range(lj, L):
        RZ = block_view(rz, sizes, a_off, layer, n)
        if layer == lj:
            RZ[:, :] = 0
            if a < 0:
                RZ[:, b] = 1
            elif layer == 0:
                _input_column(block.X, block.csr, block.sparse, block.rows, n, a, RZ, b)
            else:
                A_prev = block_view(acts, sizes, a_off, layer - 1, n)
                for i in range(n):
                    RZ[i, b] = A_prev[i, a]
        else:
            dot(block_view(ra, sizes, a_off, layer - 1, n), weights_view(theta, sizes, w_off, layer), RZ)
        if layer < L - 1:
            RA = block_view(ra, sizes, a_off, layer, n)
            copy_matrix(RZ, RA)
            branch = rbuf.scratch[: n * sizes[layer + 1]].reshape((n, sizes[layer + 1]))
            activation_backward(act, _branch_output(net, acts, a_off, layer, n, branch), RA)
            if layer > lj and has_shortcut(net.residual, layer):  # + R{h_l} (0 at layer lj)
                add_matrix(RA, block_view(ra, sizes, a_off, layer - 1, n))
    loss_hessian_vector(
        net.loss, out, block.Y, block.sw, net.segments, block.scale,
        block_view(rz, sizes, a_off, L - 1, n), block_view(rd, sizes, a_off, L - 1, n),
    )
    # R-backward: R{grad W} = R{A}^T D + A^T R{D}; R{E} = R{D} W^T + D V^T
    for layer in range(L - 1, -1, -1):
        RD = block_view(rd, sizes, a_off, layer, n)
        if layer > 0:
            HW = weights_view(hv, sizes, w_off, layer)
            A = block_view(acts, sizes, a_off, layer - 1, n)
            D = block_view(deltas, sizes, a_off, layer, n)
            dot(A.T, RD, HW)
            if layer > lj:
                T = rbuf.gtmp[: sizes[layer] * sizes[layer + 1]].reshape((sizes[layer], sizes[layer + 1]))
                dot(block_view(ra, sizes, a_off, layer - 1, n).T, D, T)
                add_matrix(HW, T)
            RE = block_view(rd, sizes, a_off, layer - 1, n)
            if has_shortcut(net.residual, layer):  # RE holds the output's, carried
                RT_out = block_view(ra, sizes, a_off, layer, n)  # spent: a buffer
                dot(RD, weights_view(theta, sizes, w_off, layer).T, RT_out)
                add_matrix(RE, RT_out)
            else:
                dot(RD, weights_view(theta, sizes, w_off, layer).T, RE)
            if layer == lj and a >= 0:
                for i in range(n):
                    RE[i, a] += D[i, b]
            if has_shortcut(net.residual, layer - 1):
                copy_matrix(RE, block_view(rd, sizes, a_off, layer - 2, n))
            branch = rbuf.scratch[: n * sizes[layer]].reshape((n, sizes[layer]))
            activation_backward(act, _branch_output(net, acts, a_off, layer - 1, n, branch), RE)
            if layer > lj:  # + f''(Z) E R{Z}
                C = block_view(job.curv, sizes, a_off, layer - 1, n)
                RZ_prev = block_view(rz, sizes, a_off, layer - 1, n)
                for i in range(n):
                    o, c, r = RE[i], C[i], RZ_prev[i]
                    for k in range(o.shape[0]):
                        o[k] += c[k] * r[k]
        column_sums(RD, bias_view(hv, sizes, b_off, layer))
