"""The compiled mini-batch loop: one call runs a whole epoch.

Compiling the loop over batches, not only the element-wise kernels, removes the
Python overhead per step, which dominates training with small batches.

The epoch is data-parallel. Every mini-batch is cut into ``n_shards`` shards of
rows; each shard gets its own forward/backward pass into its own gradient
buffer, and the parameters are cut into as many ranges. ``n_workers`` threads,
started once per epoch, claim shards until none is left and wait until all are
done; then each claims parameter ranges, sums the shards' gradients there and
applies the optimizer update, and all wait again before the next batch (see
``_sync`` for why this cannot deadlock). BLAS runs single-threaded inside each
worker: two single-threaded GEMMs side by side keep both cores busier than one
multi-threaded GEMM on matrices of mini-batch size.

The number of shards depends only on the batch size and the machine, not on how
many threads a fit may use, and every sum over shards runs in shard order: the
same seed gives the same bits whether the epoch runs on one thread or several.

Nothing is allocated per batch: rows are gathered into preallocated per-shard
buffers (or sliced when the order is not shuffled) and every per-layer array is
a view.
"""

import numba

from ._jit import FASTMATH_FLAGS, jit
from ._sync import claim, mark_done, wait_until
from .linalg import gather, gather_rows
from .network import forward_backward
from .updates import optimizer_step


@jit
def _add_into(target, source):
    for i in range(target.shape[0]):
        target[i] += source[i]


@jit
def worker_epoch(theta, net, data, order, shuffled, batch_size, bufs, opt, t0, sync, acc):
    """One worker's part of an epoch: the shards and parameter ranges it
    claims. Adds each shard's share of the batch losses to ``acc[shard]``;
    returns the number of optimizer steps of the epoch.

    ``data = (X, csr, sparse, Y, sw)``; ``bufs = (Xb, Yb, swb, acts, deltas,
    a_off, grads)``, each with a leading shard axis; ``opt = (code, state,
    hyper, lr, alpha, n_weights)``; ``sync`` holds the claimed/done counters of
    the two phases.
    """
    X, csr, sparse, Y, sw = data
    Xb, Yb, swb, acts, deltas, a_off, grads = bufs
    code, state, hyper, lr, alpha, n_weights = opt
    n_shards = grads.shape[0]
    n = order.shape[0]
    n_params = theta.shape[0]
    steps = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        nb = stop - start
        sw_sum = 0.0
        if shuffled:
            for i in range(start, stop):
                sw_sum += sw[order[i]]
        else:
            for i in range(start, stop):
                sw_sum += sw[i]
        if sw_sum <= 0.0:
            continue  # only zero-weight rows: no gradient, no step
        scale = 1.0 / sw_sum
        base = steps * n_shards  # item numbers of this batch
        steps += 1

        while True:  # phase 1: forward/backward of the shards
            item = claim(sync, 0, base + n_shards)
            if item < 0:
                break
            s = item - base
            lo = start + (nb * s) // n_shards
            hi = start + (nb * (s + 1)) // n_shards
            nr = hi - lo
            if nr == 0:
                grads[s, :] = 0
            else:
                rows = order[lo:hi]
                if shuffled:
                    if not sparse:
                        gather_rows(X, rows, Xb[s])
                    gather_rows(Y, rows, Yb[s])
                    gather(sw, rows, swb[s])
                    xb = Xb[s, :nr]
                    yb = Yb[s, :nr]
                    wb = swb[s, :nr]
                else:
                    xb = X[lo:hi] if not sparse else Xb[s, :nr]
                    yb = Y[lo:hi]
                    wb = sw[lo:hi]
                part = forward_backward(
                    theta, grads[s], net, xb, csr, sparse, rows, nr, yb, wb, scale,
                    acts[s], deltas[s], a_off,
                )
                acc[s] += part * scale * nb
            mark_done(sync, 1)
        wait_until(sync, 1, base + n_shards)

        while True:  # phase 2: sum the gradients and step, range by range
            item = claim(sync, 2, base + n_shards)
            if item < 0:
                break
            r = item - base
            p_lo = (n_params * r) // n_shards
            p_hi = (n_params * (r + 1)) // n_shards
            summed = grads[0, p_lo:p_hi]
            for s in range(1, n_shards):
                _add_into(summed, grads[s, p_lo:p_hi])
            squares = optimizer_step(
                code, theta, grads[0], state, hyper, p_lo, p_hi, n_weights,
                t0 + steps, lr, alpha * scale,
            )
            acc[r] += 0.5 * alpha * squares * scale * nb
            mark_done(sync, 3)
        wait_until(sync, 3, base + n_shards)
    return steps


@numba.njit(
    cache=True, nogil=True, parallel=True, fastmath=set(FASTMATH_FLAGS),
    error_model="numpy",
)
def train_epoch(
    n_workers, theta, sizes, w_off, b_off, act, loss, segments,
    X, csr_data, csr_indices, csr_indptr, sparse, Y, sw, order, shuffled,
    batch_size, Xb, Yb, swb, acts, deltas, a_off, grads,
    code, state, hyper, lr, alpha, n_weights, t0, sync, acc, steps,
):
    """One epoch over ``order`` with ``n_workers`` threads; returns
    ``(scikit-learn's epoch loss, optimizer steps taken)``.

    Each batch minimises ``(sum_i sw_i loss_i + alpha/2 ||W||^2) / sum_i sw_i``
    over its rows, as scikit-learn does; the epoch loss is the mean of the batch
    losses weighted by batch size. Arguments are flat because numba's parallel
    region cannot receive tuples of arrays; ``worker_epoch`` gets them grouped.
    """
    for k in numba.prange(n_workers):
        net = (sizes, w_off, b_off, act, loss, segments)
        data = (X, (csr_data, csr_indices, csr_indptr), sparse, Y, sw)
        bufs = (Xb, Yb, swb, acts, deltas, a_off, grads)
        opt = (code, state, hyper, lr, alpha, n_weights)
        steps[k] = worker_epoch(
            theta, net, data, order, shuffled, batch_size, bufs, opt,
            t0, sync, acc,
        )
    total = 0.0
    for s in range(acc.shape[0]):  # in shard order, whatever the workers
        total += acc[s]
    return total / order.shape[0], steps[0]
