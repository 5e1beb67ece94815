"""The epoch loop of the first-order solvers, and the full-batch driver.

One loop for every first-order solver. It runs compiled epochs, makes one
record per epoch and announces the events of ``_listeners`` to its listeners:
the history, progress output, the stopping rule (with early stopping and the
adaptive schedule's plateaus), snapshot ensembles and scikit-learn's
callbacks. A listener returns ``True`` from ``on_epoch_end`` to ask the loop
to stop. The full-batch driver announces the same events to the same kind of
listeners.

Whatever must survive between ``partial_fit`` calls lives in ``Progress``.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._kernels._jit import kernel_code, option
from ._kernels.records import (
    Adversarial,
    BatchNorm,
    DropConnect,
    Epoch,
    LayerNorms,
    LookaheadWeights,
    OptimizerStep,
    Options,
    Probe,
    Settings,
    Shards,
    Shared,
    Techniques,
    WeightNoise,
)
from ._kernels.training import N_COUNTERS, train_epoch
from ._listeners import History, stochastic_listeners
from ._network import contractive_record, no_csr, no_tangents, tangent_record
from ._threads import blas_threads, engine_shards, engine_workers, single_threaded_blas
from .optim import OptimizerState, minimize

#: weight of each batch in the running statistics of batch normalisation
BATCH_NORM_MOMENTUM = 0.1


@dataclass
class Progress:
    """Training state carried across epochs and across ``partial_fit`` calls."""

    optimizer: OptimizerState | None = None
    lr: float = 0.0
    epoch: int = 0  # epochs run with the current optimizer
    t: int = 0  # training samples seen (scikit-learn's ``t_``)
    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_loss: float | None = np.inf
    best_validation_score: float | None = None
    #: the epoch (1-based, in ``history``) whose weights early stopping
    #: restores; None when the last call did not validate
    best_epoch: int | None = None
    no_improvement_count: int = 0
    history: list = field(default_factory=list)
    #: weight averaging: the average, and the raw weights training continues from
    average: np.ndarray | None = None
    raw_theta: np.ndarray | None = None
    snapshots: list = field(default_factory=list)

    def copy(self):
        """A copy that training may change without touching this one."""
        return Progress(
            average=None if self.average is None else self.average.copy(),
            raw_theta=None if self.raw_theta is None else self.raw_theta.copy(),
            snapshots=list(self.snapshots),
            optimizer=None if self.optimizer is None else self.optimizer.copy(),
            lr=self.lr,
            epoch=self.epoch,
            t=self.t,
            loss_curve=list(self.loss_curve),
            validation_scores=(
                None if self.validation_scores is None else list(self.validation_scores)
            ),
            best_loss=self.best_loss,
            best_validation_score=self.best_validation_score,
            best_epoch=self.best_epoch,
            no_improvement_count=self.no_improvement_count,
            history=list(self.history),
        )


@dataclass
class Strategy:
    """Training strategies acting on the updates (the kernels get them in
    ``records.Settings``)."""

    clip_grad_norm: float = 0.0
    average_start: int = -1  # first optimizer step averaged after; -1: no averaging
    average_decay: float = 0.0  # 0: Polyak (uniform); else exponential decay
    frozen_layers: int = 0


@dataclass
class _Checkpoint:
    """The epoch loop's state at the end of an epoch (``StochasticLoop._checkpoint``)."""

    theta: np.ndarray
    progress: Progress
    rng: dict
    n_iter: int
    listeners: list


@dataclass
class TrainSet:
    """Training rows plus the buffers the compiled loop gathers batches into."""

    inputs: object  # _network.Inputs
    Y: np.ndarray
    sample_weight: np.ndarray

    @property
    def n_samples(self):
        return self.inputs.n_samples


@dataclass
class ValidationSet:
    """Held-out rows and the function that scores the network's output on them."""

    inputs: object
    Y: np.ndarray
    sample_weight: np.ndarray
    score: object  # callable(output) -> float, higher is better


