"""The listeners of the training loop: history, progress output, the stopping
rule with early stopping, and snapshot ensembles.

Both drivers, the epoch loop of the first-order solvers
(``_training.StochasticLoop``) and the full-batch driver
(``_training.run_full_batch``), announce the same four events to a list of
listeners, in list order:

``on_fit_begin(loop)``
    before the first epoch of the call;
``on_epoch_begin(loop)``
    before each epoch (a full-batch solver reports an iteration only once it
    is done, so there the event comes just before ``on_epoch_end``);
``on_epoch_end(loop, record)``
    after each epoch, with its history record (a dict: ``epoch``, ``loss``,
    ``learning_rate``, ``val_loss``, ``val_score``, ``evaluations``,
    ``seconds``, as the solver has them); every listener is told, and the
    driver stops if any returns ``True``;
``on_fit_end(loop)``
    after the last epoch, also when training was interrupted.

A ``KeyboardInterrupt`` rewinds the epoch loop to the end of the last
epoch that every listener heard: a listener whose state an epoch changes
returns that state from ``checkpoint()`` at the end of each epoch and takes
it back in ``rewind(state)``.

``loop`` is the ``StochasticLoop`` (its ``progress``, ``theta``,
``model_theta()`` and ``schedule``), or None from the full-batch driver.
Listeners read the record and the loop, never each other; ``History`` comes
first, so the others see the record already in the history.
"""

import numpy as np


class Listener:
    """Base class of the loop's listeners: every event does nothing."""

    def on_fit_begin(self, loop):
        pass

    def on_epoch_begin(self, loop):
        pass

    def on_epoch_end(self, loop, record):
        """Return True to ask the driver to stop after this epoch."""
        return False

    def on_fit_end(self, loop):
        pass

    def checkpoint(self):
        """This listener's state at the end of an epoch, for ``rewind``."""
        return None

    def rewind(self, state):
        """Go back to the state ``checkpoint`` returned."""


class History(Listener):
    """Appends each record to ``progress.history`` and its loss to
    ``progress.loss_curve`` (scikit-learn's ``loss_curve_``)."""

    def __init__(self, progress):
        self.progress = progress

    def on_epoch_end(self, loop, record):
        self.progress.history.append(record)
        self.progress.loss_curve.append(record["loss"])
        return False


class VerbosePrinter(Listener):
    """Progress lines in scikit-learn's format."""

    def on_epoch_end(self, loop, record):
        print(f"Iteration {record['epoch']}, loss = {record['loss']:.8f}")
        if "val_score" in record:
            print(f"Validation score: {record['val_score']:f}")
        return False


class EarlyStopping(Listener):
    """scikit-learn's stopping rule, and early stopping on a validation set.

    Counts the epochs whose training loss (or, with a validation set, whose
    validation score) did not improve on the best by at least ``tol``. After
    more than ``n_iter_no_change`` of them the schedule is asked for a new
    rate (``on_plateau``, the ``'adaptive'`` schedule's division): training
    continues at that rate, or stops when it has none. With a validation set
    the weights of the best epoch are kept and put back at the end.
    """

    def __init__(self, tol, n_iter_no_change, use_validation, verbose=False):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.use_validation = use_validation
        self.verbose = verbose
        self.best_theta = None

    def on_fit_begin(self, loop):
        if self.use_validation:
            # until an epoch of this call beats the best score so far, the
            # weights kept are the starting ones: those of the epoch the
            # previous call restored, or else of its last epoch
            self.best_theta = loop.theta.copy()
            progress = loop.progress
            if progress.best_epoch is None:
                progress.best_epoch = len(progress.history) or None

    def on_epoch_end(self, loop, record):
        progress = loop.progress
        plateau, new_best = self.update(progress, record)
        if new_best:
            np.copyto(self.best_theta, loop.model_theta())
        if not plateau:
            return False
        message = self.plateau_message()
        new_lr = loop.schedule.on_plateau(progress.lr)
        if new_lr is None:
            if self.verbose:
                print(message + " Stopping.")
            return True
        if self.verbose:
            print(f"{message} Setting learning rate to {new_lr:f}")
        progress.lr = new_lr
        progress.no_improvement_count = 0
        return False

    def on_fit_end(self, loop):
        if self.use_validation:
            np.copyto(loop.theta, self.best_theta)

    def checkpoint(self):
        return None if self.best_theta is None else self.best_theta.copy()

    def rewind(self, state):
        if state is not None:
            np.copyto(self.best_theta, state)

    def update(self, progress, record):
        """Update the count and the best value from this epoch's record.

        Returns ``(plateau, new_best)``: whether the count now exceeds
        ``n_iter_no_change``, and whether this epoch has the best validation
        score so far (its weights are the ones early stopping restores).
        """
        new_best = False
        # while a curriculum grows, its losses are those of easier rows than
        # the next epochs' (and the model has not seen every row): the epoch
        # is not counted, and its training loss is not a best loss
        counted = not record.get("curriculum_growing", False)
        if self.use_validation:
            score = record["val_score"]
            progress.validation_scores.append(score)
            if counted and score < progress.best_validation_score + self.tol:
                progress.no_improvement_count += 1
            elif counted:
                progress.no_improvement_count = 0
            if score > progress.best_validation_score:
                progress.best_validation_score = score
                progress.best_epoch = record["epoch"]
                new_best = True
        elif counted:
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


