"""The scikit-learn estimators."""

from ._autoencoder import MLPAutoencoder
from ._classifier import MLPClassifier
from ._feature_extractor import FeatureExtractor
from ._regressor import MLPRegressor

__all__ = ["FeatureExtractor", "MLPAutoencoder", "MLPClassifier", "MLPRegressor"]
