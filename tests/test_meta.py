"""skdeep estimators inside scikit-learn's meta-estimators, unchanged."""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import (
    AdaBoostClassifier,
    AdaBoostRegressor,
    BaggingClassifier,
    BaggingRegressor,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier

from skdeep import MLPClassifier, MLPRegressor
from skdeep.schedules import InvScaling


@pytest.fixture(autouse=True)
def _no_convergence_noise():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_pipeline_grid_search_in_worker_processes(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, learning_rate_init=0.01, random_state=0))
    grid = GridSearchCV(
        pipe,
        {"mlpclassifier__hidden_layer_sizes": [(10,), (30,)], "mlpclassifier__alpha": [1e-4, 1e-1]},
        cv=3,
        n_jobs=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.85
    # the worker processes train the models this process would
    sequential = GridSearchCV(pipe, grid.param_grid, cv=3, n_jobs=1).fit(X, y)
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        np.testing.assert_array_equal(grid.cv_results_[key], sequential.cv_results_[key])
    np.testing.assert_array_equal(
        grid.best_estimator_[-1]._theta, sequential.best_estimator_[-1]._theta
    )


def test_grid_search_tunes_a_schedule_parameter(digits):
    X, y = digits
    clf = MLPClassifier(
        (10,), solver="sgd", learning_rate=InvScaling(), learning_rate_init=0.1,
        max_iter=10, random_state=0,
    )
    grid = GridSearchCV(clf, {"learning_rate__power_t": [0.1, 0.9]}, cv=2).fit(X, y)
    # a high exponent decays the rate much faster: it must show in the scores
    scores = grid.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]
    # and the refitted model is the one the best exponent gives
    power_t = grid.best_params_["learning_rate__power_t"]
    direct = MLPClassifier(
        (10,), solver="sgd", learning_rate=InvScaling(power_t=power_t), learning_rate_init=0.1,
        max_iter=10, random_state=0,
    ).fit(X, y)
    np.testing.assert_array_equal(grid.best_estimator_._theta, direct._theta)


def test_cross_val_score_and_fit_params(digits):
    X, y = digits
    scores = cross_val_score(
        MLPClassifier((20,), max_iter=40, learning_rate_init=0.01, random_state=0), X, y, cv=3,
        params={"sample_weight": np.ones(len(y))},
    )
    assert scores.mean() > 0.85


@pytest.mark.parametrize(
    "meta",
    [
        lambda: BaggingClassifier(MLPClassifier((10,), max_iter=30, learning_rate_init=0.01, random_state=0), n_estimators=3, random_state=0),
        lambda: AdaBoostClassifier(MLPClassifier((10,), solver="lbfgs", max_iter=50, random_state=0), n_estimators=3, random_state=0),
        lambda: VotingClassifier(
            [("mlp", MLPClassifier((10,), max_iter=30, random_state=0)), ("lr", LogisticRegression(max_iter=200))],
            voting="soft",
        ),
        lambda: StackingClassifier(
            [("mlp", MLPClassifier((10,), max_iter=30, random_state=0)), ("lr", LogisticRegression(max_iter=200))],
            cv=3,
        ),
    ],
    ids=["bagging", "adaboost", "voting", "stacking"],
)
def test_classifier_ensembles(meta, digits):
    X, y = digits
    assert meta().fit(X, y).score(X, y) > 0.9


def test_adaboost_uses_sample_weights(digits):
    """AdaBoost reweights the samples at each round; the fits must differ."""
    X, y = digits
    boost = AdaBoostClassifier(
        MLPClassifier((5,), solver="lbfgs", max_iter=30, random_state=0), n_estimators=2, random_state=0
    ).fit(X, y)
    a, b = boost.estimators_
    assert not np.array_equal(a._theta, b._theta)


@pytest.mark.parametrize(
    "meta",
    [
        lambda: BaggingRegressor(MLPRegressor(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=50, random_state=0), n_estimators=3, random_state=0),
        lambda: AdaBoostRegressor(MLPRegressor(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=50, random_state=0), n_estimators=3, random_state=0),
    ],
    ids=["bagging", "adaboost"],
)
def test_regressor_ensembles(meta, diabetes):
    X, y = diabetes
    assert meta().fit(X, y).score(X, y) > 0.4


def test_self_training(digits):
    X, y = digits
    y_partial = y.copy()
    y_partial[np.random.default_rng(0).random(len(y)) < 0.7] = -1
    model = SelfTrainingClassifier(
        MLPClassifier((20,), solver="lbfgs", max_iter=100, random_state=0), max_iter=3
    ).fit(X, y_partial)
    assert model.score(X, y) > 0.85


def test_the_optim_module_exports_only_its_public_names():
    """``skdeep.optim.__all__``: the optimizer classes users pass as
    ``solver`` and the collections of solver names, not the engine's
    helpers (which stay importable for the library's modules)."""
    from skdeep import optim

    for name in optim.__all__:
        obj = getattr(optim, name)
        is_optimizer = isinstance(obj, type) and issubclass(obj, optim.Optimizer)
        is_names = isinstance(obj, (dict, frozenset, set, tuple)) and all(isinstance(k, str) for k in obj)
        assert is_optimizer or is_names, name
    assert not {"minimize", "OptimizerState", "resolve_optimizer", "check_size"} & set(optim.__all__)
    assert callable(optim.minimize)
