"""The regularisation settings of one fit, from its configuration.

``Regularization.from_config`` validates what neither the parameter
constraints nor the table of combinations (``skdeep._combinations``) can:
per-layer dropout of the right length and the prior network, both checked
against the network. The stochastic loop turns the settings into the
kernels' ``records.Settings`` and ``records.Options``.
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .._kernels.unlabeled import UNLABELED_TERMS
from ._prior import prior_parameters

#: penalty name -> how it splits ``alpha`` (and ``l1_ratio``) into the
#: strengths ``(l1, l2)`` of its L1 and L2 parts
PENALTIES = {
    "l2": lambda alpha, l1_ratio: (0.0, float(alpha)),
    "l1": lambda alpha, l1_ratio: (float(alpha), 0.0),
    "elasticnet": lambda alpha, l1_ratio: (float(alpha * l1_ratio), float(alpha * (1.0 - l1_ratio))),
}


def penalty_strengths(penalty, alpha, l1_ratio):
    """``(l1, l2)`` of the ``penalty`` named (None: no penalty)."""
    if penalty is None:
        return 0.0, 0.0
    return PENALTIES[penalty](alpha, l1_ratio)


@dataclass
class Regularization:
    l2: float = 0.0
    l1: float = 0.0
    max_norm: float = 0.0
    dropout: np.ndarray = None  # one rate per hidden layer
    input_dropout: float = 0.0
    input_noise: float = 0.0
    weight_noise: float = 0.0
    dropconnect: float = 0.0
    activity_l1: float = 0.0
    adversarial_eps: float = 0.0
    adversarial_steps: int = 1
    tangent_prop: float = 0.0
    contractive: float = 0.0  # the autoencoder's, on its first layer
    prior: np.ndarray = None  # flat parameters of the prior network, or None
    prior_alpha: float = 0.0
    augment: object = None
    unlabeled: int = 0  # code of semi-supervision's unlabelled term, 0: off

    @classmethod
    def from_config(cls, config, network, dtype):
        """Settings for fitting ``network`` with the configuration ``config``
        (a ``FitConfig``)."""
        n_hidden = network.n_layers - 1
        reg = cls()
        reg.l1, reg.l2 = config.l1, config.l2
        reg.dropout = per_layer_dropout(config.dropout, n_hidden)
        reg.max_norm = float(config.max_norm or 0.0)
        reg.input_dropout = float(config.input_dropout)
        reg.input_noise = float(config.input_noise)
        reg.weight_noise = float(config.weight_noise)
        reg.dropconnect = float(config.dropconnect)
        reg.activity_l1 = float(config.activity_l1)
        reg.adversarial_eps = float(config.adversarial_eps)
        reg.adversarial_steps = int(config.adversarial_steps)
        reg.tangent_prop = float(config.tangent_prop)
        reg.contractive = float(config.contractive)
        reg.prior_alpha = float(config.prior_alpha)
        reg.augment = config.augment
        if config.semi_supervised is not None:
            reg.unlabeled = UNLABELED_TERMS[config.semi_supervised].code
        if config.coef_prior is not None:
            reg.prior = prior_parameters(config.coef_prior, network, dtype)
        return reg

    @property
    def has_dropout(self):
        return bool(np.any(self.dropout > 0))


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
