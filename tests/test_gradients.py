"""Analytic gradients of the flat parameter vector against finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from skdeep._kernels.activations import ACTIVATIONS
from skdeep._kernels.losses import LOSSES
from skdeep._network import Inputs, Network
from skdeep.optim._objective import FullBatchObjective
from skdeep.regularization import Regularization

from .conftest import DTYPES


def _problem(loss, n, k, rng, segments=None):
    if loss == "log_loss":
        segments = segments or [0, k]
        Y = np.hstack([
            np.eye(b - a)[rng.integers(0, b - a, n)]
            for a, b in zip(segments[:-1], segments[1:])
        ])
    elif loss == "binary_log_loss":
        Y = (rng.random((n, k)) < 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, (n, k)).astype(float)
    else:
        Y = rng.normal(size=(n, k))
    return Y


def _numerical_gradient(objective, theta, h=1e-4):
    """Fourth-order central differences: O(h^4) truncation error, so the
    round-off term (eps * loss / h) stays small too."""
    grad = np.empty_like(theta)

    def at(i, step):
        t = theta.copy()
        t[i] += step
        return objective(t)[0]

    for i in range(theta.shape[0]):
        grad[i] = (-at(i, 2 * h) + 8 * at(i, h) - 8 * at(i, -h) + at(i, -2 * h)) / (12 * h)
    return grad


def _objective(sizes, activation, loss, X, Y, sw, alpha, dtype, segments=None, **reg):
    network = Network(sizes, activation, loss, segments)
    inputs = Inputs(X, dtype)
    tangents = reg.pop("tangents", None)
    settings = Regularization(l2=alpha, **reg)
    return network, FullBatchObjective(
        network, inputs, Y.astype(dtype), sw.astype(dtype), settings, tangents
    )


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_matches_finite_differences(activation, loss, dtype):
    """float64: tight agreement with central differences. float32: the same
    analytic gradient as the float64 engine, to float32 precision."""
    rng = np.random.default_rng(0)
    n, d, k = 9, 4, 3
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    sw = rng.random(n) + 0.5
    sizes = [d, 5, 3, k]
    network, obj64 = _objective(sizes, activation, loss, X, Y, sw, 0.2, np.float64)
    theta = rng.normal(scale=0.6, size=network.n_params)
    loss64, grad64 = obj64(theta)
    grad64 = grad64.copy()
    if dtype == np.float64:
        np.testing.assert_allclose(
            grad64, _numerical_gradient(obj64, theta), rtol=1e-6, atol=1e-8
        )
    else:
        _, obj32 = _objective(sizes, activation, loss, X, Y, sw, 0.2, np.float32)
        loss32, grad32 = obj32(theta.astype(np.float32))
        assert grad32.dtype == np.float32
        np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
        np.testing.assert_allclose(grad32, grad64, rtol=2e-3, atol=2e-5)


def test_gradient_of_several_softmax_heads():
    rng = np.random.default_rng(1)
    segments = [0, 3, 5, 9]
    X = rng.normal(size=(8, 4))
    Y = _problem("log_loss", 8, 9, rng, segments)
    network, obj = _objective(
        [4, 6, 9], "tanh", "log_loss", X, Y, np.ones(8), 0.0, np.float64, segments
    )
    theta = rng.normal(size=network.n_params)
    grad = obj(theta)[1].copy()  # the objective reuses its gradient buffer
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)


def test_gradient_with_sparse_input_equals_dense():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 8))
    X[X < 0.6] = 0.0
    Y = _problem("log_loss", 30, 3, rng)
    sw = rng.random(30)
    net, dense = _objective([8, 5, 3], "relu", "log_loss", X, Y, sw, 1e-2, np.float64)
    _, sparse = _objective(
        [8, 5, 3], "relu", "log_loss", sp.csr_matrix(X), Y, sw, 1e-2, np.float64
    )
    theta = rng.normal(size=net.n_params)
    l1, g1 = dense(theta)
    g1 = g1.copy()
    l2, g2 = sparse(theta)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


def test_chunked_full_batch_equals_one_block(monkeypatch):
    """Data sets larger than one block are accumulated chunk by chunk."""
    import skdeep.optim._objective as objective_module

    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4))
    Y = _problem("squared_error", 50, 2, rng)
    net, whole = _objective([4, 3, 2], "elu", "squared_error", X, Y, np.ones(50), 0.1, np.float64)
    theta = rng.normal(size=net.n_params)
    l1, g1 = whole(theta)
    g1 = g1.copy()
    monkeypatch.setattr(objective_module, "CHUNK_ROWS", 7)
    _, chunked = _objective([4, 3, 2], "elu", "squared_error", X, Y, np.ones(50), 0.1, np.float64)
    assert chunked.chunk == 7
    l2, g2 = chunked(theta)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10)


def test_l2_penalty_skips_biases():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 3))
    Y = _problem("squared_error", 5, 1, rng)
    net, with_penalty = _objective([3, 4, 1], "relu", "squared_error", X, Y, np.ones(5), 2.0, np.float64)
    _, without = _objective([3, 4, 1], "relu", "squared_error", X, Y, np.ones(5), 0.0, np.float64)
    theta = rng.normal(size=net.n_params)
    l1, g1 = with_penalty(theta)
    g1 = g1.copy()
    l0, g0 = without(theta)
    w = theta[: net.n_weights]
    np.testing.assert_allclose(l1 - l0, 0.5 * 2.0 * w @ w / 5)
    np.testing.assert_allclose(g1[: net.n_weights] - g0[: net.n_weights], 2.0 * w / 5)
    np.testing.assert_array_equal(g1[net.n_weights :], g0[net.n_weights :])


#: activations whose derivative jumps at 0: finite differences are only exact
#: away from the kink
KINKED = {"relu", "leaky_relu", "elu"}


def _preactivations(network, theta, X, activation):
    """Every hidden pre-activation, by a plain NumPy forward pass."""
    A, out = X, []
    coefs, intercepts = network.coefs(theta), network.intercepts(theta)
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        Z = A @ W + b
        out.append(Z.ravel())
        A = {"relu": np.maximum(Z, 0), "leaky_relu": np.where(Z > 0, Z, 0.01 * Z),
             "elu": np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))}[activation]
    return np.concatenate(out) if out else np.array([np.inf])


@settings(max_examples=25, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    n=st.integers(1, 6),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    loss=st.sampled_from(sorted(LOSSES)),
    seed=st.integers(0, 2**16),
)
def test_gradient_for_random_architectures(hidden, n, activation, loss, seed):
    rng = np.random.default_rng(seed)
    d, k = 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    net, obj = _objective([d, *hidden, k], activation, loss, X, Y, rng.random(n) + 0.1, 0.05, np.float64)
    theta = rng.normal(scale=0.5, size=net.n_params)
    if activation in KINKED:
        assume(np.abs(_preactivations(net, theta, X, activation)).min() > 1e-3)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-5, atol=1e-7)
