"""Gradients of every penalty against finite differences (float64)."""

import numpy as np
import pytest

from skdeep._kernels.network import block_view, train_pass
from skdeep._kernels.random import make_key
from skdeep._kernels.records import Block, Hidden
from skdeep._network import Inputs, Network
from skdeep.optim._full_batch import _SplitL1Evaluator

from .test_gradients import _numerical_gradient, _objective, _problem

SMOOTH = ["tanh", "logistic", "softplus", "identity"]


@pytest.mark.parametrize("activation", SMOOTH + ["relu", "elu"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_tangent_propagation_gradient(activation, loss):
    rng = np.random.default_rng(0)
    n, d, k, t = 6, 4, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem(loss, n, k, rng)
    T = rng.normal(size=(n, t, d))
    net, obj = _objective(
        [d, 5, 4, k], activation, loss, X, Y, rng.random(n) + 0.5, 0.1, np.float64,
        tangent_prop=0.7, tangents=T,
    )
    theta = rng.normal(scale=0.5, size=net.n_params)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)


def test_tangent_penalty_value_is_the_squared_directional_derivative():
    rng = np.random.default_rng(1)
    n, d, k = 5, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("squared_error", n, k, rng)
    T = rng.normal(size=(n, 1, d))
    sw = np.ones(n)
    net, with_tp = _objective([d, 4, k], "tanh", "squared_error", X, Y, sw, 0.0, np.float64, tangent_prop=2.0, tangents=T)
    _, without = _objective([d, 4, k], "tanh", "squared_error", X, Y, sw, 0.0, np.float64)
    theta = rng.normal(size=net.n_params)
    # the directional derivative of the raw output, by central differences
    h = 1e-6
    W, b = net.coefs(theta), net.intercepts(theta)

    def raw(Z):
        return np.tanh(Z @ W[0] + b[0]) @ W[1] + b[1]

    J_t = (raw(X + h * T[:, 0]) - raw(X - h * T[:, 0])) / (2 * h)
    expected = 0.5 * 2.0 * np.sum(J_t**2) / n
    np.testing.assert_allclose(with_tp(theta)[0] - without(theta)[0], expected, rtol=1e-6)


@pytest.mark.parametrize("activation", SMOOTH)
def test_activity_l1_gradient(activation):
    rng = np.random.default_rng(2)
    n, d, k = 7, 4, 3
    X = rng.normal(size=(n, d))
    Y = _problem("log_loss", n, k, rng)
    net, obj = _objective([d, 6, 5, k], activation, "log_loss", X, Y, rng.random(n) + 0.5, 0.0, np.float64, activity_l1=0.3)
    theta = rng.normal(scale=0.5, size=net.n_params)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)


def test_prior_penalty_gradient():
    rng = np.random.default_rng(3)
    n, d, k = 5, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("squared_error", n, k, rng)
    net = Network([d, 4, k], "tanh", "squared_error")
    prior = rng.normal(size=net.n_params)
    net, obj = _objective([d, 4, k], "tanh", "squared_error", X, Y, np.ones(n), 0.2, np.float64, prior=prior, prior_alpha=1.5)
    theta = rng.normal(size=net.n_params)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)
    # biases are not pulled: moving a bias to its prior value changes nothing
    _, plain = _objective([d, 4, k], "tanh", "squared_error", X, Y, np.ones(n), 0.2, np.float64)
    w = theta[: net.n_weights] - prior[: net.n_weights]
    np.testing.assert_allclose(obj(theta)[0] - plain(theta)[0], 0.5 * 1.5 * (w @ w) / n, rtol=1e-12)


def test_split_l1_objective_gradient():
    """The bound-constrained L1 objective of L-BFGS: value and gradient."""
    rng = np.random.default_rng(4)
    n, d, k = 6, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("log_loss", n, k, rng)
    net, obj = _objective([d, 4, k], "tanh", "log_loss", X, Y, np.ones(n), 0.0, np.float64)
    theta = np.empty(net.n_params)
    split = _SplitL1Evaluator(obj, theta, net.n_weights, 0.05)
    x = np.abs(rng.normal(size=net.n_params + net.n_weights))
    value, grad = split(x)
    w = x[: net.n_weights] - x[net.n_weights : 2 * net.n_weights]
    plain = obj(np.concatenate([w, x[2 * net.n_weights :]]))[0]
    np.testing.assert_allclose(value, plain + 0.05 * x[: 2 * net.n_weights].sum())
    numerical = _numerical_gradient(lambda v: split(v), x)
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-8)


def test_input_gradient_for_adversarial_examples():
    """``dx`` from the backward pass is the gradient of the loss with respect
    to the inputs (what FGSM takes the sign of)."""
    rng = np.random.default_rng(5)
    n, d, k = 4, 3, 3
    X = rng.normal(size=(n, d))
    Y = _problem("log_loss", n, k, rng)
    sw = rng.random(n) + 0.5
    net = Network([d, 5, k], "tanh", "log_loss")
    theta = rng.normal(size=net.n_params)
    ws = net.workspace(n, np.float64)
    grad = np.empty(net.n_params)
    dx = np.empty((n, d))
    csr = Inputs(X, np.float64).csr

    hidden = Hidden(np.zeros(1), ws.acts, np.uint64(0), 0.0)

    def loss(Xv, want_dx):
        block = Block(Xv, csr, False, np.arange(n), n, Y, sw, 1.0)
        return train_pass(
            theta, grad, net.layout(), block, ws.work(), hidden, dx if want_dx else dx[:0],
            None, True, None,
        )

    loss(X.copy(), True)
    analytic = dx.copy()
    h = 1e-6
    numerical = np.empty_like(X)
    for i in range(n):
        for j in range(d):
            Xp, Xm = X.copy(), X.copy()
            Xp[i, j] += h
            Xm[i, j] -= h
            numerical[i, j] = (loss(Xp, False) - loss(Xm, False)) / (2 * h)
    np.testing.assert_allclose(analytic, numerical, rtol=1e-6, atol=1e-9)


