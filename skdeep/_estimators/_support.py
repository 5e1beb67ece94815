"""Plumbing shared by the estimators: parameter storage, transactional fits,
random generators and the bridge to scikit-learn's callbacks."""

import sys
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_random_state

from .._listeners import Listener

#: attributes owned by scikit-learn's callback machinery, left alone on rollback
_CALLBACK_KEYS = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@contextmanager
def rollback_on_error(estimator):
    """Restore the estimator's attributes if the block raises.

    A shallow snapshot is enough because training never changes an array the
    estimator already holds: it works on copies and assigns them at the end.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        kept = {k: estimator.__dict__[k] for k in _CALLBACK_KEYS if k in estimator.__dict__}
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        estimator.__dict__.update(kept)
        raise


@contextmanager
def naming(argument):
    """Put ``argument``'s name in front of a ValueError raised in the block.

    scikit-learn's validation names the input it was given (``X``, ``y``,
    ``sample_weight``), not the argument of ``fit`` it came from (``X_val``,
    ``y_val``, ``sample_weight_val``), which is valid under those names.
    """
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{argument}: {exc}") from exc


def store_parameters(estimator, arguments):
    """The body of the estimators' ``__init__``: store every argument under
    its own name, nothing else (scikit-learn's contract). The explicit
    signatures stay in the classes, where ``get_params`` reads them."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def generator(random_state):
    """One ``numpy.random.Generator`` per fit, seeded from ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


class SklearnCallbacks(Listener):
    """Bridges the training loop's events to scikit-learn's callback protocol
    (``sklearn.callback``): one subtask per epoch (or solver iteration). The
    fit task spans every run of ``n_init``, so the estimator begins and ends
    it (``begin_fit``, ``end_fit``), not the loop's ``on_fit_*`` events."""

    def __init__(self, estimator, context, X, y, metadata, reconstruct):
        self.estimator = estimator
        self.context = context
        self.X, self.y, self.metadata = X, y, metadata
        self.reconstruct = reconstruct
        self.current = None
        self.epochs = 0  # epoch tasks run, over every run of n_init
        self.stopped_by_callback = False

    def _hook_arguments(self):
        return dict(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=self.reconstruct,
        )

    def begin_fit(self):
        self.context.call_on_fit_task_begin(**self._hook_arguments())

    def end_fit(self):
        self.context.call_on_fit_task_end(**self._hook_arguments())
        self.report_early_end()

    def report_early_end(self):
        """Say on stderr why training ended before ``max_iter`` epochs, when
        a ``ProgressBar`` draws the fit: its bar counts ``max_iter`` epochs
        (per run of ``n_init``) and jumps to 100% when the fit ends, which
        alone does not tell an early stop from a finished budget."""
        from sklearn.callback import ProgressBar

        estimator = self.estimator
        callbacks = getattr(estimator, "_skl_callbacks", [])
        budget = self.context.max_subtasks
        if not any(isinstance(c, ProgressBar) for c in callbacks) or self.epochs >= budget:
            return
        name = type(estimator).__name__
        ran = f"after {self.epochs} of max_iter={estimator.max_iter} epochs"
        if budget > estimator.max_iter:
            ran = f"after {self.epochs} epochs in all, of up to {budget} ({estimator.n_init} runs)"
        if self.stopped_by_callback:
            why = "a callback asked to stop"
        elif not hasattr(estimator, "n_evaluations_"):  # a stochastic solver
            monitored = "validation score" if estimator.best_epoch_ is not None else "training loss"
            why = (
                f"the {monitored} did not improve by tol={estimator.tol} for "
                f"n_iter_no_change={estimator.n_iter_no_change} epochs"
            )
        else:
            why = "the solver converged"
        message = f"{name}: training stopped early, {ran}: {why}"
        if estimator.best_epoch_ is not None:
            message += f"; the weights of epoch {estimator.best_epoch_} (best_epoch_) are restored"
        print(message + ".", file=sys.stderr)

    def on_epoch_begin(self, loop):
        self.current = self.context.subcontext(task_name="epoch")
        self.current.call_on_fit_task_begin(**self._hook_arguments())

    def on_epoch_end(self, loop, record):
        stop = self.current.call_on_fit_task_end(**self._hook_arguments())
        self.current = None
        self.epochs += 1
        self.stopped_by_callback |= bool(stop)
        return stop
