"""Identity shortcuts (``residual=True``): which layers get one, the
gradients and Hessian-vector products through them, prediction and the
fitted model's other views of the hidden layers."""

import pickle

import numpy as np
import pytest

from skdeep import FeatureExtractor, MLPClassifier, MLPRegressor
from skdeep._kernels.network import train_pass
from skdeep._kernels.random import make_key
from skdeep._kernels.records import Block, Hidden
from skdeep._network import Inputs, Network, shortcut_layers
from skdeep.optim._objective import FullBatchObjective
from skdeep.regularization import Regularization

from .test_gradients import _numerical_gradient, _problem
from .test_hessian import _fd_hvp, _hessian_from_hvps
from .test_noise import _fit

#: hidden layers with shortcuts around the second and third (widths 6 -> 6)
_SIZES = [4, 6, 6, 6, 5, 3]


def _numpy_hidden(coefs, intercepts, X, f=np.tanh):
    """The hidden layers' outputs with shortcuts, in NumPy."""
    h, out = X, []
    for layer, (W, b) in enumerate(zip(coefs[:-1], intercepts[:-1])):
        branch = f(h @ W + b)
        h = h + branch if layer > 0 and W.shape[0] == W.shape[1] else branch
        out.append(h)
    return out


def test_which_layers_get_a_shortcut():
    np.testing.assert_array_equal(shortcut_layers(_SIZES), [0, 1, 1, 0, 0])
    # the first hidden layer's input is the data, even of its width
    np.testing.assert_array_equal(shortcut_layers([5, 5, 5, 2]), [0, 1, 0])
    np.testing.assert_array_equal(shortcut_layers([5, 5, 2]), [0, 0])


def _objective(loss, X, Y, sw, residual):
    net = Network(_SIZES, "tanh", loss, residual=residual)
    return net, FullBatchObjective(net, Inputs(X, np.float64), Y, sw, Regularization(l2=0.1), None)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error"])
def test_gradient_and_hessian_vector_product_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    n = 9
    X = rng.normal(size=(n, _SIZES[0]))
    Y = _problem(loss, n, _SIZES[-1], rng)
    sw = rng.random(n) + 0.5
    net, obj = _objective(loss, X, Y, sw, residual=True)
    theta = rng.normal(scale=0.5, size=net.n_params)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)
    v = rng.normal(size=net.n_params)
    hv = obj.hvp(theta, v).copy()
    np.testing.assert_allclose(hv, _fd_hvp(obj, theta, v), rtol=1e-5, atol=1e-7)
    # the exact Hessian's rows (solver='newton') follow the shortcuts too
    np.testing.assert_allclose(obj.hessian(theta), _hessian_from_hvps(obj, theta), rtol=1e-9, atol=1e-12)
    # the shortcuts change the function: not the plain network's derivatives
    _, plain = _objective(loss, X, Y, sw, residual=False)
    assert not np.allclose(plain(theta)[1], grad)
    assert not np.allclose(plain.hvp(theta, v), hv)


@pytest.mark.parametrize("rates, activity", [([0.3, 0.4, 0.2, 0.1], 0.0), ([0.0] * 4, 1e-2)])
def test_gradient_with_dropout_or_activity_penalty_on_the_branches(rates, activity):
    """Dropout on the branches at fixed masks, or the activity penalty on
    the branches' outputs: the gradient with shortcuts matches finite
    differences."""
    rng = np.random.default_rng(6)
    n = 6
    X = rng.normal(size=(n, _SIZES[0]))
    Y = _problem("squared_error", n, _SIZES[-1], rng)
    net = Network(_SIZES, "tanh", "squared_error", residual=True)
    theta = rng.normal(size=net.n_params)
    ws = net.workspace(n, np.float64)
    grad = np.empty(net.n_params)
    block = Block(X, Inputs(X, np.float64).csr, False, np.arange(n), n, Y, np.ones(n), 1.0)
    hidden = Hidden(np.array(rates), np.empty_like(ws.acts), make_key(7, 1, 0, 2), activity)

    def objective(th):
        value = train_pass(
            th, grad, net.layout(), block, ws.work(), hidden, np.empty((0, X.shape[1])), None, True, None
        )
        return value, grad

    analytic = objective(theta)[1].copy()
    np.testing.assert_allclose(analytic, _numerical_gradient(objective, theta), rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module")
def deep(digits):
    """10 narrow tanh layers, with and without shortcuts, same epochs."""
    X, y = digits
    params = dict(
        hidden_layer_sizes=(12,) * 10, activation="tanh", max_iter=15, batch_size=64,
        random_state=0, tol=0.0,
    )
    return {
        residual: _fit(MLPClassifier(residual=residual, **params), X, y) for residual in (False, True)
    } | {"data": (X, y)}


def test_a_deep_narrow_network_trains_further_with_shortcuts(deep):
    assert deep[True].loss_ < 0.8 * deep[False].loss_, (deep[True].loss_, deep[False].loss_)


def test_prediction_and_hidden_views_include_the_shortcuts(deep):
    est = deep[True]
    X, _ = deep["data"]
    X = X[:50]
    hidden = _numpy_hidden(est.coefs_, est.intercepts_, X)
    logits = hidden[-1] @ est.coefs_[-1] + est.intercepts_[-1]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-8, atol=1e-10)
    extractor = FeatureExtractor(est, layer=4, prefit=True)
    np.testing.assert_allclose(extractor.transform(X), hidden[4], rtol=1e-8, atol=1e-10)
    sparsity = est.activation_sparsity(X)
    np.testing.assert_array_equal(sparsity, [np.mean(h == 0) for h in hidden])


