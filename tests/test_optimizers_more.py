"""AdaDelta, RAdam, LAMB and Lookahead: their defining properties, in the
kernels and through the compiled epoch (the registry's test in
``test_kernels`` checks each step against its paper's formula)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skdeep import MLPClassifier, MLPRegressor
from skdeep._kernels import updates
from skdeep._kernels.records import (
    NO_LAYER_NORMS,
    Diagonal,
    LayerNorms,
    OptimizerStep,
    Penalties,
)
from skdeep._network import Inputs, Network
from skdeep._training import Progress, StochasticLoop, TrainSet
from skdeep.optim import LAMB, SGD, AdaDelta, AdaHessian, Adam, Lookahead, RAdam
from skdeep.regularization import Regularization
from skdeep.schedules import Constant

from .conftest import DTYPES, RTOL

NEW_SOLVERS = {  # a rate that suits each on standardised data
    "adadelta": dict(solver="adadelta"),
    "radam": dict(solver="radam", learning_rate_init=0.01),
    "lamb": dict(solver="lamb", learning_rate_init=0.02),
    "lookahead": dict(solver=Lookahead(Adam(), k=5, alpha=0.5), learning_rate_init=0.01),
}


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _step(optimizer, theta, grad, t, lr, n_weights, layers=NO_LAYER_NORMS, state=None):
    opt = OptimizerStep(optimizer.code, state, optimizer.hyper(), lr, n_weights, 0, layers)
    penalties = Penalties(0.0, None, 0.0, None)
    if optimizer.layerwise:
        updates.layer_norms_range(opt, theta, grad[None], True, 0, theta.shape[0], t, 1.0, penalties, 0)
    updates.optimizer_step(
        opt, theta, grad, 0, theta.shape[0], t, 1.0, penalties,
        Diagonal(theta[:0], theta[:0]),
    )


# ---------------------------------------------------------------------- RAdam


@pytest.mark.parametrize("dtype", DTYPES)
def test_radam_takes_momentum_steps_until_rho_t_passes_5_then_adams_rectified_steps(dtype):
    """With beta_2 = 0.999, rho_t is 1, 2, 3, 4, 4.996 over the first five
    steps: each is ``lr * m / (1 - beta_1^t)``, whatever ``v``; from the
    sixth (rho_t 5.994) the step is Adam's (PyTorch's epsilon placement)
    times ``r_t``, and ``r_t`` grows towards 1."""
    rng = np.random.default_rng(3)
    theta = rng.normal(size=6).astype(dtype)
    optimizer = RAdam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    state = optimizer.start(6, dtype).state
    m, v, expected, lr = np.zeros(6), np.zeros(6), theta.astype(np.float64), 0.01
    rectifications = []
    for t in range(1, 12):
        g = rng.normal(size=6)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        rho_inf = 2 / 0.001 - 1
        rho_t = rho_inf - 2 * t * 0.999**t / (1 - 0.999**t)
        r_t = updates.radam_rectification(0.999, t)
        rectifications.append(r_t)
        if t <= 5:
            assert rho_t <= 5 and r_t == 0
            expected = expected - lr * m / (1 - 0.9**t)
        else:
            assert rho_t > 5
            assert r_t == pytest.approx(
                np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            )
            adam = lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            expected = expected - r_t * adam
        _step(optimizer, theta, g.astype(dtype), t, lr, 6, state=state)
        np.testing.assert_allclose(theta, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    assert 0 < rectifications[5] < rectifications[-1] < 1
    assert updates.radam_rectification(0.999, 10**6) == pytest.approx(1.0)


def test_radam_with_a_small_beta_2_is_momentum_throughout():
    """rho_inf = 2 / (1 - beta_2) - 1 is at most 5 for beta_2 <= 2/3: the
    variance is never tractable."""
    assert all(updates.radam_rectification(0.6, t) == 0 for t in range(1, 200))


# ----------------------------------------------------------------------- LAMB


def test_lamb_scales_each_layer_by_its_own_trust_ratio():
    """A zero gradient on a network of two layers: Adam's direction is then
    the decay alone, ``u = decay * w`` on the weights, 0 on the biases, and
    the trust ratio of each layer is ``||W, b|| / (decay ||W||)``: each
    layer moves by ``lr * ||W, b|| / ||W||`` times the unit direction of its
    weights. A layer whose direction is 0 gets ratio 1."""
    network = Network([3, 2, 2], "relu", "log_loss")
    segments = network.layer_segments()
    np.testing.assert_array_equal(segments[:, 2], [0, 1, 0, 1])
    rng = np.random.default_rng(0)
    theta = rng.normal(size=network.n_params)
    before = theta.copy()
    optimizer = LAMB(weight_decay=0.1)
    state = optimizer.start(network.n_params, theta.dtype).state
    layers = LayerNorms(segments, np.zeros((1, 2, 2)))
    _step(optimizer, theta, np.zeros_like(theta), 1, 0.05, network.n_weights, layers, state)
    for k in range(2):
        W, b = network.coefs(before)[k], network.intercepts(before)[k]
        ratio = np.sqrt((W**2).sum() + (b**2).sum()) / (0.1 * np.linalg.norm(W))
        np.testing.assert_allclose(network.coefs(theta)[k], W - 0.05 * ratio * 0.1 * W, rtol=1e-12)
        np.testing.assert_array_equal(network.intercepts(theta)[k], b)
        np.testing.assert_allclose(updates.trust_ratio(layers.parts, k), ratio, rtol=1e-12)
    zero = np.zeros((1, 2, 2))
    zero[0, 1] = [4.0, 0.0]  # a norm of 0: ratio 1
    assert updates.trust_ratio(zero, 0) == 1.0 and updates.trust_ratio(zero, 1) == 1.0


def test_lamb_layers_group_weights_biases_and_batch_norm_parameters():
    """Each layer's segments: its weights, its biases and its normalisation
    scales and shifts; never the running statistics; every other parameter
    in exactly one segment."""
    network = Network([4, 3, 2, 2], "relu", "log_loss", batch_norm=True)
    segments = network.layer_segments()
    owner = np.full(network.n_params, -1)
    for start, stop, layer in segments:
        assert (owner[start:stop] == -1).all()
        owner[start:stop] = layer
    theta = np.arange(network.n_params, dtype=np.float64)
    for k in range(3):
        for view in (network.coefs(theta)[k], network.intercepts(theta)[k]):
            assert (owner[view.ravel().astype(int)] == k).all()
    scales, shifts, means, variances = network.batch_norm_views(theta)
    for k in range(2):
        assert (owner[scales[k].astype(int)] == k).all() and (owner[shifts[k].astype(int)] == k).all()
        assert (owner[means[k].astype(int)] == -1).all() and (owner[variances[k].astype(int)] == -1).all()
    assert (owner >= 0).sum() == network.n_params - 2 * network.n_hidden_units


# ------------------------------------------------------------------ Lookahead


def _linear_problem(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)).astype(dtype)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=40)).astype(dtype)
    coef0 = (0.1 * rng.normal(size=(3, 1))).astype(dtype)
    return X, y, coef0, np.zeros(1, dtype=dtype)


def _adam_numpy(w, g, m, v, t, lr):
    """scikit-learn's Adam (its epsilon placement)."""
    m[:] = 0.9 * m + 0.1 * g
    v[:] = 0.999 * v + 0.001 * g**2
    return w - lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lookahead_interpolates_the_slow_weights_every_k_steps(dtype):
    """A linear regressor, one full batch per epoch, no penalty: NumPy's
    Adam on the squared error, with every k-th step followed by ``slow +=
    alpha (fast - slow)``, ``fast = slow`` (Adam's moments continue), over
    eleven steps in two ``partial_fit``-like calls (fit, then warm_start
    would restart; partial_fit continues the slow weights and the count)."""
    X, y, coef0, intercept0 = _linear_problem(dtype)
    k, alpha, lr = 3, 0.4, 0.05
    est = MLPRegressor(
        hidden_layer_sizes=(), solver=Lookahead(Adam(), k=k, alpha=alpha), alpha=0.0,
        batch_size=40, shuffle=False, learning_rate_init=lr, init=([coef0], [intercept0]),
        max_iter=7, tol=0.0, n_iter_no_change=100, random_state=0,
    )
    _quiet_fit(est, X, y)
    for _ in range(4):
        est.partial_fit(X, y)
    w = np.concatenate([coef0.ravel(), intercept0]).astype(np.float64)
    slow, m, v = w.copy(), np.zeros(4), np.zeros(4)
    A = np.hstack([X.astype(np.float64), np.ones((40, 1))])
    for t in range(1, 12):
        grad = A.T @ (A @ w - y) / 40
        w = _adam_numpy(w, grad, m, v, t, lr)
        if t % k == 0:
            slow += alpha * (w - slow)
            w = slow.copy()
    got = np.concatenate([est.coefs_[0].ravel(), est.intercepts_[0]])
    np.testing.assert_allclose(got, w, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])
    np.testing.assert_allclose(est._progress.optimizer.slow, slow, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])
    assert est._progress.optimizer.counters[0] == 11


