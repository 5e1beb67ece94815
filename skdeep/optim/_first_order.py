"""First-order optimizers over the flat parameter vector.

An optimizer is a small description: its kernel code and hyper-parameters, as
an object with ``get_params`` (so ``GridSearchCV`` can tune
``solver__rho``). ``hyper`` gives the hyper-parameters as the kernels read
them, a ``records.Hyper``; the code selects the optimizer's kernels and
number of state slots in ``updates.UPDATE_RULES``. ``start`` allocates its
state once per fit as flat arrays, which the compiled epoch updates in place;
continuing training (``partial_fit``) continues the same state.

The estimators accept a name (``solver='rmsprop'``), built from the flat
parameters of the fit's configuration where scikit-learn has them
(``momentum``, ``beta_1``, ``beta_2``, ``epsilon``), or one of these objects.
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from .._kernels import updates
from .._kernels.records import Hyper


@dataclass
class OptimizerState:
    """Everything an optimizer carries from one step to the next."""

    code: int
    state: np.ndarray  # (n_slots, n_params), same dtype as theta
    hyper: Hyper  # the hyper-parameters by name, immutable: replaced, not written
    counters: np.ndarray  # int64; counters[0] is the step count
    needs_hessian: bool = False  # AdaHessian: the epoch gets a Hessian probe

    def copy(self):
        return OptimizerState(
            self.code, self.state.copy(), self.hyper, self.counters.copy(), self.needs_hessian
        )


class Optimizer(BaseEstimator):
    """Base class of the first-order optimizers.

    A subclass sets ``code`` (its entry in ``updates.UPDATE_RULES``, which
    holds its kernels) and returns its hyper-parameters from ``hyper``.
    """

    _parameter_constraints: dict = {}
    code = None
    #: whether the optimizer needs Hessian-vector products
    needs_hessian = False

    @property
    def n_slots(self):
        """Number of rows of the optimizer's state."""
        return updates.UPDATE_RULES[self.code].n_slots

    def hyper(self):
        """The hyper-parameters as the kernels read them: a ``records.Hyper``
        with this optimizer's fields set (as floats, ``nesterov`` a bool, so
        that every value types alike) and the others at their defaults."""
        return Hyper()

    def start(self, n_params, dtype):
        """A fresh state for ``n_params`` parameters of ``dtype``."""
        self._validate_params()
        return OptimizerState(
            self.code,
            np.zeros((self.n_slots, n_params), dtype=dtype),
            self.hyper(),
            np.zeros(1, dtype=np.int64),
            self.needs_hessian,
        )


