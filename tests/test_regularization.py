"""Each regularisation technique's defining property, through the estimators."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from skdeep import MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _column_norms(est):
    return [np.linalg.norm(W, axis=0) for W in est.coefs_]


# ------------------------------------------------------- norm penalties


#: a training budget that converges for each solver on the digits subset
BUDGETS = {
    "adam": dict(learning_rate_init=0.01, max_iter=60),
    "sgd": dict(learning_rate_init=0.1, max_iter=100),
    "lbfgs": dict(max_iter=200),
}


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_l1_gives_exact_zeros_and_selects_features(solver, digits):
    X, y = digits
    used = []
    for alpha in [0.0, 4.0, 16.0]:
        clf = MLPClassifier(
            (16,), penalty="l1", alpha=alpha, solver=solver, random_state=0,
            **BUDGETS[solver],
        ).fit(X, y)
        W = clf.coefs_[0]
        if alpha > 0:
            assert (W == 0).mean() > 0.2  # exact zeros, not small values
        else:
            assert (W == 0).mean() == 0
        used.append(X.shape[1] - len(clf.unused_features_))
    assert used[0] > used[1] > used[2]
    # an input with no variance carries nothing: L1 removes it
    assert set(np.flatnonzero(X.std(0) == 0)) <= set(clf.unused_features_)


def test_unused_features_lists_zero_rows_of_the_first_layer(iris):
    X, y = iris
    clf = MLPClassifier((4,), penalty="l1", alpha=2.0, max_iter=50, random_state=0).fit(X, y)
    rows = np.flatnonzero(~clf.coefs_[0].any(axis=1))
    np.testing.assert_array_equal(clf.unused_features_, rows)


def test_elasticnet_mixes_l1_and_l2(digits):
    X, y = digits
    zeros = {}
    for ratio in [0.0, 0.5, 1.0]:
        clf = MLPClassifier(
            (16,), penalty="elasticnet", l1_ratio=ratio, alpha=1.0, max_iter=30,
            learning_rate_init=0.01, random_state=0,
        ).fit(X, y)
        zeros[ratio] = (clf.coefs_[0] == 0).mean()
    assert zeros[0.0] == 0.0 and zeros[1.0] > zeros[0.5] > 0


def test_penalty_none_and_l2_alpha_zero_agree(iris):
    X, y = iris
    a = MLPClassifier((5,), penalty=None, alpha=3.0, max_iter=20, random_state=0).fit(X, y)
    b = MLPClassifier((5,), penalty="l2", alpha=0.0, max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a._theta, b._theta)


def test_l2_shrinks_weights(digits):
    X, y = digits
    norms = [
        np.linalg.norm(
            MLPClassifier((16,), alpha=a, solver="lbfgs", max_iter=100, random_state=0).fit(X, y).coefs_[0]
        )
        for a in (1e-4, 10.0)
    ]
    assert norms[1] < 0.5 * norms[0]


# ------------------------------------------------------------ max-norm


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_max_norm_bound_holds_after_fit_and_partial_fit(solver, digits):
    X, y = digits
    clf = MLPClassifier(
        (32, 16), max_norm=0.5, solver=solver, learning_rate_init=0.05, max_iter=10,
        random_state=0,
    ).fit(X, y)
    for norms in _column_norms(clf):
        assert norms.max() <= 0.5
    assert max(n.max() for n in _column_norms(clf)) > 0.45  # the bound is active
    clf.partial_fit(X, y)
    for norms in _column_norms(clf):
        assert norms.max() <= 0.5
    free = MLPClassifier((32, 16), solver=solver, learning_rate_init=0.05, max_iter=10, random_state=0).fit(X, y)
    assert max(n.max() for n in _column_norms(free)) > 0.5


# ------------------------------------------------------------- dropout


def test_zero_dropout_is_bit_identical_to_no_dropout(iris):
    X, y = iris
    a = MLPClassifier((6, 5), max_iter=10, random_state=0).fit(X, y)
    b = MLPClassifier((6, 5), dropout=[0.0, 0.0], input_dropout=0.0, max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a._theta, b._theta)


def _relu_softmax(est, X):
    """The plain forward pass of a ReLU classifier's weights, in NumPy."""
    A = X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        A = np.maximum(A @ W + b, 0)
    Z = A @ est.coefs_[-1] + est.intercepts_[-1]
    P = np.exp(Z - Z.max(1, keepdims=True))
    return P / P.sum(1, keepdims=True)