def test_lookahead_with_alpha_1_is_its_optimizer_alone(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(5,), max_iter=6, random_state=0, batch_size=32)
    plain = _quiet_fit(MLPClassifier(solver=Adam(), **params), X, y)
    wrapped = _quiet_fit(MLPClassifier(solver=Lookahead(Adam(), k=2, alpha=1.0), **params), X, y)
    np.testing.assert_array_equal(plain._theta, wrapped._theta)


def test_lookahead_leaves_frozen_layers_and_running_statistics_alone(iris):
    """The synchronisation skips what the optimizer does not step: the
    frozen layers stay the initial ones, and the running statistics of batch
    normalisation follow the batches, not the slow weights."""
    X, y = iris
    base = _quiet_fit(MLPClassifier((4, 3), max_iter=3, random_state=0), X, y)
    params = dict(hidden_layer_sizes=(4, 3), init=base, freeze_layers=1, batch_norm=True,
                  max_iter=4, random_state=0, batch_size=50)
    plain = _quiet_fit(MLPClassifier(solver=Adam(), **params), X, y)
    est = _quiet_fit(MLPClassifier(solver=Lookahead(Adam(), k=2), **params), X, y)
    np.testing.assert_array_equal(est.coefs_[0], base.coefs_[0])
    assert not np.array_equal(est.coefs_[1], plain.coefs_[1])
    assert np.all(est.running_vars_[0] > 0)
    slow = est._progress.optimizer.slow
    means = est._network.batch_norm_views(slow)[2]
    assert all(np.all(m == 0) for m in means)  # never synchronised into the slow copy


