"""One training run: the checks of the optimisation parameters, the split of a
validation set, and the drivers of the stochastic and full-batch solvers.

The estimator's ``fit`` prepares the data once, then calls ``train_stochastic``
or ``train_full_batch`` once per run (``n_init`` random restarts) on fresh
parameters and a fresh ``Progress``, and keeps the best run.
"""

import math
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.optimize import _check_optimize_result

from .._network import FullBatchObjective
from .._training import StochasticLoop, Strategy, TrainSet, run_full_batch
from ..optim import (
    FIRST_ORDER,
    SECOND_ORDER,
    SGD,
    Optimizer,
    check_size,
    resolve_optimizer,
)
from ..schedules import SKLEARN_SCHEDULES, Schedule, resolve_schedule


def solver_name(solver):
    """The solver as it appears in messages."""
    return solver if isinstance(solver, str) else type(solver).__name__


def is_stochastic(solver):
    """Whether ``solver`` (a name or an optimizer object) works on mini-batches."""
    return isinstance(solver, Optimizer) or solver in FIRST_ORDER


def check_optimization(est, network, reg):
    """Raise on optimisation options that do not go together (or with the
    regularisation ``reg``); returns the first-order optimizer object, or None
    for a full-batch solver."""
    solver = est.solver
    name = solver_name(solver)
    optimizer = resolve_optimizer(solver, est) if is_stochastic(solver) else None
    if optimizer is not None:
        optimizer._validate_params()
    else:
        lr = est.learning_rate
        if isinstance(lr, Schedule) or lr not in SKLEARN_SCHEDULES:
            raise ValueError(
                f"learning_rate={lr!r} is a schedule for the stochastic solvers; "
                f"solver={name!r} sets its own step lengths (by line search). "
                "Use a stochastic solver, or leave learning_rate at 'constant'."
            )
        used = [p for p in ("clip_grad_norm", "average", "batch_norm") if getattr(est, p) not in (None, False)]
        if used:
            raise ValueError(
                f"{' and '.join(used)} need{'s' if len(used) == 1 else ''} the mini-batches "
                f"of a stochastic solver; solver={name!r} works on the whole data set. "
                "Use 'sgd', 'adam', ..."
            )
        check_size(solver, network.n_params)
    hessian = solver in SECOND_ORDER or (optimizer is not None and optimizer.needs_hessian)
    if hessian:
        unsupported = ["activity_l1", "tangent_prop"]
        if optimizer is not None:  # the per-batch pass of AdaHessian
            unsupported += ["adversarial_eps"]
        used = [p for p in unsupported if getattr(reg, p) > 0]
        if optimizer is not None and reg.has_dropout:
            used.append("dropout")
        if network.batch_norm:
            used.append("batch_norm")
        if used:
            raise ValueError(
                f"solver={name!r} uses exact Hessian-vector products, which skdeep "
                f"computes for the data term and the weight penalties only, not for "
                f"{', '.join(used)}. Use another solver, or drop {', '.join(used)}."
            )
    if network.batch_norm and reg.tangent_prop > 0:
        raise ValueError(
            "tangent_prop cannot be combined with batch_norm: in training, batch "
            "statistics make each output depend on the whole batch, not on its own "
            "input alone."
        )
    if est.freeze_layers >= network.n_layers:
        raise ValueError(
            f"freeze_layers={est.freeze_layers} would freeze every layer of a network "
            f"with {network.n_layers}: nothing would be trained."
        )
    schedule = est.learning_rate
    if isinstance(schedule, Schedule) and getattr(schedule, "snapshots", 0) and est.early_stopping:
        raise ValueError(
            "A snapshot ensemble (schedule with snapshots > 0) and early_stopping both "
            "choose the weights the model predicts with; use one of them."
        )
    return optimizer


def split_validation(est, inputs, Y, y, sw, rng, tangents):
    """Hold out ``validation_fraction`` of the rows (stratified for
    single-output classification when every class allows it). Returns
    ``(inputs, Y, sw, tangents)`` of the training rows and ``(inputs, Y, y,
    sw)`` of the validation rows."""
    indices = np.arange(Y.shape[0])
    seed = int(rng.integers(np.iinfo(np.int32).max))
    stratify = y if is_classifier(est) and y.ndim == 1 else None
    split = dict(test_size=est.validation_fraction, random_state=seed)
    try:
        train_idx, val_idx = train_test_split(indices, stratify=stratify, **split)
    except ValueError:
        if stratify is None:
            raise
        train_idx, val_idx = train_test_split(indices, **split)
    if val_idx.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    train_tangents = None if tangents is None else np.ascontiguousarray(tangents[train_idx])
    train = (inputs.take(train_idx), Y[train_idx], sw[train_idx], train_tangents)
    val = (inputs.take(val_idx), Y[val_idx], y[val_idx], sw[val_idx])
    return train, val


