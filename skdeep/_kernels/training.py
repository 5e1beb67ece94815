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
   gradient clipping, two rounds: the sum and its norm, then the update;
   with a layer-wise optimizer, LAMB, a round before the update computes
   each range's share of every layer's norms, which the update adds up in
   range order); with Lookahead, every ``k`` steps, the synchronisation
   of the slow weights, range by range after the range's update;
3. with a max-norm constraint: projection, layer by layer.

BLAS runs single-threaded inside each worker: two single-threaded GEMMs side
by side keep both cores busier than one multi-threaded GEMM on matrices of
mini-batch size.

The number of shards depends only on the batch size and the machine, not on how
many threads a fit may use; every sum over shards runs in shard order, and
random numbers are keyed by step and shard (``random``): the same seed gives
the same bits whether the epoch runs on one thread or several.

The threads are Python's, not numba's ``prange``: a parallel region
compiles the whole epoch a second time into a gufunc (a first compile half
as long again, see docs/performance.md) and needs a thread-safe, fork-safe
threading layer, which numba's OpenMP and workqueue layers are not in every
setting.

Nothing is allocated per batch: rows are gathered into preallocated per-shard
buffers (or sliced when the order is not shuffled and the inputs are not
perturbed) and every per-layer array is a view.
"""

import numpy as np

from .._threads import run_workers
from ._jit import by_presence, entry_jit, jit, larger, optional, smaller
from ._sync import claim, mark_done, wait_until
from .hessian import hvp_pass
from .linalg import add_vector, copy_vector, gather, gather_rows
from .network import weights_view
from .random import (
    ADVERSARIAL_START,
    DROPCONNECT,
    HESSIAN_PROBE,
    HIDDEN_DROPOUT,
    INPUT_DROPOUT,
    INPUT_NOISE,
    WEIGHT_NOISE,
    add_normal,
    make_key,
    uniform,
)
from .records import (
    Adversarial,
    BatchNorm,
    Block,
    Contractive,
    Diagonal,
    Hidden,
    Penalties,
    RBuffers,
    Tangent,
    Work,
)
from .regularizers import (
    dropconnect_gradient,
    dropconnect_weights,
    max_norm_project,
    perturb_inputs,
)
from .step import shard_step
from .updates import average_update, layer_norms_range, lookahead_sync, optimizer_step

# counters in ``sync``: (claimed, done) per phase
_NOISE, _SHARDS, _UPDATE, _PROJECT, _PROBE, _SUM, _NORMS = 0, 2, 4, 6, 8, 10, 12
N_COUNTERS = 14


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
    mid = smaller(larger(n_weights, lo), hi)
    if mid > lo:
        add_normal(noisy[lo:mid], std, key)


@jit
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
def _trainable_stop(frozen, k, lo, hi):
    """The end of the ``k``-th trainable piece of ``[lo, hi)``: the start of
    the ``k``-th frozen interval, or ``hi`` after the last."""
    return hi if k == frozen.shape[0] else smaller(larger(frozen[k, 0], lo), hi)


@jit
def _next_trainable(frozen, k, start, hi):
    """Where the ``k+1``-th trainable piece starts: after the ``k``-th frozen
    interval."""
    return larger(start, smaller(frozen[k, 1], hi)) if k < frozen.shape[0] else start


@jit
def _step_trainable(opt, theta, grads, lo, hi, settings, step, gs, penalties, diagonal):
    """The optimizer step on ``[lo, hi)`` minus the frozen intervals
    (``settings.frozen``, sorted ``(start, stop)`` rows: frozen layers,
    running statistics); returns the penalty sums of the weights it
    stepped."""
    frozen = settings.frozen
    squares, absolutes, distances = 0.0, 0.0, 0.0
    start = lo
    for k in range(frozen.shape[0] + 1):
        stop = _trainable_stop(frozen, k, lo, hi)
        if stop > start:
            s, a, d = optimizer_step(opt, theta, grads[0], start, stop, step, gs, penalties, diagonal)
            squares += s
            absolutes += a
            distances += d
        start = _next_trainable(frozen, k, start, hi)
    return squares, absolutes, distances


@optional
def _lookahead_range(lookahead, theta, lo, hi, step, settings):
    """Lookahead's synchronisation of ``[lo, hi)`` minus the frozen
    intervals (the running statistics are not the optimizer's) after every
    ``k``-th step; None without Lookahead."""
    k = lookahead.k
    if k > 0 and step % k == 0:
        frozen = settings.frozen
        start = lo
        for f in range(frozen.shape[0] + 1):
            stop = _trainable_stop(frozen, f, lo, hi)
            if stop > start:
                lookahead_sync(lookahead.slow[start:stop], theta[start:stop], lookahead.alpha)
            start = _next_trainable(frozen, f, start, hi)


def _no_layer_norms(layers, opt, theta, grads, summed, step, gs, penalties, shared, base):
    pass


def _layer_norms_phase(layers, opt, theta, grads, summed, step, gs, penalties, shared, base):
    """Phase 2b of a layer-wise optimizer (LAMB, ``opt.layers`` not None):
    each range's share of every layer's norms, before any range steps;
    nothing without one (or, with ``_jit.SPECIALISE`` off, for an
    optimizer whose ``layers`` has no segments)."""
    if layers.segments.shape[0] == 0:
        return
    sync = shared.sync
    n_shards = shared.acc.shape[0]
    n_params = theta.shape[0]
    while True:
        item = claim(sync, _NORMS, base + n_shards)
        if item < 0:
            break
        r = item - base
        layer_norms_range(
            opt, theta, grads, summed, (n_params * r) // n_shards,
            (n_params * (r + 1)) // n_shards, step, gs, penalties, r,
        )
        mark_done(sync, _NORMS + 1)
    wait_until(sync, _NORMS + 1, base + n_shards)


_layer_norms_phase = by_presence(_no_layer_norms, _layer_norms_phase)


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
def _average_range(average, theta, lo, hi, step, settings):
    """The weight average on ``[lo, hi)`` after step ``step``; None
    without averaging."""
    if settings.averaging and step > settings.average_start:
        k = step - settings.average_start
        decay = settings.average_decay
        weight = 1.0 / k if decay <= 0 or k == 1 else 1.0 - decay
        average_update(average[lo:hi], theta[lo:hi], weight)


@optional
def _project_max_norm(norms, theta, net, settings, sync, layer_base):
    """Phase 3: project each unit's incoming weights, layer by layer (the
    items from ``layer_base``); None without a max-norm constraint."""
    sizes = net.sizes
    n_layers = sizes.shape[0] - 1
    if settings.max_norm > 0:
        while True:
            item = claim(sync, _PROJECT, layer_base + n_layers)
            if item < 0:
                break
            layer = item - layer_base
            if layer >= settings.frozen_layers:
                max_norm_project(weights_view(theta, sizes, net.w_off, layer), settings.max_norm, norms[layer])
            mark_done(sync, _PROJECT + 1)
        wait_until(sync, _PROJECT + 1, layer_base + n_layers)


@optional
def _shard_tangent(tangent, T, rows, s):
    """Shard ``s``'s ``Tangent`` for ``train_pass``, with its rows'
    tangents gathered; None without tangent propagation."""
    _gather_tangents(T, rows, tangent.Tb[s])
    return Tangent(
        tangent.strength, tangent.Tb[s], tangent.n_tangents, tangent.S[s], tangent.U[s],
        tangent.dU[s], tangent.dU_next[s], tangent.F[s], tangent.F2[s], tangent.extra[s],
        tangent.gt[s],
    )


@optional
def _shard_contractive(contractive, s):
    """Shard ``s``'s ``Contractive``; None without the contractive penalty."""
    return Contractive(contractive.strength, contractive.F[s], contractive.F2[s])