def test_dropout_changes_training_but_not_prediction(digits):
    X, y = digits
    plain = MLPClassifier((64,), max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, y)
    dropped = MLPClassifier((64,), dropout=0.5, max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert not np.array_equal(plain._theta, dropped._theta)
    # inverted dropout: prediction is the plain forward pass of the weights,
    # with no mask and no rescaling by 1 - rate
    np.testing.assert_allclose(dropped.predict_proba(X), _relu_softmax(dropped, X), rtol=1e-9, atol=1e-12)
    clone = MLPClassifier((64,), max_iter=1, random_state=0).fit(X, y)
    clone.coefs_ = [c.copy() for c in dropped.coefs_]
    clone.intercepts_ = [b.copy() for b in dropped.intercepts_]
    np.testing.assert_allclose(clone.predict_proba(X), dropped.predict_proba(X))
    assert dropped.score(X, y) > 0.8


def test_dropout_per_layer(digits):
    X, y = digits
    clf = MLPClassifier((32, 16), dropout=(0.5, 0.0), max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_dropout_regularises(digits):
    """On a network much larger than the data, dropout narrows the gap
    between training and test accuracy."""
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=150, stratify=y, random_state=0)
    gaps = {}
    for rate in (0.0, 0.5):
        clf = MLPClassifier((256, 256), dropout=rate, max_iter=150, random_state=0).fit(X_tr, y_tr)
        gaps[rate] = clf.score(X_tr, y_tr) - clf.score(X_te, y_te)
    assert gaps[0.5] < gaps[0.0]


def test_monte_carlo_dropout(digits):
    X, y = digits
    clf = MLPClassifier((64,), dropout=0.3, max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, y)
    mean, std = clf.predict_mc_dropout(X[:50], n_samples=30, random_state=0)
    assert mean.shape == std.shape == (50, 10)
    np.testing.assert_allclose(mean.sum(1), 1, rtol=1e-6)
    assert (std > 0).all()  # every prediction varies with the masks
    # the average over masks approximates the deterministic (scaled) network
    proba = clf.predict_proba(X[:50])
    assert np.mean(mean.argmax(1) == proba.argmax(1)) >= 0.95
    assert np.abs(mean - proba).mean() < 0.02
    again, _ = clf.predict_mc_dropout(X[:50], n_samples=30, random_state=0)
    np.testing.assert_array_equal(mean, again)
    other, _ = clf.predict_mc_dropout(X[:50], n_samples=30, random_state=1)
    assert not np.array_equal(mean, other)


def test_monte_carlo_dropout_regression_and_binary(iris):
    X, y = iris
    reg = MLPRegressor(hidden_layer_sizes=(32,), dropout=0.2, input_dropout=0.1, max_iter=30, random_state=0).fit(X, X[:, 0])
    mean, std = reg.predict_mc_dropout(X, n_samples=10, random_state=0)
    assert mean.shape == std.shape == (150,) and (std > 0).all()
    # each sample draws its own input-dropout masks as well (a model trained
    # without input dropout spreads less)
    hidden_only = MLPRegressor(hidden_layer_sizes=(32,), dropout=0.2, max_iter=30, random_state=0).fit(X, X[:, 0])
    _, std_hidden = hidden_only.predict_mc_dropout(X, n_samples=10, random_state=0)
    assert std.mean() > std_hidden.mean()
    clf = MLPClassifier((16,), dropout=0.2, max_iter=30, random_state=0).fit(X, y == 0)
    mean, std = clf.predict_mc_dropout(X, n_samples=10, random_state=0)
    assert mean.shape == std.shape == (150, 2)
    # the two columns are the mean probabilities of the two classes (the
    # spreads of p and 1 - p are equal by construction, so not compared)
    np.testing.assert_allclose(mean.sum(1), 1, rtol=1e-12)
    assert (std[:, 1] > 0).all()
    assert np.abs(mean - clf.predict_proba(X)).mean() < 0.03  # about the plain network's


# ---------------------------------------------------- noise and labels


def test_input_and_weight_noise_are_reproducible(digits):
    """Same seed, same noise, same bits. (What the noise is, and that it never
    reaches the trained weights: test_noise.py.)"""
    X, y = digits
    for params in (dict(input_noise=0.5), dict(weight_noise=0.05), dict(input_dropout=0.2)):
        budget = dict(max_iter=5, learning_rate_init=0.01, random_state=0, **params)
        a = MLPClassifier((32,), **budget).fit(X, y)
        b = MLPClassifier((32,), **budget).fit(X, y)
        np.testing.assert_array_equal(a._theta, b._theta)
        assert a.loss_curve_ == b.loss_curve_


def test_input_noise_on_sparse_input(digits):
    X, y = digits
    Xs = sp.csr_matrix(np.where(X > 0, X, 0))
    clf = MLPClassifier(
        (16,), input_noise=0.1, input_dropout=0.1, max_iter=30, learning_rate_init=0.01,
        random_state=0,
    ).fit(Xs, y)
    assert clf.score(Xs, y) > 0.9


_POINTS_RNG = np.random.default_rng(0)


def _separate_points(n_points, rng=None):
    """``n_points`` distinct points, each repeated 5 times: a network can
    give each point any output, so the log-loss is minimal exactly where the
    predicted probabilities equal the (smoothed) targets."""
    rng = _POINTS_RNG if rng is None else rng
    centers = 2 * rng.normal(size=(n_points, 4))
    return centers, np.repeat(centers, 5, axis=0)


#: lbfgs to convergence, with no weight penalty to hold the logits back
CONVERGED = dict(solver="lbfgs", alpha=0.0, max_iter=2000, tol=1e-12, max_fun=100_000, random_state=0)


def test_label_smoothing_targets_softmax(digits):
    """(1 - eps) * y + eps / K: with K = 10 and eps = 0.2, 0.82 on the true
    class and 0.02 on the others (eps / (K - 1) would give 0.0222)."""
    eps, K = 0.2, 10
    centers, X = _separate_points(K)
    y = np.repeat(np.arange(K), 5)
    clf = MLPClassifier((16,), label_smoothing=eps, **CONVERGED).fit(X, y)
    expected = (1 - eps) * np.eye(K) + eps / K
    np.testing.assert_allclose(clf.predict_proba(centers), expected, atol=1e-3)
    # on real data, the confidence is capped near that target too
    X, y = digits
    smooth = MLPClassifier((64,), label_smoothing=eps, max_iter=200, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert smooth.predict_proba(X).max(1).mean() == pytest.approx(1 - eps + eps / K, abs=0.03)
    assert smooth.score(X, y) > 0.95


def test_label_smoothing_binary_heads_and_multilabel():
    """A logistic unit's targets are (1 - eps) * y + eps / 2; each softmax
    head smooths over its own number of classes."""
    eps = 0.3
    centers, X = _separate_points(3)
    binary = MLPClassifier((8,), label_smoothing=eps, **CONVERGED).fit(X[:10], np.repeat([0, 1], 5))
    np.testing.assert_allclose(
        binary.predict_proba(centers[:2]), (1 - eps) * np.eye(2) + eps / 2, atol=1e-3
    )
    Y = np.column_stack([np.repeat([0, 1, 2], 5), np.repeat([0, 1, 0], 5)])
    heads = MLPClassifier((8,), label_smoothing=eps, **CONVERGED).fit(X, Y)
    first, second = heads.predict_proba(centers)
    np.testing.assert_allclose(first, (1 - eps) * np.eye(3) + eps / 3, atol=1e-3)
    np.testing.assert_allclose(second, (1 - eps) * np.eye(2)[[0, 1, 0]] + eps / 2, atol=1e-3)
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    multilabel = MLPClassifier((8,), label_smoothing=eps, **CONVERGED).fit(X, np.repeat(labels, 5, axis=0))
    np.testing.assert_allclose(multilabel.predict_proba(centers), (1 - eps) * labels + eps / 2, atol=1e-3)


# -------------------------------------------------- sparse activations


def test_activity_l1_makes_activations_sparse(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(64,), max_iter=100, learning_rate_init=0.01, random_state=0)
    plain = MLPClassifier(**kwargs).fit(X, y)
    sparse = MLPClassifier(activity_l1=0.05, **kwargs).fit(X, y)
    before = plain.activation_sparsity(X)[0]
    after = sparse.activation_sparsity_[0]
    assert after > before + 0.2
    assert sparse.activation_sparsity(X)[0] == pytest.approx(after)
    assert not hasattr(plain, "activation_sparsity_")


def test_activation_sparsity_counts_zeros_of_every_layer(digits, monkeypatch):
    """Against the activations computed in NumPy from ``coefs_``, with the
    rows in several blocks."""
    import skdeep._network as network_module

    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(12, 7), activity_l1=0.01, max_iter=20, random_state=0).fit(X, y)
    monkeypatch.setattr(network_module, "CHUNK_ROWS", 100)
    A, expected = X, []
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        A = np.maximum(A @ W + b, 0)
        expected.append(np.mean(A == 0))
    np.testing.assert_allclose(clf.activation_sparsity(X), expected, atol=1e-3)
    assert clf.activation_sparsity_.shape == (2,)


# ------------------------------------------------------- adversarial


def _fgsm_accuracy(clf, X, y, eps):
    """Accuracy under an FGSM attack of radius ``eps``, with the input
    gradient of the log-loss computed here in NumPy (ReLU network)."""
    W, b = clf.coefs_, clf.intercepts_
    A = [X]
    for Wi, bi in zip(W[:-1], b[:-1]):
        A.append(np.maximum(A[-1] @ Wi + bi, 0))
    Z = A[-1] @ W[-1] + b[-1]
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    D = P - np.eye(P.shape[1])[np.searchsorted(clf.classes_, y)]
    for i in range(len(W) - 1, 0, -1):
        D = (D @ W[i].T) * (A[i] > 0)
    grad_x = D @ W[0].T
    return clf.score(X + eps * np.sign(grad_x), y)


@pytest.mark.parametrize("steps", [1, 3])
def test_adversarial_training_resists_the_attack_it_trains_on(steps, digits):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    eps = 0.3
    kwargs = dict(hidden_layer_sizes=(64,), max_iter=60, learning_rate_init=0.005, random_state=0)
    plain = MLPClassifier(**kwargs).fit(X_tr, y_tr)
    robust = MLPClassifier(adversarial_eps=eps, adversarial_steps=steps, **kwargs).fit(X_tr, y_tr)
    assert _fgsm_accuracy(robust, X_te, y_te, eps) > _fgsm_accuracy(plain, X_te, y_te, eps) + 0.1
    assert robust.score(X_te, y_te) > 0.85


# ---------------------------------------------------- tangent propagation


def _sensitivity(est, X, T, h=1e-4):
    """Mean squared directional derivative of the raw output along T."""
    def raw(Z):
        A = Z
        for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
            A = np.tanh(A @ W + b)
        return A @ est.coefs_[-1] + est.intercepts_[-1]
    return np.mean(((raw(X + h * T) - raw(X - h * T)) / (2 * h)) ** 2)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_tangent_prop_reduces_sensitivity_along_tangents(solver, diabetes):
    X, y = diabetes
    rng = np.random.default_rng(0)
    direction = rng.normal(size=X.shape[1])
    T = np.tile(direction, (len(X), 1))[:, None, :]
    kwargs = dict(hidden_layer_sizes=(16,), activation="tanh", solver=solver, max_iter=200, random_state=0)
    plain = MLPRegressor(**kwargs).fit(X, y)
    invariant = MLPRegressor(tangent_prop=10.0, **kwargs).fit(X, y, tangents=T)
    assert _sensitivity(invariant, X, T[:, 0]) < 0.2 * _sensitivity(plain, X, T[:, 0])
    assert invariant.score(X, y) > 0.3


def test_tangent_prop_is_ignored_at_zero_strength(diabetes):
    X, y = diabetes
    T = np.ones((len(X), 2, X.shape[1]))
    a = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    b = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y, tangents=T)
    np.testing.assert_array_equal(a._theta, b._theta)