def batch_size(est, n_samples):
    """The mini-batch size: scikit-learn's rule, with its warning."""
    if est.batch_size == "auto":
        return min(200, n_samples)
    if est.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is "
            "going to be clipped",
            stacklevel=3,
        )
    return int(np.clip(est.batch_size, 1, n_samples))


def strategy(est, batch):
    """The kernel's training strategies from the estimator's parameters.

    ``average``: True averages every step (Polyak); an int ``N`` starts once
    ``N`` samples have been seen (as ``SGDClassifier``); a float in (0, 1) is
    the decay of an exponential moving average from the first step.
    """
    average = est.average
    start, decay = -1, 0.0
    if average is True or (isinstance(average, Integral) and average >= 1):
        start = 0 if average is True else math.ceil(int(average) / batch) - 1
    elif average is not False:
        start, decay = 0, float(average)
    return Strategy(
        clip_grad_norm=float(est.clip_grad_norm or 0.0),
        average_start=start,
        average_decay=decay,
        frozen_layers=int(est.freeze_layers),
    )


def train_stochastic(
    est, optimizer, network, theta, train, validation, progress, rng, incremental,
    listeners, reg,
):
    """Run the first-order ``optimizer`` on ``train = (inputs, Y, sw,
    tangents)``; returns ``(n_iter, loss)``."""
    inputs, Y, sw, tangents = train
    batch = batch_size(est, inputs.n_samples)
    state = progress.optimizer
    if not incremental or state is None or state.code != optimizer.code:
        progress.optimizer = optimizer.start(network.n_params, theta.dtype)
        progress.epoch = 0
        progress.lr = float(est.learning_rate_init)
    else:  # continuing: the same state, the current hyper-parameters
        progress.optimizer.hyper = optimizer.hyper()
    if validation is not None:
        if progress.validation_scores is None:
            progress.validation_scores = []
        if progress.best_validation_score is None:
            progress.best_validation_score = -np.inf
        progress.best_loss = None
    elif progress.best_loss is None:
        progress.best_loss = np.inf
    loop = StochasticLoop(
        network=network, theta=theta, train=TrainSet(inputs, Y, sw),
        validation=validation, progress=progress,
        schedule=resolve_schedule(est, sgd=isinstance(optimizer, SGD)),
        lr_init=float(est.learning_rate_init), reg=reg, batch_size=batch,
        shuffle=est.shuffle, rng=rng, tol=est.tol,
        n_iter_no_change=est.n_iter_no_change, verbose=est.verbose,
        tangents=tangents, listeners=listeners, strategy=strategy(est, batch),
    )
    n_iter = loop.run(est.max_iter, incremental)
    return n_iter, progress.loss_curve[-1] if progress.loss_curve else np.nan


def train_full_batch(est, network, theta, inputs, Y, sw, progress, listeners, reg, tangents):
    """Run the full-batch solver; returns ``(n_iter, loss, n_evaluations)``."""
    solver = est.solver
    objective = FullBatchObjective(network, inputs, Y, sw, reg, tangents)
    k = int(est.freeze_layers)
    free = None
    if k:  # the weights, then the biases, of the layers after the frozen ones
        free = np.concatenate([
            np.arange(network.w_off[k], network.n_weights),
            np.arange(network.b_off[k], network.n_params),
        ])
    result, stopped = run_full_batch(
        solver, objective, theta, max_iter=est.max_iter, max_fun=est.max_fun,
        tol=est.tol, verbose=est.verbose, progress=progress, listeners=listeners,
        l1=reg.l1 * objective.scale, n_weights=network.n_weights, free=free,
    )
    if stopped:  # a callback asked to stop: not a convergence failure
        n_iter = int(result.nit)
    elif solver == "lbfgs":
        n_iter = _check_optimize_result(solver, result, est.max_iter)
    else:
        n_iter = int(result.nit)
        if not result.success:
            warnings.warn(
                f"solver={solver!r} did not converge after {n_iter} iterations and "
                f"{objective.n_evaluations} function evaluations: {result.message} "
                "Increase max_iter (or max_fun), or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )
    progress.t += inputs.n_samples * objective.n_evaluations
    progress.best_loss = min(progress.loss_curve, default=float(result.fun))
    progress.validation_scores = None
    progress.best_validation_score = None
    return n_iter, float(result.fun), objective.n_evaluations
