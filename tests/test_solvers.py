"""The solvers: each reaches a fixed loss on real data, each finds the optimum
of a convex problem that scikit-learn's linear models solve, the full-batch
ones report their work, and optimizer objects plug into model selection."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier, MLPRegressor
from skdeep._network import Inputs
from skdeep.optim import SGD, AdaGrad, AdaHessian, Adam, AdamW, RMSProp
from skdeep.optim._objective import FullBatchObjective
from skdeep.regularization import Regularization

#: a learning rate that suits each first-order solver on standardised data
RATES = {"sgd": 0.1, "adam": 0.01, "adagrad": 0.1, "rmsprop": 0.01, "adamw": 0.01, "adahessian": 0.1}
FULL_BATCH = ["lbfgs", "cg", "bfgs", "newton-cg", "newton", "coordinate"]
SOLVERS = [*RATES, *FULL_BATCH]


def _quiet_fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _solver_params(solver, n_samples, batch_size=30):
    if solver in RATES:
        return {"solver": solver, "learning_rate_init": RATES[solver], "batch_size": min(batch_size, n_samples)}
    return {"solver": solver}


@pytest.mark.parametrize("solver", SOLVERS)
def test_each_solver_reaches_a_fixed_training_loss(solver, iris):
    X, y = iris
    clf = MLPClassifier((8,), max_iter=200, random_state=0, **_solver_params(solver, len(y)))
    _quiet_fit(clf, X, y)
    assert clf.loss_ < 0.06, clf.loss_
    assert clf.score(X, y) > 0.97


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


#: strong enough an L2 penalty for the stochastic solvers to converge in 1500 epochs
ALPHA = 30.0


@pytest.mark.parametrize("solver", SOLVERS)
def test_convex_classifier_finds_logistic_regressions_optimum(solver, cancer):
    """Without hidden layer the log-loss with an L2 penalty is strictly convex:
    ``(sum log_loss + alpha/2 ||w||^2) / n`` is LogisticRegression's objective
    with ``C = 1 / alpha`` (intercept unpenalised in both), divided by n."""
    X, y = cancer
    ref = LogisticRegression(C=1 / ALPHA, tol=1e-12, max_iter=10_000).fit(X, y)
    clf = _convex(MLPClassifier, solver, len(y))
    _quiet_fit(clf, X, y)
    atol = 1e-4 if solver in FULL_BATCH else 5e-3
    np.testing.assert_allclose(clf.coefs_[0].ravel(), ref.coef_.ravel(), atol=atol)
    np.testing.assert_allclose(clf.intercepts_[0], ref.intercept_, atol=atol)


@pytest.mark.parametrize("solver", SOLVERS)
def test_convex_regressor_finds_ridges_optimum(solver, diabetes):
    """``(sum (y - Xw - b)^2 / 2 + alpha/2 ||w||^2) / n`` is Ridge's objective
    with the same ``alpha``, divided by 2n."""
    X, y = diabetes
    ref = Ridge(alpha=ALPHA).fit(X, y)
    reg = _convex(MLPRegressor, solver, len(y))
    _quiet_fit(reg, X, y)
    atol = 1e-4 if solver in FULL_BATCH else 5e-3
    np.testing.assert_allclose(reg.coefs_[0].ravel(), ref.coef_, atol=atol)
    np.testing.assert_allclose(reg.intercepts_[0], [ref.intercept_], atol=atol)


def _convex(cls, solver, n_samples):
    params = {"hidden_layer_sizes": (), "alpha": ALPHA, "random_state": 0}
    if solver in FULL_BATCH:
        params.update(solver=solver, tol=1e-10, max_iter=500)
    else:  # whole-data batches: the same objective, followed by the optimizer
        optimizer = AdamW(weight_decay=0.0) if solver == "adamw" else solver
        params.update(
            solver=optimizer, batch_size=n_samples, learning_rate_init=RATES[solver],
            max_iter=1500, tol=0.0, n_iter_no_change=10**6,
        )
        if solver == "rmsprop":  # its steps stay ~lr without a decaying rate
            params.update(learning_rate="cosine", learning_rate_init=0.003)
    return cls(**params)


def _gradient_norm(est, X, y):
    """Norm of the gradient of the training objective at the fitted weights."""
    net, theta = est._network, est._theta
    reg = Regularization(l2=est.alpha, dropout=np.zeros(net.n_layers - 1))
    Y = est._encode_targets(y).astype(np.float64)
    objective = FullBatchObjective(net, Inputs(X, np.float64), Y, np.ones(len(y)), reg)
    return np.linalg.norm(objective(theta)[1])


def test_newton_converges_in_few_iterations(iris):
    """On a tiny network the damped Newton method needs a fraction of
    L-BFGS's iterations, and ends at a stationary point."""
    X, y = iris
    params = dict(hidden_layer_sizes=(3,), activation="tanh", alpha=1.0, tol=1e-6, max_iter=500)
    for seed in range(3):
        newton = MLPClassifier(solver="newton", random_state=seed, **params).fit(X, y)
        lbfgs = MLPClassifier(solver="lbfgs", random_state=seed, **params).fit(X, y)
        assert newton.n_iter_ <= 20
        assert 3 * newton.n_iter_ < lbfgs.n_iter_
        assert _gradient_norm(newton, X, y) < 1e-6


