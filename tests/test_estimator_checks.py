"""scikit-learn's estimator contract, in default and non-default configurations.

A few checks cannot pass in some configurations, for reasons that are the
same for scikit-learn's own MLP; they are declared with the reason below,
never skipped silently.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.metaestimators import available_if

from skdeep import MLPClassifier, MLPRegressor
from skdeep.optim import RMSProp
from skdeep.schedules import Cosine, InvScaling

# the checks fit on a few rows for max_iter=100 epochs or fewer, by design:
# their ConvergenceWarnings say nothing about the estimator
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _as_float32(X):
    """float32 copy of numeric input; anything else is passed on untouched so
    that the checks of invalid input still see it."""
    if sp.issparse(X):
        return X.astype(np.float32) if X.dtype.kind == "f" else X
    try:
        array = np.asarray(X)
    except Exception:
        return X
    return array.astype(np.float32) if array.dtype.kind in "fiu" else X


class _Float32Input:
    """Runs every check with float32 data: the engine then trains and predicts
    in float32 throughout."""

    def fit(self, X, y, **kwargs):
        return super().fit(_as_float32(X), y, **kwargs)

    @available_if(lambda est: est._check_partial_fit())
    def partial_fit(self, X, y, *args, **kwargs):
        return super().partial_fit(_as_float32(X), y, *args, **kwargs)

    def predict(self, X):
        return super().predict(_as_float32(X))

    def score(self, X, y, sample_weight=None):
        return super().score(_as_float32(X), y, sample_weight=sample_weight)


class Float32MLPClassifier(_Float32Input, MLPClassifier):
    def predict_proba(self, X):
        return super().predict_proba(_as_float32(X))


class Float32MLPRegressor(_Float32Input, MLPRegressor):
    pass


SMALL_BATCHES = MLPClassifier(
    hidden_layer_sizes=(20, 10), activation="elu", batch_size=16, max_iter=100,
    random_state=0,
)
INVSCALING = MLPRegressor(
    solver="sgd", learning_rate=InvScaling(power_t=0.1), learning_rate_init=0.003,
    max_iter=100, random_state=0,
)
POISSON = MLPRegressor(
    loss="poisson", activation="softplus", learning_rate_init=0.01, max_iter=100,
    random_state=0,
)

SGD_EARLY_STOPPING = MLPClassifier(solver="sgd", early_stopping=True, max_iter=100, random_state=0)

SELF_PACED = MLPClassifier(curriculum="self_paced", max_iter=100, random_state=0)

NEWTON_CG = MLPClassifier(solver="newton-cg", hidden_layer_sizes=(10,), max_iter=50, random_state=0)

SEMI_SUPERVISED = MLPClassifier(semi_supervised="entropy", max_iter=100, random_state=0)

ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
    MLPClassifier(solver="sgd", max_iter=100, random_state=0),
    SGD_EARLY_STOPPING,
    MLPClassifier(
        solver="sgd", nesterovs_momentum=False, learning_rate="adaptive",
        learning_rate_init=0.05, max_iter=100, random_state=0,
    ),
    SMALL_BATCHES,
    MLPRegressor(max_iter=100, random_state=0),
    MLPRegressor(solver="lbfgs", activation="tanh", max_iter=100, random_state=0),
    INVSCALING,
    POISSON,
    # the optimisation toolbox: other solvers, schedules and strategies
    NEWTON_CG,
    SELF_PACED,
    MLPClassifier(
        solver="adahessian", learning_rate_init=0.05, init="he_normal", n_init=2,
        clip_grad_norm=5.0, max_iter=100, random_state=0,
    ),
    MLPRegressor(
        solver=RMSProp(rho=0.95), learning_rate=Cosine(), average=0.9,
        learning_rate_init=0.01, max_iter=100, random_state=0,
    ),
    MLPRegressor(solver="cg", hidden_layer_sizes=(10,), max_iter=100, random_state=0),
    MLPClassifier(batch_norm=True, hidden_layer_sizes=(16, 8), max_iter=100, random_state=0),
    SEMI_SUPERVISED,
    Float32MLPClassifier(max_iter=100, random_state=0),
    Float32MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
    Float32MLPRegressor(max_iter=100, random_state=0),
    Float32MLPRegressor(solver="lbfgs", max_iter=100, random_state=0),
]

_PER_BATCH_WEIGHTS = (
    "each mini-batch's loss is divided by the batch's own sum of sample weights "
    "(scikit-learn's objective), so with several batches per epoch weights only "
    "act within a batch, and repeating rows changes the batches"
)


def _expected_failures(estimator):
    if estimator is SEMI_SUPERVISED:
        return {
            "check_classifiers_classes": (
                "the check trains on the labels -1 and 1, and semi_supervised makes the "
                "rows labelled -1 unlabelled (scikit-learn's convention), so classes_ is "
                "[1]; every other check trains on labelled rows only"
            )
        }
    if estimator is SMALL_BATCHES:
        return {
            "check_sample_weight_equivalence_on_dense_data": _PER_BATCH_WEIGHTS,
            "check_sample_weight_equivalence_on_sparse_data": _PER_BATCH_WEIGHTS,
            "check_class_weight_classifiers": _PER_BATCH_WEIGHTS,
        }
    if estimator is SGD_EARLY_STOPPING:
        reason = (
            "the validation split draws rows, so a row repeated k times is not held "
            "out as the same row weighted by k is; scikit-learn's MLP fails this "
            "check in the same configuration"
        )
        partial = (
            "partial_fit does not support early_stopping=True, as in scikit-learn's "
            "MLP, which fails this check in the same configuration"
        )
        small = (
            "the check's data are too few rows to hold out a stratified validation "
            "set (scikit-learn's MLP fails it in the same configuration: 'The "
            "test_size = 1 should be greater or equal to the number of classes = 2')"
        )
        return {
            "check_fit_score_takes_y": partial,
            "check_n_features_in_after_fitting": partial,
            "check_estimators_partial_fit_n_features": partial,
            "check_estimators_nan_inf": small,
            "check_classifiers_train": small,
            "check_fit2d_1sample": small,
            "check_fit2d_1feature": small,
            "check_classifiers_one_label": (
                "one class cannot be stratified into training and validation rows "
                "(scikit-learn's MLP fails it in the same configuration)"
            ),
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
            "check_class_weight_classifiers": (
                "with the check's class weights (1000 and 1e-4) the class-weighted "
                "validation accuracy is 1 - 1e-7 within a few epochs, so early "
                "stopping keeps an early epoch, which predicts class 0 for 82% (2 "
                "classes) and 62% (3 classes) of the test rows, under the check's "
                "87%; scikit-learn's MLP has no class_weight"
            ),
        }
    if estimator is SELF_PACED:
        reason = (
            "the curriculum chooses a fraction of the rows by count, so a row "
            "repeated k times takes k places in an epoch where the same row "
            "weighted by k takes one"
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    if estimator is INVSCALING:
        reason = (
            "the rate of invscaling depends on the number of samples seen, which "
            "repeating rows changes"
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    if estimator is NEWTON_CG:
        reason = (
            "Newton-CG's path through a non-convex objective amplifies rounding: "
            "weighted and repeated rows give gradients equal up to rounding, and "
            "its truncated-CG steps (which stop at negative curvature) lead to end "
            "points that differ at the 1e-7 level"
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason,
        }
    if estimator is POISSON:
        return {
            "check_regressor_multioutput": (
                "the check draws negative targets whatever the positive_only tag "
                "says, and the Poisson loss rejects them"
            )
        }
    if isinstance(estimator, Float32MLPRegressor):
        return {
            "check_regressor_multioutput": (
                "the check requires float64 predictions; a float32 model "
                "predicts in float32"
            )
        }
    if isinstance(estimator, Float32MLPClassifier) and estimator.solver == "lbfgs":
        return {
            "check_classifiers_multilabel_output_format_predict_proba": (
                "the check wants probabilities strictly inside (0, 1); in "
                "float32 the logistic of a logit above ~17 rounds to 1.0"
            )
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
