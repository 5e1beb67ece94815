"""Block coordinate descent (``solver='coordinate'``) and curriculum learning
(``curriculum``): the solver against exact block minimisation and the
logistic-regression optimum, the curriculum's rows against its pacing."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skdeep import MLPClassifier, MLPRegressor
from skdeep._curriculum import Curriculum, pacing_rows
from skdeep._network import Inputs, Network
from skdeep.optim._full_batch import FULL_BATCH

#: one configuration for every fit of the curriculum's tests (one compile)
CURRICULUM_FIT = dict(hidden_layer_sizes=(8,), batch_size=16, random_state=0)


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# ------------------------------------------------------ coordinate descent


def test_coordinate_minimises_a_coupled_quadratic_block_by_block():
    """On ``1/2 x'Ax - b'x`` with two coupled blocks, each cycle minimises
    each block exactly (L-BFGS-B on a 2-d quadratic), and the cycles
    converge to ``A^-1 b`` (NumPy's solve); the objective never rises."""
    rng = np.random.default_rng(0)
    M = rng.normal(size=(4, 4))
    A = M @ M.T + 4 * np.eye(4)
    b = rng.normal(size=4)
    values = []

    def evaluate(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    result = FULL_BATCH["coordinate"](
        evaluate, np.zeros(4), max_iter=200, max_fun=10**5, tol=1e-6, verbose=False,
        callback=lambda r: values.append(r.fun), blocks=[np.array([0, 1]), np.array([2, 3])],
    )
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-5, atol=1e-6)
    assert result.success and result.nit == len(values) > 1
    assert np.all(np.diff(values) <= 0)
    # the first cycle starts with the last block: it is that block's exact minimiser
    first = FULL_BATCH["coordinate"](
        evaluate, np.zeros(4), max_iter=1, max_fun=10**5, tol=1e-12, verbose=False,
        callback=lambda r: None, blocks=[np.array([0, 1]), np.array([2, 3])],
    )
    x2 = np.linalg.solve(A[2:, 2:], b[2:])
    x0 = np.linalg.solve(A[:2, :2], b[:2] - A[:2, 2:] @ x2)
    np.testing.assert_allclose(first.x, np.r_[x0, x2], rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def coordinate_fit(iris):
    X, y = iris
    return _quiet_fit(MLPClassifier((8,), solver="coordinate", max_iter=12, random_state=0), X, y)


def test_coordinate_decreases_the_objective_every_cycle(coordinate_fit, iris):
    est = coordinate_fit
    curve = np.asarray(est.loss_curve_)
    assert est.n_iter_ == len(curve) == len(est.history_) > 3
    assert np.all(np.diff(curve) <= 0), np.diff(curve).max()
    assert curve[-1] < 0.5 * curve[0]
    evaluations = [r["evaluations"] for r in est.history_]
    assert np.all(np.diff(evaluations) > 0) and est.n_evaluations_ == evaluations[-1]
    assert est.score(*iris) > 0.95


def test_coordinate_learns_digits_as_well_as_adam():
    """Issue 19's check: on digits (standardised, five 75/25 splits) block
    coordinate descent's test accuracy is Adam's within noise (0.9716
    against 0.9742 when measured; with 20 L-BFGS-B iterations per block,
    which fitted the training rows in the first cycle, 0.9609)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    scores = {"adam": [], "coordinate": []}
    for seed in range(5):
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for solver, found in scores.items():
            est = _quiet_fit(MLPClassifier(solver=solver, random_state=seed), X_train, y_train)
            found.append(est.score(X_test, y_test))
    assert np.mean(scores["coordinate"]) >= np.mean(scores["adam"]) - 0.006, scores


def test_coordinate_reaches_the_logistic_regression_optimum(iris):
    """Without hidden layers the network is multinomial logistic regression
    and the one block its whole (convex) problem. skdeep minimises ``(sum_i
    loss_i + alpha / 2 ||W||^2) / n``, scikit-learn's LogisticRegression
    ``C sum_i loss_i + 1/2 ||W||^2``: the same minimiser for ``C = 1 /
    alpha``. The intercepts of a softmax are defined up to a common shift
    (and not penalised): compared centred."""
    X, y = iris
    alpha = 1.0
    est = MLPClassifier((), solver="coordinate", alpha=alpha, tol=1e-8, max_iter=500).fit(X, y)
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(est.coefs_[0], ref.coef_.T, atol=1e-5)
    b = est.intercepts_[0]
    np.testing.assert_allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(), atol=1e-5)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    lbfgs = MLPClassifier((), solver="lbfgs", alpha=alpha, tol=1e-8, max_iter=500).fit(X, y)
    assert est.loss_ <= lbfgs.loss_ + 1e-9


def test_coordinate_with_l1_bounds_and_frozen_layers(iris):
    """The L1 penalty through L-BFGS-B's bounds (exact zeros, and at least
    as low a value of the convex objective as 'lbfgs' reaches: L-BFGS-B on
    the split weights stops short of the optimum by up to 2e-3 relative,
    depending on the BLAS threads), and frozen layers left as they were."""
    X, y = iris
    kw = dict(penalty="l1", alpha=2.0, tol=1e-7, max_iter=300)
    est = _quiet_fit(MLPClassifier((), solver="coordinate", **kw), X, y)
    ref = _quiet_fit(MLPClassifier((), solver="lbfgs", **kw), X, y)
    assert np.sum(est.coefs_[0] == 0) >= 1
    assert est.loss_ <= ref.loss_ * (1 + 1e-6)
    assert est.loss_ == pytest.approx(ref.loss_, rel=1e-2)
    base = _quiet_fit(MLPClassifier((8,), solver="lbfgs", max_iter=5, random_state=0), X, y)
    first = base.coefs_[0].copy()
    tuned = MLPClassifier((8,), solver="coordinate", max_iter=3, init=base, freeze_layers=1)
    _quiet_fit(tuned, X, y)
    np.testing.assert_array_equal(tuned.coefs_[0], first)
    assert not np.array_equal(tuned.coefs_[1], base.coefs_[1])


def test_coordinate_stops_at_max_iter_with_a_convergence_warning(iris):
    with pytest.warns(ConvergenceWarning, match="'coordinate' did not converge"):
        est = MLPClassifier((8,), solver="coordinate", max_iter=2, random_state=0).fit(*iris)
    assert est.n_iter_ == 2


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(dropout=0.2), "makes the training objective random"),
        (dict(max_norm=1.0), "max_norm is enforced by projecting"),
        (dict(batch_norm=True), "needs the mini-batches of a stochastic solver"),
        (dict(learning_rate="cosine"), "sets its own step lengths"),
    ],
)
def test_coordinate_refuses_what_needs_mini_batches(iris, params, match):
    est = MLPClassifier((8,), solver="coordinate", **params)
    with pytest.raises(ValueError, match=match):
        est.fit(*iris)


# ---------------------------------------------------------------- curriculum


def test_pacing_grows_linearly_to_every_row():
    assert [pacing_rows(e, 0.2, 4, 150) for e in range(6)] == [30, 60, 90, 120, 150, 150]
    assert [pacing_rows(e, 0.5, 3, 7) for e in range(4)] == [4, 5, 6, 7]  # ceil
    assert pacing_rows(0, 0.001, 10, 50) == 1


def test_the_rows_per_epoch_follow_the_pacing_and_the_last_epochs_see_every_row(iris):
    X, y = iris
    est = MLPClassifier(
        curriculum=lambda X, y: np.abs(X[:, 2] - X[:, 2].mean()), curriculum_start=0.2,
        curriculum_epochs=4, max_iter=6, **CURRICULUM_FIT,
    )
    _quiet_fit(est, X, y)
    rows = [r["curriculum_rows"] for r in est.history_]
    assert rows == [30, 60, 90, 120, 150, 150]
    assert [r["curriculum_growing"] for r in est.history_] == [True] * 4 + [False] * 2
    assert est.t_ == sum(rows)


def test_the_compiled_epoch_trains_on_the_chosen_rows_only(iris):
    """Without shuffling, a curriculum that stays at its easiest 59 rows for
    three epochs (ceil(150 * (0.39 + 0.61 e / 1000)) = 59 for e < 3) trains
    exactly as a fit on those rows alone (the same weights, bit for bit):
    the compiled epoch gathers the chosen rows, and only them, with their
    sample weights."""
    X, y = iris
    difficulty = np.abs(X[:, 0])
    easiest = np.sort(np.argsort(difficulty, kind="stable")[:59])
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=150)
    kw = dict(CURRICULUM_FIT, shuffle=False, max_iter=3)
    cur = _quiet_fit(
        MLPClassifier(curriculum=lambda X, y: np.abs(X[:, 0]), curriculum_start=0.39,
                      curriculum_epochs=1000, **kw), X, y, sample_weight=sw,
    )
    alone = _quiet_fit(MLPClassifier(**kw), X[easiest], y[easiest], sample_weight=sw[easiest])
    for a, b in zip(cur.coefs_ + cur.intercepts_, alone.coefs_ + alone.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert cur.loss_curve_ == alone.loss_curve_
    assert [r["curriculum_rows"] for r in cur.history_] == [59] * 3


def test_self_paced_takes_the_rows_of_lowest_current_loss(iris):
    """The per-row losses of the compiled kernel are scikit-learn's
    log-loss per row, and the self-paced curriculum keeps the rows with the
    lowest."""
    X, y = iris
    Y = np.eye(3)[y]
    network = Network([4, 8, 3], "relu", "log_loss")
    theta = np.random.default_rng(0).normal(scale=0.5, size=network.n_params)
    inputs = Inputs(X, np.float64)
    raw = network.predict(theta, inputs, link=False)
    losses = network.row_losses(raw, Y)
    P = network.activate(raw.copy())
    np.testing.assert_allclose(losses, -np.log(P[np.arange(150), y]), rtol=1e-12)
    curriculum = Curriculum(None, 0.3, 5, network, inputs, Y)
    order = np.random.default_rng(1).permutation(150).astype(np.int64)
    rows = curriculum.rows(0, order, theta)
    assert sorted(rows.tolist()) == sorted(np.argsort(losses, kind="stable")[:45].tolist())
    np.testing.assert_array_equal(rows, order[np.isin(order, rows)])  # the epoch's order
    assert curriculum.rows(5, order, theta) is order


def test_self_paced_regressor(diabetes):
    X, y = diabetes
    est = MLPRegressor(curriculum="self_paced", curriculum_start=0.5, curriculum_epochs=2,
                       max_iter=3, **CURRICULUM_FIT)
    _quiet_fit(est, X, y)
    n = X.shape[0]
    assert [r["curriculum_rows"] for r in est.history_] == [-(-n // 2), -(-3 * n // 4), n]
    assert np.isfinite(est.loss_)


def test_self_paced_fit_and_warm_start_restarts_the_curriculum(iris):
    X, y = iris
    est = MLPClassifier(curriculum="self_paced", curriculum_start=0.5, curriculum_epochs=2,
                        max_iter=3, warm_start=True, **CURRICULUM_FIT)
    _quiet_fit(est, X, y)
    _quiet_fit(est, X, y)
    assert [r["curriculum_rows"] for r in est.history_] == [75, 113, 150] * 2


def test_early_stopping_validates_on_held_out_rows_and_waits_for_the_curriculum(iris):
    """The validation rows are held out before the curriculum (which then
    ranks the training rows only), and the stopping rule does not count the
    epochs while the curriculum grows: with a tolerance nothing meets, the
    fit stops ``n_iter_no_change + 1`` epochs after the curriculum's end
    (without a curriculum: after one more, the first epoch's score always
    being an improvement on none)."""
    X, y = iris
    est = MLPClassifier(
        curriculum="self_paced", curriculum_start=0.2, curriculum_epochs=4, early_stopping=True,
        validation_fraction=0.2, tol=1e9, n_iter_no_change=1, max_iter=50, **CURRICULUM_FIT,
    )
    _quiet_fit(est, X, y)
    rows = [r["curriculum_rows"] for r in est.history_]
    assert rows == [24, 48, 72, 96, 120, 120]
    assert len(est.validation_scores_) == len(rows)
    plain = _quiet_fit(MLPClassifier(early_stopping=True, validation_fraction=0.2, tol=1e9,
                                     n_iter_no_change=1, max_iter=50, **CURRICULUM_FIT), X, y)
    assert plain.n_iter_ == 3


@pytest.mark.parametrize(
    "difficulty, error, match",
    [
        (lambda X, y: np.ones(3), ValueError, r"one difficulty per row: an array of shape \(150,\)"),
        (lambda X, y: np.ones((150, 2)), ValueError, "one difficulty per row"),
        (lambda X, y: np.where(y == 0, np.nan, 1.0), ValueError, "NaN or infinite"),
        (lambda X, y: np.array(["easy"] * 150), TypeError, "must return numbers"),
        (lambda X, y: [object()] * 150, TypeError, "must return numbers"),
        (lambda X, y: sp.csr_matrix(np.ones((150, 1))), TypeError, "sparse"),
    ],
)
def test_curriculum_callable_errors_leave_the_model_unchanged(iris, difficulty, error, match):
    X, y = iris
    est = _quiet_fit(MLPClassifier(max_iter=2, **CURRICULUM_FIT), X, y)
    before = [c.copy() for c in est.coefs_]
    est.set_params(curriculum=difficulty)
    with pytest.raises(error, match=match):
        est.fit(X, y)
    for a, b in zip(est.coefs_, before):
        np.testing.assert_array_equal(a, b)


def test_curriculum_needs_fit_and_a_stochastic_solver(iris):
    X, y = iris
    with pytest.raises(ValueError, match="curriculum chooses the rows of each epoch"):
        MLPClassifier(solver="lbfgs", curriculum="self_paced").fit(X, y)
    est = MLPClassifier(curriculum="self_paced")
    assert not hasattr(est, "partial_fit")  # as for the full-batch solvers
    with pytest.raises(AttributeError, match="partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2])
    y_unlabelled = np.where(np.arange(150) % 3 == 0, -1, y)
    with pytest.raises(ValueError, match="unlabelled rows"):
        MLPClassifier(curriculum="self_paced", semi_supervised="entropy").fit(X, y_unlabelled)
    with pytest.raises(ValueError, match="curriculum_start"):
        MLPClassifier(curriculum="self_paced", curriculum_start=0.0).fit(X, y)
    with pytest.raises(ValueError, match="'curriculum' parameter"):
        MLPClassifier(curriculum="hardest_first").fit(X, y)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "binary_log_loss", "log_loss"])
def test_row_losses_add_up_to_the_loss_of_every_registered_loss(loss):
    """Each row's loss (the self-paced difficulty) against the summed value
    kernel on one-row slices and on all rows."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(20, 3))
    Y = rng.random((20, 3)) if loss != "log_loss" else np.eye(3)[rng.integers(0, 3, 20)]
    if loss == "binary_log_loss":
        Y = (Y > 0.5).astype(np.float64)
    network = Network([4, 3], "relu", loss)
    losses = network.row_losses(raw, Y)
    assert losses.shape == (20,) and np.all(np.isfinite(losses))
    np.testing.assert_allclose(losses.mean(), network.loss_value(raw, Y, np.ones(20)), rtol=1e-12)
    for i in (0, 7):
        np.testing.assert_allclose(
            losses[i], network.loss_value(raw[i : i + 1], Y[i : i + 1], np.ones(1)), rtol=1e-12
        )
