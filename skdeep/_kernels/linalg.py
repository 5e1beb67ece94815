"""Row gathers, CSR products and reductions used around the BLAS calls.

Dense matrix products go to BLAS through ``np.dot(a, b, out)`` inside the
kernels; only products with a sparse (CSR) input are written here, because BLAS
has no sparse routine and densifying a batch of a wide sparse matrix would cost
more memory than the whole network.
"""

from ._jit import jit


@jit
def gather_rows(X, rows, out):
    """``out[i] = X[rows[i]]`` for a 2-D ``X``."""
    m = X.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(m):
            out[i, j] = X[r, j]


@jit
def gather(v, rows, out):
    """``out[i] = v[rows[i]]`` for a 1-D ``v``."""
    for i in range(rows.shape[0]):
        out[i] = v[rows[i]]


@jit
def csr_rows_dot(data, indices, indptr, rows, W, out):
    """``out = X[rows] @ W`` for ``X`` in CSR form."""
    m = W.shape[1]
    zero = out.dtype.type(0)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(m):
            out[i, j] = zero
        for p in range(indptr[r], indptr[r + 1]):
            x = data[p]
            wrow = indices[p]
            for j in range(m):
                out[i, j] += x * W[wrow, j]


@jit
def csr_rows_t_dot(data, indices, indptr, rows, D, out):
    """``out = X[rows].T @ D`` for ``X`` in CSR form."""
    m = D.shape[1]
    out[:, :] = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            x = data[p]
            orow = indices[p]
            for j in range(m):
                out[orow, j] += x * D[i, j]


@jit
def column_sums(D, out):
    """``out[j] = sum_i D[i, j]``."""
    n, m = D.shape
    out[:] = 0
    for i in range(n):
        for j in range(m):
            out[j] += D[i, j]


@jit
def sum_float64(v):
    """Sum of a 1-D array accumulated in float64."""
    total = 0.0
    for i in range(v.shape[0]):
        total += v[i]
    return total
