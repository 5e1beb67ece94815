"""The engine on data spread over the partitions of Dask arrays.

Only flat vectors travel: the partitions stay where Dask persisted them (the
workers of a ``distributed.Client``, or this process under Dask's local
schedulers), and every task runs the engine's own code on one partition.

- Full-batch solvers: ``DistributedObjective`` is the full-batch objective as
  a sum over partitions. Each partition's ``FullBatchObjective`` divides by
  the weight sum of the whole data and leaves out the weight penalties, which
  the sum adds once, so the total is the in-memory objective up to the order
  of the floating-point sums (Spark MLlib trains its perceptron so).
- First-order solvers: synchronous model averaging. ``DaskStochasticLoop`` is
  the epoch loop (history, schedules, stopping rule and validation on the
  client, as for in-memory data) whose epoch is run by the partitions: every
  partition trains from the same parameters and optimizer state with the
  engine's compiled epoch, and the client averages the partitions'
  parameters and optimizer states, weighted by their rows, after every
  ``sync_every`` mini-batches of each partition or once per epoch.

dask is imported by the functions that use it: the module is only reached
from a fit on Dask input.
"""

import dataclasses
from typing import NamedTuple

import numpy as np

from ._network import Inputs, kernel_view
from ._training import Progress, StochasticLoop, TrainSet
from .optim._objective import FullBatchObjective, WeightPenalty


class Partitions(NamedTuple):
    """Persisted data: ``X``, the encoded targets ``Y`` and the sample
    weights ``sw`` as Dask arrays with the same row chunks (and for
    validation the targets ``y`` as given, which the score compares with),
    and the per-partition ``Delayed`` tuples the tasks take. The persisted
    arrays are kept: they hold the cluster's references to the partitions."""

    arrays: tuple  # (X, Y, sw[, y]), persisted
    blocks: list  # [(X_block, Y_block, sw_block)] as dask.delayed
    rows: tuple  # rows of each partition
    weight_sum: float
    dtype: np.dtype

    @property
    def n_samples(self):
        return int(sum(self.rows))

    @classmethod
    def persist(cls, X, Y, sw, weight_sum, y=None):
        """Persist ``X``, ``Y``, ``sw`` (and ``y``) once per fit and cut them
        into per-partition blocks."""
        import dask

        arrays = dask.persist(X, Y, sw, *([] if y is None else [y]))
        blocks = zip(*(a.to_delayed().ravel() for a in arrays))
        kept = [(b, int(n)) for b, n in zip(blocks, X.chunks[0]) if n > 0]  # no empty partitions
        return cls(
            arrays, [b for b, _ in kept], tuple(n for _, n in kept), float(weight_sum),
            arrays[0].dtype,
        )


def broadcast(value):
    """``value`` as one key of the task graphs that use it: sent to the
    workers once, not once per task."""
    import dask

    return dask.delayed(value, pure=True)


def run_on_partitions(function, partitions, *arguments):
    """``function(X, Y, sw, *arguments)`` on each partition, as Dask tasks;
    returns their results in partition order."""
    import dask

    task = dask.delayed(function, pure=True)
    return dask.compute(*[task(*block, *arguments) for block in partitions.blocks])


def _rows(X, Y, sw):
    """A partition's arrays in the kernels' form: writeable views of the
    (possibly read-only, deserialised) blocks."""
    return X, kernel_view(np.ascontiguousarray(Y)), kernel_view(np.ascontiguousarray(sw))


# ------------------------------------------------------------ full batch


@dataclasses.dataclass(frozen=True)
class ObjectiveContext:
    """What every partition's objective needs besides its rows."""

    network: object
    reg: object  # without the weight penalties
    weight_sum: float


def _partition_objective(X, Y, sw, context):
    X, Y, sw = _rows(X, Y, sw)
    return FullBatchObjective(
        context.network, Inputs(X, Y.dtype), Y, sw, context.reg, weight_sum=context.weight_sum
    )


def _partition_loss_grad(X, Y, sw, theta, context):
    loss, grad = _partition_objective(X, Y, sw, context)(np.array(theta))
    return float(loss), grad.copy()


def _partition_hvp(X, Y, sw, theta, v, context):
    return _partition_objective(X, Y, sw, context).hvp(np.array(theta), v).copy()


def _partition_hessian(X, Y, sw, theta, context):
    return _partition_objective(X, Y, sw, context).hessian(np.array(theta))


