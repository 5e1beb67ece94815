"""One training run: the split of a validation set, and the drivers of the
stochastic and full-batch solvers.

The estimator's ``fit`` builds the fit's configuration (``FitConfig``) and
prepares the data once, then calls ``train_stochastic`` or
``train_full_batch`` once per run (``n_init`` random restarts) on fresh
parameters and a fresh ``Progress``, and keeps the best run. Everything here
reads the configuration, not the estimator.
"""

import math
import warnings
from functools import partial
from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.optimize import _check_optimize_result

from .._curriculum import Curriculum
from .._listeners import UnlabeledRamp
from .._training import StochasticLoop, Strategy, TrainSet, run_full_batch
from ..optim import SGD
from ..schedules import resolve_schedule


class RunResult(NamedTuple):
    """What a training run reports: its epochs (or solver iterations), its
    final training loss, the full-batch solvers' objective evaluations
    (None for the first-order ones), and whether a ``KeyboardInterrupt``
    stopped it (at the end of a completed epoch or iteration)."""

    n_iter: int
    loss: float
    evaluations: int | None
    interrupted: bool


def split_validation(config, inputs, Y, y, sw, rng, tangents, classifier, difficulty=None):
    """Hold out ``config.validation_fraction`` of the rows, stratified for
    single-output classification (a class of one member is an error, as is a
    binary target's validation set of one row; a multiclass target's
    validation set smaller than its number of classes is drawn without
    stratification, as scikit-learn's MLP draws it). Returns
    ``(inputs, Y, sw, tangents, difficulty)`` of the training rows (the
    curriculum's difficulties, or None) and ``(inputs, Y, y, sw)`` of the
    validation rows. Unlabelled rows of semi-supervised classification
    (encoded target negative) all stay in training: the validation rows are
    drawn from the labelled ones."""
    unlabeled = unlabeled_rows(Y) if classifier else np.zeros(Y.shape[0], dtype=bool)
    indices = np.flatnonzero(~unlabeled)
    seed = int(rng.integers(np.iinfo(np.int32).max))
    stratify = y[indices] if classifier and y.ndim == 1 else None
    if stratify is not None:
        _check_stratifiable(stratify)
    split = dict(test_size=config.validation_fraction, random_state=seed)
    try:
        train_idx, val_idx = train_test_split(indices, stratify=stratify, **split)
    except ValueError as exc:
        if stratify is None:
            raise
        if np.unique(stratify).shape[0] == 2:  # scikit-learn stratifies binary targets too
            raise ValueError(
                f"{exc}: early_stopping=True holds out validation_fraction of the rows, "
                "stratified by class. Increase validation_fraction or the size of "
                "your dataset."
            ) from exc
        # scikit-learn does not stratify multiclass targets: a validation set
        # smaller than the number of classes is drawn without stratification
        train_idx, val_idx = train_test_split(indices, **split)
    if val_idx.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    if unlabeled.any():  # in the original order of the rows
        train_idx = np.sort(np.concatenate([train_idx, np.flatnonzero(unlabeled)]))
    train_tangents = None if tangents is None else np.ascontiguousarray(tangents[train_idx])
    train_difficulty = None if difficulty is None else difficulty[train_idx]
    train = (inputs.take(train_idx), Y[train_idx], sw[train_idx], train_tangents, train_difficulty)
    val = (inputs.take(val_idx), Y[val_idx], y[val_idx], sw[val_idx])
    return train, val


def unlabeled_rows(Y):
    """Which rows of the encoded targets ``Y`` are unlabelled (semi-supervised
    classification writes -1 in their targets; no other target is negative)."""
    return Y[:, 0] < 0


def _check_stratifiable(y):
    """Raise scikit-learn's error (with its wording, which its MLP's tests
    match) when a class of ``y`` has a single member: the stratified
    validation split cannot give it to both sides."""
    classes, counts = np.unique(y, return_counts=True)
    rare = classes[counts < 2]
    if not rare.size:
        return
    if classes.shape[0] == 2:
        # scikit-learn stratifies a binary target by its positive-class
        # indicator, and names the indicator's value
        shown = [str(bool(label == classes[1])) for label in rare]
        which = f" (the class {rare.tolist()[0]!r}, named as scikit-learn names a binary target's)"
    else:
        shown, which = rare.tolist(), ""
    raise ValueError(
        "The least populated classes in y have only 1 member, which is too few. "
        "The minimum number of groups for any class cannot be less than 2. "
        f"Classes with too few members are: {shown}{which}. early_stopping=True "
        "holds out a validation set stratified by class. Give every class at "
        "least 2 members, or set early_stopping=False."
    )


def batch_size(config, n_samples):
    """The mini-batch size: scikit-learn's rule, with its warning."""
    if config.batch_size == "auto":
        return min(200, n_samples)
    if config.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than sample size. It is "
            "going to be clipped",
            stacklevel=3,
        )
    return int(np.clip(config.batch_size, 1, n_samples))


