"""Learning-rate schedules, initialisation and the training strategies
(clipping, weight averaging, frozen layers, restarts, snapshot ensembles),
each against its formula or an independent computation."""

import copy
import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skdeep import MLPClassifier, MLPRegressor
from skdeep._initializers import INITIALIZERS, initialize
from skdeep._network import Inputs, Network
from skdeep.schedules import (
    Cosine,
    Cyclic,
    Exponential,
    InvScaling,
    Polynomial,
    Step,
    WarmRestarts,
)

LR = 0.1
EPOCHS = 25


def _fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _triangle(e, base, step):
    position = e % (2 * step)
    return base + (LR - base) * (1 - abs(position - step) / step)


def _restarts(e, T_0, T_mult, eta_min):
    length = T_0
    while e >= length:
        e -= length
        length *= T_mult
    return eta_min + (LR - eta_min) * (1 + math.cos(math.pi * e / length)) / 2


#: (learning_rate, rate of epoch e (0-based) with n samples per epoch)
CURVES = [
    ("constant", lambda e, n: LR),
    ("invscaling", lambda e, n: LR if e == 0 else LR / (e * n + 1) ** 0.5),
    (InvScaling(power_t=0.25), lambda e, n: LR if e == 0 else LR / (e * n + 1) ** 0.25),
    ("step", lambda e, n: LR * 0.5 ** (e // 10)),
    (Step(step_size=3, gamma=0.1), lambda e, n: LR * 0.1 ** (e // 3)),
    ("exponential", lambda e, n: LR * 0.95**e),
    (Exponential(gamma=0.8), lambda e, n: LR * 0.8**e),
    ("polynomial", lambda e, n: LR * (1 - e / EPOCHS)),
    (Polynomial(power=2, end_lr=0.01, total_epochs=10), lambda e, n: (LR - 0.01) * (1 - min(e, 10) / 10) ** 2 + 0.01),
    ("cosine", lambda e, n: LR * (1 + math.cos(math.pi * e / EPOCHS)) / 2),
    (Cosine(eta_min=0.01, total_epochs=20), lambda e, n: 0.01 + (LR - 0.01) * (1 + math.cos(math.pi * min(e, 20) / 20)) / 2),
    ("cyclic", lambda e, n: _triangle(e, 1e-4, 5)),
    (Cyclic(base_lr=0.01, step_size=3), lambda e, n: _triangle(e, 0.01, 3)),
    ("warm_restarts", lambda e, n: _restarts(e, 10, 1, 0.0)),
    (WarmRestarts(T_0=3, T_mult=2, eta_min=0.001), lambda e, n: _restarts(e, 3, 2, 0.001)),
]


@pytest.mark.parametrize("schedule, formula", CURVES, ids=[str(c[0]) for c in CURVES])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_schedule_records_its_curve(schedule, formula, solver, iris):
    X, y = iris
    clf = MLPClassifier(
        (4,), solver=solver, learning_rate=schedule, learning_rate_init=LR, max_iter=EPOCHS,
        tol=0.0, n_iter_no_change=10**6, random_state=0,
    )
    _fit(clf, X, y)
    rates = [record["learning_rate"] for record in clf.history_]
    sklearn_name = schedule in ("constant", "invscaling")
    if solver != "sgd" and sklearn_name:  # scikit-learn's names: 'sgd' only
        expected = [LR] * EPOCHS
    else:
        expected = [formula(e, len(y)) for e in range(EPOCHS)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_adaptive_divides_the_rate_at_each_plateau(iris):
    """With a tolerance no epoch can meet, every epoch after the first (which
    improves on no loss at all) counts as no improvement: the rate is divided
    by 5 once the count exceeds ``n_iter_no_change``, and the count starts
    again. scikit-learn's MLP records the same rates."""
    X, y = iris
    clf = MLPClassifier(
        (4,), solver="sgd", learning_rate="adaptive", learning_rate_init=LR, max_iter=12,
        tol=1e3, n_iter_no_change=2, random_state=0,
    )
    _fit(clf, X, y)
    rates = [record["learning_rate"] for record in clf.history_]
    np.testing.assert_allclose(rates, [LR] * 4 + [LR / 5] * 3 + [LR / 25] * 3 + [LR / 125] * 2)


def test_schedules_continue_across_partial_fit(iris):
    X, y = iris
    clf = MLPClassifier((4,), learning_rate=Step(step_size=2, gamma=0.5), learning_rate_init=LR, random_state=0)
    for _ in range(6):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    rates = [record["learning_rate"] for record in clf.history_]
    np.testing.assert_allclose(rates, [LR, LR, LR / 2, LR / 2, LR / 4, LR / 4])


def test_grid_search_tunes_a_schedules_parameters(iris):
    X, y = iris
    est = MLPClassifier((4,), learning_rate=Exponential(), max_iter=3, random_state=0)
    assert est.get_params()["learning_rate__gamma"] == 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(est, {"learning_rate__gamma": [0.5, 0.9]}, cv=2).fit(X, y)
    rates = [r["learning_rate"] for r in search.best_estimator_.history_]
    gamma = search.best_params_["learning_rate__gamma"]
    np.testing.assert_allclose(rates, [0.001 * gamma**e for e in range(3)])


# ------------------------------------------------------------ initialisation

#: name -> (variance of the weights for a (fan_in, fan_out) layer, biases zero)
VARIANCES = {
    "auto": (lambda i, o: 2.0 / (i + o), False),  # uniform(±sqrt(6/(i+o))): r^2/3
    "glorot_uniform": (lambda i, o: 2.0 / (i + o), True),
    "glorot_normal": (lambda i, o: 2.0 / (i + o), True),
    "he_uniform": (lambda i, o: 2.0 / i, True),
    "he_normal": (lambda i, o: 2.0 / i, True),
    "lecun_normal": (lambda i, o: 1.0 / i, True),
    "normal": (lambda i, o: 1e-4, True),
    "uniform": (lambda i, o: 0.05**2 / 3, True),
}


def _initial(name, sizes=(300, 200, 150), activation="relu"):
    network = Network(list(sizes), activation, "squared_error")
    theta = initialize(network, name, np.random.default_rng(0), np.float64)
    return network.coefs(theta), network.intercepts(theta)


@pytest.mark.parametrize("name", sorted(VARIANCES))
def test_initialiser_variance(name):
    coefs, intercepts = _initial(name)
    variance, zero_biases = VARIANCES[name]
    for W, b in zip(coefs, intercepts):
        fan_in, fan_out = W.shape
        assert abs(W.mean()) < 0.02 * math.sqrt(variance(fan_in, fan_out))
        assert W.var() == pytest.approx(variance(fan_in, fan_out), rel=0.03)
        assert np.all(b == 0) if zero_biases else np.all(b != 0)


def test_uniform_initialisers_respect_their_bounds():
    for name, bound in [("glorot_uniform", lambda i, o: math.sqrt(6 / (i + o))), ("he_uniform", lambda i, o: math.sqrt(6 / i)), ("uniform", lambda i, o: 0.05)]:
        for W in _initial(name)[0]:
            r = bound(*W.shape)
            assert np.abs(W).max() <= r and np.abs(W).max() > 0.99 * r


def test_auto_is_scikit_learns_rule_with_its_logistic_factor():
    coefs, intercepts = _initial("auto", activation="logistic")
    for W, b in zip(coefs, intercepts):
        r = math.sqrt(2.0 / sum(W.shape))
        assert np.abs(W).max() <= r and np.abs(b).max() <= r
        assert W.var() == pytest.approx(r * r / 3, rel=0.03)


def test_orthogonal_initialiser():
    coefs, intercepts = _initial("orthogonal", sizes=(300, 200, 400))
    tall, wide = coefs  # (300, 200) and (200, 400)
    np.testing.assert_allclose(tall.T @ tall, np.eye(200), atol=1e-12)
    np.testing.assert_allclose(wide @ wide.T, np.eye(200), atol=1e-12)
    assert all(np.all(b == 0) for b in intercepts)


def test_zeros_warns_that_units_stay_identical(iris):
    X, y = iris
    with pytest.warns(UserWarning, match="hidden units of a layer start identical"):
        clf = _fit(MLPClassifier((5,), init="zeros", max_iter=5, random_state=0), X, y)
    W = clf.coefs_[0]
    np.testing.assert_allclose(W, np.repeat(W[:, :1], 5, axis=1))  # the units stayed identical


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_init_parameter_sets_the_starting_weights(name):
    """A negligible learning rate leaves the weights where ``init`` put them."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 300)), rng.normal(size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = MLPRegressor(hidden_layer_sizes=(200,), init=name, learning_rate_init=1e-12, max_iter=1, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # init="zeros"
        W, W_expected = reg.coefs_[0], _initial(name, sizes=(300, 200, 1))[0][0]
    if name == "zeros":
        assert np.abs(W).max() < 1e-9
    else:
        assert W.var() == pytest.approx(W_expected.var(), rel=0.03)


# --------------------------------------------------- transfer, frozen layers


@pytest.fixture(scope="module")
def pretrained(iris):
    X, y = iris
    return _fit(MLPClassifier((6, 5), max_iter=50, random_state=0), X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd", "adahessian", "lbfgs", "cg", "bfgs", "newton-cg", "newton"])
def test_frozen_layers_keep_the_transferred_weights(solver, pretrained, iris):
    X, y = iris
    clf = MLPClassifier((6, 5), solver=solver, init=pretrained, freeze_layers=1, max_iter=20, random_state=1)
    _fit(clf, X, y)
    np.testing.assert_array_equal(clf.coefs_[0], pretrained.coefs_[0])
    np.testing.assert_array_equal(clf.intercepts_[0], pretrained.intercepts_[0])
    assert not np.array_equal(clf.coefs_[1], pretrained.coefs_[1])
    assert not np.array_equal(clf.coefs_[2], pretrained.coefs_[2])


def test_init_copies_the_matching_leading_layers(pretrained, iris):
    """A new task (two classes instead of three): the hidden layers start from
    the pretrained network, the new output layer from scikit-learn's rule."""
    X, y = iris
    clf = MLPClassifier((6, 5), init=pretrained, freeze_layers=2, max_iter=5, random_state=0)
    _fit(clf, X, y == 2)
    for k in range(2):
        np.testing.assert_array_equal(clf.coefs_[k], pretrained.coefs_[k])
    assert clf.coefs_[2].shape == (5, 1)


def test_warm_start_with_frozen_layers(iris):
    X, y = iris
    clf = _fit(MLPClassifier((6,), max_iter=5, random_state=0), X, y)
    first = clf.coefs_[0].copy()
    clf.set_params(warm_start=True, freeze_layers=1)
    _fit(clf, X, y)
    np.testing.assert_array_equal(clf.coefs_[0], first)


# -------------------------------------------------------- gradient clipping


def test_clipping_bounds_the_step(iris):
    """Plain SGD on whole-data batches with alpha=0: a clipped step moves the
    parameters by exactly ``lr * clip_grad_norm``."""
    X, y = iris
    params = dict(
        solver="sgd", momentum=0.0, alpha=0.0, batch_size=len(y), shuffle=False,
        learning_rate_init=0.5, max_iter=1, random_state=0, warm_start=True,
    )
    clf = _fit(MLPClassifier((5,), **params), X, y)
    before = clf._theta.copy()
    clf.set_params(clip_grad_norm=1e-3)
    _fit(clf, X, y)
    assert np.linalg.norm(clf._theta - before) == pytest.approx(0.5 * 1e-3, rel=1e-9)
    # a bound above the gradient's norm changes nothing
    a = _fit(MLPClassifier((5,), **{**params, "warm_start": False}), X, y)
    b = _fit(MLPClassifier((5,), clip_grad_norm=1e6, **{**params, "warm_start": False}), X, y)
    np.testing.assert_array_equal(a._theta, b._theta)


# ---------------------------------------------------------- weight averaging

_SGD = dict(
    solver="sgd", momentum=0.0, batch_size=150, shuffle=False, learning_rate_init=0.2,
    random_state=0, tol=0.0, n_iter_no_change=10**6,
)


def _iterates(X, y, steps):
    """The weights after each step of plain SGD (one step per epoch)."""
    clf = MLPClassifier((5,), warm_start=True, max_iter=1, **_SGD)
    out = []
    for _ in range(steps):
        _fit(clf, X, y)
        out.append(clf._theta.copy())
    return np.array(out)


def _ema(thetas, decay):
    average = thetas[0].copy()  # the first averaged step starts the average
    for theta in thetas[1:]:
        average = decay * average + (1 - decay) * theta
    return average


@pytest.mark.parametrize(
    "average, reference",
    [
        (True, lambda th: th.mean(axis=0)),
        (3 * 150, lambda th: th[2:].mean(axis=0)),  # from the step that reaches 450 samples
        (0.5, lambda th: _ema(th, 0.5)),
    ],
    ids=["polyak", "from-n-samples", "exponential"],
)
def test_averaged_weights_match_the_iterates(average, reference, iris):
    X, y = iris
    thetas = _iterates(X, y, 6)
    clf = _fit(MLPClassifier((5,), average=average, max_iter=6, **_SGD), X, y)
    np.testing.assert_allclose(clf._theta, reference(thetas), rtol=1e-10, atol=1e-12)


def test_averaging_continues_from_the_raw_weights(iris):
    X, y = iris
    whole = _fit(MLPClassifier((5,), average=True, max_iter=4, **_SGD), X, y)
    pieces = MLPClassifier((5,), average=True, **_SGD)
    for _ in range(4):
        pieces.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_allclose(pieces._theta, whole._theta, rtol=1e-12)


def test_early_stopping_scores_the_averaged_weights(iris):
    X, y = iris
    clf = MLPClassifier((5,), average=True, early_stopping=True, max_iter=30, random_state=0)
    _fit(clf, X[::2], y[::2], X_val=X[1::2], y_val=y[1::2])
    assert clf.best_validation_score_ == pytest.approx(clf.score(X[1::2], y[1::2]))


# ------------------------------------------------------------ random restarts


def test_restarts_keep_the_run_with_the_lowest_loss(iris):
    X, y = iris
    clf = _fit(MLPClassifier((3,), n_init=4, max_iter=20, random_state=0), X, y)
    losses = [run["loss"] for run in clf.restarts_]
    assert len(losses) == 4 and len(set(losses)) == 4
    assert clf.best_restart_ == int(np.argmin(losses))
    assert clf.loss_ == min(losses)
    again = _fit(MLPClassifier((3,), n_init=4, max_iter=20, random_state=0), X, y)
    np.testing.assert_array_equal(again._theta, clf._theta)


def test_restarts_with_early_stopping_keep_the_best_validation_score(iris):
    X, y = iris
    clf = _fit(MLPClassifier((3,), n_init=3, early_stopping=True, max_iter=30, random_state=0), X, y)
    scores = [run["validation_score"] for run in clf.restarts_]
    assert clf.best_restart_ == int(np.argmax(scores))
    assert clf.best_validation_score_ == max(scores)


def test_restarts_of_a_full_batch_solver(iris):
    X, y = iris
    clf = _fit(MLPClassifier((2,), solver="lbfgs", n_init=3, max_iter=30, random_state=0), X, y)
    assert clf.loss_ == min(run["loss"] for run in clf.restarts_)


def test_continued_training_does_not_restart(iris):
    X, y = iris
    clf = _fit(MLPClassifier((3,), n_init=3, max_iter=5, warm_start=True, random_state=0), X, y)
    assert len(clf.restarts_) == 3
    _fit(clf, X, y)
    assert not hasattr(clf, "restarts_") and not hasattr(clf, "best_restart_")


# ----------------------------------------------------------- snapshot ensembles


def test_snapshot_ensemble_predicts_the_mean_of_its_members(iris):
    X, y = iris
    schedule = Cyclic(base_lr=0.001, step_size=2, snapshots=3)
    clf = _fit(MLPClassifier((5,), learning_rate=schedule, learning_rate_init=0.05, max_iter=16, random_state=0, tol=0.0, n_iter_no_change=10**6), X, y)
    members = clf.snapshots_
    assert len(members) == 3  # cycles end after epochs 4, 8, 12 and 16: the last 3 kept
    np.testing.assert_array_equal(members[-1][0][0], clf.coefs_[0])
    probabilities = []
    for coefs, intercepts in members:
        single = copy.deepcopy(clf)
        single.coefs_ = [c.copy() for c in coefs]  # replaced arrays: a single network
        single.intercepts_ = [b.copy() for b in intercepts]
        probabilities.append(single.predict_proba(X))
    np.testing.assert_allclose(clf.predict_proba(X), np.mean(probabilities, axis=0), rtol=1e-12)
    assert not np.allclose(probabilities[0], probabilities[-1])


def test_warm_restart_snapshots_of_a_regressor(diabetes):
    X, y = diabetes
    schedule = WarmRestarts(T_0=2, T_mult=2, snapshots=5)
    reg = _fit(MLPRegressor(hidden_layer_sizes=(5,), learning_rate=schedule, learning_rate_init=0.01, max_iter=14, random_state=0), X, y)
    assert len(reg.snapshots_) == 3  # cycles of 2, 4 and 8 epochs end after 2, 6 and 14
    inputs = Inputs(X, np.float64)
    outputs = [reg._network.predict(s, inputs).ravel() for s in reg._snapshots]
    np.testing.assert_allclose(reg.predict(X), np.mean(outputs, axis=0), rtol=1e-12)


def test_no_snapshots_without_asking(iris):
    X, y = iris
    clf = _fit(MLPClassifier((5,), learning_rate="cyclic", max_iter=12, random_state=0), X, y)
    assert clf.snapshots_ == []
