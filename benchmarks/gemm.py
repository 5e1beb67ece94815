"""What the matrix products alone can do on this machine, in this run.

``gemm_peak``: GFLOP/s of a large square GEMM on every core, the machine's
peak. ``workload_gemm_seconds``: the time of one epoch's matrix products of a
workload with nothing else, arranged the best of two ways (one stream on the
BLAS library's own threads, or one single-threaded stream per core on a share
of each batch's rows), which is the floor for any implementation that uses the
same BLAS.
"""

import time

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba calls; load before limiting)
from threadpoolctl import threadpool_limits


def gemm_peak(dtype, n=4096, repeat=3):
    A = np.random.default_rng(0).random((n, n)).astype(dtype)
    C = np.empty_like(A)
    np.matmul(A, A, out=C)
    best = min(_timed(lambda: np.matmul(A, A, out=C)) for _ in range(repeat))
    return 2 * n**3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@numba.njit(cache=True, nogil=True)
def _view(buf, off, rows, cols):
    return buf[off : off + rows * cols].reshape((rows, cols))


@numba.njit(cache=True, nogil=True)
def _batch_gemms(sizes, Xb, theta, acts, deltas, grads, n_batches):
    """The matrix products of ``n_batches`` forward/backward passes, laid out
    as the engine lays them out (flat buffers, per-layer views)."""
    n_layers = sizes.shape[0] - 1
    rows = Xb.shape[0]
    for _ in range(n_batches):
        w = 0
        a = 0
        prev = _view(acts, 0, rows, sizes[1])
        for layer in range(n_layers):
            W = _view(theta, w, sizes[layer], sizes[layer + 1])
            Z = _view(acts, a, rows, sizes[layer + 1])
            np.dot(Xb if layer == 0 else prev, W, Z)
            prev = Z
            w += sizes[layer] * sizes[layer + 1]
            a += rows * sizes[layer + 1]
        for layer in range(n_layers - 1, -1, -1):
            w -= sizes[layer] * sizes[layer + 1]
            a -= rows * sizes[layer + 1]
            D = _view(deltas, a, rows, sizes[layer + 1])
            G = _view(grads, w, sizes[layer], sizes[layer + 1])
            if layer == 0:
                np.dot(Xb.T, D, G)
            else:
                A = _view(acts, a - rows * sizes[layer], rows, sizes[layer])
                np.dot(A.T, D, G)
                np.dot(D, _view(theta, w, sizes[layer], sizes[layer + 1]).T,
                       _view(deltas, a - rows * sizes[layer], rows, sizes[layer]))


@numba.njit(cache=True, nogil=True, parallel=True)
def _streams(sizes, Xbs, theta, actss, deltass, gradss, n_batches):
    for k in numba.prange(Xbs.shape[0]):
        _batch_gemms(sizes, Xbs[k], theta, actss[k], deltass[k], gradss[k], n_batches)


def workload_gemm_seconds(sizes, n_rows, batch_size, dtype, n_streams=2):
    """Seconds of one epoch's matrix products (the best arrangement)."""
    rng = np.random.default_rng(0)
    sizes = np.asarray(sizes, dtype=np.int64)
    n_weights = int((sizes[:-1] * sizes[1:]).sum())
    theta = rng.random(n_weights).astype(dtype)
    n_batches = -(-n_rows // batch_size)

    def buffers(rows, copies):
        units = int(sizes[1:].sum())
        return (
            rng.random((copies, rows, int(sizes[0]))).astype(dtype),
            np.zeros((copies, rows * units), dtype),
            rng.random((copies, rows * units)).astype(dtype),
            np.zeros((copies, n_weights), dtype),
        )

    # the single-threaded streams first: after a multi-threaded BLAS call the
    # library's idle threads keep spinning for a while and would slow them
    streams = np.inf
    shard = -(-batch_size // n_streams)
    if shard >= 16:
        Xbs, actss, deltass, gradss = buffers(shard, n_streams)
        with threadpool_limits(1, user_api="blas"):
            _streams(sizes, Xbs, theta, actss, deltass, gradss, 1)
            streams = min(
                _timed(lambda: _streams(sizes, Xbs, theta, actss, deltass, gradss, n_batches))
                for _ in range(2)
            )
    Xb, acts, deltas, grads = buffers(batch_size, 1)
    args = (sizes, Xb[0], theta, acts[0], deltas[0], grads[0])
    _batch_gemms(*args, 1)
    one_stream = min(_timed(lambda: _batch_gemms(*args, n_batches)) for _ in range(2))
    return min(one_stream, streams)