def _ordered_sum(arrays):
    """The sum of ``arrays`` in partition order (the same bits every run)."""
    total = np.array(arrays[0], copy=True)
    for array in arrays[1:]:
        total += array
    return total


class DistributedObjective:
    """``theta -> (loss, grad)`` of the full-batch objective summed over the
    partitions, with the Hessian-vector products and the exact Hessian the
    second-order solvers ask for; the interface of ``FullBatchObjective``."""

    def __init__(self, network, partitions, reg):
        if network.batch_norm:
            raise ValueError("Batch normalisation needs mini-batches: no full-batch objective.")
        self.network = network
        self.partitions = partitions
        self.n_samples = partitions.n_samples
        self.scale = 1.0 / partitions.weight_sum
        self.penalty = WeightPenalty(network, reg, self.scale, partitions.dtype)
        data_reg = dataclasses.replace(reg, l2=0.0, prior=None, prior_alpha=0.0)
        self.context = broadcast(ObjectiveContext(network, data_reg, partitions.weight_sum)).persist()
        self.n_evaluations = 0
        self.n_hvp = 0

    def __call__(self, theta):
        self.n_evaluations += 1
        parts = run_on_partitions(
            _partition_loss_grad, self.partitions, broadcast(theta.copy()), self.context
        )
        grad = _ordered_sum([g for _, g in parts])
        loss = float(sum(value for value, _ in parts))
        return self.penalty.add(theta, loss, grad), grad

    def hvp(self, theta, v):
        self.n_hvp += 1
        v = np.ascontiguousarray(v, dtype=self.partitions.dtype)
        parts = run_on_partitions(
            _partition_hvp, self.partitions, broadcast(theta.copy()), broadcast(v), self.context
        )
        return self.penalty.add_curvature(v, _ordered_sum(parts))

    def hessian(self, theta):
        parts = run_on_partitions(
            _partition_hessian, self.partitions, broadcast(theta.copy()), self.context
        )
        self.n_hvp += self.network.n_params
        H = _ordered_sum(parts)
        nw = self.network.n_weights
        H[np.arange(nw), np.arange(nw)] += self.penalty.curvature
        return H


# ------------------------------------------------------------ first order


class _FixedRate:
    """The schedule of a partition's steps: the rate the client's schedule
    chose for the epoch."""

    snapshots = 0

    def __init__(self, lr):
        self.lr = lr

    def rate(self, lr_init, lr, epoch, t):
        return self.lr

    def on_plateau(self, lr):
        return None


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What every partition's steps need besides its rows and the state."""

    network: object
    reg: object
    strategy: object
    batch_size: int
    shuffle: bool
    round_rows: int  # rows a partition trains on between averages; 0: all


def _partition_steps(X, Y, sw, theta, state, lr, seed, round_index, context):
    """One partition's share of a round: the engine's compiled epoch over
    its rows of the round, from ``theta`` and the optimizer ``state``.
    Returns the new parameters and state, the mean loss and the rows."""
    X, Y, sw = _rows(X, Y, sw)
    rng = np.random.default_rng(seed)
    if context.round_rows:  # this round's slice of the partition's epoch order
        order = rng.permutation(X.shape[0]) if context.shuffle else np.arange(X.shape[0])
        rows = order[round_index * context.round_rows : (round_index + 1) * context.round_rows]
        X, Y, sw = X[rows], Y[rows], sw[rows]
    n = X.shape[0]
    progress = Progress(optimizer=state.copy(), lr=lr)
    loop = StochasticLoop(
        network=context.network, theta=np.array(theta), train=TrainSet(Inputs(X, Y.dtype), Y, sw),
        validation=None, progress=progress, schedule=_FixedRate(lr), lr_init=lr,
        reg=context.reg, batch_size=min(context.batch_size, n), shuffle=context.shuffle,
        rng=rng, tol=0.0, n_iter_no_change=1, verbose=False, strategy=context.strategy,
    )
    loop.run(1, incremental=True)
    return loop.theta, progress.optimizer, float(progress.loss_curve[-1]), n


class DaskTrainSet(NamedTuple):
    """The loop's view of training data that stay on the partitions."""

    partitions: Partitions

    @property
    def n_samples(self):
        return self.partitions.n_samples