def test_newton_solves_a_quadratic_in_one_step(diabetes):
    X, y = diabetes
    reg = MLPRegressor(hidden_layer_sizes=(), solver="newton", alpha=1.0, random_state=0).fit(X, y)
    assert reg.n_iter_ <= 2
    np.testing.assert_allclose(reg.coefs_[0].ravel(), Ridge(alpha=1.0).fit(X, y).coef_, rtol=1e-8)


@pytest.mark.parametrize("solver", FULL_BATCH)
def test_full_batch_solvers_report_iterations_and_evaluations(solver, iris):
    X, y = iris
    clf = _quiet_fit(MLPClassifier((4,), solver=solver, max_iter=30, random_state=0), X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.history_) >= 1
    evaluations = [record["evaluations"] for record in clf.history_]
    assert evaluations == sorted(evaluations)
    assert clf.n_iter_ <= clf.n_evaluations_ and evaluations[-1] <= clf.n_evaluations_
    assert clf.t_ == clf.n_evaluations_ * len(y)


@pytest.mark.parametrize("solver", ["cg", "bfgs", "newton-cg", "newton"])
def test_max_iter_and_max_fun_end_in_a_convergence_warning(solver, iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match=f"solver='{solver}' did not converge after 2 iterations"):
        clf = MLPClassifier((4,), solver=solver, max_iter=2, random_state=0).fit(X, y)
    assert clf.n_iter_ == 2
    with pytest.warns(ConvergenceWarning, match=r"Maximum number of function evaluations \(max_fun=4\)"):
        clf = MLPClassifier((4,), solver=solver, max_fun=4, random_state=0).fit(X, y)
    assert 4 <= clf.n_evaluations_ < 4 + 40  # stopped at the end of the iteration


