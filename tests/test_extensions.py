"""What skdeep adds to scikit-learn's MLP contract in the core issue."""

import warnings

import numpy as np
import pytest
from sklearn.callback import ScoringMonitor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import train_test_split

from skdeep import MLPClassifier, MLPRegressor

from .callbacks_for_tests import EpochCallback


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# ------------------------------------------------------------- class_weight


def test_balanced_class_weight_raises_minority_recall(digits):
    X, y = digits
    y = (y == 3).astype(int)  # about 10% positives
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    kwargs = dict(hidden_layer_sizes=(8,), alpha=1.0, max_iter=30, random_state=0)
    plain = _quiet_fit(MLPClassifier(**kwargs), X_tr, y_tr)
    balanced = _quiet_fit(MLPClassifier(class_weight="balanced", **kwargs), X_tr, y_tr)
    recall = lambda m: (m.predict(X_te)[y_te == 1] == 1).mean()  # noqa: E731
    predicted_rate = lambda m: m.predict(X_te).mean()  # noqa: E731
    assert predicted_rate(balanced) > predicted_rate(plain)
    assert recall(balanced) >= recall(plain)


def test_class_weight_dict_equals_sample_weight(iris):
    X, y = iris
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    kwargs = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    by_class = _quiet_fit(MLPClassifier(class_weight=weights, **kwargs), X, y)
    sw = np.array([weights[c] for c in y])
    by_sample = _quiet_fit(MLPClassifier(**kwargs), X, y, sample_weight=sw)
    np.testing.assert_array_equal(by_class._theta, by_sample._theta)


def test_class_weight_multiplies_sample_weight(iris):
    X, y = iris
    weights = {0: 2.0, 1: 1.0, 2: 1.0}
    sw = np.linspace(0.5, 1.5, len(y))
    kwargs = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    both = _quiet_fit(MLPClassifier(class_weight=weights, **kwargs), X, y, sample_weight=sw)
    product = _quiet_fit(
        MLPClassifier(**kwargs), X, y, sample_weight=sw * np.where(y == 0, 2.0, 1.0)
    )
    np.testing.assert_array_equal(both._theta, product._theta)


def test_class_weight_dict_in_partial_fit(iris):
    """In partial_fit too, class_weight multiplies each row's weight by its
    class's, also on a batch that lacks a class."""
    X, y = iris
    clf = MLPClassifier((5,), class_weight={0: 5.0}, random_state=0)
    by_sample = MLPClassifier((5,), random_state=0)
    first = y != 2  # a batch without class 2
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    by_sample.partial_fit(X[first], y[first], classes=[0, 1, 2], sample_weight=np.where(y[first] == 0, 5.0, 1.0))
    clf.partial_fit(X, y)
    by_sample.partial_fit(X, y, sample_weight=np.where(y == 0, 5.0, 1.0))
    np.testing.assert_array_equal(clf._theta, by_sample._theta)
    unweighted = MLPClassifier((5,), random_state=0)
    unweighted.partial_fit(X[first], y[first], classes=[0, 1, 2])
    unweighted.partial_fit(X, y)
    assert not np.array_equal(clf._theta, unweighted._theta)
    assert clf.t_ == first.sum() + len(y) and len(clf.loss_curve_) == 2


# ------------------------------------------------------- explicit validation


def test_explicit_validation_set_drives_early_stopping(digits):
    X, y = digits
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, random_state=0)
    clf = MLPClassifier(
        (20,), early_stopping=True, n_iter_no_change=3, max_iter=200, random_state=0
    ).fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    assert clf.n_iter_ < 200
    # all training rows were used (no fraction held out) ...
    assert clf.t_ == clf.n_iter_ * len(X_tr)
    # ... and the restored weights are those of the best validation epoch
    assert clf.score(X_val, y_val) == clf.best_validation_score_
    assert max(clf.validation_scores_) == clf.best_validation_score_
    assert clf.validation_scores_[-1] <= clf.best_validation_score_


def test_validation_sample_weights_are_used(diabetes):
    X, y = diabetes
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, random_state=0)
    w = np.linspace(0.1, 2.0, len(y_val))
    reg = MLPRegressor(
        hidden_layer_sizes=(8,), early_stopping=True, max_iter=15, random_state=0,
        learning_rate_init=0.01,
    )
    _quiet_fit(reg, X_tr, y_tr, X_val=X_val, y_val=y_val, sample_weight_val=w)
    best = int(np.argmax(reg.validation_scores_))
    # the restored model's weighted R2 is the best recorded score
    assert reg.score(X_val, y_val, sample_weight=w) == pytest.approx(
        reg.validation_scores_[best], rel=1e-12
    )


def test_early_stopping_restores_best_weights_from_a_fraction(digits):
    X, y = digits
    clf = _quiet_fit(
        MLPClassifier((20,), early_stopping=True, n_iter_no_change=2, max_iter=40, random_state=0),
        X, y,
    )
    assert clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert len(clf.validation_scores_) == clf.n_iter_


# ---------------------------------------------------------------- history_


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_history_records_each_epoch(solver, iris):
    X, y = iris
    clf = _quiet_fit(
        MLPClassifier((5,), solver=solver, early_stopping=True, max_iter=6, random_state=0),
        X, y,
    )
    assert len(clf.history_) == clf.n_iter_ == len(clf.loss_curve_)
    for i, record in enumerate(clf.history_):
        assert record["epoch"] == i + 1
        assert record["loss"] == clf.loss_curve_[i]
        assert record["val_score"] == clf.validation_scores_[i]
        assert record["learning_rate"] == 0.001
        assert record["seconds"] > 0
        assert record["val_loss"] > 0


