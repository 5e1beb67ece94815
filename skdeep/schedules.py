"""Learning-rate schedules.

A schedule is a small object with ``get_params``/``set_params`` (it derives from
scikit-learn's ``BaseEstimator``), so ``GridSearchCV`` can tune its parameters
through the estimator, e.g. ``{"learning_rate__power_t": [0.25, 0.5]}``.

Schedules are stateless: the training loop carries the current rate and asks the
schedule for the next one. Two hooks:

``rate(lr_init, lr, epoch, t)``
    the learning rate for epoch ``epoch`` (0-based, counted over the whole
    training, ``partial_fit`` calls included), given the initial rate, the rate
    of the previous epoch and ``t``, the number of samples seen so far.
``on_plateau(lr)``
    called when the loss (or validation score) has not improved by ``tol`` for
    ``n_iter_no_change`` epochs: return a new rate to keep training, or
    ``None`` to stop.

The strings scikit-learn accepts (``"constant"``, ``"invscaling"``,
``"adaptive"``) keep scikit-learn's meaning, including that only ``solver="sgd"``
uses them. Passing a schedule object applies it to any first-order solver.
"""

from numbers import Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = ["Adaptive", "Constant", "InvScaling", "Schedule"]


class Schedule(BaseEstimator):
    """Base class: a constant rate that stops training at a plateau."""

    _parameter_constraints: dict = {}

    def rate(self, lr_init, lr, epoch, t):
        return lr

    def on_plateau(self, lr):
        return None

    def _validate(self):
        self._validate_params()


class Constant(Schedule):
    """Constant learning rate ``learning_rate_init``."""

    def rate(self, lr_init, lr, epoch, t):
        return lr_init


class InvScaling(Schedule):
    """``lr = learning_rate_init / (t + 1) ** power_t`` with ``t`` the number of
    samples seen before the epoch (scikit-learn's ``"invscaling"``).

    Parameters
    ----------
    power_t : float, default=0.5
        The exponent.
    """

    _parameter_constraints: dict = {"power_t": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, power_t=0.5):
        self.power_t = power_t

    def rate(self, lr_init, lr, epoch, t):
        if epoch == 0:
            return lr_init
        return lr_init / (t + 1) ** self.power_t


class Adaptive(Schedule):
    """Keep the rate while training improves; divide it by ``factor`` at each
    plateau, and stop once it falls to ``min_lr`` (scikit-learn's
    ``"adaptive"``).

    Parameters
    ----------
    factor : float, default=5.0
        Divisor applied at each plateau.
    min_lr : float, default=1e-6
        Training stops at a plateau once the rate is at or below this value.
    """

    _parameter_constraints: dict = {
        "factor": [Interval(Real, 1, None, closed="neither")],
        "min_lr": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, factor=5.0, min_lr=1e-6):
        self.factor = factor
        self.min_lr = min_lr

    def on_plateau(self, lr):
        if lr <= self.min_lr:
            return None
        return lr / self.factor


#: scikit-learn's string names -> a schedule built from the estimator
SCHEDULES = {
    "constant": lambda est: Constant(),
    "invscaling": lambda est: InvScaling(power_t=est.power_t),
    "adaptive": lambda est: Adaptive(),
}


def resolve_schedule(est):
    """The schedule the estimator's ``learning_rate`` asks for, or a constant
    rate when scikit-learn would ignore it (a named schedule with a solver other
    than ``"sgd"``)."""
    lr = est.learning_rate
    if isinstance(lr, Schedule):
        lr._validate()
        return lr
    if est.solver != "sgd":
        return Constant()
    return SCHEDULES[lr](est)
