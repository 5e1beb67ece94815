"""``best_epoch_``: the epoch whose weights early stopping restored, on every
path (fit, warm_start, partial_fit, full-batch solvers, persistence), and
the stop that scikit-learn's ``ProgressBar`` does not show by itself."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier

# one configuration (the progress-bar test's in test_extensions.py): nothing
# new to compile
PARAMS = dict(
    hidden_layer_sizes=(5,), early_stopping=True, n_iter_no_change=3, learning_rate_init=0.03,
    random_state=0,
)


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def split(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)  # a network that learns: the scores change
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def stopped(split):
    """A fit that early stopping ended before max_iter, on an explicit
    validation set."""
    X_tr, X_val, y_tr, y_val = split
    clf = _fit(MLPClassifier(max_iter=200, **PARAMS), X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert clf.n_iter_ < 200  # stopped early
    return clf


def _check_restored(clf, X_val, y_val):
    """best_epoch_ names the record of the best validation score, and the
    model's weights score that on the validation set."""
    scores = [record["val_score"] for record in clf.history_]
    assert clf.best_epoch_ == int(np.argmax(scores)) + 1
    record = clf.history_[clf.best_epoch_ - 1]
    assert record["epoch"] == clf.best_epoch_
    assert record["val_score"] == clf.best_validation_score_
    assert accuracy_score(y_val, clf.predict(X_val)) == pytest.approx(clf.best_validation_score_)


def test_best_epoch_is_the_restored_epoch(stopped, split):
    X_tr, X_val, y_tr, y_val = split
    _check_restored(stopped, X_val, y_val)
    assert stopped.best_epoch_ < stopped.n_iter_  # some epochs after it were dropped
    # a second computation: the same training, stopped at best_epoch_ by
    # max_iter, ends with the restored weights
    short = _fit(
        MLPClassifier(max_iter=stopped.best_epoch_, **PARAMS), X_tr, y_tr, X_val=X_val, y_val=y_val
    )
    assert short.n_iter_ == short.best_epoch_ == stopped.best_epoch_
    for a, b in zip(short.coefs_ + short.intercepts_, stopped.coefs_ + stopped.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_best_epoch_with_the_internal_validation_split(iris):
    X, y = iris
    clf = _fit(MLPClassifier(max_iter=200, **PARAMS), X, y)
    assert clf.best_epoch_ == int(np.argmax(clf.validation_scores_)) + 1


def test_best_epoch_across_warm_start_and_partial_fit(stopped, split):
    X_tr, X_val, y_tr, y_val = split
    clf = pickle.loads(pickle.dumps(stopped))  # also: pickle keeps it
    assert clf.best_epoch_ == stopped.best_epoch_
    first = len(clf.history_)
    clf.set_params(warm_start=True, max_iter=20)
    _fit(clf, X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert len(clf.history_) > first  # the history goes on, and so do its epoch numbers
    _check_restored(clf, X_val, y_val)  # an epoch of either call, whichever is best
    # partial_fit does not validate: the weights are its last epoch's
    clf.set_params(early_stopping=False).partial_fit(X_tr, y_tr)
    assert clf.best_epoch_ is None
    # a call that validates again but never beats the best score keeps the
    # weights it started from: those of the last epoch so far
    theta = [c.copy() for c in clf.coefs_]
    n_epochs = len(clf.history_)
    _fit(clf.set_params(early_stopping=True, max_iter=1), X_tr, y_tr, X_val=X_val, y_val=y_val)
    if clf.best_epoch_ == n_epochs:  # no better score: the starting weights
        assert clf.history_[-1]["val_score"] <= clf.best_validation_score_
        for a, b in zip(theta, clf.coefs_):
            np.testing.assert_array_equal(a, b)
    else:
        assert clf.best_epoch_ == n_epochs + 1
        assert clf.history_[-1]["val_score"] == clf.best_validation_score_


def test_no_best_epoch_without_early_stopping(split):
    X_tr, X_val, y_tr, y_val = split
    params = {**PARAMS, "early_stopping": False}
    assert _fit(MLPClassifier(max_iter=5, **params), X_tr, y_tr).best_epoch_ is None
    assert _fit(MLPClassifier(solver="lbfgs", max_iter=5, **params), X_tr, y_tr).best_epoch_ is None
    # a full-batch warm start after early stopping restores nothing
    clf = _fit(MLPClassifier(max_iter=20, **PARAMS), X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert clf.best_epoch_ is not None
    clf.set_params(warm_start=True, solver="lbfgs", max_iter=5)
    assert _fit(clf, X_tr, y_tr).best_epoch_ is None


def test_skops_round_trip_keeps_best_epoch(stopped, split):
    sio = pytest.importorskip("skops.io")
    from skdeep.persistence import trusted_types

    loaded = sio.loads(sio.dumps(stopped), trusted=trusted_types())
    assert loaded.best_epoch_ == stopped.best_epoch_
    assert loaded._progress.best_epoch == stopped.best_epoch_


def test_progress_bar_fit_reports_the_early_stop(split, capsys):
    """scikit-learn's ProgressBar fills the bar when the fit ends; skdeep
    says that early stopping ended it, and which epoch it restored."""
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X_tr, X_val, y_tr, y_val = split
    clf = MLPClassifier(max_iter=200, **PARAMS)
    clf.set_callbacks(ProgressBar())
    _fit(clf, X_tr, y_tr, X_val=X_val, y_val=y_val)
    err = capsys.readouterr().err
    assert clf.n_iter_ < 200
    assert (
        f"MLPClassifier: training stopped early, after {clf.n_iter_} of max_iter=200 epochs: "
        "the validation score did not improve by tol=0.0001 for n_iter_no_change=3 epochs; "
        f"the weights of epoch {clf.best_epoch_} (best_epoch_) are restored."
    ) in err
    # a fit that runs its whole budget: nothing to report
    clf.set_params(max_iter=2)
    _fit(clf, X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert "stopped early" not in capsys.readouterr().err