def test_history_validation_loss_is_the_log_loss(digits):
    X, y = digits
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, random_state=0)
    clf = MLPClassifier((10,), early_stopping=True, max_iter=4, random_state=0)
    _quiet_fit(clf, X_tr, y_tr, X_val=X_val, y_val=y_val)
    best = clf.history_[int(np.argmax(clf.validation_scores_))]  # the restored epoch
    assert best["val_loss"] == pytest.approx(log_loss(y_val, clf.predict_proba(X_val)), rel=1e-9)
    assert best["val_score"] == accuracy_score(y_val, clf.predict(X_val))


def test_history_of_lbfgs_has_one_record_per_iteration(iris):
    X, y = iris
    clf = _quiet_fit(MLPClassifier((5,), solver="lbfgs", max_iter=12, random_state=0), X, y)
    assert len(clf.history_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.history_[-1]["loss"] == pytest.approx(clf.loss_)
    assert all(np.diff(clf.loss_curve_) <= 1e-12)  # L-BFGS never increases the loss


# ---------------------------------------------------- multiclass-multioutput


def test_one_softmax_head_per_output_column(iris):
    X, y = iris
    # a second, different categorical task on the same inputs
    y2 = np.where(X[:, 2] > 0.5, "long", np.where(X[:, 2] > -0.5, "mid", "short"))
    Y = np.column_stack([y.astype(str), y2])
    clf = MLPClassifier((16,), solver="lbfgs", max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "softmax"
    assert [list(c) for c in clf.classes_] == [["0", "1", "2"], ["long", "mid", "short"]]
    assert clf.n_outputs_ == 6
    pred = clf.predict(X)
    assert pred.shape == (150, 2)
    proba = clf.predict_proba(X)
    assert [p.shape for p in proba] == [(150, 3), (150, 3)]
    for p in proba:
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    for j in range(2):
        np.testing.assert_array_equal(clf.classes_[j][proba[j].argmax(1)], pred[:, j])
    assert clf.score(X, Y) == np.mean(np.all(pred == Y, axis=1)) > 0.9
    log_proba = clf.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(log_proba[1]), proba[1])


def test_multioutput_heads_share_hidden_layers_and_train_stochastically(iris):
    X, y = iris
    Y = np.column_stack([y, (X[:, 0] > 0).astype(int) + 5])
    clf = _quiet_fit(MLPClassifier((10,), max_iter=50, random_state=0, early_stopping=True), X, Y)
    assert clf.coefs_[-1].shape == (10, 5)  # 3 + 2 output units
    other = MLPClassifier((10,), random_state=0)
    other.partial_fit(X, Y, classes=[[0, 1, 2], [5, 6]])
    assert other.predict(X).shape == (150, 2)


# ---------------------------------------------------------- activations


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "softplus"])
def test_extra_activations_train_as_well_as_relu(activation, digits):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    kwargs = dict(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=100, random_state=0)
    relu = _quiet_fit(MLPClassifier(**kwargs), X_tr, y_tr)
    other = _quiet_fit(MLPClassifier(activation=activation, **kwargs), X_tr, y_tr)
    assert other.score(X_tr, y_tr) > 0.99
    assert other.score(X_te, y_te) > relu.score(X_te, y_te) - 0.05


# ------------------------------------------------- scikit-learn callbacks


class StopAfter(EpochCallback):
    """A FitCallback that stops training after ``n`` epochs."""

    def on_epoch_end(self, count):
        return count >= self.n


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sklearn_callback_can_stop_training(solver, iris):
    X, y = iris
    clf = MLPClassifier((5,), solver=solver, max_iter=100, random_state=0)
    clf.set_callbacks(StopAfter(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop
        clf.fit(X, y)
    assert len(clf.history_) == 4


def test_scoring_monitor_scores_every_epoch(iris):
    pytest.importorskip("pandas")
    X, y = iris
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier((8,), max_iter=5, random_state=0, learning_rate_init=0.05)
    clf.set_callbacks(monitor)
    _quiet_fit(clf, X, y)
    log = monitor.get_logs().data_as_pandas
    epochs = log[log["task_name"] == "epoch"]
    assert len(epochs) == 5
    assert epochs["accuracy"].iloc[-1] == pytest.approx(clf.score(X, y))
    assert epochs["accuracy"].iloc[-1] > epochs["accuracy"].iloc[0]


def test_r2_validation_score_for_regression(diabetes):
    X, y = diabetes
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=3, random_state=0)
    _quiet_fit(reg, X_tr, y_tr, X_val=X_val, y_val=y_val)
    best = int(np.argmax(reg.validation_scores_))
    assert r2_score(y_val, reg.predict(X_val)) == pytest.approx(reg.validation_scores_[best])


def test_scikit_learns_progress_bar_draws_a_skdeep_fit(capsys):
    """The README's ``set_callbacks(ProgressBar())`` (rich comes with the
    ``progress`` and ``test`` extras): the fit runs to its end under the bar
    and learns the same model as without it."""
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(5,), max_iter=30, early_stopping=True, n_iter_no_change=3,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPClassifier(**params).fit(X, y)
        barred = MLPClassifier(**params)
        barred.set_callbacks(ProgressBar())
        barred.fit(X, y)
    assert barred.n_iter_ == plain.n_iter_
    np.testing.assert_array_equal(barred.predict_proba(X), plain.predict_proba(X))
