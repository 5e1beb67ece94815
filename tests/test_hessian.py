"""Hessian-vector products against finite differences of the gradient."""

import numpy as np
import pytest
import scipy.sparse as sp

from skdeep._kernels.activations import ACTIVATIONS
from skdeep._kernels.losses import LOSSES

from .test_gradients import _objective, _problem

SMOOTH = ["identity", "logistic", "tanh", "softplus"]


def _fd_hvp(obj, theta, v, h=1e-5):
    """Central differences of the gradient along ``v``."""
    gp = obj(theta + h * v)[1].copy()
    gm = obj(theta - h * v)[1].copy()
    return (gp - gm) / (2 * h)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", SMOOTH + ["relu", "elu", "leaky_relu"])
def test_hvp_matches_finite_differences(activation, loss):
    rng = np.random.default_rng(0)
    n, d, k = 9, 4, 3
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    sw = rng.random(n) + 0.5
    net, obj = _objective([d, 5, 4, k], activation, loss, X, Y, sw, 0.3, np.float64)
    theta = rng.normal(scale=0.5, size=net.n_params)
    v = rng.normal(size=net.n_params)
    hv = obj.hvp(theta, v).copy()
    np.testing.assert_allclose(hv, _fd_hvp(obj, theta, v), rtol=1e-5, atol=1e-7)


def test_hvp_of_softmax_heads_sparse_input_and_prior():
    rng = np.random.default_rng(1)
    segments = [0, 3, 5]
    X = rng.normal(size=(12, 6))
    X[X < 0.3] = 0
    Y = _problem("log_loss", 12, 5, rng, segments)
    prior = rng.normal(size=200)
    net, dense = _objective([6, 7, 5], "tanh", "log_loss", X, Y, np.ones(12), 0.2, np.float64, segments, prior=None)
    prior = rng.normal(size=net.n_params)
    _, obj = _objective(
        [6, 7, 5], "tanh", "log_loss", sp.csr_matrix(X), Y, np.ones(12), 0.2, np.float64, segments,
        prior=prior, prior_alpha=0.7,
    )
    theta = rng.normal(size=net.n_params)
    v = rng.normal(size=net.n_params)
    np.testing.assert_allclose(obj.hvp(theta, v), _fd_hvp(obj, theta, v), rtol=1e-5, atol=1e-7)


def test_hvp_without_hidden_layer_and_chunked(monkeypatch):
    import skdeep.optim._objective as objective_module

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5))
    Y = _problem("binary_log_loss", 40, 2, rng)
    monkeypatch.setattr(objective_module, "CHUNK_ROWS", 9)
    net, obj = _objective([5, 2], "relu", "binary_log_loss", X, Y, np.ones(40), 0.1, np.float64)
    assert obj.chunk == 9
    theta = rng.normal(size=net.n_params)
    v = rng.normal(size=net.n_params)
    np.testing.assert_allclose(obj.hvp(theta, v), _fd_hvp(obj, theta, v), rtol=1e-5, atol=1e-7)


def test_hvp_is_symmetric_and_matches_the_full_hessian():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 3))
    Y = _problem("log_loss", 8, 3, rng)
    net, obj = _objective([3, 4, 3], "softplus", "log_loss", X, Y, np.ones(8), 0.0, np.float64)
    theta = rng.normal(size=net.n_params)
    H = np.column_stack([obj.hvp(theta, e).copy() for e in np.eye(net.n_params)])
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    u, v = rng.normal(size=(2, net.n_params))
    np.testing.assert_allclose(u @ obj.hvp(theta, v), u @ H @ v, rtol=1e-10)


def test_every_activation_is_covered():
    assert set(SMOOTH + ["relu", "elu", "leaky_relu"]) == set(ACTIVATIONS)


