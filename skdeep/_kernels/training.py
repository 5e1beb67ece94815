"""The compiled mini-batch loop: one call runs a whole epoch.

Compiling the loop over batches, not only the element-wise kernels, removes the
Python overhead per step, which dominates training with small batches.

The epoch is data-parallel. Every mini-batch is cut into ``n_shards`` shards of
rows; each shard gets its own forward/backward pass into its own gradient
buffer, and the parameters are cut into as many ranges. ``n_workers``
threads run ``worker_epoch`` at once (the caller's thread and threads of a
pool, ``skdeep._threads.run_workers``; the kernel releases the GIL). A batch
goes through phases; in each, the workers claim items until none is left and
wait until all are done (see ``_sync`` for why this cannot deadlock, even if
a worker starts only after the others have finished):

0. with weight noise: noisy copies of the weights, range by range; with
   AdaHessian: the random signs ``z`` of the Hessian probe;
1. forward/backward, shard by shard (with AdaHessian, the R-operator pass,
   which also gives ``H z``);
2. sum of the shards' gradients and optimizer update, range by range (with
   gradient clipping, two rounds: the sum and its norm, then the update);
3. with a max-norm constraint: projection, layer by layer.

BLAS runs single-threaded inside each worker: two single-threaded GEMMs side
by side keep both cores busier than one multi-threaded GEMM on matrices of
mini-batch size.

The number of shards depends only on the batch size and the machine, not on how
many threads a fit may use; every sum over shards runs in shard order, and
random numbers are keyed by step and shard (``random``): the same seed gives
the same bits whether the epoch runs on one thread or several.

The threads are Python's, not numba's ``prange``: a parallel region
compiles the whole epoch a second time into a gufunc (a default fit's first
compile took 32 s with it, 22 s without) and needs a thread-safe, fork-safe
threading layer, which numba's OpenMP and workqueue layers are not in every
setting.

Nothing is allocated per batch: rows are gathered into preallocated per-shard
buffers (or sliced when the order is not shuffled and the inputs are not
perturbed) and every per-layer array is a view.
"""

import numpy as np

from .._threads import run_workers
from . import config
from ._jit import entry_jit, jit, optional
from ._sync import claim, mark_done, wait_until
from .hessian import hvp_pass
from .linalg import add_vector, copy_vector, gather, gather_rows
from .network import weights_view
from .random import (
    ADVERSARIAL_START,
    HESSIAN_PROBE,
    HIDDEN_DROPOUT,
    INPUT_DROPOUT,
    INPUT_NOISE,
    WEIGHT_NOISE,
    add_normal,
    make_key,
    uniform,
)
from .regularizers import max_norm_project, perturb_inputs
from .step import shard_step
from .updates import average_update, optimizer_step

# counters in ``sync``: (claimed, done) per phase
_NOISE, _SHARDS, _UPDATE, _PROJECT, _PROBE, _SUM = 0, 2, 4, 6, 8, 10
N_COUNTERS = 12


@jit
def _densify_rows(data, indices, indptr, rows, out):
    """Rows ``rows`` of a CSR matrix, written dense into ``out``."""
    for i in range(rows.shape[0]):
        r = rows[i]
        dst = out[i]
        dst[:] = 0
        values = data[indptr[r] : indptr[r + 1]]
        columns = indices[indptr[r] : indptr[r + 1]]
        for p in range(values.shape[0]):
            dst[columns[p]] = values[p]


@jit
def _gather_tangents(T, rows, out):
    """``out`` <- the tangents of ``rows``, ``n_tangents`` rows per sample."""
    n_t = T.shape[1]
    for i in range(rows.shape[0]):
        src = T[rows[i]]
        for t in range(n_t):
            s = src[t]
            d = out[i * n_t + t]
            for j in range(s.shape[0]):
                d[j] = s[j]


@jit
def _noisy_weights(theta, noisy, lo, hi, n_weights, std, key):
    """``noisy[lo:hi] <- theta + N(0, std^2)`` on weights, a copy on biases."""
    copy_vector(theta[lo:hi], noisy[lo:hi])
    mid = min(max(n_weights, lo), hi)
    if mid > lo:
        add_normal(noisy[lo:mid], std, key)


@entry_jit
def _rademacher(z, lo, hi, key):
    """``z[lo:hi]`` <- random signs, element ``i`` from counter ``i``."""
    one = z.dtype.type(1)
    for i in range(lo, hi):
        z[i] = one if uniform(key, i) < 0.5 else -one


