"""Learning-rate schedules.

A schedule is a small object with ``get_params``/``set_params`` (it derives from
scikit-learn's ``BaseEstimator``), so ``GridSearchCV`` can tune its parameters
through the estimator, e.g. ``{"learning_rate__gamma": [0.5, 0.9]}``.

Schedules are stateless: the training loop carries the current rate and asks the
schedule for the next one. Rates change per epoch; the rate of every epoch is
recorded in the estimator's ``history_``. Two hooks:

``rate(lr_init, lr, epoch, t)``
    the learning rate for epoch ``epoch`` (0-based, counted since the optimizer
    started, ``partial_fit`` calls included), given the initial rate, the rate
    of the previous epoch and ``t``, the number of samples seen so far.
``on_plateau(lr)``
    called when the loss (or validation score) has not improved by ``tol`` for
    ``n_iter_no_change`` epochs: return a new rate to keep training, or
    ``None`` to stop.

Schedules whose length is a number of epochs (``Polynomial``, ``Cosine``) read
it from ``total_epochs``, or from the estimator's ``max_iter`` when it is None.
Cyclic schedules (``Cyclic``, ``WarmRestarts``) can keep a snapshot of the
weights at the end of every cycle (``snapshots``) for a snapshot ensemble
(Huang et al., 2017): the estimator then predicts with the average of the
snapshots' outputs.

The strings scikit-learn accepts (``"constant"``, ``"invscaling"``,
``"adaptive"``) keep scikit-learn's meaning, including that only ``solver="sgd"``
uses them. Every other name, and every schedule object, applies to every
first-order solver.
"""

import math
from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = [
    "Adaptive",
    "Constant",
    "Cosine",
    "Cyclic",
    "Exponential",
    "InvScaling",
    "Polynomial",
    "Schedule",
    "Step",
    "WarmRestarts",
]


class Schedule(BaseEstimator):
    """Base class: a constant rate that stops training at a plateau."""

    _parameter_constraints: dict = {}
    #: epochs of the whole run, filled in from ``max_iter`` when a schedule
    #: needs it and was not given one (see ``bind``)
    _epochs = None

    def rate(self, lr_init, lr, epoch, t):
        return lr

    def on_plateau(self, lr):
        return None

    def cycle_end(self, epoch):
        """Whether ``epoch`` (0-based) ends a cycle (snapshot ensembles)."""
        return False

    def _validate(self):
        self._validate_params()

    def bind(self, max_iter):
        """A copy of the schedule that knows the length of the run."""
        bound = self.__class__(**self.get_params())
        total = getattr(self, "total_epochs", None)
        bound._epochs = int(total if total is not None else max_iter)
        return bound


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