def test_full_hessian_matches_finite_differences():
    """The dense Hessian of the ``'newton'`` solver, penalty curvature
    included, column by column against differences of the gradient."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 3))
    Y = _problem("log_loss", 12, 3, rng)
    net, obj = _objective([3, 4, 3], "tanh", "log_loss", X, Y, rng.random(12) + 0.5, 0.7, np.float64)
    theta = rng.normal(scale=0.5, size=net.n_params)
    H = obj.hessian(theta)
    fd = np.column_stack([_fd_hvp(obj, theta, e) for e in np.eye(net.n_params)])
    np.testing.assert_allclose(H, 0.5 * (fd + fd.T), rtol=1e-5, atol=1e-7)


def _hessian_from_hvps(obj, theta):
    P = theta.shape[0]
    H = np.column_stack([obj.hvp(theta, e).copy() for e in np.eye(P, dtype=theta.dtype)])
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", SMOOTH + ["relu", "elu", "leaky_relu"])
def test_full_hessian_rows_match_hessian_vector_products(activation, loss):
    """``hessian_rows`` (one forward/backward pass for every unit direction,
    the R-passes skipping the layers below the direction's) against the
    general Hessian-vector product, on three weight layers."""
    rng = np.random.default_rng(5)
    n, d, k = 11, 4, 3
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    net, obj = _objective([d, 5, 4, k], activation, loss, X, Y, rng.random(n) + 0.5, 0.3, np.float64)
    theta = rng.normal(scale=0.5, size=net.n_params)
    np.testing.assert_allclose(obj.hessian(theta), _hessian_from_hvps(obj, theta), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_hessian_sparse_heads_prior_and_chunks(monkeypatch, dtype):
    """Sparse input (the first layer's input column from CSR rows), two
    softmax heads, a prior's curvature, several chunks of rows, one hidden
    layer and none."""
    import skdeep.optim._objective as objective_module

    monkeypatch.setattr(objective_module, "CHUNK_ROWS", 7)
    rng = np.random.default_rng(6)
    segments = [0, 3, 5]
    X = rng.normal(size=(20, 6))
    X[X < 0.3] = 0
    Y = _problem("log_loss", 20, 5, rng, segments)
    for sizes in ([6, 4, 5], [6, 5]):
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        net, obj = _objective(
            sizes, "softplus", "log_loss", sp.csr_matrix(X), Y, rng.random(20) + 0.5, 0.2, dtype,
            segments, prior=rng.normal(size=n_params), prior_alpha=0.7,
        )
        assert obj.chunk == 7
        theta = rng.normal(scale=0.5, size=net.n_params).astype(dtype)
        H = obj.hessian(theta)
        assert H.dtype == np.float64
        tolerance = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
        np.testing.assert_allclose(H, _hessian_from_hvps(obj, theta), **tolerance)


def test_adahessian_probe_estimates_the_hessian_diagonal():
    """Hutchinson's estimate ``E[z * (H z)]`` with the random signs the
    AdaHessian step draws (kernel keys), averaged over many steps, matches
    the exact diagonal: its errors have the size of the estimator's standard
    error ``sqrt(sum_j!=i H_ij^2 / N)``."""
    from skdeep._kernels.random import HESSIAN_PROBE, make_key
    from skdeep._kernels.training import _rademacher

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 4))
    Y = _problem("binary_log_loss", 30, 1, rng)
    net, obj = _objective([4, 6, 1], "softplus", "binary_log_loss", X, Y, np.ones(30), 0.0, np.float64)
    theta = rng.normal(scale=0.7, size=net.n_params)
    H = obj.hessian(theta)
    n_probes = 20_000
    z = np.empty(net.n_params)
    estimate = np.zeros(net.n_params)
    for step in range(1, n_probes + 1):
        key = np.uint64(make_key(np.uint64(12345), step, 0, HESSIAN_PROBE))  # keys > 2**63
        _rademacher(z, 0, net.n_params, key)
        assert set(np.unique(z)) <= {-1.0, 1.0}
        estimate += z * obj.hvp(theta, z)
    estimate /= n_probes
    error = np.sqrt(((H - np.diag(np.diag(H))) ** 2).sum(axis=1) / n_probes)
    z_scores = (estimate - np.diag(H)) / error
    assert np.abs(z_scores).max() < 5
    assert 0.5 < np.sqrt(np.mean(z_scores**2)) < 1.5  # errors of the predicted size
    # not trivially satisfied: the sampling error is well below the diagonal
    assert np.median(error) < 0.1 * np.median(np.abs(np.diag(H)))