@pytest.mark.parametrize(
    ("solver", "match"),
    [
        (Lookahead(Adam(), k=0), "'k' parameter of Lookahead must be an int in the range"),
        (Lookahead(Adam(), k=2.5), "'k' parameter of Lookahead must be an int"),
        (Lookahead(Adam(), alpha=0.0), "'alpha' parameter of Lookahead must be a float in the range"),
        (Lookahead(Adam(), alpha=1.5), "'alpha' parameter of Lookahead"),
        (Lookahead("adam"), "'optimizer' parameter of Lookahead must be an instance of"),
        (Lookahead(Lookahead(Adam())), "not another Lookahead"),
        (Lookahead(RAdam(beta_2=1.0)), "'beta_2' parameter of RAdam"),
        (AdaDelta(rho=1.0), "'rho' parameter of AdaDelta must be a float in the range"),
        (AdaDelta(lr=0.0), "'lr' parameter of AdaDelta"),
        (AdaDelta(epsilon=-1.0), "'epsilon' parameter of AdaDelta"),
        (RAdam(beta_1=-0.1), "'beta_1' parameter of RAdam"),
        (LAMB(weight_decay=-1.0), "'weight_decay' parameter of LAMB"),
    ],
    ids=repr,
)
def test_bad_hyper_parameters_raise_clear_value_errors(solver, match, iris):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MLPClassifier((3,), solver=solver, max_iter=1).fit(X, y)


def test_the_solver_names_come_from_the_registry(iris):
    X, y = iris
    with pytest.raises(ValueError, match="'solver' parameter of MLPClassifier") as raised:
        MLPClassifier(solver="nadam").fit(X, y)
    assert all(f"'{name}'" in str(raised.value) for name in ("adadelta", "radam", "lamb"))


def test_lookahead_is_tuned_through_grid_search(iris):
    X, y = iris
    est = MLPClassifier((4,), solver=Lookahead(RAdam()), max_iter=3, random_state=0)
    params = est.get_params()
    assert params["solver__k"] == 5 and params["solver__optimizer__beta_2"] == 0.999
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(est, {"solver__k": [1, 3], "solver__optimizer__beta_1": [0.8]}, cv=2)
        search.fit(X, y)
    assert search.best_estimator_.solver.optimizer.beta_1 == 0.8
    assert est.solver.k == 5  # clones were tuned


def test_lookahead_refuses_what_its_optimizer_refuses(iris):
    """The table's rules apply to the wrapped optimizer: AdaHessian's
    per-batch Hessian pass takes no dropout, wrapped or not."""
    X, y = iris
    with pytest.raises(ValueError, match="Hessian-vector products"):
        MLPClassifier((3,), solver=Lookahead(AdaHessian()), dropout=0.2).fit(X, y)