class Step(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs:
    ``lr = learning_rate_init * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    step_size : int, default=10
        Epochs between two decays.
    gamma : float, default=0.5
        Decay factor.
    """

    _parameter_constraints: dict = {
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, step_size=10, gamma=0.5):
        self.step_size = step_size
        self.gamma = gamma

    def rate(self, lr_init, lr, epoch, t):
        return lr_init * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """``lr = learning_rate_init * gamma ** epoch``.

    Parameters
    ----------
    gamma : float, default=0.95
        Decay factor per epoch.
    """

    _parameter_constraints: dict = {"gamma": [Interval(Real, 0, 1, closed="right")]}

    def __init__(self, gamma=0.95):
        self.gamma = gamma

    def rate(self, lr_init, lr, epoch, t):
        return lr_init * self.gamma**epoch


class Polynomial(Schedule):
    """Polynomial decay from ``learning_rate_init`` to ``end_lr`` over the run:
    ``lr = (lr_init - end_lr) * (1 - epoch / total) ** power + end_lr``.

    Parameters
    ----------
    power : float, default=1.0
        The exponent (1: linear decay).
    end_lr : float, default=0.0
        The rate reached at the last epoch.
    total_epochs : int or None, default=None
        Length of the decay; None uses the estimator's ``max_iter``.
    """

    _parameter_constraints: dict = {
        "power": [Interval(Real, 0, None, closed="neither")],
        "end_lr": [Interval(Real, 0, None, closed="left")],
        "total_epochs": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, power=1.0, end_lr=0.0, total_epochs=None):
        self.power = power
        self.end_lr = end_lr
        self.total_epochs = total_epochs

    def rate(self, lr_init, lr, epoch, t):
        fraction = min(epoch, self._epochs) / self._epochs
        return (lr_init - self.end_lr) * (1 - fraction) ** self.power + self.end_lr


class Cosine(Schedule):
    """Cosine annealing (Loshchilov & Hutter, 2017) from ``learning_rate_init``
    to ``eta_min`` over the run:
    ``lr = eta_min + (lr_init - eta_min) * (1 + cos(pi * epoch / total)) / 2``.

    Parameters
    ----------
    eta_min : float, default=0.0
        The rate at the end.
    total_epochs : int or None, default=None
        Length of the annealing; None uses the estimator's ``max_iter``.
    """

    _parameter_constraints: dict = {
        "eta_min": [Interval(Real, 0, None, closed="left")],
        "total_epochs": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, eta_min=0.0, total_epochs=None):
        self.eta_min = eta_min
        self.total_epochs = total_epochs

    def rate(self, lr_init, lr, epoch, t):
        fraction = min(epoch, self._epochs) / self._epochs
        return self.eta_min + (lr_init - self.eta_min) * (1 + math.cos(math.pi * fraction)) / 2


class Cyclic(Schedule):
    """Triangular cyclical learning rate (Smith, 2017): from ``base_lr`` up to
    ``learning_rate_init`` over ``step_size`` epochs and back down, repeated.

    Parameters
    ----------
    base_lr : float, default=1e-4
        The lowest rate; ``learning_rate_init`` is the highest.
    step_size : int, default=5
        Epochs of each half cycle.
    snapshots : int, default=0
        Number of cycle ends (lowest rates) whose weights are kept for a
        snapshot ensemble; 0 keeps none.
    """

    _parameter_constraints: dict = {
        "base_lr": [Interval(Real, 0, None, closed="left")],
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "snapshots": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, base_lr=1e-4, step_size=5, snapshots=0):
        self.base_lr = base_lr
        self.step_size = step_size
        self.snapshots = snapshots

    def rate(self, lr_init, lr, epoch, t):
        position = epoch % (2 * self.step_size)
        distance = abs(position - self.step_size) / self.step_size  # 1 at the ends
        return self.base_lr + (lr_init - self.base_lr) * (1 - distance)

    def cycle_end(self, epoch):
        return (epoch + 1) % (2 * self.step_size) == 0


class WarmRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017):
    cycles of ``T_0``, ``T_0 * T_mult``, ... epochs, each annealing from
    ``learning_rate_init`` to ``eta_min``.

    Parameters
    ----------
    T_0 : int, default=10
        Epochs of the first cycle.
    T_mult : int, default=1
        Growth factor of the cycle length.
    eta_min : float, default=0.0
        The rate at the end of every cycle.
    snapshots : int, default=0
        Number of cycle ends whose weights are kept for a snapshot ensemble;
        0 keeps none.
    """

    _parameter_constraints: dict = {
        "T_0": [Interval(Integral, 1, None, closed="left")],
        "T_mult": [Interval(Integral, 1, None, closed="left")],
        "eta_min": [Interval(Real, 0, None, closed="left")],
        "snapshots": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, T_0=10, T_mult=1, eta_min=0.0, snapshots=0):
        self.T_0 = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.snapshots = snapshots

    def _position(self, epoch):
        """``(epoch within its cycle, cycle length)``."""
        length = self.T_0
        while epoch >= length:
            epoch -= length
            length *= self.T_mult
        return epoch, length

    def rate(self, lr_init, lr, epoch, t):
        position, length = self._position(epoch)
        return self.eta_min + (lr_init - self.eta_min) * (1 + math.cos(math.pi * position / length)) / 2

    def cycle_end(self, epoch):
        position, length = self._position(epoch)
        return position == length - 1


#: schedule names -> a schedule built from a fit's configuration (scikit-learn's
#: ``'invscaling'`` reads its flat ``power_t``)
SCHEDULES = {
    "constant": lambda config: Constant(),
    "invscaling": lambda config: InvScaling(power_t=config.power_t),
    "adaptive": lambda config: Adaptive(),
    "step": lambda config: Step(),
    "exponential": lambda config: Exponential(),
    "polynomial": lambda config: Polynomial(),
    "cosine": lambda config: Cosine(),
    "cyclic": lambda config: Cyclic(),
    "warm_restarts": lambda config: WarmRestarts(),
}

#: the names that, as in scikit-learn, only ``solver='sgd'`` follows
SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")


def resolve_schedule(config, sgd):
    """The schedule ``config.learning_rate`` asks for, bound to
    ``config.max_iter``; ``sgd`` tells whether the optimizer is plain SGD. A
    scikit-learn name with another optimizer gives a constant rate, as
    scikit-learn ignores it there."""
    lr = config.learning_rate
    if isinstance(lr, Schedule):
        lr._validate()
        schedule = lr
    elif lr in SKLEARN_SCHEDULES and not sgd:
        schedule = Constant()
    else:
        schedule = SCHEDULES[lr](config)
    return schedule.bind(config.max_iter)