def test_lbfgs_keeps_scikit_learns_warning(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((4,), solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


def test_partial_fit_continues_every_first_order_solver(iris):
    X, y = iris
    for solver in RATES:
        clf = MLPClassifier((6,), solver=solver, learning_rate_init=RATES[solver], random_state=0)
        for _ in range(3):
            clf.partial_fit(X, y, classes=np.unique(y))
        assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 3
        assert clf._progress.optimizer.counters[0] == 3  # one batch of 150 per epoch


def test_an_optimizer_object_equals_its_name(iris):
    X, y = iris
    by_name = MLPClassifier((5,), solver="adam", beta_1=0.8, max_iter=5, random_state=0)
    by_object = MLPClassifier((5,), solver=Adam(beta_1=0.8), max_iter=5, random_state=0)
    _quiet_fit(by_name, X, y)
    _quiet_fit(by_object, X, y)
    np.testing.assert_array_equal(by_name._theta, by_object._theta)
    sgd_name = MLPClassifier((5,), solver="sgd", momentum=0.5, nesterovs_momentum=False, max_iter=5, random_state=0)
    sgd_object = MLPClassifier((5,), solver=SGD(momentum=0.5, nesterov=False), max_iter=5, random_state=0)
    np.testing.assert_array_equal(_quiet_fit(sgd_name, X, y)._theta, _quiet_fit(sgd_object, X, y)._theta)


@pytest.mark.parametrize("optimizer", [RMSProp(rho=0.5), AdaGrad(epsilon=1e-6), AdamW(weight_decay=0.5), AdaHessian(hessian_power=0.5)])
def test_optimizer_hyperparameters_change_the_model(optimizer, iris):
    X, y = iris
    default = type(optimizer)()
    a = _quiet_fit(MLPClassifier((5,), solver=optimizer, max_iter=5, random_state=0), X, y)
    b = _quiet_fit(MLPClassifier((5,), solver=default, max_iter=5, random_state=0), X, y)
    assert not np.array_equal(a._theta, b._theta)


def test_grid_search_tunes_an_optimizers_parameters(iris):
    X, y = iris
    est = MLPClassifier((5,), solver=RMSProp(), max_iter=5, random_state=0)
    assert est.get_params()["solver__rho"] == 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(est, {"solver__rho": [0.5, 0.99]}, cv=2, scoring="neg_log_loss").fit(X, y)
        # the value reaches the optimizer: the two settings train different models ...
        scores = search.cv_results_["mean_test_score"]
        assert scores[0] != scores[1]
        # ... and the refitted model is the one that value gives
        rho = search.best_params_["solver__rho"]
        direct = MLPClassifier((5,), solver=RMSProp(rho=rho), max_iter=5, random_state=0).fit(X, y)
    assert search.best_estimator_.solver.rho == rho
    np.testing.assert_array_equal(search.best_estimator_._theta, direct._theta)
    assert est.solver.rho == 0.9  # the search worked on clones
    assert clone(est).solver is not est.solver  # cloned, not shared


def test_optimizers_give_their_hyper_parameters_by_name():
    """Each optimizer's ``Hyper`` holds its own values, as floats (and a
    bool), whatever numbers it was given, and the defaults elsewhere (no
    momentum, no decay); its state has the rows its registry entry says,
    and a copy of the state shares the immutable record."""
    from skdeep._kernels import updates
    from skdeep._kernels.records import Hyper

    sgd = SGD(momentum=0, nesterov=np.bool_(False)).hyper()
    assert sgd == Hyper(momentum=0.0, nesterov=False)
    assert type(sgd.momentum) is float and type(sgd.nesterov) is bool
    assert RMSProp(rho=0.5, epsilon=1e-6).hyper() == Hyper(rho=0.5, epsilon=1e-6)
    assert Adam(beta_1=0.8).hyper().weight_decay == 0.0
    assert AdamW(weight_decay=0.1).hyper().weight_decay == 0.1
    assert AdaHessian(hessian_power=0.5).hyper() == Hyper(epsilon=1e-4, hessian_power=0.5)
    for optimizer in (SGD(), Adam(), AdamW(), AdaGrad(), RMSProp(), AdaHessian()):
        state = optimizer.start(5, np.float32)
        assert state.state.shape == (updates.UPDATE_RULES[optimizer.code].n_slots, 5)
        assert state.state.dtype == np.float32
        assert state.hyper == optimizer.hyper()
        copy = state.copy()
        assert copy.hyper is state.hyper and copy.state is not state.state


def test_adamw_decays_weights_not_biases():
    """With a zero gradient only the decoupled decay acts: the weights (the
    first two entries) shrink by ``1 - lr * weight_decay``, the bias stays."""
    from skdeep._kernels import updates
    from skdeep._kernels.records import Diagonal, OptimizerStep, Penalties

    theta = np.array([1.0, -2.0, 0.5])
    optimizer = AdamW(weight_decay=0.1)
    state = optimizer.start(3, theta.dtype).state
    opt = OptimizerStep(optimizer.code, state, optimizer.hyper(), 0.5, 2, 0)
    updates.optimizer_step(
        opt, theta, np.zeros(3), 0, 3, 1, 1.0, Penalties(0.0, None, 0.0, None),
        Diagonal(np.zeros(0), np.zeros(0)),
    )
    np.testing.assert_allclose(theta, [0.95, -1.9, 0.5])


def test_bfgs_update_is_scipys_dense_formula():
    """The O(n^2) rank-2 update equals scipy's (I - rho s y') H (I - rho y s') + rho s s'."""
    from skdeep.optim._full_batch import bfgs_update

    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    H = A @ A.T + np.eye(6)
    s, y = rng.normal(size=6), rng.normal(size=6)
    y += s * (1 - y @ s / (s @ s))  # y's > 0
    rho = 1 / (y @ s)
    eye = np.eye(6)
    expected = (eye - rho * np.outer(s, y)) @ H @ (eye - rho * np.outer(y, s)) + rho * np.outer(s, s)
    updated = bfgs_update(np.asfortranarray(H.copy()), s, y)
    assert_allclose(np.triu(updated), np.triu(expected), rtol=1e-12, atol=1e-12)
    assert_allclose(expected @ y, s, rtol=1e-10)  # the secant equation


def test_bfgs_matches_scipy_on_rosenbrock():
    from scipy.optimize import minimize as scipy_minimize
    from scipy.optimize import rosen, rosen_der

    from skdeep.optim._full_batch import FULL_BATCH

    x0 = np.array([-1.2, 1.0, -0.5, 0.8, 1.5])
    seen = []
    ours = FULL_BATCH["bfgs"](
        lambda x: (rosen(x), rosen_der(x)), x0, max_iter=500, max_fun=10_000, tol=1e-8,
        verbose=False, callback=lambda r: seen.append(r.fun),
    )
    theirs = scipy_minimize(rosen, x0, jac=rosen_der, method="BFGS", options={"gtol": 1e-8})
    assert ours.success and theirs.success
    assert_allclose(ours.x, np.ones(5), atol=1e-6)
    assert_allclose(ours.x, theirs.x, atol=1e-6)
    assert ours.nit == len(seen) and ours.nit <= 1.5 * theirs.nit
    assert np.all(np.diff(seen) <= 0)  # a Wolfe line search never goes uphill


class _Saddle:
    """f(x, y) = x^2 - y^2 + y^4 / 4: a saddle at the origin, minima at
    (0, +-sqrt(2)). From (1, 1e-3) Newton's plain step lands next to the saddle."""

    def __call__(self, z):
        x, y = z
        return x**2 - y**2 + y**4 / 4, np.array([2 * x, -2 * y + y**3])

    def hess(self, z):
        return np.diag([2.0, -2.0 + 3 * z[1] ** 2])


def test_newton_steps_away_from_a_saddle_point():
    from skdeep.optim._full_batch import FULL_BATCH

    start = np.array([1.0, 1e-3])
    g, H = _Saddle()(start)[1], _Saddle().hess(start)
    assert np.linalg.norm(start - np.linalg.solve(H, g)) < 1e-2  # plain Newton: the saddle
    result = FULL_BATCH["newton"](
        _Saddle(), start, max_iter=50, max_fun=1000, tol=1e-10, verbose=False,
        callback=lambda r: None,
    )
    assert result.success
    assert_allclose(result.x, [0.0, np.sqrt(2)], atol=1e-8)
    assert result.fun < -0.99


def test_newton_factorises_only_well_conditioned_positive_definite_hessians():
    """The Newton step comes from a Cholesky factor when the Hessian is
    positive definite and well conditioned; otherwise (indefinite, or a
    reciprocal condition below 1e-10) from the eigendecomposition."""
    import scipy.linalg

    from skdeep.optim._full_batch import _well_conditioned_cholesky

    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]

    def with_eigenvalues(*w):
        return (Q * np.array(w)) @ Q.T

    H = with_eigenvalues(1, 2, 3, 4, 5, 6)
    g = rng.normal(size=6)
    factor = _well_conditioned_cholesky(H)
    assert_allclose(scipy.linalg.cho_solve(factor, g), np.linalg.solve(H, g), rtol=1e-12)
    assert _well_conditioned_cholesky(with_eigenvalues(1, 2, 3, 4, 5, -6)) is None
    assert _well_conditioned_cholesky(with_eigenvalues(1e-13, 2, 3, 4, 5, 6)) is None
    assert _well_conditioned_cholesky(with_eigenvalues(1e-6, 2, 3, 4, 5, 6)) is not None
    assert _well_conditioned_cholesky(np.full((6, 6), np.nan)) is None


class _Quadratic:
    """``0.5 x'Ax - b'x`` with a positive definite ``A``."""

    def __init__(self, A, b):
        self.A, self.b = A, b

    def __call__(self, x):
        return 0.5 * x @ self.A @ x - self.b @ x, self.A @ x - self.b

    def hess(self, x):
        return self.A


def test_newton_retries_a_failed_newton_step_damped(monkeypatch):
    """A failed line search along the Newton step from the Cholesky factor is
    retried along the damped step (curvatures floored at 0.1 times the
    largest: ten times the previous floor, which is above ten times the
    smallest), not along the same step again; the run then converges."""
    import scipy.optimize

    from skdeep.optim._full_batch import FULL_BATCH

    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    w = np.array([1e-3, 1.0, 2.0, 4.0, 6.0])
    quadratic = _Quadratic((Q * w) @ Q.T, rng.normal(size=5))
    real = scipy.optimize.line_search
    directions = []

    def first_fails(f, fprime, x, p, *args, **kwargs):
        directions.append(p.copy())
        if len(directions) == 1:
            return None, 0, 0, None, None, None
        return real(f, fprime, x, p, *args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "line_search", first_fails)
    x0 = np.zeros(5)
    result = FULL_BATCH["newton"](
        quadratic, x0, max_iter=50, max_fun=1000, tol=1e-10, verbose=False,
        callback=lambda r: None,
    )
    g = quadratic(x0)[1]
    assert_allclose(directions[0], -np.linalg.solve(quadratic.A, g), rtol=1e-8)
    damped = -Q @ ((Q.T @ g) / np.maximum(w, 0.1 * w.max()))
    assert_allclose(directions[1], damped, rtol=1e-8)
    assert result.success
    assert_allclose(result.x, np.linalg.solve(quadratic.A, quadratic.b), rtol=1e-6)


def test_bfgs_restarts_after_a_failed_line_search(monkeypatch):
    """When a line search fails on an updated estimate, BFGS restarts from the
    identity (with a unit first step) instead of giving up."""
    import scipy.optimize
    from scipy.optimize import rosen, rosen_der

    from skdeep.optim._full_batch import FULL_BATCH

    real = scipy.optimize.line_search
    calls = []

    def fails_once(f, fprime, xk, pk, gfk, old_fval, old_old_fval):
        calls.append(old_old_fval)
        if len(calls) == 5:  # past the first update: the estimate is not fresh
            return None, 0, 0, None, old_fval, None
        return real(f, fprime, xk, pk, gfk, old_fval, old_old_fval)

    monkeypatch.setattr(scipy.optimize, "line_search", fails_once)
    x0 = np.array([-1.2, 1.0, -0.5])
    result = FULL_BATCH["bfgs"](
        lambda x: (rosen(x), rosen_der(x)), x0, max_iter=500, max_fun=10_000, tol=1e-8,
        verbose=False, callback=lambda r: None,
    )
    assert len(calls) > 6
    assert result.success
    assert_allclose(result.x, np.ones(3), atol=1e-6)