# ------------------------------------------------- the engine: every option


def _loop(optimizer, n_shards, n_workers, X, Y, **reg):
    network = Network([X.shape[1], 16, 8, Y.shape[1]], "tanh", "log_loss")
    rng = np.random.default_rng(0)
    theta = rng.normal(scale=0.3, size=network.n_params)
    progress = Progress(optimizer=optimizer.start(network.n_params, theta.dtype, theta))
    reg = {"l2": 1e-3, "dropout": np.zeros(2), **reg}
    loop = StochasticLoop(
        network=network, theta=theta, train=TrainSet(Inputs(X, np.float64), Y, np.ones(len(Y))),
        validation=None, progress=progress, schedule=Constant(), lr_init=0.01,
        reg=Regularization(**reg), batch_size=64, shuffle=True, rng=rng, tol=0.0,
        n_iter_no_change=100, verbose=False,
    )
    loop.prepare(n_shards, n_workers)
    losses = [loop._run_epoch(0.01) for _ in range(3)]
    return theta, losses


OPTIMIZERS = [AdaDelta(), RAdam(), LAMB(weight_decay=0.01), Lookahead(LAMB(), k=2), Lookahead(SGD(), k=3)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("reg", [{}, {"l1": 1e-2, "max_norm": 1.0}], ids=["plain", "l1-max-norm"])
def test_new_optimizers_do_not_depend_on_the_number_of_workers(optimizer, reg):
    """Two parameter ranges on one thread or two: the same bits (LAMB's
    layer norms are added in range order); four ranges change only the
    rounding."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    Y = np.eye(3)[rng.integers(0, 3, 300)]
    one = _loop(optimizer, 2, 1, X, Y, **reg)
    two = _loop(optimizer, 2, 2, X, Y, **reg)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == two[1]
    four = _loop(optimizer, 4, 2, X, Y, **reg)
    np.testing.assert_allclose(four[0], one[0], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", list(NEW_SOLVERS))
def test_new_solvers_work_with_every_training_option(solver, iris):
    """Schedules, clipping, averaging, batch norm, L1, max-norm, partial_fit
    and warm_start: a finite, improving fit with each."""
    X, y = iris
    params = dict(hidden_layer_sizes=(6,), random_state=0, batch_size=30, **NEW_SOLVERS[solver])
    options = [
        dict(learning_rate="cosine"), dict(learning_rate="adaptive"), dict(clip_grad_norm=0.5),
        dict(average=True), dict(batch_norm=True), dict(penalty="elasticnet", alpha=1e-3),
        dict(max_norm=2.0), dict(early_stopping=True),
    ]
    for option in options:
        est = _quiet_fit(MLPClassifier(max_iter=15, **params, **option), X, y)
        assert np.isfinite(est._theta).all() and est.loss_curve_[-1] < est.loss_curve_[0], option
    est = _quiet_fit(MLPClassifier(max_iter=5, warm_start=True, **params), X, y)
    before = est.loss_
    _quiet_fit(est, X, y)
    assert est.loss_ < before
    est = MLPClassifier(**params)
    for _ in range(3):
        est.partial_fit(X, y, classes=np.unique(y))
    assert est._progress.optimizer.counters[0] == 3 * 5


def test_partial_fit_switching_to_lookahead_starts_a_fresh_state(iris):
    X, y = iris
    est = MLPClassifier((4,), solver=Adam(), random_state=0)
    est.partial_fit(X, y, classes=np.unique(y))
    est.set_params(solver=Lookahead(Adam()))
    est.partial_fit(X, y)
    state = est._progress.optimizer
    assert state.slow is not None and state.lookahead == (5, 0.5)
    assert state.counters[0] == 1  # fresh


def test_every_new_solver_learns_digits_as_well_as_adam(digits):
    """Held-out accuracy on digits within noise of Adam's (the figures of a
    longer run over three splits are in docs/optimization.md)."""
    X, y = digits
    train, test = np.arange(len(y)) % 4 != 0, np.arange(len(y)) % 4 == 0
    params = dict(hidden_layer_sizes=(32,), max_iter=60, random_state=0, batch_size=50)
    adam = _quiet_fit(MLPClassifier(solver="adam", learning_rate_init=0.01, **params), X[train], y[train])
    reference = adam.score(X[test], y[test])
    assert reference > 0.9
    for solver, options in NEW_SOLVERS.items():
        est = _quiet_fit(MLPClassifier(**params, **options), X[train], y[train])
        assert est.score(X[test], y[test]) >= reference - 0.03, solver
