"""Regularisation: settings, the prior network of soft sharing, tangents.

The techniques act inside the compiled engine (``skdeep._kernels``); this
package turns a fit's configuration into what the engine takes and checks
it against the network.
"""

from ._prior import prior_parameters
from ._settings import PENALTIES, Regularization, penalty_strengths, per_layer_dropout
from ._tangents import check_tangents, unused_inputs

__all__ = [
    "PENALTIES",
    "Regularization",
    "check_tangents",
    "penalty_strengths",
    "per_layer_dropout",
    "prior_parameters",
    "unused_inputs",
]