@jit
def _sum_shards(grads, lo, hi):
    """``grads[0, lo:hi] += grads[s, lo:hi]`` for every other shard;
    returns the squared norm of the sum."""
    summed = grads[0, lo:hi]
    for s in range(1, grads.shape[0]):
        add_vector(summed, grads[s, lo:hi])
    total = 0.0
    for i in range(summed.shape[0]):
        total += summed[i] * summed[i]
    return total


@jit
def _step_trainable(code, theta, grads, state, hyper, lo, hi, n_weights, frozen, step, lr, gs, l2, l1, pc, prior, hz, z):
    """The optimizer step on ``[lo, hi)`` minus the ``frozen`` intervals
    (sorted ``(start, stop)`` rows: frozen layers, running statistics);
    returns the penalty sums of the weights it stepped."""
    squares, absolutes, distances = 0.0, 0.0, 0.0
    start = lo
    for k in range(frozen.shape[0] + 1):
        stop = hi if k == frozen.shape[0] else min(max(frozen[k, 0], lo), hi)
        if stop > start:
            s, a, d = optimizer_step(
                code, theta, grads[0], state, hyper, start, stop, n_weights, step, lr,
                gs, l2, l1, pc, prior, hz, z,
            )
            squares += s
            absolutes += a
            distances += d
        if k < frozen.shape[0]:
            start = max(start, min(frozen[k, 1], hi))
    return squares, absolutes, distances


@optional
def _scaled(x, factor):
    """``x * factor``; None when ``x`` is None."""
    return x * factor


@optional
def _densify(csr, rows, out):
    """The rows ``rows`` of the CSR matrix ``csr``, dense in ``out``; nothing
    for dense input (``csr`` None)."""
    _densify_rows(csr[0], csr[1], csr[2], rows, out)


@optional
def _average_range(average, theta, lo, hi, step, averaging, average_start, average_decay):
    """The weight average on ``[lo, hi)`` after step ``step``; None
    without averaging."""
    if averaging and step > average_start:
        k = step - average_start
        weight = 1.0 / k if average_decay <= 0 or k == 1 else 1.0 - average_decay
        average_update(average[lo:hi], theta[lo:hi], weight)


@optional
def _project_max_norm(norms, theta, net, max_norm, frozen_layers, sync, layer_base):
    """Phase 3: project each unit's incoming weights, layer by layer (the
    items from ``layer_base``); None without a max-norm constraint."""
    sizes = net[0]
    n_layers = sizes.shape[0] - 1
    if max_norm > 0:
        while True:
            item = claim(sync, _PROJECT, layer_base + n_layers)
            if item < 0:
                break
            layer = item - layer_base
            if layer >= frozen_layers:
                max_norm_project(weights_view(theta, sizes, net[1], layer), max_norm, norms[layer])
            mark_done(sync, _PROJECT + 1)
        wait_until(sync, _PROJECT + 1, layer_base + n_layers)


@optional
def _shard_tangent(tangent, T, rows, s):
    """Shard ``s``'s tangent tuple for ``train_pass``, with its rows'
    tangents gathered; None without tangent propagation."""
    strength, Tb, n_t, S_buf, U_buf, dU, dU_next, F, F2, extra, gt = tangent
    _gather_tangents(T, rows, Tb[s])
    return (strength, Tb[s], n_t, S_buf[s], U_buf[s], dU[s], dU_next[s], F[s], F2[s], extra[s], gt[s])


@optional
def _shard_adversarial(adv, s):
    """Shard ``s``'s adversarial buffers; None without adversarial training."""
    return (adv[0][s], adv[1][s], adv[2][s])


@optional
def _shard_batch_norm(bn, theta, s):
    """Shard ``s``'s batch-normalisation tuple (the running statistics are
    updated in ``theta``); None without batch normalisation."""
    bn_off, xhat, inv, momentum, stats = bn
    return (bn_off, xhat[s], inv[s], theta, momentum, stats[s])