class DaskStochasticLoop(StochasticLoop):
    """The epoch loop of the first-order solvers whose epochs the partitions
    run (synchronous model averaging); ``sync_every`` is the number of
    mini-batches each partition runs between two averages (None: one
    epoch)."""

    def __init__(self, *, partitions, sync_every, **loop):
        super().__init__(train=DaskTrainSet(partitions), **loop)
        self.partitions = partitions
        self.sync_every = sync_every

    def _validate(self, record):
        if not isinstance(self.validation, DaskValidation):  # in memory
            return super()._validate(record)
        record["val_loss"], record["val_score"] = self.validation.evaluate(
            self.network, self.model_theta()
        )

    def prepare(self, n_shards=None, n_workers=None):
        # the partitions' loops size their own buffers and threads
        self.n_shards = self.n_workers = 1
        rows = 0 if self.sync_every is None else self.sync_every * self.batch_size
        self._context = broadcast(StepContext(
            self.network, self.reg, self.strategy, self.batch_size, self.shuffle, rows,
        )).persist()
        self._round_rows = rows

    def _run_epoch(self, lr):
        opt = self.progress.optimizer
        sizes = self.partitions.rows
        seeds = self.rng.integers(np.iinfo(np.int64).max, size=len(sizes))
        rows = self._round_rows
        n_rounds = 1 if not rows else max(-(-n // rows) for n in sizes)
        total, seen = 0.0, 0
        for r in range(n_rounds):
            # the partitions with rows left in this round
            active = [i for i, n in enumerate(sizes) if n > r * rows]
            results = self._round(active, opt, lr, seeds, r)
            weights = np.array([n for *_, n in results], dtype=np.float64)
            share = weights / weights.sum()
            np.copyto(self.theta, _weighted([t for t, *_ in results], share))
            states = [s for _, s, _, _ in results]
            opt.state[...] = _weighted([s.state for s in states], share)
            opt.counters[...] = np.max([s.counters for s in states], axis=0)
            if opt.slow is not None:
                opt.slow[...] = _weighted([s.slow for s in states], share)
            total += float(np.dot(weights, [loss for _, _, loss, _ in results]))
            seen += int(weights.sum())
        return total / seen

    def _round(self, active, opt, lr, seeds, r):
        import dask

        task = dask.delayed(_partition_steps, pure=True)
        theta, state = broadcast(self.theta.copy()), broadcast(opt.copy())
        return dask.compute(*[
            task(*self.partitions.blocks[i], theta, state, lr, int(seeds[i]), r, self._context)
            for i in active
        ])


def _weighted(arrays, share):
    """``sum_p share_p * arrays[p]``, in partition order."""
    total = arrays[0] * share[0]
    for array, s in zip(arrays[1:], share[1:]):
        total += array * s
    return total.astype(arrays[0].dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class ValidationContext:
    """What scoring a validation partition needs besides its rows."""

    network: object
    sums: object  # (output, y, sw) -> the score's sums over the rows


def _partition_validation(X, Y, sw, y, theta, context):
    """A validation partition's weighted loss sum and score sums."""
    X, Y, sw = _rows(X, Y, sw)
    network = context.network
    raw = network.predict(np.array(theta), Inputs(X, Y.dtype), link=False)
    weight = float(np.sum(sw, dtype=np.float64))
    loss = network.loss_value(raw, Y, sw) * weight
    return loss, weight, np.asarray(context.sums(network.activate(raw), y, sw), dtype=np.float64)


class DaskValidation(NamedTuple):
    """Validation rows on the partitions, scored by the estimator's sums
    (``score_of_sums``: their total -> the score)."""

    partitions: Partitions
    sums: object
    score_of_sums: object

    def evaluate(self, network, theta):
        """``(val_loss, val_score)`` of the parameters ``theta``."""
        context = broadcast(ValidationContext(network, self.sums))
        parts = run_on_partitions(_partition_validation, self.partitions, broadcast(theta.copy()), context)
        weight = sum(w for _, w, _ in parts)
        loss = sum(value for value, _, _ in parts) / weight
        return loss, self.score_of_sums(_ordered_sum([s for _, _, s in parts]))


def _partition_zeros(X, Y, sw, network, theta):
    X, _, _ = _rows(X, Y, sw)
    return network.hidden_zero_fractions(np.array(theta), Inputs(X, theta.dtype)) * X.shape[0]


def hidden_zero_fractions(network, theta, partitions):
    """``activation_sparsity_`` over the partitions: each counts its zeros."""
    parts = run_on_partitions(_partition_zeros, partitions, network, broadcast(theta.copy()))
    return _ordered_sum(parts) / partitions.n_samples