@optional
def _shard_adversarial(adv, s, key):
    """Shard ``s``'s ``Adversarial`` record (PGD's start drawn from
    ``key``); None without adversarial training."""
    return Adversarial(adv.eps, adv.steps, key, adv.x_adv[s], adv.dx[s], adv.grad[s])


@optional
def _shard_batch_norm(bn, theta, s):
    """Shard ``s``'s ``BatchNorm`` (the running statistics are updated in
    ``theta``); None without batch normalisation."""
    return BatchNorm(bn.offsets, bn.xhat[s], bn.inv[s], theta, bn.momentum, bn.stats[s])


def _unchanged_weights(noise, theta, n_weights, seed, step, shared, base):
    return theta


def _weights_for_step(noise, theta, n_weights, seed, step, shared, base):
    """Phase 0 with weight noise: the noisy copy of the weights, range by
    range, which the step's passes then use; ``theta`` itself without
    (``noise`` None)."""
    sync = shared.sync
    n_shards = shared.acc.shape[0]
    n_params = theta.shape[0]
    while True:
        item = claim(sync, _NOISE, base + n_shards)
        if item < 0:
            break
        r = item - base
        _noisy_weights(
            theta, noise.noisy, (n_params * r) // n_shards, (n_params * (r + 1)) // n_shards,
            n_weights, noise.std, make_key(seed, step, r, WEIGHT_NOISE),
        )
        mark_done(sync, _NOISE + 1)
    wait_until(sync, _NOISE + 1, base + n_shards)
    return noise.noisy


