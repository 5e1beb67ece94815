"""Row gathers, CSR products and reductions used around the BLAS calls.

Dense matrix products go to BLAS through ``dot(a, b, out)``, numba's
``np.dot(a, b, out)`` lowered in place; only products with a sparse (CSR)
input are written here, because BLAS has no sparse routine and densifying a
batch of a wide sparse matrix would cost more memory than the whole network.
"""

import numpy as np
from numba.core import errors, types

from ._jit import intrinsic_with_python, jit


def _dot():
    """``np.dot(a, b, out)`` for kernels: numba's own lowering of it (the
    checks of the shapes, copies of inputs that are neither C- nor
    F-contiguous, then BLAS's ``gemm`` or ``gemv``), as an intrinsic. ``out``
    must be C-contiguous (numba's lowering fails on an F-contiguous one and
    writes the product into a copy of a non-contiguous one, lost).

    numba's ``np.dot`` is an overload that compiles a function of its own
    for each combination of layouts and dtype (a default fit has three: ``X
    W``, ``X.T D`` and ``D W.T``) only to call that lowering; the intrinsic
    lowers it in the caller. On a numba without these functions it is
    ``np.dot`` itself, numba's overload."""
    try:
        from numba.np.linalg import dot_3_mm, dot_3_vm, ensure_blas, make_contiguous
    except ImportError:  # pragma: no cover (another numba's layout)
        return np.dot

    def dot(context, a, b, out):
        arrays = (a, b, out)
        if (not all(isinstance(t, types.Array) for t in arrays)
                or len({t.dtype for t in arrays}) != 1
                or out.ndim != a.ndim + b.ndim - 2
                or out.layout != "C"
                or {a.ndim, b.ndim} not in ({2}, {1, 2})):
            raise errors.TypingError(f"dot() of {a}, {b} into {out}")

        def codegen(context, builder, sig, args):
            ensure_blas()
            with make_contiguous(context, builder, sig, args) as (sig, args):
                if sig.args[0].ndim == sig.args[1].ndim == 2:
                    return dot_3_mm(context, builder, sig, args)
                return dot_3_vm(context, builder, sig, args)

        return out(a, b, out), codegen

    return intrinsic_with_python(np.dot)(dot)


#: ``np.dot(a, b, out)``, for kernels
dot = _dot()

# Loops below run from 0 over slices taken first: with a loop that starts at
# a runtime value, numba keeps a negative-index wraparound check on every access,
# which stops LLVM from vectorising the loop.


@jit
def gather_rows(X, rows, out):
    """``out[i] = X[rows[i]]`` for a 2-D ``X``."""
    for i in range(rows.shape[0]):
        src = X[rows[i]]
        dst = out[i]
        for j in range(src.shape[0]):
            dst[j] = src[j]


@jit
def gather(v, rows, out):
    """``out[i] = v[rows[i]]`` for a 1-D ``v``."""
    for i in range(rows.shape[0]):
        out[i] = v[rows[i]]


@jit
def csr_rows_dot(data, indices, indptr, rows, W, out):
    """``out = X[rows] @ W`` for ``X`` in CSR form."""
    zero = out.dtype.type(0)
    for i in range(rows.shape[0]):
        r = rows[i]
        values = data[indptr[r] : indptr[r + 1]]
        columns = indices[indptr[r] : indptr[r + 1]]
        dst = out[i]
        for j in range(dst.shape[0]):
            dst[j] = zero
        for p in range(values.shape[0]):
            x = values[p]
            w = W[columns[p]]
            for j in range(dst.shape[0]):
                dst[j] += x * w[j]


@jit
def csr_rows_t_dot(data, indices, indptr, rows, D, out):
    """``out = X[rows].T @ D`` for ``X`` in CSR form."""
    out[:, :] = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        values = data[indptr[r] : indptr[r + 1]]
        columns = indices[indptr[r] : indptr[r + 1]]
        d = D[i]
        for p in range(values.shape[0]):
            x = values[p]
            dst = out[columns[p]]
            for j in range(d.shape[0]):
                dst[j] += x * d[j]


@jit
def dot_csr_rows(S, data, indices, indptr, rows, out):
    """``out = S @ X[rows]`` for ``X`` in CSR form (``S`` has one column per
    row of ``rows``)."""
    out[:, :] = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            x = data[p]
            c = indices[p]
            for k in range(S.shape[0]):
                out[k, c] += S[k, i] * x


@jit
def column_sums(D, out):
    """``out[j] = sum_i D[i, j]``."""
    n, m = D.shape
    out[:] = 0
    for i in range(n):
        for j in range(m):
            out[j] += D[i, j]


# Copies as loops: numba's array-to-array slice assignment brings an error path
# that formats both shapes into a message, and compiling that string code is a
# large part of a first fit's compile (docs/performance.md).


@jit
def copy_vector(src, dst):
    """``dst[:] = src`` for 1-D arrays of the same length."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@jit
def copy_matrix(src, dst):
    """``dst[:, :] = src`` for 2-D arrays of the same shape."""
    for i in range(dst.shape[0]):
        s = src[i]
        d = dst[i]
        for j in range(d.shape[0]):
            d[j] = s[j]


@jit
def add_vector(target, source):
    """``target += source`` for 1-D arrays of the same length."""
    for i in range(target.shape[0]):
        target[i] += source[i]


@jit
def subtract_matrix(target, source):
    """``target -= source`` for 2-D arrays of the same shape."""
    for i in range(target.shape[0]):
        t = target[i]
        s = source[i]
        for j in range(t.shape[0]):
            t[j] -= s[j]


@jit
def add_matrix(target, source):
    """``target += source`` for 2-D arrays of the same shape (a loop: numba
    compiles ``+=`` between arrays with a temporary)."""
    for i in range(target.shape[0]):
        t = target[i]
        s = source[i]
        for j in range(t.shape[0]):
            t[j] += s[j]
