"""The scikit-learn estimators."""

from ._classifier import MLPClassifier
from ._feature_extractor import FeatureExtractor
from ._regressor import MLPRegressor

__all__ = ["FeatureExtractor", "MLPClassifier", "MLPRegressor"]
