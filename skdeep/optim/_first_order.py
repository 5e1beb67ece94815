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
from numbers import Integral, Real

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
    layerwise: bool = False  # LAMB: the epoch computes per-layer norms before each step
    lookahead: tuple | None = None  # Lookahead's (k, alpha), None without
    slow: np.ndarray | None = None  # Lookahead's slow weights

    def copy(self):
        return OptimizerState(
            self.code, self.state.copy(), self.hyper, self.counters.copy(), self.needs_hessian,
            self.layerwise, self.lookahead, None if self.slow is None else self.slow.copy(),
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
    #: whether its step is scaled per layer from norms over the whole layer
    layerwise = False

    @property
    def n_slots(self):
        """Number of rows of the optimizer's state."""
        return updates.UPDATE_RULES[self.code].n_slots

    def hyper(self):
        """The hyper-parameters as the kernels read them: a ``records.Hyper``
        with this optimizer's parameters that name one of its fields (each
        as the field's type, float or bool, so that every value types
        alike) and the others at their defaults (Adam, which shares AdamW's
        kernels, has no ``weight_decay`` and so decays nothing)."""
        defaults = Hyper()
        return Hyper(**{
            name: type(getattr(defaults, name))(value)
            for name, value in self.get_params(deep=False).items() if name in Hyper._fields
        })

    @property
    def base(self):
        """The optimizer whose update rule steps (itself, or the one a
        ``Lookahead`` wraps)."""
        return self

    def initial_rate(self, learning_rate_init):
        """The rate the schedule starts from: the estimator's
        ``learning_rate_init``, unless the optimizer has a rate of its own."""
        return learning_rate_init

    def start(self, n_params, dtype, theta=None):
        """A fresh state for ``n_params`` parameters of ``dtype``
        (``theta``, the parameters training starts from, for the optimizers
        that keep a copy: ``Lookahead``)."""
        self._validate_params()
        return OptimizerState(
            self.code,
            np.zeros((self.n_slots, n_params), dtype=dtype),
            self.hyper(),
            np.zeros(1, dtype=np.int64),
            self.needs_hessian,
            self.layerwise,
        )

    def continues(self, state):
        """Whether training with this optimizer can continue ``state``
        (``partial_fit``): the same update rule, with or without Lookahead."""
        return state.code == self.code and state.lookahead is None

    def resume(self, state):
        """Set ``state``'s hyper-parameters to this optimizer's (they may
        have changed between ``partial_fit`` calls)."""
        state.hyper = self.hyper()


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



class AdaDelta(Optimizer):
    """AdaDelta (Zeiler, 2012): per-parameter steps
    ``sqrt(E[dx^2] + epsilon) / sqrt(E[g^2] + epsilon)``, the running averages
    (decay ``rho``) of the squared updates and of the squared gradients, so
    that a step has the units of the parameters. The rate multiplies the
    update; AdaDelta has its own (``lr``, 1.0 as in the paper and PyTorch),
    which takes the place of the estimator's ``learning_rate_init`` (the
    schedules apply to it). Its state is the two averages and each
    coordinate's last unit step; an L1 penalty soft-thresholds each weight by
    its coefficient times the weight's step ``lr * sqrt(E[dx^2] + epsilon) /
    sqrt(E[g^2] + epsilon)``.

    Parameters
    ----------
    rho : float, default=0.9
        Decay of the running averages, in [0, 1).
    epsilon : float, default=1e-6
        Constant added inside both square roots (the paper's and PyTorch's
        default); it sets the size of the first steps, ``sqrt(epsilon)``.
    lr : float, default=1.0
        The rate that multiplies the update, in place of the estimator's
        ``learning_rate_init``.
    """

    _parameter_constraints: dict = {"rho": [_UNIT], "epsilon": [_POSITIVE], "lr": [_POSITIVE]}
    code = updates.ADADELTA

    def __init__(self, rho=0.9, epsilon=1e-6, lr=1.0):
        self.rho = rho
        self.epsilon = epsilon
        self.lr = lr

    def initial_rate(self, learning_rate_init):
        return float(self.lr)



class RAdam(Optimizer):
    """Rectified Adam (Liu et al., 2020): Adam whose adaptive rate is
    multiplied by the rectification term ``r_t`` that corrects the variance
    of ``1 / sqrt(v_hat)`` over the first steps. While the length of the
    approximated simple moving average ``rho_t = rho_inf - 2 t beta_2^t /
    (1 - beta_2^t)`` (``rho_inf = 2 / (1 - beta_2) - 1``) is at most 5, the
    variance is not tractable and the step is the bias-corrected momentum
    ``lr * m / (1 - beta_1^t)``, without the adaptive denominator (the
    authors' code and PyTorch use 5, the paper's formula is defined above
    4); after, ``lr * r_t * m_hat / (sqrt(v_hat) + epsilon)``. With
    ``beta_2 = 0.999`` the first five steps are momentum steps. Its state is
    the two moments; an L1 penalty soft-thresholds each weight by its
    coefficient times the weight's step.

    Parameters
    ----------
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Numerical-stability constant, added to ``sqrt(v_hat)``.
    """

    _parameter_constraints: dict = {"beta_1": [_UNIT], "beta_2": [_UNIT], "epsilon": [_POSITIVE]}
    code = updates.RADAM

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon



class LAMB(Optimizer):
    """LAMB (You et al., 2020): Adam's direction
    ``u = m_hat / (sqrt(v_hat) + epsilon) + weight_decay * w`` (the decay
    decoupled, on the weights, not the biases), scaled per layer by the
    trust ratio ``||w|| / ||u||`` over that layer's parameters: its weights
    and biases, and with batch normalisation its scales and shifts. The
    ratio is 1 when either norm is 0. The step is
    ``lr * ||w|| / ||u|| * u``. Its state is the two moments; an L1 penalty
    soft-thresholds each weight by its coefficient times the weight's step
    ``lr * ratio / (1 - beta_1^t) / (sqrt(v / (1 - beta_2^t)) + epsilon)``.

    Parameters
    ----------
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the moment estimates, in [0, 1).
    epsilon : float, default=1e-6
        Numerical-stability constant, added to ``sqrt(v_hat)`` (the paper's).
    weight_decay : float, default=0.0
        The decoupled decay added to the direction, part of the layer's
        ``||u||``.
    """

    _parameter_constraints: dict = {
        "beta_1": [_UNIT], "beta_2": [_UNIT], "epsilon": [_POSITIVE],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }
    code = updates.LAMB
    layerwise = True

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-6, weight_decay=0.0):
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay



class Lookahead(Optimizer):
    """Lookahead (Zhang et al., 2019) around a first-order optimizer: it
    keeps slow weights, and every ``k`` steps of ``optimizer`` (the fast
    weights) sets ``slow <- slow + alpha * (fast - slow)`` and restarts the
    fast weights from them, ``fast <- slow``. The steps count over the
    optimizer's life (across ``partial_fit`` calls); the model is the fast
    weights, which are the slow ones after every ``k``-th step. The wrapped
    optimizer's state continues across the synchronisations (the paper's
    default). Its parameters are reached as ``solver__optimizer__beta_1``.

    Parameters
    ----------
    optimizer : Optimizer
        The first-order optimizer that takes the fast steps (an object of
        :mod:`skdeep.optim`, not a ``Lookahead``).
    k : int, default=5
        Fast steps between synchronisations, at least 1.
    alpha : float, default=0.5
        Step of the slow weights towards the fast ones, in (0, 1]; 1 is the
        wrapped optimizer alone.
    """

    _parameter_constraints: dict = {
        "optimizer": [Optimizer],
        "k": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, optimizer, k=5, alpha=0.5):
        self.optimizer = optimizer
        self.k = k
        self.alpha = alpha

    def _validate_params(self):
        super()._validate_params()
        if isinstance(self.optimizer, Lookahead):
            raise ValueError(
                "Lookahead's optimizer must be a first-order optimizer such as Adam(), not "
                "another Lookahead: wrap the inner optimizer once, with the k and alpha wanted."
            )
        self.optimizer._validate_params()

    @property
    def code(self):
        return self.optimizer.code

    @property
    def needs_hessian(self):
        return self.optimizer.needs_hessian

    @property
    def layerwise(self):
        return self.optimizer.layerwise

    @property
    def base(self):
        return self.optimizer

    def initial_rate(self, learning_rate_init):
        return self.optimizer.initial_rate(learning_rate_init)

    def hyper(self):
        return self.optimizer.hyper()

    def start(self, n_params, dtype, theta=None):
        if theta is None:
            raise ValueError("Lookahead starts from the parameters: pass theta.")
        state = self.optimizer.start(n_params, dtype)
        state.lookahead = (int(self.k), float(self.alpha))
        state.slow = np.array(theta, dtype=dtype, copy=True)
        return state

    def continues(self, state):
        return state.code == self.code and state.lookahead is not None

    def resume(self, state):
        super().resume(state)
        state.lookahead = (int(self.k), float(self.alpha))


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
    # AdaDelta's epsilon sits inside its square roots and sets its first
    # steps: the paper's 1e-6, not the flat epsilon meant for Adam's 1e-8
    "adadelta": lambda config: AdaDelta(),
    "radam": lambda config: RAdam(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon),
    "lamb": lambda config: LAMB(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon),
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
