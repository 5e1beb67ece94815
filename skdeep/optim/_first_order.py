"""First-order optimizers over the flat parameter vector.

An optimizer is a small description (its kernel code and hyper-parameters);
``start`` allocates its state once per fit as flat arrays, which the compiled
epoch loop updates in place. Continuing training (``partial_fit``) continues
the same state.
"""

from dataclasses import dataclass

import numpy as np

from .._kernels import updates


@dataclass
class OptimizerState:
    """Everything an optimizer carries from one step to the next."""

    code: int
    state: np.ndarray  # (n_slots, n_params), same dtype as theta
    hyper: np.ndarray  # float64 hyper-parameters, read by the kernel
    counters: np.ndarray  # int64; counters[0] is the step count

    def copy(self):
        return OptimizerState(
            self.code, self.state.copy(), self.hyper.copy(), self.counters.copy()
        )


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with (Nesterov) momentum, as scikit-learn's."""

    momentum: float = 0.9
    nesterov: bool = True
    code = updates.SGD

    def start(self, n_params, dtype):
        return OptimizerState(
            self.code,
            np.zeros((1, n_params), dtype=dtype),
            np.array([self.momentum, float(self.nesterov)], dtype=np.float64),
            np.zeros(1, dtype=np.int64),
        )


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2014), with scikit-learn's placement of epsilon."""

    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    code = updates.ADAM

    def start(self, n_params, dtype):
        return OptimizerState(
            self.code,
            np.zeros((2, n_params), dtype=dtype),
            np.array([self.beta_1, self.beta_2, self.epsilon], dtype=np.float64),
            np.zeros(1, dtype=np.int64),
        )


def _sgd_from(est):
    return SGD(momentum=est.momentum, nesterov=est.nesterovs_momentum)


def _adam_from(est):
    return Adam(beta_1=est.beta_1, beta_2=est.beta_2, epsilon=est.epsilon)


#: solver name -> builder taking the estimator's flat scikit-learn parameters
FIRST_ORDER = {
    "sgd": _sgd_from,
    "adam": _adam_from,
}