def strategy(config, batch):
    """The kernel's training strategies from the configuration.

    ``average``: True averages every step (Polyak); an int ``N`` starts once
    ``N`` samples have been seen (as ``SGDClassifier``); a float in (0, 1) is
    the decay of an exponential moving average from the first step.
    """
    average = config.average
    start, decay = -1, 0.0
    if average is True or (isinstance(average, Integral) and average >= 1):
        start = 0 if average is True else math.ceil(int(average) / batch) - 1
    elif average is not False:
        start, decay = 0, float(average)
    return Strategy(
        clip_grad_norm=float(config.clip_grad_norm or 0.0),
        average_start=start,
        average_decay=decay,
        frozen_layers=int(config.freeze_layers),
    )


def _curriculum(config, difficulty, network, inputs, Y):
    """The fit's ``Curriculum`` over the training rows, or None without one."""
    if config.curriculum is None:
        return None
    return Curriculum(
        difficulty, config.curriculum_start, config.curriculum_epochs, network, inputs, Y
    )


def train_stochastic(config, network, theta, train, validation, progress, rng, listeners, reg):
    """Run the first-order optimizer of ``config`` on ``train = (inputs, Y,
    sw, tangents, difficulty)``; returns its ``RunResult``."""
    inputs, Y, sw, tangents, difficulty = train
    if reg.unlabeled:  # the unlabelled term's ramp comes before the caller's listeners
        listeners = [UnlabeledRamp(sw, unlabeled_rows(Y), config.unlabeled_rampup), *listeners]
    loop = partial(
        StochasticLoop, train=TrainSet(inputs, Y, sw), tangents=tangents,
        curriculum=_curriculum(config, difficulty, network, inputs, Y),
    )
    return run_stochastic(
        config, network, theta, inputs.n_samples, validation, progress, rng, listeners, reg,
        loop,
    )


def run_stochastic(config, network, theta, n_rows, validation, progress, rng, listeners, reg, make_loop):
    """Run the first-order optimizer of ``config`` in the epoch loop that
    ``make_loop(**settings)`` makes (the in-memory one, or the Dask one,
    whose mini-batches are at most the ``n_rows`` of its smallest
    partition); returns its ``RunResult``."""
    optimizer = config.optimizer
    batch = batch_size(config, n_rows)
    state = progress.optimizer
    lr_init = float(optimizer.initial_rate(config.learning_rate_init))
    if not config.incremental or state is None or not optimizer.continues(state):
        progress.optimizer = optimizer.start(network.n_params, theta.dtype, theta)
        progress.epoch = 0
        progress.lr = lr_init
    else:  # continuing: the same state, the current hyper-parameters
        optimizer.resume(progress.optimizer)
    if validation is not None:
        if progress.validation_scores is None:
            progress.validation_scores = []
        if progress.best_validation_score is None:
            progress.best_validation_score = -np.inf
        progress.best_loss = None
    else:
        progress.best_epoch = None  # no weights restored
        if progress.best_loss is None:
            progress.best_loss = np.inf
    loop = make_loop(
        network=network, theta=theta, validation=validation, progress=progress,
        schedule=resolve_schedule(config, sgd=isinstance(optimizer.base, SGD)),
        lr_init=lr_init, reg=reg, batch_size=batch,
        shuffle=config.shuffle, rng=rng, tol=config.tol,
        n_iter_no_change=config.n_iter_no_change, verbose=config.verbose,
        listeners=listeners, strategy=strategy(config, batch),
    )
    n_iter = loop.run(config.max_iter, config.incremental)
    loss = progress.loss_curve[-1] if progress.loss_curve else np.nan
    return RunResult(n_iter, loss, None, loop.interrupted)


def layer_blocks(network):
    """Each layer's parameters (its weights and biases) as one sorted index
    array into ``theta``: the blocks of ``solver='coordinate'``."""
    segments = network.layer_segments()
    return [
        np.concatenate([np.arange(a, b) for a, b, k in segments if k == layer])
        for layer in range(network.n_layers)
    ]


def train_full_batch(config, network, theta, objective, progress, listeners, reg):
    """Run the full-batch solver of ``config`` on ``objective`` (a
    ``FullBatchObjective``, or its sum over Dask partitions); returns its
    ``RunResult``."""
    solver = config.solver
    k = int(config.freeze_layers)
    free = None
    if k:  # the weights, then the biases, of the layers after the frozen ones
        free = np.concatenate([
            np.arange(network.w_off[k], network.n_weights),
            np.arange(network.b_off[k], network.n_params),
        ])
    result, stopped = run_full_batch(
        solver, objective, theta, max_iter=config.max_iter, max_fun=config.max_fun,
        tol=config.tol, verbose=config.verbose, progress=progress, listeners=listeners,
        l1=reg.l1 * objective.scale, n_weights=network.n_weights, free=free,
        blocks=layer_blocks(network),
    )
    interrupted = bool(result.get("interrupted", False))
    evaluations = objective.n_evaluations
    if interrupted:  # at the last completed iteration, as its record says
        evaluations = progress.history[-1]["evaluations"]
    if stopped or interrupted:  # not a convergence failure
        n_iter = int(result.nit)
    elif solver == "lbfgs":
        n_iter = _check_optimize_result(solver, result, config.max_iter)
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
    progress.t += objective.n_samples * evaluations
    progress.best_loss = min(progress.loss_curve, default=float(result.fun))
    progress.validation_scores = None
    progress.best_validation_score = None
    progress.best_epoch = None
    return RunResult(n_iter, float(result.fun), evaluations, interrupted)