@entry_jit
def worker_epoch(
    theta, net, data, order, shuffled, batch_size, bufs, opt, extras, options,
    noisy, adv, tangent, hessian, bn, t0, sync, acc,
):
    """One worker's part of an epoch: the items of each phase it claims. Adds
    each shard's share of the batch losses to ``acc[shard]``; returns the
    number of optimizer steps of the epoch.

    ``data = (X, csr, sparse, Y, sw, T)``; ``bufs = (Xb, Yb, swb, acts, deltas,
    a_off, grads)``, each with a leading shard axis; ``opt = (code, state,
    hyper, lr, n_weights)``; ``extras = (reg, masks, seed, norm_parts,
    frozen)`` (see ``config`` for ``reg``; ``frozen`` holds the intervals of
    parameters the optimizer leaves alone).

    The costly techniques get their buffers as separate arguments, each None
    when the technique is off: ``noisy`` (weight noise), ``adv = (x_adv, dx,
    grad_adv)``, ``tangent = (strength, Tb, n_tangents, S, U, dU, dU_next, F,
    F2, extra, gt)``, ``hessian = (z, hz, rz, ra, rd, scratch, gtmp)``
    (AdaHessian) and ``bn = (bn_off, xhat, inv, momentum, stats)`` (batch
    normalisation; one shard). numba prunes ``if arg is not None`` on a None
    argument and caches each specialisation apart, so a configuration
    compiles only the techniques it uses. The cheap options, ``options =
    (drop, activity, input_dropout, input_noise, l1, prior, norms,
    average)`` (hidden dropout rates, the activity-L1 coefficient, the input
    dropout rate and noise std, the L1 coefficient, the prior's parameters,
    max-norm's buffer of squared norms, the weight average), are None when
    off too, unless ``_jit.SPECIALISE`` is off: then zeros in ``reg`` switch
    them off at run time, in one compile for every configuration. They
    reach the code that uses them as arguments or through ``optional``.
    """
    X, csr, sparse, Y, sw, T = data
    Xb, Yb, swb, acts, deltas, a_off, grads = bufs
    code, state, hyper, lr, n_weights = opt
    reg, masks, seed, norm_parts, frozen = extras
    drop, activity, input_dropout, input_noise, l1_option, prior, norms, average = options
    sizes = net[0]
    n_layers = sizes.shape[0] - 1
    n_shards = grads.shape[0]
    n = order.shape[0]
    n_params = theta.shape[0]
    perturbed = (
        reg[config.INPUT_DROPOUT] > 0 or reg[config.INPUT_NOISE] > 0
        or reg[config.ADVERSARIAL_EPS] > 0
    )
    dense_rows = sparse and perturbed  # perturbations need the rows dense
    use_sparse = sparse and not perturbed
    max_norm = reg[config.MAX_NORM]
    l1 = reg[config.L1]
    l2 = reg[config.L2]
    prior_coef = reg[config.PRIOR]
    clip = reg[config.CLIP_NORM]
    averaging = reg[config.AVERAGE] > 0
    average_start = int(reg[config.AVERAGE_START])
    average_decay = reg[config.AVERAGE_DECAY]
    frozen_layers = int(reg[config.FROZEN_LAYERS])
    if hessian is not None:
        z, hz, rz, ra, rd, hscratch, gtmp = hessian
        hz0 = hz[0]
    else:  # AdaHessian's arguments of the optimizer step, unused
        z = theta[:0]
        hz0 = theta[:0]
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
        step = t0 + steps + 1
        base = steps * n_shards  # item numbers of this batch
        steps += 1

        used = theta
        if noisy is not None:  # phase 0: the weights this step sees
            weight_noise = reg[config.WEIGHT_NOISE]
            while True:
                item = claim(sync, _NOISE, base + n_shards)
                if item < 0:
                    break
                r = item - base
                _noisy_weights(
                    theta, noisy, (n_params * r) // n_shards,
                    (n_params * (r + 1)) // n_shards, n_weights, weight_noise,
                    make_key(seed, step, r, WEIGHT_NOISE),
                )
                mark_done(sync, _NOISE + 1)
            wait_until(sync, _NOISE + 1, base + n_shards)
            used = noisy

        if hessian is not None:  # phase 0: the random signs of the Hessian probe
            key = make_key(seed, step, 0, HESSIAN_PROBE)
            while True:
                item = claim(sync, _PROBE, base + n_shards)
                if item < 0:
                    break
                r = item - base
                _rademacher(z, (n_params * r) // n_shards, (n_params * (r + 1)) // n_shards, key)
                mark_done(sync, _PROBE + 1)
            wait_until(sync, _PROBE + 1, base + n_shards)

        while True:  # phase 1: forward/backward of the shards
            item = claim(sync, _SHARDS, base + n_shards)
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
                if dense_rows:
                    _densify(csr, rows, Xb[s])
                elif (shuffled or perturbed) and not use_sparse:
                    gather_rows(X, rows, Xb[s])
                if perturbed:  # on the shard's private copy
                    perturb_inputs(
                        Xb[s, :nr], input_dropout, input_noise,
                        make_key(seed, step, s, INPUT_DROPOUT),
                        make_key(seed, step, s, INPUT_NOISE),
                    )
                if use_sparse or shuffled or perturbed:
                    xb = Xb[s, :nr]
                else:
                    xb = X[lo:hi]
                if shuffled:
                    gather_rows(Y, rows, Yb[s])
                    gather(sw, rows, swb[s])
                    yb = Yb[s, :nr]
                    wb = swb[s, :nr]
                else:
                    yb = Y[lo:hi]
                    wb = sw[lo:hi]
                if hessian is not None:
                    part = hvp_pass(  # no dropout: AdaHessian excludes it
                        used, z, grads[s], hz[s], net, xb, csr, use_sparse, rows, nr,
                        yb, wb, scale, acts[s], deltas[s], a_off, rz[s], ra[s], rd[s],
                        hscratch[s], gtmp[s],
                    )
                else:
                    keys = (
                        make_key(seed, step, s, HIDDEN_DROPOUT),
                        make_key(seed, step, s, ADVERSARIAL_START),
                    )
                    part = shard_step(
                        used, grads[s], net, xb, csr, use_sparse, rows, nr, yb, wb,
                        scale, acts[s], deltas[s], a_off, reg, drop, masks[s], activity, keys,
                        _shard_adversarial(adv, s), _shard_tangent(tangent, T, rows, s),
                        _shard_batch_norm(bn, theta, s),
                    )
                acc[s] += part * scale * nb
            mark_done(sync, _SHARDS + 1)
        wait_until(sync, _SHARDS + 1, base + n_shards)

        gs = 1.0
        if clip > 0:  # phase 2a: the summed gradient and its norm, range by range
            while True:
                item = claim(sync, _SUM, base + n_shards)
                if item < 0:
                    break
                r = item - base
                p_lo, p_hi = (n_params * r) // n_shards, (n_params * (r + 1)) // n_shards
                norm_parts[r] = _sum_shards(grads, p_lo, p_hi)
                if hessian is not None:
                    _sum_shards(hz, p_lo, p_hi)
                mark_done(sync, _SUM + 1)
            wait_until(sync, _SUM + 1, base + n_shards)
            squared = 0.0
            for r in range(n_shards):  # in range order, whatever the workers
                squared += norm_parts[r]
            norm = np.sqrt(squared)
            if norm > clip:
                gs = clip / norm

        while True:  # phase 2: sum the gradients and step, range by range
            item = claim(sync, _UPDATE, base + n_shards)
            if item < 0:
                break
            r = item - base
            p_lo = (n_params * r) // n_shards
            p_hi = (n_params * (r + 1)) // n_shards
            if clip <= 0:
                _sum_shards(grads, p_lo, p_hi)
                if hessian is not None:
                    _sum_shards(hz, p_lo, p_hi)
            squares, absolutes, distances = _step_trainable(
                code, theta, grads, state, hyper, p_lo, p_hi, n_weights, frozen, step,
                lr, gs, l2 * scale, _scaled(l1_option, scale), prior_coef * scale, prior, hz0, z,
            )
            penalty = 0.5 * l2 * squares + l1 * absolutes + 0.5 * prior_coef * distances
            acc[r] += penalty * scale * nb
            _average_range(
                average, theta, p_lo, p_hi, step, averaging, average_start, average_decay
            )
            mark_done(sync, _UPDATE + 1)
        wait_until(sync, _UPDATE + 1, base + n_shards)

        _project_max_norm(  # phase 3
            norms, theta, net, max_norm, frozen_layers, sync, (steps - 1) * n_layers
        )
    return steps


def train_epoch(
    n_workers, theta, net, data, order, shuffled, batch_size, bufs, opt, extras,
    options, noisy, adv, tangent, hessian, bn, t0, sync, acc,
):
    """One epoch over ``order`` with ``n_workers`` threads; returns
    ``(scikit-learn's epoch loss, optimizer steps taken)``.

    Each batch minimises ``(sum_i sw_i loss_i + penalties) / sum_i sw_i`` over
    its rows, as scikit-learn does; the epoch loss is the mean of the batch
    losses weighted by batch size. The arguments after ``n_workers`` are
    ``worker_epoch``'s; ``sync`` and ``acc`` must be zero.
    """
    steps = run_workers(
        worker_epoch, n_workers, theta, net, data, order, shuffled, batch_size, bufs,
        opt, extras, options, noisy, adv, tangent, hessian, bn, t0, sync, acc,
    )
    total = 0.0
    for part in acc.tolist():  # in shard order, whatever the workers
        total += part
    return total / order.shape[0], steps