def test_tangent_prop_with_early_stopping_and_partial_fit(diabetes):
    """The penalty acts on the rows that early stopping keeps for training,
    and in partial_fit, where 2-D tangents are one tangent per sample."""
    X, y = diabetes
    direction = np.random.default_rng(0).normal(size=X.shape[1])
    T = np.tile(direction, (len(X), 1))[:, None, :]
    kwargs = dict(hidden_layer_sizes=(16,), activation="tanh", early_stopping=True, max_iter=200, random_state=0)
    plain = MLPRegressor(**kwargs).fit(X, y)
    invariant = MLPRegressor(tangent_prop=10.0, **kwargs).fit(X, y, tangents=T)
    assert len(invariant.validation_scores_) == invariant.n_iter_
    assert _sensitivity(invariant, X, T[:, 0]) < 0.2 * _sensitivity(plain, X, T[:, 0])

    incremental = {}
    for name, strength, tangents in (("3-D", 10.0, T), ("2-D", 10.0, T[:, 0]), ("off", 0.0, T)):
        est = MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", tangent_prop=strength, random_state=0)
        for _ in range(30):
            est.partial_fit(X, y, tangents=tangents)
        incremental[name] = est
    np.testing.assert_array_equal(incremental["3-D"]._theta, incremental["2-D"]._theta)
    assert incremental["3-D"].t_ == 30 * len(X) and len(incremental["3-D"].loss_curve_) == 30
    assert _sensitivity(incremental["3-D"], X, T[:, 0]) < 0.5 * _sensitivity(incremental["off"], X, T[:, 0])