_UNIT = Interval(Real, 0, 1, closed="left")
_POSITIVE = Interval(Real, 0, None, closed="neither")


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum, as scikit-learn's.
    Its state is the velocity; an L1 penalty soft-thresholds the weights by
    its coefficient times ``lr`` after each step.

    Parameters
    ----------
    momentum : float, default=0.9
        Momentum, in [0, 1].
    nesterov : bool, default=True
        Nesterov's momentum.
    """

    _parameter_constraints: dict = {
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterov": ["boolean"],
    }
    code = updates.SGD

    def __init__(self, momentum=0.9, nesterov=True):
        self.momentum = momentum
        self.nesterov = nesterov

    def hyper(self):
        return Hyper(momentum=float(self.momentum), nesterov=bool(self.nesterov))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), with scikit-learn's placement of epsilon.
    Its state is the two moments; an L1 penalty soft-thresholds each weight
    by its coefficient times the weight's step
    ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) / (sqrt(v) + epsilon)``.

    Parameters
    ----------
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Numerical-stability constant.
    """

    _parameter_constraints: dict = {"beta_1": [_UNIT], "beta_2": [_UNIT], "epsilon": [_POSITIVE]}
    code = updates.ADAM

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def hyper(self):  # weight_decay stays 0: the kernels it shares with AdamW decay nothing
        return Hyper(
            beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon)
        )


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before each
    Adam step the weights (not the biases) shrink by ``lr * weight_decay``. The
    estimator's ``alpha`` penalty still adds to the gradient; set
    ``penalty=None`` for AdamW's decay alone. State and L1 step as Adam's.

    Parameters
    ----------
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the moment estimates.
    epsilon : float, default=1e-8
        Numerical-stability constant.
    weight_decay : float, default=0.01
        The decoupled decay per unit of learning rate.
    """

    _parameter_constraints: dict = {
        "beta_1": [_UNIT], "beta_2": [_UNIT], "epsilon": [_POSITIVE],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }
    code = updates.ADAMW

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay

    def hyper(self):
        return Hyper(
            beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon),
            weight_decay=float(self.weight_decay),
        )


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer, 2011): per-parameter steps
    ``lr / (sqrt(sum of squared gradients) + epsilon)``. Its state is that
    sum; an L1 penalty soft-thresholds each weight by its coefficient times
    the weight's step.

    Parameters
    ----------
    epsilon : float, default=1e-8
        Numerical-stability constant.
    """

    _parameter_constraints: dict = {"epsilon": [_POSITIVE]}
    code = updates.ADAGRAD

    def __init__(self, epsilon=1e-8):
        self.epsilon = epsilon

    def hyper(self):
        return Hyper(epsilon=float(self.epsilon))


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton, 2012): per-parameter steps
    ``lr / (sqrt(moving average of squared gradients) + epsilon)``. Its
    state is that average; an L1 penalty soft-thresholds each weight by its
    coefficient times the weight's step.

    Parameters
    ----------
    rho : float, default=0.9
        Decay of the moving average, in [0, 1).
    epsilon : float, default=1e-8
        Numerical-stability constant.
    """

    _parameter_constraints: dict = {"rho": [_UNIT], "epsilon": [_POSITIVE]}
    code = updates.RMSPROP

    def __init__(self, rho=0.9, epsilon=1e-8):
        self.rho = rho
        self.epsilon = epsilon

    def hyper(self):
        return Hyper(rho=float(self.rho), epsilon=float(self.epsilon))


class AdaHessian(Optimizer):
    """AdaHessian (Yao et al., 2021): Adam whose second moment is that of the
    Hessian's diagonal, estimated at every step by Hutchinson's method
    ``z * (H z)`` with ``H z`` an exact Hessian-vector product and ``z`` random
    signs. Its state is the two moments; an L1 penalty soft-thresholds each
    weight by its coefficient times the weight's step
    ``lr / (1 - beta_1^t) / (sqrt(v / (1 - beta_2^t))^k + epsilon)``.

    Parameters
    ----------
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the gradient and Hessian-diagonal moments.
    epsilon : float, default=1e-4
        Numerical-stability constant (the paper's default).
    hessian_power : float, default=1.0
        Power ``k`` of the denominator ``sqrt(v)^k``, in (0, 1].
    """

    _parameter_constraints: dict = {
        "beta_1": [_UNIT], "beta_2": [_UNIT], "epsilon": [_POSITIVE],
        "hessian_power": [Interval(Real, 0, 1, closed="right")],
    }
    code = updates.ADAHESSIAN
    needs_hessian = True

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-4, hessian_power=1.0):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.hessian_power = hessian_power

    def hyper(self):
        return Hyper(
            beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon),
            hessian_power=float(self.hessian_power),
        )


#: solver name -> builder of the optimizer from a fit's configuration, which
#: carries scikit-learn's flat parameters (``momentum``, ``nesterovs_momentum``,
#: ``beta_1``, ``beta_2``, ``epsilon``)
FIRST_ORDER = {
    "sgd": lambda config: SGD(momentum=config.momentum, nesterov=config.nesterovs_momentum),
    "adam": lambda config: Adam(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon),
    "adagrad": lambda config: AdaGrad(epsilon=config.epsilon),
    "rmsprop": lambda config: RMSProp(epsilon=config.epsilon),
    "adamw": lambda config: AdamW(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon),
    "adahessian": lambda config: AdaHessian(beta_1=config.beta_1, beta_2=config.beta_2),
}


def resolve_optimizer(config):
    """The first-order optimizer of ``config.solver``: the object itself, or
    the one its name stands for, built from the configuration's flat
    parameters; None for a full-batch solver."""
    solver = config.solver
    if isinstance(solver, Optimizer):
        return solver
    builder = FIRST_ORDER.get(solver)
    return None if builder is None else builder(config)