def test_batch_norm_and_dropout_with_shortcuts_predict_through_them(digits):
    X, y = digits
    est = _fit(
        MLPRegressor(
            hidden_layer_sizes=(8, 8, 8), residual=True, batch_norm=True, dropout=0.1, max_iter=3, batch_size=64,
            activation="tanh", random_state=0,
        ),
        X, y.astype(float),
    )
    # the normalised layers at prediction: running statistics
    h, out = X[:20], None
    scales, shifts, means, variances = (
        est.batch_norm_scales_, est.batch_norm_shifts_, est.running_means_, est.running_vars_
    )
    for layer in range(3):
        z = h @ est.coefs_[layer]
        z = scales[layer] * (z - means[layer]) / np.sqrt(variances[layer] + 1e-5) + shifts[layer]
        h = h + np.tanh(z) if layer > 0 else np.tanh(z)
    out = (h @ est.coefs_[-1] + est.intercepts_[-1]).ravel()
    np.testing.assert_allclose(est.predict(X[:20]), out, rtol=1e-6, atol=1e-8)
    mean, std = est.predict_mc_dropout(X[:5], n_samples=5, random_state=0)
    assert mean.shape == (5,) and np.all(std > 0)


@pytest.mark.parametrize(
    "solver",
    [
        {"solver": "lbfgs"}, {"solver": "newton-cg"}, {"solver": "newton"},
        {"solver": "sgd", "learning_rate_init": 0.1},
    ],
)
def test_every_kind_of_solver_trains_with_shortcuts(iris, solver):
    """A full-batch solver (loss and gradient), those with Hessian-vector
    products and the exact Hessian, and a first-order one."""
    X, y = iris
    est = _fit(
        MLPClassifier((6, 6), activation="tanh", residual=True, max_iter=40, random_state=0, **solver),
        X, y,
    )
    assert est.score(X, y) > 0.8


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (100,)}, "no two consecutive hidden layers of equal width"),
        ({"hidden_layer_sizes": (4, 6)}, "no two consecutive hidden layers of equal width"),
        ({"tangent_prop": 0.1}, "tangent_prop cannot be combined with residual"),
        ({"residual": "yes"}, "'residual' parameter"),
    ],
)
def test_bad_settings_are_refused_and_leave_the_model_unchanged(iris, params, message):
    X, y = iris
    est = _fit(MLPClassifier((6, 6), activation="tanh", residual=True, max_iter=2, random_state=0), X, y)
    before = [c.copy() for c in est.coefs_]
    est.set_params(**{"residual": True, **params})
    extra = {"tangents": np.zeros((len(X), 1, X.shape[1]))} if "tangent_prop" in params else {}
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, **extra)
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_pickled_model_keeps_its_shortcuts(deep):
    est = deep[True]
    X, _ = deep["data"]
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), est.predict_proba(X[:20]))


def test_onnx_export_adds_the_shortcuts(deep):
    pytest.importorskip("onnxruntime")
    from skdeep.onnx import to_onnx

    from .test_onnx import run

    est = deep[True]
    X, _ = deep["data"]
    X = X[:30].astype(np.float64)
    onx = to_onnx(est, X, options={"zipmap": False})
    assert sum(node.op_type == "Add" for node in onx.graph.node) >= 9  # 9 shortcuts
    label, proba = run(onx, X)
    np.testing.assert_array_equal(label, est.predict(X))
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=1e-6, atol=1e-9)
