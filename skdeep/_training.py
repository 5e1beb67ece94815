"""The epoch loop of the first-order solvers, and the full-batch driver.

One loop for every first-order solver. It runs compiled epochs, appends one
record per epoch to the history and announces two events to its listeners:
``on_epoch_begin(loop)`` and ``on_epoch_end(loop, record)``; a listener returns
``True`` from ``on_epoch_end`` to ask the loop to stop. Early stopping,
progress output and scikit-learn's callbacks are such listeners: they read the
record, never each other.

Whatever must survive between ``partial_fit`` calls lives in ``Progress``.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._kernels.training import train_epoch
from ._threads import engine_shards, engine_workers, single_threaded_blas
from .optim import OptimizerState, minimize


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
    no_improvement_count: int = 0
    history: list = field(default_factory=list)

    def copy(self):
        """A copy that training may change without touching this one."""
        return Progress(
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
            no_improvement_count=self.no_improvement_count,
            history=list(self.history),
        )


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


class ImprovementTracker:
    """scikit-learn's stopping rule: count epochs whose training loss (or
    validation score) did not improve on the best by at least ``tol``."""

    def __init__(self, tol, n_iter_no_change, use_validation):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.use_validation = use_validation

    def update(self, progress, record):
        """Update the count and the best value from this epoch's record.

        Returns ``(plateau, new_best)``: whether the count now exceeds
        ``n_iter_no_change``, and whether this epoch has the best validation
        score so far (its weights are the ones early stopping restores).
        """
        new_best = False
        if self.use_validation:
            score = record["val_score"]
            progress.validation_scores.append(score)
            if score < progress.best_validation_score + self.tol:
                progress.no_improvement_count += 1
            else:
                progress.no_improvement_count = 0
            if score > progress.best_validation_score:
                progress.best_validation_score = score
                new_best = True
        else:
            loss = record["loss"]
            if loss > progress.best_loss - self.tol:
                progress.no_improvement_count += 1
            else:
                progress.no_improvement_count = 0
            if loss < progress.best_loss:
                progress.best_loss = loss
        return progress.no_improvement_count > self.n_iter_no_change, new_best

    def plateau_message(self):
        if self.use_validation:
            what = "Validation score did not improve more than"
        else:
            what = "Training loss did not improve more than"
        return f"{what} tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."


class VerbosePrinter:
    """Progress lines in scikit-learn's format."""

    def on_epoch_begin(self, loop):
        pass

    def on_epoch_end(self, loop, record):
        print(f"Iteration {record['epoch']}, loss = {record['loss']:.8f}")
        if "val_score" in record:
            print(f"Validation score: {record['val_score']:f}")
        return False