class StochasticLoop:
    """Runs epochs of a first-order optimizer on the flat parameters ``theta``.

    ``reg`` is the fit's ``Regularization``; ``tangents`` the tangent vectors
    of the training rows, or None; ``curriculum`` a ``_curriculum.Curriculum``
    that chooses each epoch's rows, or None. ``tol``, ``n_iter_no_change`` and
    ``verbose`` configure the standard listeners (``_listeners``), which come
    around the caller's ``listeners``.
    """

    def __init__(
        self, *, network, theta, train, validation, progress, schedule, lr_init,
        reg, batch_size, shuffle, rng, tol, n_iter_no_change, verbose,
        tangents=None, listeners=(), strategy=None, curriculum=None,
    ):
        self.network = network
        self.theta = theta
        self.train = train
        self.validation = validation
        self.progress = progress
        self.schedule = schedule
        self.lr_init = lr_init
        self.reg = reg
        self.strategy = strategy or Strategy()
        self.tangents = tangents if reg.tangent_prop > 0 else None
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = rng
        self.curriculum = curriculum
        self.listeners = stochastic_listeners(
            progress, schedule, tol=tol, n_iter_no_change=n_iter_no_change,
            verbose=verbose, validation=validation is not None, listeners=listeners,
        )
        self.n_iter = 0
        self.interrupted = False  # by a KeyboardInterrupt
        self.epoch_rows = 0  # rows the last epoch trained on (a curriculum may choose fewer)

    def _buffers(self):
        """Per-shard buffers, allocated once per call to ``run``, and the
        epoch's records; a technique that is off gets None (its code is not
        compiled), or empty buffers and zeros for the cheap ones when
        ``_jit.SPECIALISE`` is off."""
        dtype = self.theta.dtype
        network, reg, strategy = self.network, self.reg, self.strategy
        S = self.n_shards
        rows = -(-self.batch_size // S)  # the largest shard of a batch
        inp = self.train.inputs
        n_features = inp.n_features
        perturbed = reg.input_dropout > 0 or reg.input_noise > 0 or reg.adversarial_eps > 0
        dense_cols = 1 if inp.sparse and not perturbed else n_features
        ws = network.workspace(rows, dtype)
        P = network.n_params
        self._shards = Shards(
            Xb=np.empty((S, rows, dense_cols), dtype=dtype),
            Yb=np.empty((S, rows, self.train.Y.shape[1]), dtype=dtype),
            swb=np.empty((S, rows), dtype=dtype),
            acts=np.empty((S, ws.size), dtype=dtype),
            deltas=np.empty((S, ws.size), dtype=dtype),
            a_off=ws.a_off,
            grads=np.empty((S, P), dtype=dtype),
            masks=np.empty((S, ws.size if reg.has_dropout else 0), dtype=dtype),
        )
        averaging = strategy.average_start >= 0
        if averaging and self.progress.average is None:
            self.progress.average = self.theta.copy()
        prior_on = reg.prior is not None and reg.prior_alpha > 0
        self._settings = Settings(
            l2=reg.l2, l1=reg.l1, prior_coef=reg.prior_alpha if prior_on else 0.0,
            max_norm=reg.max_norm, clip_norm=strategy.clip_grad_norm, perturbed=perturbed,
            averaging=averaging, average_start=max(strategy.average_start, 0),
            average_decay=strategy.average_decay, frozen_layers=strategy.frozen_layers,
            frozen=network.frozen_ranges(strategy.frozen_layers),
            seed=np.uint64(self._seed),
        )
        # the cheap options, None when off (see ``_jit.option``)
        self._options = Options(
            drop=option(reg.dropout, reg.has_dropout),
            activity=option(float(reg.activity_l1), reg.activity_l1 > 0),
            input_dropout=option(float(reg.input_dropout), reg.input_dropout > 0),
            input_noise=option(float(reg.input_noise), reg.input_noise > 0),
            l1=option(float(reg.l1), reg.l1 > 0),
            prior=option(reg.prior if prior_on else np.zeros(0, dtype=dtype), prior_on),
            norms=option(np.zeros((network.n_layers, ws.max_units if reg.max_norm > 0 else 0)), reg.max_norm > 0),
            average=option(self.progress.average if averaging else np.zeros(0, dtype=dtype), averaging),
            lookahead=self._lookahead_record(dtype),
            unlabeled=option(int(reg.unlabeled), reg.unlabeled > 0),
            dropconnect=self._dropconnect_record(S, dtype),
        )
        self._layers = self._layer_norms(S)
        # the costly techniques' records, None when off: the kernel's
        # specialisation without them does not compile their code
        self._techniques = Techniques(
            weight_noise=(
                WeightNoise(reg.weight_noise, np.empty(P, dtype=dtype))
                if reg.weight_noise > 0 else None
            ),
            adversarial=(
                Adversarial(
                    eps=reg.adversarial_eps, steps=int(reg.adversarial_steps), key=np.uint64(0),
                    x_adv=np.empty((S, rows, n_features), dtype=dtype),
                    dx=np.empty((S, rows, n_features), dtype=dtype),
                    grad=np.empty((S, P), dtype=dtype),
                )
                if reg.adversarial_eps > 0 else None
            ),
            tangent=self._tangent_record(rows, S, dtype),
            batch_norm=(
                BatchNorm(
                    offsets=network.bn_off, xhat=np.empty((S, ws.size), dtype=dtype),
                    inv=np.empty((S, network.n_hidden_units), dtype=dtype),
                    target=np.empty((S, 0), dtype=dtype),  # each shard's is theta
                    momentum=BATCH_NORM_MOMENTUM,
                    stats=np.empty((S, 4 * ws.max_units)),  # per-unit sums (batchnorm)
                )
                if network.batch_norm else None
            ),
            contractive=contractive_record(network, reg.contractive, rows, dtype, copies=S),
        )
        self._probe_record = self._probe(ws, rows, S, dtype)
        self._shared = Shared(
            sync=np.zeros(N_COUNTERS, dtype=np.int64),  # claimed/done, per phase
            acc=np.zeros(S),
            norm_parts=np.zeros(S),
        )
        self._order = np.arange(self.train.n_samples, dtype=np.int64)
        T = self.tangents if self.tangents is not None else no_tangents(inp.n_samples, dtype)
        self._epoch = Epoch(
            X=inp.dense, csr=inp.csr, sparse=inp.sparse, Y=self.train.Y,
            sw=self.train.sample_weight, T=T, order=self._order, shuffled=self.shuffle,
            batch_size=self.batch_size,
        )

    def _dropconnect_record(self, S, dtype):
        """DropConnect's rate and per-shard masked weights (a cheap option:
        None when off, or rate 0 and empty buffers when ``_jit.SPECIALISE``
        is off)."""
        on = self.reg.dropconnect > 0
        P, n_weights = (self.network.n_params, self.network.n_weights) if on else (0, 0)
        return option(
            DropConnect(
                self.reg.dropconnect, np.empty((S, P), dtype=dtype),
                np.empty((S, n_weights), dtype=dtype),
            ),
            on,
        )

    def _lookahead_record(self, dtype):
        """Lookahead's slow weights and schedule (a cheap option: None when
        off, or ``k`` 0 when ``_jit.SPECIALISE`` is off)."""
        opt = self.progress.optimizer
        on = opt.lookahead is not None
        k, alpha = opt.lookahead if on else (0, 1.0)
        slow = opt.slow if on else np.zeros(0, dtype=dtype)
        return option(LookaheadWeights(slow, int(k), float(alpha)), on)

    def _layer_norms(self, S):
        """A layer-wise optimizer's (LAMB's) ``LayerNorms``: each layer's
        segments of ``theta`` and the ranges' shares of its norms; None for
        the others (no segments when ``_jit.SPECIALISE`` is off)."""
        on = self.progress.optimizer.layerwise
        segments = self.network.layer_segments() if on else np.zeros((0, 3), dtype=np.int64)
        parts = np.zeros((S, self.network.n_layers if on else 0, 2))
        return option(LayerNorms(segments, parts), on)

    def _tangent_record(self, rows, S, dtype):
        """The shards' stacked ``Tangent``, or None without tangent
        propagation."""
        if self.tangents is None:
            return None
        n_t = self.tangents.shape[1]
        gathered = np.empty((S, rows * n_t, self.train.inputs.n_features), dtype=dtype)
        return tangent_record(self.network, self.reg.tangent_prop, gathered, rows, n_t, copies=S)

    def _probe(self, ws, rows, S, dtype):
        """AdaHessian's stacked ``Probe``, or None for other optimizers."""
        if not self.progress.optimizer.needs_hessian:
            return None
        P = self.network.n_params
        return Probe(
            z=np.empty(P, dtype=dtype), hz=np.empty((S, P), dtype=dtype),
            rz=np.empty((S, ws.size), dtype=dtype), ra=np.empty((S, ws.size), dtype=dtype),
            rd=np.empty((S, ws.size), dtype=dtype),
            scratch=np.empty((S, rows * ws.max_units), dtype=dtype),
            gtmp=np.empty((S, self.network.largest_weight_matrix), dtype=dtype),
        )

    def _epoch_call(self, epoch, lr):
        opt = self.progress.optimizer
        self._shared.acc[:] = 0
        self._shared.sync[:] = 0
        step = OptimizerStep(
            code=kernel_code(opt.code), state=opt.state, hyper=opt.hyper, lr=lr,
            n_weights=self.network.n_weights, first_step=int(opt.counters[0]),
            layers=self._layers,
        )
        loss, steps = train_epoch(
            self.n_workers, self.theta, self.layout, epoch, self._shards, step,
            self._settings, self._options, self._techniques, self._probe_record, self._shared,
        )
        opt.counters[0] += steps
        return loss

    def _run_epoch(self, lr):
        """One epoch; returns its loss (``epoch_rows`` is then the number of
        rows it trained on)."""
        if self.shuffle:
            self.rng.shuffle(self._order)
        order, epoch = self._order, self._epoch
        if self.curriculum is not None:
            # the curriculum's rows, in the epoch's order, gathered by the kernel
            with blas_threads(self.n_workers):  # its pass over the rows runs alone
                order = self.curriculum.rows(self.n_iter, self._order, self.theta)
            if order is not self._order:
                epoch = epoch._replace(order=order, shuffled=True)
        self.epoch_rows = order.shape[0]
        if self.reg.augment is None:
            return self._epoch_call(epoch, lr)
        return self._augmented_epoch(lr, order)

    def _augmented_epoch(self, lr, order):
        """The batches of the rows ``order`` in Python, each passed through
        ``augment`` and then trained on by the compiled step (one call per
        batch)."""
        X = self.train.inputs.matrix
        Y, sw, T = self.train.Y, self.train.sample_weight, self._epoch.T
        n = order.shape[0]
        total = 0.0
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            X_batch = X[rows]
            if sp.issparse(X_batch):
                X_batch = X_batch.toarray()
            X_batch = check_augmented(self.reg.augment(X_batch, self.rng), X_batch)
            nb = X_batch.shape[0]
            epoch = Epoch(
                X=X_batch, csr=self._empty_csr, sparse=False, Y=Y[rows], sw=sw[rows],
                T=T[rows] if T.shape[1] else T[:nb], order=np.arange(nb, dtype=np.int64),
                shuffled=False, batch_size=nb,
            )
            total += nb * self._epoch_call(epoch, lr)
        return total / n

    @property
    def averaging(self):
        return self.strategy.average_start >= 0

    def model_theta(self):
        """The parameters of the model being trained: the weight average once
        it has started, else the weights themselves."""
        if self.averaging and self.progress.optimizer.counters[0] > self.strategy.average_start:
            return self.progress.average
        return self.theta

    def _validate(self, record):
        val = self.validation
        with blas_threads(self.n_workers):  # alone, between two epochs
            raw = self.network.predict(self.model_theta(), val.inputs, link=False)
        record["val_loss"] = self.network.loss_value(raw, val.Y, val.sample_weight)
        record["val_score"] = float(val.score(self.network.activate(raw)))

    def prepare(self, n_shards=None, n_workers=None):
        """Split batches into ``n_shards`` for ``n_workers`` threads (by
        default what the machine and the batch size call for), allocate the
        buffers and draw the call's seed."""
        # batch statistics are those of the whole batch: one shard
        self.n_shards = 1 if self.network.batch_norm else n_shards or engine_shards(self.batch_size)
        self.n_workers = n_workers or engine_workers(self.n_shards)
        dtype = self.theta.dtype
        self._empty_csr = no_csr(dtype)
        self.layout = self.network.layout()
        # one seed for the call: the kernels key every random number by it and
        # the optimizer's step, which no two steps share. Drawn before any
        # shuffle, it does not depend on the number of rows, so AdaHessian's
        # probes are the same for weighted rows as for repeated ones.
        self._seed = self.rng.integers(np.iinfo(np.int64).max)
        self._buffers()

    def run(self, max_epochs, incremental):
        """Train for up to ``max_epochs`` epochs (one when ``incremental``)."""
        self.prepare()
        with single_threaded_blas(self.n_workers > 1):
            return self._run(max_epochs, incremental)

    def _announce(self, event):
        for listener in self.listeners:
            getattr(listener, event)(self)

    def _checkpoint(self):
        """The loop's state now, at the end of an epoch (or before the first):
        what a ``KeyboardInterrupt`` rewinds to (``_rewind``)."""
        return _Checkpoint(
            theta=self.theta.copy(), progress=self.progress.copy(),
            rng=self.rng.bit_generator.state, n_iter=self.n_iter,
            listeners=[listener.checkpoint() for listener in self.listeners],
        )

    def _rewind(self, saved):
        np.copyto(self.theta, saved.theta)
        vars(self.progress).update(vars(saved.progress))
        self.rng.bit_generator.state = saved.rng
        self.n_iter = saved.n_iter
        for listener, state in zip(self.listeners, saved.listeners):
            listener.rewind(state)

    def _run(self, max_epochs, incremental):
        """The epochs. A ``KeyboardInterrupt`` stops them and rewinds to the
        end of the last epoch that every listener heard (weights, optimizer
        state, history, counters and random generator agree), as
        scikit-learn's MLP keeps what it trained; it propagates if no epoch
        was completed."""
        progress = self.progress
        self._announce("on_fit_begin")
        saved = self._checkpoint()
        try:
            for _ in range(max_epochs):
                self._announce("on_epoch_begin")
                started = time.perf_counter()
                lr = self.schedule.rate(
                    self.lr_init, progress.lr, progress.epoch, progress.t
                )
                progress.lr = lr
                self.epoch_rows = self.train.n_samples  # a curriculum may choose fewer
                loss = self._run_epoch(lr)
                n_rows = self.epoch_rows
                progress.epoch += 1
                progress.t += n_rows
                self.n_iter += 1
                record = {"epoch": len(progress.history) + 1, "loss": loss}
                if self.curriculum is not None:
                    record["curriculum_rows"] = n_rows
                    record["curriculum_growing"] = n_rows < self.train.n_samples
                if self.validation is not None:
                    self._validate(record)
                record["learning_rate"] = lr
                record["seconds"] = time.perf_counter() - started
                stop = False
                for listener in self.listeners:
                    stop |= bool(listener.on_epoch_end(self, record))
                if stop or incremental:
                    break
                saved = self._checkpoint()
                if self.n_iter == max_epochs:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({max_epochs}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=2,
                    )
        except KeyboardInterrupt:
            self._rewind(saved)
            if self.n_iter == 0:
                raise
            self.interrupted = True
        self._finish()
        return self.n_iter

    def _finish(self):
        """Leave the model's parameters in ``theta``: the average when
        averaging, whose raw weights training continues from are then kept in
        ``progress.raw_theta``; then ``on_fit_end``, where early stopping puts
        back the best epoch's weights."""
        model = self.model_theta()
        if self.averaging:
            self.progress.raw_theta = self.theta.copy()
        else:
            self.progress.raw_theta = self.progress.average = None
        if model is not self.theta:
            np.copyto(self.theta, model)
        self._announce("on_fit_end")


def check_augmented(X_new, X_batch):
    """``augment``'s output, checked: an array of the batch's shape."""
    try:
        X_new = np.asarray(X_new)
    except Exception as exc:  # noqa: BLE001 (what the user's callable returns)
        raise TypeError(f"augment must return an array, got {type(X_new).__name__}: {exc}") from None
    if X_new.shape != X_batch.shape:
        raise ValueError(
            f"augment must return an array of the batch's shape {X_batch.shape} (the "
            f"targets of these rows are kept), got shape {X_new.shape}."
        )
    if X_new.dtype.kind not in "fiub":
        raise TypeError(f"augment must return numbers, got dtype {X_new.dtype}.")
    X_new = np.ascontiguousarray(X_new, dtype=X_batch.dtype)
    if not np.all(np.isfinite(X_new)):
        raise ValueError("augment returned NaN or infinite values.")
    return X_new


def run_full_batch(
    solver, objective, theta, *, max_iter, max_fun, tol, verbose, progress,
    listeners=(), l1=0.0, n_weights=0, free=None, blocks=None,
):
    """Minimise ``objective`` with a scipy-based solver; one history record per
    iteration, announced to ``History`` and then to ``listeners`` as the epoch
    loop announces its epochs (``loop`` is None). Returns scipy's result and
    whether a listener stopped it. After a ``KeyboardInterrupt`` the result
    is that of the last iteration every listener heard, with
    ``interrupted=True`` (see ``optim.minimize``)."""
    listeners = [History(progress), *listeners]
    started = [time.perf_counter()]
    stopped = []

    def on_iteration(loss):
        record = {"epoch": len(progress.history) + 1, "loss": float(loss)}
        record["evaluations"] = objective.n_evaluations
        record["seconds"] = time.perf_counter() - started[0]
        started[0] = time.perf_counter()
        kept = len(progress.history), len(progress.loss_curve)
        try:
            for listener in listeners:  # scipy reports an iteration once it is done
                listener.on_epoch_begin(None)
            stop = False
            for listener in listeners:
                stop |= bool(listener.on_epoch_end(None, record))
        except KeyboardInterrupt:  # minimize goes back to the previous iteration
            del progress.history[kept[0]:], progress.loss_curve[kept[1]:]
            raise
        if stop:
            stopped.append(True)
            raise StopIteration

    for listener in listeners:
        listener.on_fit_begin(None)
    result = minimize(
        solver, objective, theta, max_iter=max_iter, max_fun=max_fun, tol=tol,
        verbose=verbose, callback=on_iteration, l1=l1, n_weights=n_weights, free=free,
        blocks=blocks,
    )
    for listener in listeners:
        listener.on_fit_end(None)
    return result, bool(stopped)
