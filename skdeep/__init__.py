"""skdeep: scikit-learn's multilayer perceptrons on a compiled engine.

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for
``sklearn.neural_network``'s estimators; ``TangentDistanceClassifier`` is
k-nearest neighbours under the tangent distance, and ``skdeep.tangents``
estimates the data manifold's tangents.
"""

from . import tangents
from ._estimators import MLPClassifier, MLPRegressor, TangentDistanceClassifier

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "TangentDistanceClassifier", "__version__", "tangents"]