@jit
def _draw_probe(z, seed, step, shared, base):
    """Phase 0 with AdaHessian: the random signs ``z`` of the Hessian
    probe, range by range."""
    sync = shared.sync
    n_shards = shared.acc.shape[0]
    n_params = z.shape[0]
    key = make_key(seed, step, 0, HESSIAN_PROBE)
    while True:
        item = claim(sync, _PROBE, base + n_shards)
        if item < 0:
            break
        r = item - base
        _rademacher(z, (n_params * r) // n_shards, (n_params * (r + 1)) // n_shards, key)
        mark_done(sync, _PROBE + 1)
    wait_until(sync, _PROBE + 1, base + n_shards)


_weights_for_step = by_presence(_unchanged_weights, _weights_for_step)


def _undropped_weights(dropconnect, used, n_weights, s, key):
    return used


def _dropconnect_weights(dropconnect, used, n_weights, s, key):
    """Shard ``s``'s weights for its pass: with DropConnect, ``used`` with
    a fresh mask (drawn from ``key``) on its weights, in the shard's
    buffer; ``used`` itself without (``dropconnect`` None, or its rate 0
    when ``_jit.SPECIALISE`` is off)."""
    if dropconnect.rate > 0:
        masked = dropconnect.masked[s]
        dropconnect_weights(used, masked, dropconnect.factors[s], n_weights, dropconnect.rate, key)
        return masked
    return used


def _no_dropconnect_gradient(dropconnect, grad, s):
    pass


def _dropconnect_gradient(dropconnect, grad, s):
    """Shard ``s``'s gradient with respect to its masked weights made one
    with respect to the weights; nothing without DropConnect."""
    if dropconnect.rate > 0:
        dropconnect_gradient(grad, dropconnect.factors[s])


_dropconnect_weights = by_presence(_undropped_weights, _dropconnect_weights)
_dropconnect_gradient = by_presence(_no_dropconnect_gradient, _dropconnect_gradient)


@jit
def _shard_block(epoch, shards, s, lo, hi, scale, settings):
    """Shard ``s``'s rows ``order[lo:hi]`` as a ``Block``: gathered into
    its buffers (densified for sparse input that is perturbed: the
    perturbations need the rows dense), or sliced when the order is not
    shuffled and nothing is perturbed."""
    nr = hi - lo
    rows = epoch.order[lo:hi]
    perturbed = settings.perturbed
    dense_rows = epoch.sparse and perturbed
    use_sparse = epoch.sparse and not perturbed
    if dense_rows:
        _densify(epoch.csr, rows, shards.Xb[s])
    elif (epoch.shuffled or perturbed) and not use_sparse:
        gather_rows(epoch.X, rows, shards.Xb[s])
    if use_sparse or epoch.shuffled or perturbed:
        xb = shards.Xb[s, :nr]
    else:
        xb = epoch.X[lo:hi]
    if epoch.shuffled:
        gather_rows(epoch.Y, rows, shards.Yb[s])
        gather(epoch.sw, rows, shards.swb[s])
        yb = shards.Yb[s, :nr]
        wb = shards.swb[s, :nr]
    else:
        yb = epoch.Y[lo:hi]
        wb = epoch.sw[lo:hi]
    return Block(xb, epoch.csr, use_sparse, rows, nr, yb, wb, scale)


@entry_jit
def worker_epoch(theta, net, epoch, shards, opt, settings, options, techniques, probe, shared):
    """One worker's part of an epoch: the items of each phase it claims. Adds
    each shard's share of the batch losses to ``shared.acc[shard]``; returns
    the number of optimizer steps of the epoch.

    The arguments are ``records``: ``epoch`` the rows, ``shards`` the
    per-shard buffers, ``opt`` the optimizer, ``settings`` the scalar
    settings, ``options`` the cheap options, ``techniques`` the costly
    ones and ``probe`` AdaHessian's Hessian probe (an argument of its own:
    it replaces the training pass). A technique that is off is None (a cheap option too, unless
    ``_jit.SPECIALISE`` is off: then zeros switch it off at run time, in
    one compile for every configuration); numba prunes ``if arg is None``
    on a None argument and caches each specialisation apart, so a
    configuration compiles only the techniques it uses. Each reaches the
    code that uses it as an argument (of a helper above, or through
    ``optional``).
    """
    sync, acc = shared.sync, shared.acc
    n_shards = shards.grads.shape[0]
    n = epoch.order.shape[0]
    n_params = theta.shape[0]
    batch_size = epoch.batch_size
    seed = settings.seed
    steps = 0
    for start in range(0, n, batch_size):
        stop = smaller(start + batch_size, n)
        nb = stop - start
        sw_sum = 0.0
        if epoch.shuffled:
            for i in range(start, stop):
                sw_sum += epoch.sw[epoch.order[i]]
        else:
            for i in range(start, stop):
                sw_sum += epoch.sw[i]
        if sw_sum <= 0.0:
            continue  # only zero-weight rows: no gradient, no step
        scale = 1.0 / sw_sum
        step = opt.first_step + steps + 1
        base = steps * n_shards  # item numbers of this batch
        steps += 1

        # phase 0: the weights this step sees; AdaHessian's random signs
        used = _weights_for_step(techniques.weight_noise, theta, opt.n_weights, seed, step, shared, base)
        if probe is not None:
            _draw_probe(probe.z, seed, step, shared, base)

        while True:  # phase 1: forward/backward of the shards
            item = claim(sync, _SHARDS, base + n_shards)
            if item < 0:
                break
            s = item - base
            lo = start + (nb * s) // n_shards
            hi = start + (nb * (s + 1)) // n_shards
            if hi == lo:
                shards.grads[s, :] = 0
            else:
                block = _shard_block(epoch, shards, s, lo, hi, scale, settings)
                if settings.perturbed:  # on the shard's private copy (the block's rows)
                    perturb_inputs(
                        shards.Xb[s, : hi - lo], options.input_dropout, options.input_noise,
                        make_key(seed, step, s, INPUT_DROPOUT),
                        make_key(seed, step, s, INPUT_NOISE),
                    )
                work = Work(shards.acts[s], shards.deltas[s], shards.a_off)
                if probe is not None:  # AdaHessian: the R-operator pass, which gives H z too
                    rbuf = RBuffers(probe.rz[s], probe.ra[s], probe.rd[s], probe.scratch[s], probe.gtmp[s])
                    part = hvp_pass(used, probe.z, shards.grads[s], probe.hz[s], net, block, work, rbuf)
                else:
                    hidden = Hidden(
                        options.drop, shards.masks[s], make_key(seed, step, s, HIDDEN_DROPOUT),
                        options.activity, options.unlabeled,
                        _shard_contractive(techniques.contractive, s),
                    )
                    weights = _dropconnect_weights(
                        options.dropconnect, used, opt.n_weights, s, make_key(seed, step, s, DROPCONNECT)
                    )
                    part = shard_step(
                        weights, shards.grads[s], net, block, work, hidden,
                        _shard_adversarial(
                            techniques.adversarial, s, make_key(seed, step, s, ADVERSARIAL_START)
                        ),
                        _shard_tangent(techniques.tangent, epoch.T, block.rows, s),
                        _shard_batch_norm(techniques.batch_norm, theta, s),
                    )
                    _dropconnect_gradient(options.dropconnect, shards.grads[s], s)
                acc[s] += part * scale * nb
            mark_done(sync, _SHARDS + 1)
        wait_until(sync, _SHARDS + 1, base + n_shards)

        gs = 1.0
        clip = settings.clip_norm
        if clip > 0:  # phase 2a: the summed gradient and its norm, range by range
            while True:
                item = claim(sync, _SUM, base + n_shards)
                if item < 0:
                    break
                r = item - base
                p_lo, p_hi = (n_params * r) // n_shards, (n_params * (r + 1)) // n_shards
                shared.norm_parts[r] = _sum_shards(shards.grads, p_lo, p_hi)
                if probe is not None:
                    _sum_shards(probe.hz, p_lo, p_hi)
                mark_done(sync, _SUM + 1)
            wait_until(sync, _SUM + 1, base + n_shards)
            squared = 0.0
            for r in range(n_shards):  # in range order, whatever the workers
                squared += shared.norm_parts[r]
            norm = np.sqrt(squared)
            if norm > clip:
                gs = clip / norm

        l2, l1, prior_coef = settings.l2, settings.l1, settings.prior_coef
        penalties = Penalties(l2 * scale, _scaled(options.l1, scale), prior_coef * scale, options.prior)
        if probe is not None:
            diagonal = Diagonal(probe.z, probe.hz[0])
        else:
            diagonal = Diagonal(theta[:0], theta[:0])
        _layer_norms_phase(  # phase 2b: LAMB's per-layer norms
            opt.layers, opt, theta, shards.grads, clip > 0, step, gs, penalties, shared, base
        )
        while True:  # phase 2: sum the gradients and step, range by range
            item = claim(sync, _UPDATE, base + n_shards)
            if item < 0:
                break
            r = item - base
            p_lo = (n_params * r) // n_shards
            p_hi = (n_params * (r + 1)) // n_shards
            if clip <= 0:
                _sum_shards(shards.grads, p_lo, p_hi)
                if probe is not None:
                    _sum_shards(probe.hz, p_lo, p_hi)
            squares, absolutes, distances = _step_trainable(
                opt, theta, shards.grads, p_lo, p_hi, settings, step, gs, penalties, diagonal
            )
            penalty = 0.5 * l2 * squares + l1 * absolutes + 0.5 * prior_coef * distances
            acc[r] += penalty * scale * nb
            _lookahead_range(options.lookahead, theta, p_lo, p_hi, step, settings)
            _average_range(options.average, theta, p_lo, p_hi, step, settings)
            mark_done(sync, _UPDATE + 1)
        wait_until(sync, _UPDATE + 1, base + n_shards)

        _project_max_norm(  # phase 3
            options.norms, theta, net, settings, sync, (steps - 1) * (net.sizes.shape[0] - 1)
        )
    return steps


def train_epoch(n_workers, theta, net, epoch, shards, opt, settings, options, techniques, probe, shared):
    """One epoch over ``epoch.order`` with ``n_workers`` threads; returns
    ``(scikit-learn's epoch loss, optimizer steps taken)``.

    Each batch minimises ``(sum_i sw_i loss_i + penalties) / sum_i sw_i`` over
    its rows, as scikit-learn does; the epoch loss is the mean of the batch
    losses weighted by batch size. The arguments after ``n_workers`` are
    ``worker_epoch``'s; ``shared.sync`` and ``shared.acc`` must be zero.
    """
    steps = run_workers(
        worker_epoch, n_workers, theta, net, epoch, shards, opt, settings, options,
        techniques, probe, shared,
    )
    total = 0.0
    for part in shared.acc.tolist():  # in shard order, whatever the workers
        total += part
    return total / epoch.order.shape[0], steps
