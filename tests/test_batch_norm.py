"""Batch normalisation: the training pass against finite differences and a
numpy reference, the running statistics, prediction with them, and the
estimator plumbing (pickling, continued training, transfer, frozen layers)."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier, MLPRegressor
from skdeep._kernels.batchnorm import EPSILON
from skdeep._kernels.network import train_pass
from skdeep._kernels.records import BatchNorm, Block, Hidden
from skdeep._network import Inputs, Network

from .test_gradients import _numerical_gradient, _problem


def _fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _training_pass(net, X, Y, sw, momentum=0.0):
    """``theta -> (loss, grad)`` of one batch in training mode (batch
    statistics), through the kernel; ``target`` receives running statistics."""
    n = X.shape[0]
    ws = net.workspace(n, np.float64)
    grad = np.empty(net.n_params)
    xhat = np.empty_like(ws.acts)
    inv = np.empty(net.n_hidden_units)
    csr = Inputs(X, np.float64).csr
    scale = 1.0 / sw.sum()
    target = np.zeros(net.n_params)

    block = Block(X, csr, False, np.arange(n), n, Y, sw, scale)
    hidden = Hidden(np.zeros(net.n_layers), ws.acts, np.uint64(0), 0.0)
    bn = BatchNorm(net.bn_off, xhat, inv, target, momentum, np.empty(4 * ws.max_units))

    def objective(theta):
        total = train_pass(
            theta, grad, net.layout(), block, ws.work(), hidden, np.empty((0, X.shape[1])),
            None, True, bn,
        )
        return total * scale, grad

    return objective, target


def _random_theta(net, rng):
    theta = rng.normal(scale=0.5, size=net.n_params)
    scales, shifts, means, variances = net.batch_norm_views(theta)
    for v in variances:
        v[:] = rng.random(v.shape) + 0.5
    return theta


def _reference_training_output(net, theta, X, sw):
    """numpy: the raw output with batch statistics (weighted), hidden biases unused."""
    coefs, intercepts = net.coefs(theta), net.intercepts(theta)
    scales, shifts, _, _ = net.batch_norm_views(theta)
    w = sw / sw.sum()
    A = X
    for layer in range(net.n_layers - 1):
        Z = A @ coefs[layer]
        mean = w @ Z
        var = w @ (Z - mean) ** 2
        A = np.tanh(scales[layer] * (Z - mean) / np.sqrt(var + EPSILON) + shifts[layer])
    return A @ coefs[-1] + intercepts[-1]


@pytest.mark.parametrize("loss", ["squared_error", "log_loss"])
def test_training_pass_matches_numpy_and_finite_differences(loss):
    rng = np.random.default_rng(0)
    n, d, k = 7, 4, 3
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    sw = rng.random(n) + 0.5
    net = Network([d, 5, 4, k], "tanh", loss, batch_norm=True)
    theta = _random_theta(net, rng)
    objective, _ = _training_pass(net, X, Y, sw)
    value, grad = objective(theta)
    grad = grad.copy()
    out = _reference_training_output(net, theta, X, sw)
    if loss == "squared_error":
        expected = 0.5 * np.sum(sw[:, None] * (out - Y) ** 2) / sw.sum()
    else:
        logp = out - np.log(np.exp(out).sum(axis=1, keepdims=True))
        expected = -np.sum(sw[:, None] * Y * logp) / sw.sum()
    assert value == pytest.approx(expected, rel=1e-12)
    H = net.n_hidden_units
    trainable = net.n_params - 2 * H  # the running statistics are not trained
    numerical = _numerical_gradient(objective, theta)
    np.testing.assert_allclose(grad[:trainable], numerical[:trainable], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(grad[trainable:], 0)
    hidden_biases = np.concatenate(net.intercepts(grad)[:-1])
    np.testing.assert_array_equal(hidden_biases, 0)  # unused: beta replaces them


def test_weighted_statistics_equal_repeated_rows():
    rng = np.random.default_rng(1)
    n, d = 6, 3
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, 2))
    net = Network([d, 4, 2], "tanh", "squared_error", batch_norm=True)
    theta = _random_theta(net, rng)
    counts = np.array([2, 0, 1, 3, 1, 1])
    weighted, _ = _training_pass(net, X, Y, counts.astype(float))
    rows = np.repeat(np.arange(n), counts)
    repeated, _ = _training_pass(net, X[rows], Y[rows], np.ones(len(rows)))
    a, ga = weighted(theta)
    ga = ga.copy()
    b, gb = repeated(theta)
    assert a == pytest.approx(b, rel=1e-12)
    np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-14)


def test_running_statistics_move_towards_the_batch():
    rng = np.random.default_rng(2)
    X = rng.normal(loc=3.0, scale=2.0, size=(10, 3))
    net = Network([3, 4, 1], "tanh", "squared_error", batch_norm=True)
    theta = _random_theta(net, rng)
    objective, target = _training_pass(net, X, rng.normal(size=(10, 1)), np.ones(10), momentum=0.1)
    _, _, means, variances = net.batch_norm_views(target)
    means[0][:] = 1.0
    variances[0][:] = 2.0
    objective(theta)
    Z = X @ net.coefs(theta)[0]
    np.testing.assert_allclose(means[0], 0.9 * 1.0 + 0.1 * Z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(variances[0], 0.9 * 2.0 + 0.1 * Z.var(axis=0), rtol=1e-12)


def _numpy_predict_proba(clf, X):
    """Inference with the running statistics, written out in numpy."""
    A = X
    layers = list(zip(clf.coefs_, clf.intercepts_))
    for k, (W, _) in enumerate(layers[:-1]):
        Z = A @ W
        Z = (Z - clf.running_means_[k]) / np.sqrt(clf.running_vars_[k] + EPSILON)
        A = np.maximum(clf.batch_norm_scales_[k] * Z + clf.batch_norm_shifts_[k], 0)
    out = A @ layers[-1][0] + layers[-1][1]
    out = np.exp(out - out.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def test_prediction_uses_the_running_statistics(digits):
    X, y = digits
    clf = _fit(MLPClassifier((32, 16), batch_norm=True, max_iter=5, random_state=0), X, y)
    assert len(clf.running_means_) == 2 and clf.running_means_[0].shape == (32,)
    assert not np.allclose(clf.running_vars_[0], 1.0)  # they were updated
    np.testing.assert_allclose(clf.predict_proba(X), _numpy_predict_proba(clf, X), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate(clf.intercepts_[:-1]), 0)


def test_one_step_running_mean_is_the_batch_mean_of_the_initial_weights(iris):
    """One whole-data batch, a negligible learning rate: the running mean is
    0.1 times the mean of ``X W0`` over the data."""
    X, y = iris
    clf = _fit(
        MLPClassifier((6,), batch_norm=True, batch_size=len(y), learning_rate_init=1e-12, max_iter=1, random_state=0),
        X, y,
    )
    Z = X @ clf.coefs_[0]
    np.testing.assert_allclose(clf.running_means_[0], 0.1 * Z.mean(axis=0), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(clf.running_vars_[0], 0.9 + 0.1 * Z.var(axis=0), rtol=1e-8)


def test_batch_norm_trains_on_badly_scaled_inputs(digits):
    """Inputs scaled by 1000: the normalised network still trains."""
    X, y = digits
    X = X * 1000.0
    with_bn = _fit(MLPClassifier((32,), batch_norm=True, max_iter=30, random_state=0, learning_rate_init=0.01), X, y)
    assert with_bn.score(X, y) > 0.95


def test_pickle_warm_start_and_partial_fit(iris):
    X, y = iris
    clf = _fit(MLPClassifier((8,), batch_norm=True, max_iter=5, random_state=0), X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert np.shares_memory(restored.running_means_[0], restored._theta)
    clf.set_params(warm_start=True)
    before = clf.running_means_[0].copy()
    _fit(clf, X, y)
    assert not np.array_equal(before, clf.running_means_[0])
    pf = MLPRegressor(hidden_layer_sizes=(8,), batch_norm=True, random_state=0)
    for _ in range(3):
        pf.partial_fit(X, y.astype(float))
    assert pf.predict(X).shape == (len(y),)


def test_frozen_layers_and_transfer_keep_the_normalisation(iris):
    X, y = iris
    source = _fit(MLPClassifier((8, 6), batch_norm=True, max_iter=10, random_state=0), X, y)
    target = _fit(MLPClassifier((8, 6), batch_norm=True, init=source, freeze_layers=1, max_iter=10, random_state=1), X, y)
    np.testing.assert_array_equal(target.coefs_[0], source.coefs_[0])
    np.testing.assert_array_equal(target.batch_norm_scales_[0], source.batch_norm_scales_[0])
    np.testing.assert_array_equal(target.batch_norm_shifts_[0], source.batch_norm_shifts_[0])
    assert not np.array_equal(target.batch_norm_scales_[1], source.batch_norm_scales_[1])
    # into a network without normalisation: the folded layers, which compute the same
    plain = MLPClassifier((8, 6), init=source, freeze_layers=2, learning_rate_init=1e-12, max_iter=1, random_state=0)
    _fit(plain, X, y)
    hidden = plain._network.hidden_activations(plain._theta, Inputs(X, np.float64))
    expected = source._network.hidden_activations(source._theta, Inputs(X, np.float64))
    np.testing.assert_allclose(hidden[1], expected[1], rtol=1e-9, atol=1e-12)


def test_mc_dropout_and_snapshots_with_batch_norm(iris):
    from skdeep.schedules import Cyclic

    X, y = iris
    clf = _fit(MLPClassifier((8,), batch_norm=True, dropout=0.2, max_iter=5, random_state=0), X, y)
    mean, std = clf.predict_mc_dropout(X, n_samples=100, random_state=0)
    assert mean.shape == (len(y), 3) and (std > 0).all()
    # the masks act on the network normalised with the running statistics:
    # their average is close to its prediction
    assert np.abs(mean - clf.predict_proba(X)).mean() < 0.02
    snap = _fit(MLPClassifier((8,), batch_norm=True, learning_rate=Cyclic(step_size=1, snapshots=2), max_iter=4, random_state=0), X, y)
    assert len(snap.snapshots_) == 2
    assert snap.predict_proba(X).shape == (len(y), 3)