class StochasticLoop:
    """Runs epochs of a first-order optimizer on the flat parameters ``theta``."""

    def __init__(
        self, *, network, theta, train, validation, progress, schedule, lr_init,
        alpha, batch_size, shuffle, rng, tol, n_iter_no_change, verbose,
        listeners=(),
    ):
        self.network = network
        self.theta = theta
        self.train = train
        self.validation = validation
        self.progress = progress
        self.schedule = schedule
        self.lr_init = lr_init
        self.alpha = alpha
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = rng
        self.verbose = verbose
        self.tracker = ImprovementTracker(tol, n_iter_no_change, validation is not None)
        self.listeners = list(listeners)
        if verbose:
            self.listeners.insert(0, VerbosePrinter())
        self.n_iter = 0
        self.best_theta = theta.copy() if validation is not None else None

    def _buffers(self):
        """Per-shard buffers, allocated once per call to ``run``."""
        dtype = self.theta.dtype
        n_shards = self.n_shards
        rows = -(-self.batch_size // n_shards)  # the largest shard of a batch
        dense_cols = 1 if self.train.inputs.sparse else self.train.inputs.n_features
        ws = self.network.workspace(rows, dtype)
        self._bufs = (
            np.empty((n_shards, rows, dense_cols), dtype=dtype),
            np.empty((n_shards, rows, self.train.Y.shape[1]), dtype=dtype),
            np.empty((n_shards, rows), dtype=dtype),
            np.empty((n_shards, ws.acts.shape[0]), dtype=dtype),
            np.empty((n_shards, ws.deltas.shape[0]), dtype=dtype),
            ws.a_off,
            np.empty((n_shards, self.network.n_params), dtype=dtype),
        )
        self._sync = np.zeros(4, dtype=np.int64)  # claimed/done, per phase
        self._acc = np.zeros(n_shards)
        self._steps = np.zeros(self.n_workers, dtype=np.int64)
        self._order = np.arange(self.train.n_samples, dtype=np.int64)
        inp = self.train.inputs
        self._data = (inp.dense, *inp.csr, inp.sparse, self.train.Y, self.train.sample_weight)

    def _run_epoch(self, lr):
        if self.shuffle:
            self.rng.shuffle(self._order)
        opt = self.progress.optimizer
        self._acc[:] = 0
        self._sync[:] = 0
        loss, steps = train_epoch(
            self.n_workers, self.theta, *self.network.spec(), *self._data,
            self._order, self.shuffle, self.batch_size, *self._bufs,
            opt.code, opt.state, opt.hyper, lr, self.alpha, self.network.n_weights,
            int(opt.counters[0]), self._sync, self._acc, self._steps,
        )
        opt.counters[0] += steps
        return loss

    def _validate(self, record):
        val = self.validation
        raw = self.network.predict_raw(self.theta, val.inputs)
        record["val_loss"] = self.network.loss_value(raw, val.Y, val.sample_weight)
        record["val_score"] = float(val.score(self.network.activate(raw)))

    def run(self, max_epochs, incremental):
        """Train for up to ``max_epochs`` epochs (one when ``incremental``)."""
        self.n_shards = engine_shards(self.batch_size)
        self.n_workers = engine_workers(self.n_shards)
        self._buffers()
        with single_threaded_blas(self.n_workers > 1):
            return self._run(max_epochs, incremental)

    def _run(self, max_epochs, incremental):
        progress = self.progress
        try:
            for _ in range(max_epochs):
                for listener in self.listeners:
                    listener.on_epoch_begin(self)
                started = time.perf_counter()
                lr = self.schedule.rate(
                    self.lr_init, progress.lr, progress.epoch, progress.t
                )
                progress.lr = lr
                loss = self._run_epoch(lr)
                progress.epoch += 1
                progress.t += self.train.n_samples
                self.n_iter += 1
                progress.loss_curve.append(loss)
                record = {"epoch": len(progress.history) + 1, "loss": loss}
                if self.validation is not None:
                    self._validate(record)
                record["learning_rate"] = lr
                record["seconds"] = time.perf_counter() - started
                progress.history.append(record)
                stop = False
                for listener in self.listeners:
                    stop |= bool(listener.on_epoch_end(self, record))
                plateau, new_best = self.tracker.update(progress, record)
                if new_best:
                    np.copyto(self.best_theta, self.theta)
                if plateau:
                    message = self.tracker.plateau_message()
                    new_lr = self.schedule.on_plateau(progress.lr)
                    if new_lr is None:
                        if self.verbose:
                            print(message + " Stopping.")
                        break
                    if self.verbose:
                        print(f"{message} Setting learning rate to {new_lr:f}")
                    progress.lr = new_lr
                    progress.no_improvement_count = 0
                if stop or incremental:
                    break
                if self.n_iter == max_epochs:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({max_epochs}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=2,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=2)
        if self.validation is not None:
            np.copyto(self.theta, self.best_theta)  # restore the best weights
        return self.n_iter


def run_full_batch(
    solver, objective, theta, *, max_iter, max_fun, tol, verbose, progress,
    listeners=(),
):
    """Minimise ``objective`` with a scipy-based solver; one history record per
    iteration. Returns scipy's result and whether a listener stopped it."""
    started = [time.perf_counter()]
    stopped = []

    def on_iteration(theta_now, loss):
        record = {"epoch": len(progress.history) + 1, "loss": float(loss)}
        record["seconds"] = time.perf_counter() - started[0]
        started[0] = time.perf_counter()
        progress.history.append(record)
        progress.loss_curve.append(float(loss))
        stop = False
        for listener in listeners:
            stop |= bool(listener.on_epoch_end(None, record))
        if stop:
            stopped.append(True)
            raise StopIteration

    result = minimize(
        solver, objective, theta, max_iter=max_iter, max_fun=max_fun, tol=tol,
        verbose=verbose, callback=on_iteration,
    )
    return result, bool(stopped)
