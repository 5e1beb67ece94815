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
"""

import numpy as np

from ._jit import jit
from .activations import activation_backward, activation_second
from .linalg import column_sums, copy_matrix, copy_vector, csr_rows_dot, csr_rows_t_dot
from .losses import BINARY_LOG_LOSS, LOG_LOSS, POISSON, loss_gradient
from .network import bias_view, block_view, forward_raw, weights_view


@jit
def loss_hessian_vector(code, P, Y, sw, segments, scale, R, out):
    """``out_i = scale * sw_i * H_i R_i`` with ``H_i`` the Hessian of sample
    i's loss with respect to the raw output and ``P`` the prediction."""
    n, k = P.shape
    for i in range(n):
        w = P.dtype.type(scale * sw[i])
        p, r, o, y = P[i], R[i], out[i], Y[i]
        if code == LOG_LOSS:
            for s in range(segments.shape[0] - 1):
                lo, hi = segments[s], segments[s + 1]
                ysum = P.dtype.type(0)
                pr = P.dtype.type(0)
                for c in range(lo, hi):
                    ysum += y[c]
                    pr += p[c] * r[c]
                for c in range(lo, hi):
                    o[c] = w * ysum * p[c] * (r[c] - pr)
        elif code == BINARY_LOG_LOSS:
            for c in range(k):
                o[c] = w * p[c] * (1 - p[c]) * r[c]
        elif code == POISSON:
            for c in range(k):
                o[c] = w * p[c] * r[c]
        else:
            for c in range(k):
                o[c] = w * r[c]


@jit
def _add_into(target, source):
    n, m = target.shape
    for i in range(n):
        t, s = target[i], source[i]
        for j in range(m):
            t[j] += s[j]


@jit
def hvp_pass(
    theta, v, grad, hv, net, Xb, csr, sparse, rows, n, Y, sw, scale, acts, deltas,
    a_off, rz, ra, rd, scratch, gtmp,
):
    """Gradient and Hessian-vector product of the data term over one block of
    rows: ``grad <- scale * d/dtheta``, ``hv <- scale * H v``; returns the
    weighted loss sum. ``rz``, ``ra``, ``rd`` are laid out like ``acts``;
    ``scratch`` holds one block; ``gtmp`` is a weight-matrix-sized scratch."""
    sizes, w_off, b_off, act, loss, segments = net
    L = sizes.shape[0] - 1
    out = forward_raw(theta, net, Xb, csr, sparse, rows, n, acts, a_off)
    D_out = block_view(deltas, sizes, a_off, L - 1, n)
    total = loss_gradient(loss, out, Y, sw, segments, scale, D_out)

    # R-forward
    for layer in range(L):
        RZ = block_view(rz, sizes, a_off, layer, n)
        V = weights_view(v, sizes, w_off, layer)
        if layer == 0:
            if sparse:
                csr_rows_dot(csr[0], csr[1], csr[2], rows, V, RZ)
            else:
                np.dot(Xb, V, RZ)
        else:
            A_prev = block_view(acts, sizes, a_off, layer - 1, n)
            np.dot(A_prev, V, RZ)
            S = scratch[: n * sizes[layer + 1]].reshape((n, sizes[layer + 1]))
            np.dot(block_view(ra, sizes, a_off, layer - 1, n), weights_view(theta, sizes, w_off, layer), S)
            _add_into(RZ, S)
        vb = bias_view(v, sizes, b_off, layer)
        for i in range(n):
            RZ[i] += vb
        if layer < L - 1:
            RA = block_view(ra, sizes, a_off, layer, n)
            copy_matrix(RZ, RA)
            activation_backward(act, block_view(acts, sizes, a_off, layer, n), RA)

    # R{D_L} from the loss's Hessian; ``out`` holds the prediction now
    RD_out = block_view(rd, sizes, a_off, L - 1, n)
    loss_hessian_vector(loss, out, Y, sw, segments, scale, block_view(rz, sizes, a_off, L - 1, n), RD_out)

    # joint backward
    for layer in range(L - 1, -1, -1):
        D = block_view(deltas, sizes, a_off, layer, n)
        RD = block_view(rd, sizes, a_off, layer, n)
        GW = weights_view(grad, sizes, w_off, layer)
        HW = weights_view(hv, sizes, w_off, layer)
        W = weights_view(theta, sizes, w_off, layer)
        if layer == 0:
            if sparse:
                csr_rows_t_dot(csr[0], csr[1], csr[2], rows, D, GW)
                csr_rows_t_dot(csr[0], csr[1], csr[2], rows, RD, HW)
            else:
                np.dot(Xb.T, D, GW)
                np.dot(Xb.T, RD, HW)
        else:
            A = block_view(acts, sizes, a_off, layer - 1, n)
            RA = block_view(ra, sizes, a_off, layer - 1, n)
            np.dot(A.T, D, GW)
            np.dot(A.T, RD, HW)
            T = gtmp[: sizes[layer] * sizes[layer + 1]].reshape((sizes[layer], sizes[layer + 1]))
            np.dot(RA.T, D, T)
            _add_into(HW, T)
            # E = D W^T (into the delta block below), R{E} = RD W^T + D V^T
            E = block_view(deltas, sizes, a_off, layer - 1, n)
            np.dot(D, W.T, E)
            RE = block_view(rd, sizes, a_off, layer - 1, n)
            np.dot(RD, W.T, RE)
            S = scratch[: n * sizes[layer]].reshape((n, sizes[layer]))
            np.dot(D, weights_view(v, sizes, w_off, layer).T, S)
            _add_into(RE, S)
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


@jit
def full_hvp(
    theta, v, grad, hv, net, X, csr, sparse, rows, Y, sw, scale, chunk, acts,
    deltas, a_off, rz, ra, rd, scratch, gtmp, grad_chunk, hv_chunk,
):
    """``hv <- scale * H v`` (and the gradient) of the data term over the whole
    data set, ``chunk`` rows at a time; returns the weighted loss sum."""
    n = Y.shape[0]
    total = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xb = X[start:stop] if not sparse else X
        whole = stop - start == n
        total += hvp_pass(
            theta, v, grad if whole else grad_chunk, hv if whole else hv_chunk, net,
            Xb, csr, sparse, rows[start:stop], stop - start, Y[start:stop],
            sw[start:stop], scale, acts, deltas, a_off, rz, ra, rd, scratch, gtmp,
        )
        if not whole:
            if start == 0:
                copy_vector(grad_chunk, grad)
                copy_vector(hv_chunk, hv)
            else:
                for i in range(hv.shape[0]):
                    grad[i] += grad_chunk[i]
                    hv[i] += hv_chunk[i]
    return total

