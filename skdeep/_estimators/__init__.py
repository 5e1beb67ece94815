"""The scikit-learn estimators."""

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor
from ._tangent_distance import TangentDistanceClassifier

__all__ = ["MLPClassifier", "MLPRegressor", "TangentDistanceClassifier"]
