"""Regularisation: settings, the prior network of soft sharing, tangents.

The techniques act inside the compiled engine (``skdeep._kernels``); this
package turns the estimators' parameters into what the engine takes and checks
them.
"""

from ._prior import prior_parameters
from ._settings import Regularization, per_layer_dropout
from ._tangents import check_tangents, unused_inputs

__all__ = [
    "Regularization",
    "check_tangents",
    "per_layer_dropout",
    "prior_parameters",
    "unused_inputs",
]
