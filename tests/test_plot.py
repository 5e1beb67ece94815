"""TrainingHistoryDisplay: the lines carry the history's values."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from skdeep import MLPClassifier, MLPRegressor
from skdeep.plot import TrainingHistoryDisplay

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def close_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def column(history, key):
    return [r[key] for r in history]


def test_from_estimator_draws_every_recorded_metric(iris):
    X, y = iris
    clf = MLPClassifier((6,), solver="sgd", early_stopping=True, max_iter=6, n_iter_no_change=10, random_state=0)
    clf.fit(X, y)
    display = TrainingHistoryDisplay.from_estimator(clf)
    assert set(display.lines_) == {"loss", "val_loss", "val_score", "learning_rate"}
    for metric, line in display.lines_.items():
        np.testing.assert_array_equal(line.get_xdata(), column(clf.history_, "epoch"))
        np.testing.assert_array_equal(line.get_ydata(), column(clf.history_, metric))
    # one panel per quantity: the two losses share the first
    assert display.ax_.shape == (3,)
    assert display.lines_["val_loss"].axes is display.ax_[0]
    assert [ax.get_ylabel() for ax in display.ax_] == ["loss", "validation score", "learning rate"]
    assert display.figure_ is display.ax_[0].figure


def test_from_history_on_one_axes_with_seconds(diabetes):
    import matplotlib.pyplot as plt

    X, y = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    _, ax = plt.subplots()
    display = TrainingHistoryDisplay.from_history(
        reg.history_, ax=ax, x="seconds", label="lbfgs", line_kw={"color": "red"}
    )
    assert display.ax_ is ax and display.figure_ is ax.figure
    assert set(display.lines_) == {"loss"}  # full-batch solvers record no learning rate
    line = display.lines_["loss"]
    np.testing.assert_allclose(line.get_xdata(), np.cumsum(column(reg.history_, "seconds")))
    np.testing.assert_array_equal(line.get_ydata(), reg.loss_curve_)
    assert line.get_label() == "lbfgs" and line.get_color() == "red"
    assert ax.get_xlabel() == "seconds (cumulative)"


def test_scikit_learn_estimator(iris):
    X, y = iris
    clf = SklearnMLPClassifier((4,), early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    display = TrainingHistoryDisplay.from_estimator(clf, metrics=["val_score"])
    np.testing.assert_array_equal(display.lines_["val_score"].get_ydata(), clf.validation_scores_)


def test_errors(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(MLPClassifier())
    with pytest.raises(ValueError, match="no training history"):
        TrainingHistoryDisplay.from_estimator(SklearnMLPClassifier(solver="lbfgs", max_iter=3).fit(X, y))
    clf = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="has no 'val_loss'"):
        TrainingHistoryDisplay.from_estimator(clf, metrics=["val_loss"])
    with pytest.raises(ValueError, match="Unknown metric"):
        TrainingHistoryDisplay.from_estimator(clf, metrics=["accuracy"])
    with pytest.raises(ValueError, match="non-empty list"):
        TrainingHistoryDisplay.from_history([])
    with pytest.raises(ValueError, match="x must be one of"):
        TrainingHistoryDisplay.from_history(clf.history_, x="batch")
    with pytest.raises(ValueError, match="need 2 panels"):
        import matplotlib.pyplot as plt

        TrainingHistoryDisplay.from_estimator(clf, ax=plt.subplots(1, 3)[1])
