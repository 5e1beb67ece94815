"""skdeep: scikit-learn's multilayer perceptrons on a compiled engine.

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for
``sklearn.neural_network``'s estimators.
"""

from ._estimators import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
