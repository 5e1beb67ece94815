"""skdeep: scikit-learn's multilayer perceptrons on a compiled engine.

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for
``sklearn.neural_network``'s estimators; ``MLPAutoencoder`` is a transformer
on the same engine (denoising, sparse, contractive); ``FeatureExtractor`` turns a fitted
network's hidden layer into a transformer; ``TangentDistanceClassifier`` is
k-nearest neighbours under the tangent distance, and ``skdeep.tangents``
estimates the data manifold's tangents.
"""

from ._estimators import FeatureExtractor, MLPAutoencoder, MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = [
    "FeatureExtractor", "MLPAutoencoder", "MLPClassifier", "MLPRegressor", "TangentDistanceClassifier", "__version__",
    "tangents",
]


def __getattr__(name):
    # imported on first use: scikit-learn's neighbors module would add to
    # the start-up of every MLP fit
    if name == "TangentDistanceClassifier":
        from ._estimators._tangent_distance import TangentDistanceClassifier

        return TangentDistanceClassifier
    if name == "tangents":
        import importlib

        return importlib.import_module(".tangents", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