def test_dropout_masks_and_backward():
    """With dropout the pass is that of the masked network: the gradient
    matches finite differences at fixed masks."""
    rng = np.random.default_rng(6)
    n, d, k = 6, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("squared_error", n, k, rng)
    net = Network([d, 8, 7, k], "tanh", "squared_error")
    theta = rng.normal(size=net.n_params)
    ws = net.workspace(n, np.float64)
    masks = np.empty_like(ws.acts)
    grad = np.empty(net.n_params)
    csr = Inputs(X, np.float64).csr
    key = make_key(7, 1, 0, 2)

    block = Block(X, csr, False, np.arange(n), n, Y, np.ones(n), 1.0)
    hidden = Hidden(np.array([0.5, 0.3]), masks, key, 0.0)

    def objective(th):
        value = train_pass(
            th, grad, net.layout(), block, ws.work(), hidden, np.empty((0, d)), None, True, None
        )
        return value, grad

    objective(theta)
    for layer, rate in enumerate([0.5, 0.3]):  # each layer's mask, with its own rate
        mask = block_view(masks, net.sizes, ws.a_off, layer, n)
        assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
    analytic = objective(theta)[1].copy()
    np.testing.assert_allclose(analytic, _numerical_gradient(objective, theta), rtol=1e-6, atol=1e-8)


def test_dropout_with_activity_l1_matches_finite_differences():
    """Dropout and the activity penalty together: the penalty is taken on
    the units after dropout (dropped units count zero, kept ones scaled), so
    at fixed masks the gradient matches finite differences, and the
    penalty's value is that of the masked activations."""
    rng = np.random.default_rng(8)
    n, d, k = 6, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("squared_error", n, k, rng)
    net = Network([d, 8, 7, k], "tanh", "squared_error")
    theta = rng.normal(size=net.n_params)
    ws = net.workspace(n, np.float64)
    masks = np.empty_like(ws.acts)
    grad = np.empty(net.n_params)
    block = Block(X, Inputs(X, np.float64).csr, False, np.arange(n), n, Y, np.ones(n), 1.0)
    coef = 0.05

    def objective(th, activity=coef):
        hidden = Hidden(np.array([0.5, 0.3]), masks, make_key(7, 1, 0, 2), activity)
        value = train_pass(
            th, grad, net.layout(), block, ws.work(), hidden, np.empty((0, d)), None, True, None
        )
        return value, grad

    analytic = objective(theta)[1].copy()
    np.testing.assert_allclose(analytic, _numerical_gradient(objective, theta), rtol=1e-6, atol=1e-8)
    # the penalty: coef times the L1 norm of the masked activations (the
    # masks are drawn from the key, so the same in both calls)
    with_penalty = objective(theta)[0]
    plain = objective(theta, 0.0)[0]
    H = [np.tanh(X @ net.coefs(theta)[0] + net.intercepts(theta)[0])]
    H[0] = H[0] * block_view(masks, net.sizes, ws.a_off, 0, n)
    H.append(np.tanh(H[0] @ net.coefs(theta)[1] + net.intercepts(theta)[1]))
    H[1] = H[1] * block_view(masks, net.sizes, ws.a_off, 1, n)
    np.testing.assert_allclose(with_penalty - plain, coef * sum(np.abs(h).sum() for h in H), rtol=1e-10)


def test_dropout_masks_of_every_layer_drop_at_their_rate():
    """The masks of a large batch: every hidden layer's units are dropped at
    that layer's rate (within a 5-standard-error binomial bound) and the kept
    ones scaled by 1 / (1 - rate), independently of the other layers'."""
    rng = np.random.default_rng(7)
    n, d, k = 500, 3, 2
    X = rng.normal(size=(n, d))
    Y = _problem("squared_error", n, k, rng)
    rates = np.array([0.5, 0.2, 0.35])
    net = Network([d, 40, 30, 30, k], "tanh", "squared_error")
    theta = rng.normal(size=net.n_params)
    ws = net.workspace(n, np.float64)
    masks = np.empty_like(ws.acts)
    block = Block(X, Inputs(X, np.float64).csr, False, np.arange(n), n, Y, np.ones(n), 1.0)
    hidden = Hidden(rates, masks, make_key(3, 1, 0, 2), 0.0)
    train_pass(
        theta, np.empty(net.n_params), net.layout(), block, ws.work(), hidden,
        np.empty((0, d)), None, True, None,
    )
    dropped = []
    for layer, rate in enumerate(rates):
        mask = block_view(masks, net.sizes, ws.a_off, layer, n)
        assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
        zeros = mask == 0
        assert abs(zeros.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / zeros.size), layer
        # every unit at that rate
        per_unit = zeros.mean(0)
        assert np.abs(per_unit - rate).max() < 5 * np.sqrt(rate * (1 - rate) / n), layer
        dropped.append(zeros[:, :30].ravel().astype(float))
    for a in range(len(dropped)):  # unit j of one layer and of another: independent
        for b in range(a + 1, len(dropped)):
            assert abs(np.corrcoef(dropped[a], dropped[b])[0, 1]) < 5 / np.sqrt(dropped[a].size)
