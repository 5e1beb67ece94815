"""The regularisation settings of one fit, from the estimator's parameters.

``Regularization.from_estimator`` validates what parameter constraints cannot
(per-layer dropout of the right length, the prior network, combinations with
the solver) and ``kernel_array`` packs the settings for the compiled code.
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .._kernels import config
from ._prior import prior_parameters

#: techniques whose training objective is random: a full-batch solver needs a
#: deterministic objective (its line search compares values of it)
_STOCHASTIC = ("dropout", "input_dropout", "input_noise", "weight_noise", "adversarial_eps", "augment")


@dataclass
class Regularization:
    l2: float = 0.0
    l1: float = 0.0
    max_norm: float = 0.0
    dropout: np.ndarray = None  # one rate per hidden layer
    input_dropout: float = 0.0
    input_noise: float = 0.0
    weight_noise: float = 0.0
    activity_l1: float = 0.0
    adversarial_eps: float = 0.0
    adversarial_steps: int = 1
    tangent_prop: float = 0.0
    prior: np.ndarray = None  # flat parameters of the prior network, or None
    prior_alpha: float = 0.0
    augment: object = None

    @classmethod
    def from_estimator(cls, est, network, dtype, stochastic):
        """Settings for fitting ``network`` with the estimator's parameters;
        ``stochastic`` tells whether the solver works on mini-batches."""
        n_hidden = network.n_layers - 1
        reg = cls()
        penalty = est.penalty
        if penalty == "l2":
            reg.l2 = float(est.alpha)
        elif penalty == "l1":
            reg.l1 = float(est.alpha)
        elif penalty == "elasticnet":
            reg.l1 = float(est.alpha * est.l1_ratio)
            reg.l2 = float(est.alpha * (1.0 - est.l1_ratio))
        reg.dropout = per_layer_dropout(est.dropout, n_hidden)
        reg.max_norm = float(est.max_norm or 0.0)
        reg.input_dropout = float(est.input_dropout)
        reg.input_noise = float(est.input_noise)
        reg.weight_noise = float(est.weight_noise)
        reg.activity_l1 = float(est.activity_l1)
        reg.adversarial_eps = float(est.adversarial_eps)
        reg.adversarial_steps = int(est.adversarial_steps)
        reg.tangent_prop = float(est.tangent_prop)
        reg.prior_alpha = float(est.prior_alpha)
        reg.augment = est.augment
        if est.coef_prior is not None:
            reg.prior = prior_parameters(est.coef_prior, network, dtype)
        elif reg.prior_alpha > 0:
            raise ValueError("prior_alpha > 0 needs coef_prior, the network to share with.")
        reg._check_solver(est.solver, stochastic)
        if reg.tangent_prop > 0 and (reg.dropout.any() or reg.weight_noise > 0):
            raise ValueError(
                "tangent_prop cannot be combined with dropout or weight_noise: the "
                "penalty is the derivative of the network actually trained, which "
                "these make random."
            )
        return reg

    def _check_solver(self, solver, stochastic):
        if stochastic:
            return
        used = [name for name in _STOCHASTIC if self._on(name)]
        if used:
            raise ValueError(
                f"{', '.join(used)} make{'s' if len(used) == 1 else ''} the training "
                f"objective random, but solver={solver!r} minimises a fixed function "
                "of the whole data set; use a stochastic solver ('sgd', 'adam', ...)."
            )
        if self.max_norm > 0:
            raise ValueError(
                f"max_norm is enforced by projecting the weights after every update "
                f"of a stochastic solver; solver={solver!r} has no such step. Use "
                "'sgd' or 'adam'."
            )
        if self.l1 > 0 and solver != "lbfgs":
            raise ValueError(
                f"penalty='l1'/'elasticnet' needs proximal updates (stochastic "
                f"solvers) or bound constraints ('lbfgs'); solver={solver!r} would "
                "only oscillate around zero."
            )

    def _on(self, name):
        value = getattr(self, name)
        if name == "dropout":
            return bool(np.any(value > 0))
        if name == "augment":
            return value is not None
        return value > 0

    @property
    def has_dropout(self):
        return bool(np.any(self.dropout > 0))

    def kernel_array(self):
        """The ``reg`` array of ``_kernels.config``."""
        a = config.empty()
        a[config.INPUT_DROPOUT] = self.input_dropout
        a[config.INPUT_NOISE] = self.input_noise
        a[config.ADVERSARIAL_EPS] = self.adversarial_eps
        a[config.ADVERSARIAL_STEPS] = self.adversarial_steps
        a[config.WEIGHT_NOISE] = self.weight_noise
        a[config.L1] = self.l1
        a[config.L2] = self.l2
        a[config.PRIOR] = self.prior_alpha if self.prior is not None else 0.0
        a[config.MAX_NORM] = self.max_norm
        return a


def per_layer_dropout(dropout, n_hidden):
    """One dropout rate per hidden layer, from a float or a sequence."""
    if isinstance(dropout, Real) and not isinstance(dropout, (bool, np.bool_)):
        return np.full(n_hidden, float(dropout))
    rates = np.asarray(dropout, dtype=np.float64).ravel()
    if rates.shape[0] != n_hidden:
        raise ValueError(
            f"dropout has {rates.shape[0]} rates but the network has {n_hidden} "
            "hidden layers: give one rate per hidden layer, or a single float."
        )
    if np.any(rates < 0) or np.any(rates >= 1) or not np.all(np.isfinite(rates)):
        raise ValueError(f"dropout rates must be in [0, 1), got {list(rates)}.")
    return rates