# ---------------------------------------------------- soft sharing


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_soft_sharing_pulls_towards_the_prior(solver, digits):
    X, y = digits
    prior = MLPClassifier((16,), solver="lbfgs", max_iter=50, random_state=1).fit(X, y)
    distances = []
    for strength in [0.0, 1.0, 100.0]:
        clf = MLPClassifier(
            (16,), coef_prior=prior, prior_alpha=strength, solver=solver, max_iter=30,
            random_state=0,
        ).fit(X, y)
        distances.append(sum(np.linalg.norm(a - b) for a, b in zip(clf.coefs_, prior.coefs_)))
    assert distances[0] > distances[1] > distances[2]


def test_soft_sharing_with_a_sklearn_prior_and_arrays(iris):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = iris
    prior = SkMLP((5,), solver="lbfgs", max_iter=100, random_state=0).fit(X, y)
    for coef_prior in (prior, (prior.coefs_, prior.intercepts_)):
        clf = MLPClassifier(
            (5,), coef_prior=coef_prior, prior_alpha=1e3, solver="lbfgs", max_iter=100,
            random_state=0,
        ).fit(X, y)
        assert np.linalg.norm(clf.coefs_[0] - prior.coefs_[0]) < 0.5


# ------------------------------------------------------- augmentation


def test_augment_is_applied_to_every_batch(digits):
    X, y = digits
    calls = []

    def flip_noise(X_batch, rng):
        calls.append(X_batch.shape[0])
        assert isinstance(rng, np.random.Generator)
        return X_batch + rng.normal(scale=0.1, size=X_batch.shape)

    budget = dict(batch_size=100, max_iter=10, learning_rate_init=0.01, random_state=0)
    clf = MLPClassifier((32,), augment=flip_noise, **budget).fit(X, y)
    assert sum(calls) == 10 * len(X) and max(calls) == 100
    assert clf.score(X, y) > 0.9
    again = MLPClassifier((32,), augment=flip_noise, **budget).fit(X, y)
    np.testing.assert_array_equal(clf._theta, again._theta)


def test_identity_augment_equals_no_augment(iris):
    X, y = iris
    a = MLPClassifier((6,), batch_size=50, max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier((6,), batch_size=50, max_iter=5, random_state=0, augment=lambda Xb, rng: Xb).fit(X, y)
    np.testing.assert_allclose(a._theta, b._theta, rtol=1e-12)


# --------------------------------------------------------- tuning


def test_regularisation_parameters_are_tunable(digits):
    X, y = digits
    grid = GridSearchCV(
        MLPClassifier((32,), max_iter=20, learning_rate_init=0.01, random_state=0),
        {"dropout": [0.0, 0.3], "penalty": ["l2", "l1"], "label_smoothing": [0.0, 0.1]},
        cv=2, scoring="neg_log_loss",
    ).fit(X, y)
    # each parameter reaches the fit: the 8 settings give 8 different
    # models (a continuous score tells them apart) ...
    assert len(set(grid.cv_results_["mean_test_score"])) == 8
    # ... and the refitted best one is the model those parameters give
    direct = MLPClassifier((32,), max_iter=20, learning_rate_init=0.01, random_state=0, **grid.best_params_).fit(X, y)
    np.testing.assert_array_equal(grid.best_estimator_._theta, direct._theta)