class SnapshotEnsemble(Listener):
    """Keeps the model's weights at the end of each of the schedule's cycles,
    the last ``schedule.snapshots`` of them (Huang et al., 2017)."""

    def __init__(self, schedule):
        self.schedule = schedule

    def on_epoch_end(self, loop, record):
        progress = loop.progress
        if self.schedule.cycle_end(progress.epoch - 1):
            progress.snapshots.append(loop.model_theta().copy())
            del progress.snapshots[: -self.schedule.snapshots]
        return False


def stochastic_listeners(progress, schedule, *, tol, n_iter_no_change, verbose, validation, listeners=()):
    """The epoch loop's listeners, in the order they hear each event: the
    history, the progress lines, the caller's ``listeners`` (scikit-learn's
    callbacks), the stopping rule, and the snapshots a schedule asks for."""
    chain = [History(progress)]
    if verbose:
        chain.append(VerbosePrinter())
    chain += listeners
    chain.append(EarlyStopping(tol, n_iter_no_change, validation, verbose))
    if getattr(schedule, "snapshots", 0):
        chain.append(SnapshotEnsemble(schedule))
    return chain


class UnlabeledRamp(Listener):
    """The ramp of semi-supervision's unlabelled term (Lee, 2013, ramps its
    coefficient up from 0): before each epoch, the training weights of the
    unlabelled rows are their full weights times ``min(1, t / rampup)``,
    ``t`` the epochs trained so far (the model's history, which
    ``partial_fit`` and ``warm_start`` continue); ``rampup`` 0 gives the full
    weight at once. The compiled loop reads ``weights`` at each batch, so
    the epoch trains with the weights set here.

    Without a validation set, the stopping rule compares training losses,
    which are losses of different objectives while the ramp rises: an epoch
    whose factor is not the previous epoch's starts the rule afresh."""

    def __init__(self, weights, unlabeled, rampup):
        self.weights = weights
        self.rows = np.flatnonzero(unlabeled)
        self.full = weights[self.rows].copy()
        self.rampup = int(rampup)

    def factor(self, epochs):
        """The ramp's factor of the epoch after ``epochs`` epochs."""
        return 1.0 if self.rampup == 0 else min(1.0, epochs / self.rampup)

    def on_epoch_begin(self, loop):
        epochs = len(loop.progress.history)
        factor = self.factor(epochs)
        self.weights[self.rows] = self.full * factor
        if loop.validation is None and epochs > 0 and factor != self.factor(epochs - 1):
            loop.progress.best_loss = np.inf
            loop.progress.no_improvement_count = 0

    def on_fit_end(self, loop):
        self.weights[self.rows] = self.full
