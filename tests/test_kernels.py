"""Every kernel against a second computation (NumPy/SciPy/scikit-learn)."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from skdeep._kernels import activations as act
from skdeep._kernels import linalg, losses, updates
from skdeep._kernels._jit import kernel_code
from skdeep._kernels.activations import ACTIVATIONS, LEAKY_SLOPE
from skdeep._kernels.records import (
    NO_LAYER_NORMS,
    Diagonal,
    Hyper,
    LayerNorms,
    OptimizerStep,
    Penalties,
)
from skdeep.optim import (
    LAMB,
    SGD,
    AdaDelta,
    AdaGrad,
    AdaHessian,
    Adam,
    AdamW,
    RAdam,
    RMSProp,
)

from .conftest import DTYPES, RTOL

REFERENCE = {
    "identity": lambda x: x,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "softplus": lambda x: np.logaddexp(0, x),
}


def test_every_activation_has_a_reference():
    assert set(REFERENCE) == set(ACTIVATIONS)


def _pre_activations(dtype, rng):
    # include large magnitudes: the kernels must not overflow
    Z = rng.normal(scale=3, size=(13, 7))
    Z[0, :3] = [-60.0, 60.0, 0.3]
    return Z.astype(dtype), rng.normal(size=7).astype(dtype)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_forward_matches_reference(name, dtype):
    rng = np.random.default_rng(0)
    Z, b = _pre_activations(dtype, rng)
    expected = REFERENCE[name]((Z + b).astype(np.float64))
    out = Z.copy()
    act.activation_forward(ACTIVATIONS[name].code, out, b)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=RTOL[dtype] * 10, atol=1e-6)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_derivatives_match_finite_differences(name):
    """f' and f'' computed from the output agree with central differences."""
    rng = np.random.default_rng(1)
    x = rng.normal(scale=2, size=(11, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks of relu & co.
    f = REFERENCE[name]
    h = 1e-5
    d1 = (f(x + h) - f(x - h)) / (2 * h)
    d2 = (f(x + h) - 2 * f(x) + f(x - h)) / h**2
    A = f(x)
    D = np.ones_like(x)
    act.activation_backward(ACTIVATIONS[name].code, A, D)
    np.testing.assert_allclose(D, d1, rtol=1e-6, atol=1e-8)
    S = np.empty_like(x)
    act.activation_second(ACTIVATIONS[name].code, A, S)
    np.testing.assert_allclose(S, d2, rtol=1e-3, atol=1e-4)


def _targets(code, rng, n, k):
    if code == losses.LOG_LOSS:
        return np.eye(k)[rng.integers(0, k, n)]
    if code == losses.BINARY_LOG_LOSS:
        return (rng.random((n, k)) < 0.4).astype(float)
    if code == losses.POISSON:
        return rng.poisson(1.5, (n, k)).astype(float)
    return rng.normal(size=(n, k))


def _sklearn_loss(name, Y, P, sw):
    """The weighted mean loss from scikit-learn's metrics."""
    if name == "log_loss":
        P = P / P.sum(axis=1, keepdims=True)  # float32 rows sum to 1 +- eps
        return log_loss(Y.argmax(1), P, sample_weight=sw, labels=range(Y.shape[1]))
    if name == "binary_log_loss":
        return sum(
            log_loss(Y[:, c], P[:, c], sample_weight=sw, labels=[0, 1])
            for c in range(Y.shape[1])
        )
    if name == "poisson":
        return 0.5 * sum(
            mean_poisson_deviance(Y[:, c], P[:, c], sample_weight=sw)
            for c in range(Y.shape[1])
        )
    return 0.5 * Y.shape[1] * mean_squared_error(Y, P, sample_weight=sw)


@pytest.mark.parametrize("name", losses.LOSSES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_matches_sklearn_metrics(name, dtype):
    rng = np.random.default_rng(2)
    code = losses.LOSSES[name].code
    n, k = 40, 3
    Y = _targets(code, rng, n, k).astype(dtype)
    Z = rng.normal(size=(n, k)).astype(dtype)
    sw = (rng.random(n) + 0.5).astype(dtype)
    seg = np.array([0, k], dtype=np.int64)
    P = Z.copy()
    D = np.empty_like(Z)
    total = losses.loss_gradient(code, P, Y, sw, seg, 1.0, D)
    expected = _sklearn_loss(name, Y.astype(float), P.astype(float), sw.astype(float))
    np.testing.assert_allclose(total / sw.sum(dtype=float), expected, rtol=RTOL[dtype] * 10)
    value = losses.loss_value(code, Z, Y, sw, seg)
    np.testing.assert_allclose(value, total, rtol=RTOL[dtype])
    # the prediction written in place equals output_activation's
    out = Z.copy()
    losses.output_activation(code, out, seg)
    np.testing.assert_allclose(out, P, rtol=RTOL[dtype])


@pytest.mark.parametrize("name", losses.LOSSES)
def test_loss_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(3)
    code = losses.LOSSES[name].code
    n, k = 6, 4
    Y = _targets(code, rng, n, k)
    seg = np.array([0, 2, 4] if code == losses.LOG_LOSS else [0, k], dtype=np.int64)
    if code == losses.LOG_LOSS:  # two softmax heads of two classes
        Y = np.hstack([np.eye(2)[rng.integers(0, 2, n)], np.eye(2)[rng.integers(0, 2, n)]])
    Z = rng.normal(size=(n, k))
    sw = rng.random(n) + 0.5
    D = np.empty_like(Z)
    losses.loss_gradient(code, Z.copy(), Y, sw, seg, 0.7, D)
    h = 1e-6
    num = np.empty_like(Z)
    for i in range(n):
        for j in range(k):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, j] += h
            Zm[i, j] -= h
            num[i, j] = (
                losses.loss_value(code, Zp, Y, sw, seg)
                - losses.loss_value(code, Zm, Y, sw, seg)
            ) / (2 * h)
    np.testing.assert_allclose(D, 0.7 * num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_loss_hessian_vector_is_the_derivative_of_the_gradient(name):
    """Each registry entry's Hessian-vector kernel against central
    differences of its gradient along ``R`` (the prediction ``P`` is what
    the gradient kernel leaves in ``Z``)."""
    rng = np.random.default_rng(4)
    entry = losses.LOSSES[name]
    n, k = 5, 4
    Y = _targets(entry.code, rng, n, k)
    seg = np.array([0, 2, 4] if entry.code == losses.LOG_LOSS else [0, k], dtype=np.int64)
    if entry.code == losses.LOG_LOSS:
        Y = np.hstack([np.eye(2)[rng.integers(0, 2, n)], np.eye(2)[rng.integers(0, 2, n)]])
    Z = rng.normal(size=(n, k))
    R = rng.normal(size=(n, k))
    sw = rng.random(n) + 0.5

    def gradient(z):
        D = np.empty_like(z)
        losses.loss_gradient(entry.code, z.copy(), Y, sw, seg, 0.7, D)
        return D

    P = Z.copy()
    losses.loss_gradient(entry.code, P, Y, sw, seg, 0.7, np.empty_like(Z))
    out = np.empty_like(Z)
    losses.loss_hessian_vector(entry.code, P, Y, sw, seg, 0.7, R, out)
    h = 1e-6
    expected = (gradient(Z + h * R) - gradient(Z - h * R)) / (2 * h)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-9)


def test_the_loss_selections_cover_the_registry_and_reject_unknown_codes():
    """Every selection is generated from ``LOSSES``; a code outside it is an
    error, not another loss."""
    codes = {entry.code for entry in losses.LOSSES.values()}
    for selection in (losses.loss_gradient, losses.loss_hessian_vector):
        assert set(selection.kernels) == codes
    Z = np.zeros((2, 2))
    with pytest.raises(ValueError, match="unknown code"):
        losses.loss_value(max(codes) + 1, Z, Z, np.ones(2), np.array([0, 2]))
    assert {name for name, e in losses.LOSSES.items() if e.regression} == {"squared_error", "poisson"}


def test_the_activation_selections_cover_the_registry():
    codes = {entry.code for entry in ACTIVATIONS.values()}
    for selection in (act.activation_forward, act.activation_backward, act.activation_second):
        assert set(selection.kernels) == codes


def test_softmax_is_per_segment_and_stable():
    Z = np.array([[1000.0, 0.0, -3.0, 2.0, 1.0], [-1000.0, 1.0, 0.0, 0.0, 5.0]])
    seg = np.array([0, 3, 5], dtype=np.int64)
    out = Z.copy()
    losses.output_activation(losses.LOG_LOSS, out, seg)
    np.testing.assert_allclose(out[:, :3], softmax(Z[:, :3], axis=1))
    np.testing.assert_allclose(out[:, 3:], softmax(Z[:, 3:], axis=1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_softmax_of_one_head_matches_scipy_in_either_layout(dtype, layout):
    """One head over every column of a C-contiguous block takes the flat,
    vectorised exponential loop (``losses._exp_block``); a strided block the
    row loop (``_exp_rows``)."""
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal((37, 22)) * 20).astype(dtype)
    before = wide.copy()
    out = np.ascontiguousarray(wide[:, :11]) if layout == "contiguous" else wide[:, ::2]
    Z = out.astype(np.float64)
    losses.output_activation(losses.LOG_LOSS, out, np.array([0, 11], dtype=np.int64))
    np.testing.assert_allclose(out, softmax(Z, axis=1), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)
    np.testing.assert_array_equal(wide[:, 1::2], before[:, 1::2])  # the columns between


def _njit_calls(function):
    """A plain numba kernel calling ``function`` (an intrinsic: Python
    cannot call it directly)."""
    import numba

    return numba.njit(lambda *args: function(*args))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_layout", ["C", "F", "strided"])
@pytest.mark.parametrize("b_layout", ["C", "F", "strided"])
def test_dot_matches_numpy_in_every_layout(dtype, a_layout, b_layout):
    """``linalg.dot``, numba's ``np.dot(a, b, out)`` lowered in place: the
    same product as numpy's for C-, F- and non-contiguous inputs (copied
    first), and matrix-vector products."""
    rng = np.random.default_rng(3)

    def shaped(rows, cols, layout):
        if layout == "strided":
            return rng.normal(size=(rows, 2 * cols)).astype(dtype)[:, ::2]
        return np.asarray(rng.normal(size=(rows, cols)).astype(dtype), order=layout)

    a, b = shaped(7, 5, a_layout), shaped(5, 4, b_layout)
    out = np.full((7, 4), np.nan, dtype=dtype)
    call = _njit_calls(linalg.dot)
    call(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=RTOL[dtype])
    v = rng.normal(size=5).astype(dtype)
    into = np.empty(7, dtype=dtype)
    call(a, v, into)
    np.testing.assert_allclose(into, a @ v, rtol=RTOL[dtype])
    into = np.empty(4, dtype=dtype)
    call(v, b, into)
    np.testing.assert_allclose(into, v @ b, rtol=RTOL[dtype])


def test_dot_larger_and_smaller_are_intrinsics():
    """With numba 0.60-0.68 (which have the lowering they call) the three
    are intrinsics, not the ``np.dot``, ``max`` and ``min`` they stand in
    for (which would compile a function per signature)."""
    from numba.core.extending import _Intrinsic

    from skdeep._kernels._jit import compiles, larger, smaller

    if not compiles():
        pytest.skip("NUMBA_DISABLE_JIT")
    for function in (linalg.dot, larger, smaller):
        assert isinstance(function, _Intrinsic)


def test_dot_refuses_what_numba_cannot_lower():
    import numba

    call = _njit_calls(linalg.dot)
    a = np.ones((3, 2))
    with pytest.raises(numba.core.errors.TypingError, match=r"dot\(\) of"):
        call(a, np.ones((2, 3), dtype=np.float32), np.empty((3, 3)))  # mixed dtypes
    with pytest.raises(numba.core.errors.TypingError, match=r"dot\(\) of"):
        call(a, np.ones((2, 3)), np.empty((3, 3), order="F"))  # an output BLAS cannot write in place
    with pytest.raises(ValueError, match="incompatible"):
        call(a, np.ones((3, 3)), np.empty((3, 3)))  # numba's own check of the shapes


@pytest.mark.parametrize(
    "pair",
    [(1, 2), (2, 1), (-3, 2.5), (2.5, -3), (1.0, np.nan), (np.nan, 1.0), (True, 0), (np.float32(1.5), 2)],
)
def test_larger_and_smaller_are_pythons_max_and_min(pair):
    """``_jit.larger`` and ``smaller`` in a kernel give Python's ``max`` and
    ``min`` of two numbers, NaN rule included (``max(1.0, nan)`` is 1.0,
    ``max(nan, 1.0)`` NaN), with numba's type for the result."""
    from skdeep._kernels._jit import larger, smaller

    for ours, python in ((larger, max), (smaller, min)):
        got = _njit_calls(ours)(*pair)
        want = python(*pair)
        np.testing.assert_equal(got, want)
        assert isinstance(got, float) == any(isinstance(x, (float, np.floating)) for x in pair)


def test_log_losses_are_exact_for_confident_predictions():
    """From logits, not clipped probabilities: a logit of -50 for the true
    class costs 50 nats, where clipping would cap it near 36."""
    Z = np.array([[-50.0, 0.0]])
    Y = np.array([[1.0, 0.0]])
    seg = np.array([0, 2], dtype=np.int64)
    value = losses.loss_value(losses.LOG_LOSS, Z, Y, np.ones(1), seg)
    np.testing.assert_allclose(value, 50.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_products_match_scipy(dtype):
    rng = np.random.default_rng(4)
    X = sp.random(20, 9, density=0.3, random_state=5, format="csr", dtype=dtype)
    rows = np.array([3, 0, 19, 7, 7], dtype=np.int64)
    W = rng.normal(size=(9, 4)).astype(dtype)
    out = np.empty((5, 4), dtype=dtype)
    linalg.csr_rows_dot(X.data, X.indices, X.indptr, rows, W, out)
    np.testing.assert_allclose(out, X[rows] @ W, rtol=RTOL[dtype])
    D = rng.normal(size=(5, 4)).astype(dtype)
    G = np.empty((9, 4), dtype=dtype)
    linalg.csr_rows_t_dot(X.data, X.indices, X.indptr, rows, D, G)
    np.testing.assert_allclose(G, X[rows].T @ D, rtol=RTOL[dtype], atol=1e-6)


def test_gathers_and_sums():
    X = np.arange(12.0).reshape(4, 3)
    rows = np.array([2, 0], dtype=np.int64)
    out = np.empty((2, 3))
    linalg.gather_rows(X, rows, out)
    np.testing.assert_array_equal(out, X[rows])
    v = np.empty(2)
    linalg.gather(X[:, 0].copy(), rows, v)
    np.testing.assert_array_equal(v, X[rows, 0])
    s = np.empty(3)
    linalg.column_sums(X, s)
    np.testing.assert_array_equal(s, X.sum(0))
    target = X.copy()
    linalg.add_matrix(target[1:], X[:3] * 2)  # into a view, leaving row 0
    np.testing.assert_array_equal(target, np.vstack([X[:1], X[1:] + 2 * X[:3]]))
    vector = X[:, 1].copy()
    linalg.add_vector(vector[:2], X[2:, 2])
    np.testing.assert_array_equal(vector, [X[0, 1] + X[2, 2], X[1, 1] + X[3, 2], X[2, 1], X[3, 1]])


# ---------------------------------------------------------------- optimizers


def _no_diagonal():
    """The Hessian probe of the optimizers that have none."""
    return Diagonal(np.zeros(0), np.zeros(0))


def _penalties(l2=0.0, l1=None, prior_coef=0.0, prior=None):
    return Penalties(l2, l1, prior_coef, prior)


def _run_reference(optimizer, params, grads, l2=0.0, n_weights=None):
    """scikit-learn's optimizer, fed the gradient plus the L2 term on the
    weights (the first ``n_weights`` entries)."""
    for g in grads:
        g = g.copy()
        g[:n_weights] += l2 * params[0][:n_weights]
        optimizer.update_params(params, [g])
    return params[0]


def _run_kernel(optimizer, theta, grads, lr, l2, n_weights):
    squares = []
    state = optimizer.start(theta.shape[0], theta.dtype).state
    opt = OptimizerStep(optimizer.code, state, optimizer.hyper(), lr, n_weights, 0)
    for t, g in enumerate(grads, start=1):
        w = theta[:n_weights].copy()
        got = updates.optimizer_step(
            opt, theta, g, 0, theta.shape[0], t, 1.0, _penalties(l2), _no_diagonal()
        )
        squares.append((got[0], w @ w))
    return squares


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_sgd_update_matches_sklearn(momentum, nesterov, l2):
    rng = np.random.default_rng(6)
    theta0 = rng.normal(size=10)
    grads = [rng.normal(size=10) for _ in range(5)]
    reference = _run_reference(
        SGDOptimizer([theta0.copy()], 0.1, momentum=momentum, nesterov=nesterov),
        [theta0.copy()], grads, l2, 7,
    )
    theta = theta0.copy()
    squares = _run_kernel(SGD(momentum=momentum, nesterov=nesterov), theta, grads, 0.1, l2, 7)
    np.testing.assert_allclose(theta, reference, rtol=1e-12)
    for got, expected in squares:  # the penalty of the weights before each step
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_adam_update_matches_sklearn(l2):
    rng = np.random.default_rng(7)
    theta0 = rng.normal(size=10)
    grads = [rng.normal(size=10) for _ in range(5)]
    reference = _run_reference(
        AdamOptimizer([theta0.copy()], 0.01, 0.8, 0.99, 1e-7), [theta0.copy()], grads, l2, 7
    )
    theta = theta0.copy()
    squares = _run_kernel(Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-7), theta, grads, 0.01, l2, 7)
    np.testing.assert_allclose(theta, reference, rtol=1e-12)
    for got, expected in squares:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


# Each optimizer's step from its paper, in NumPy: ``(theta, state, t, lr,
# g, ridge, decay, d)`` -> ``(new theta, each coordinate's step)``, where
# ``g`` already holds the L2 term (``ridge * theta``), ``decay`` is AdamW's
# per coordinate and ``d`` AdaHessian's Hessian-diagonal estimate. ``state``
# (float64 copies of the moments) is updated in place.


def _sgd_reference(h, theta, state, t, lr, g, decay, d):
    """scikit-learn's SGD; Nesterov's momentum as Sutskever et al. (2013)."""
    if h.momentum == 0.0:
        return theta - lr * g, np.full_like(theta, lr)
    state[0] = h.momentum * state[0] - lr * g
    step = h.momentum * state[0] - lr * g if h.nesterov else state[0]
    return theta + step, np.full_like(theta, lr)


def _adam_reference(h, theta, state, t, lr, g, decay, d):
    """Kingma & Ba (2014), Algorithm 1 with section 2's epsilon; AdamW's
    decoupled decay ``theta *= 1 - lr * decay`` (Loshchilov & Hutter, 2019)."""
    state[0] = h.beta_1 * state[0] + (1 - h.beta_1) * g
    state[1] = h.beta_2 * state[1] + (1 - h.beta_2) * g**2
    step = lr * np.sqrt(1 - h.beta_2**t) / (1 - h.beta_1**t) / (np.sqrt(state[1]) + h.epsilon)
    return theta * (1 - lr * decay) - step * state[0], step


def _adagrad_reference(h, theta, state, t, lr, g, decay, d):
    """Duchi, Hazan & Singer (2011): the sum of squared gradients."""
    state[0] = state[0] + g**2
    step = lr / (np.sqrt(state[0]) + h.epsilon)
    return theta - step * g, step


def _rmsprop_reference(h, theta, state, t, lr, g, decay, d):
    """Tieleman & Hinton (2012): their moving average."""
    state[0] = h.rho * state[0] + (1 - h.rho) * g**2
    step = lr / (np.sqrt(state[0]) + h.epsilon)
    return theta - step * g, step


def _adahessian_reference(h, theta, state, t, lr, g, decay, d):
    """Yao et al. (2021), Algorithm 1 (no spatial averaging)."""
    state[0] = h.beta_1 * state[0] + (1 - h.beta_1) * g
    state[1] = h.beta_2 * state[1] + (1 - h.beta_2) * d**2
    v_hat = state[1] / (1 - h.beta_2**t)
    step = lr / (1 - h.beta_1**t) / (np.sqrt(v_hat) ** h.hessian_power + h.epsilon)
    return theta - step * state[0], step


def _adadelta_reference(h, theta, state, t, lr, g, decay, d):
    """Zeiler (2012), Algorithm 1, the update times ``lr`` (1 in the paper);
    ``state[2]`` each coordinate's step per unit of gradient."""
    state[0] = h.rho * state[0] + (1 - h.rho) * g**2
    state[2] = np.sqrt(state[1] + h.epsilon) / np.sqrt(state[0] + h.epsilon)
    delta = state[2] * g
    state[1] = h.rho * state[1] + (1 - h.rho) * delta**2
    return theta - lr * delta, lr * state[2]


def _radam_reference(h, theta, state, t, lr, g, decay, d):
    """Liu et al. (2020), Algorithm 2, with the threshold 5 on ``rho_t``."""
    state[0] = h.beta_1 * state[0] + (1 - h.beta_1) * g
    state[1] = h.beta_2 * state[1] + (1 - h.beta_2) * g**2
    m_hat = state[0] / (1 - h.beta_1**t)
    rho_inf = 2 / (1 - h.beta_2) - 1
    rho_t = rho_inf - 2 * t * h.beta_2**t / (1 - h.beta_2**t)
    if rho_t <= 5:
        return theta - lr * m_hat, np.full_like(theta, lr / (1 - h.beta_1**t))
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    v_hat = state[1] / (1 - h.beta_2**t)
    step = lr * r_t / (1 - h.beta_1**t) / (np.sqrt(v_hat) + h.epsilon)
    return theta - step * state[0], step


#: LAMB's layers in the registry's test vector of 11 entries, 7 weights:
#: layer 0 has the weights 0-3 and the biases 7-8, layer 1 the rest
LAMB_LAYER = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1])
LAMB_SEGMENTS = np.array([[0, 4, 0], [4, 7, 1], [7, 9, 0], [9, 11, 1]], dtype=np.int64)


def _lamb_reference(h, theta, state, t, lr, g, decay, d, layer=LAMB_LAYER):
    """You et al. (2020), Algorithm 2: Adam's direction with the decoupled
    decay, times each layer's ``||w|| / ||u||`` (1 if either is 0)."""
    state[0] = h.beta_1 * state[0] + (1 - h.beta_1) * g
    state[1] = h.beta_2 * state[1] + (1 - h.beta_2) * g**2
    denominator = np.sqrt(state[1] / (1 - h.beta_2**t)) + h.epsilon
    u = state[0] / (1 - h.beta_1**t) / denominator + decay * theta
    ratio = np.ones_like(theta)
    for k in np.unique(layer):
        w_norm, u_norm = np.linalg.norm(theta[layer == k]), np.linalg.norm(u[layer == k])
        if w_norm > 0 and u_norm > 0:
            ratio[layer == k] = w_norm / u_norm
    return theta - lr * ratio * u, lr * ratio / (1 - h.beta_1**t) / denominator


REFERENCE_STEPS = {
    updates.SGD: _sgd_reference,
    updates.ADAM: _adam_reference,
    updates.ADAGRAD: _adagrad_reference,
    updates.RMSPROP: _rmsprop_reference,
    updates.ADAMW: _adam_reference,
    updates.ADAHESSIAN: _adahessian_reference,
    updates.ADADELTA: _adadelta_reference,
    updates.RADAM: _radam_reference,
    updates.LAMB: _lamb_reference,
}
#: every optimizer, with hyper-parameters away from their defaults
OPTIMIZER_CASES = [
    SGD(momentum=0.0), SGD(momentum=0.8, nesterov=False), SGD(momentum=0.9, nesterov=True),
    Adam(beta_1=0.8, beta_2=0.99, epsilon=1e-7), AdamW(beta_1=0.85, weight_decay=0.05),
    AdaGrad(epsilon=1e-6), RMSProp(rho=0.8, epsilon=1e-7),
    AdaHessian(), AdaHessian(beta_1=0.8, beta_2=0.99, epsilon=1e-3, hessian_power=0.5),
    AdaDelta(), AdaDelta(rho=0.5, epsilon=1e-3, lr=2.0),
    # rho_t passes 5 at the sixth step with beta_2 = 0.999 or 0.99 (five
    # momentum steps, then rectified ones), never with 0.7 (rho_inf 5.7)
    RAdam(), RAdam(beta_1=0.8, beta_2=0.99, epsilon=1e-7), RAdam(beta_2=0.7),
    LAMB(), LAMB(beta_1=0.8, beta_2=0.99, epsilon=1e-7, weight_decay=0.1),
]


def _layer_norms(optimizer, n_ranges=1):
    """LAMB's ``LayerNorms`` over ``LAMB_SEGMENTS``; none for the others."""
    if not optimizer.layerwise:
        return NO_LAYER_NORMS
    return LayerNorms(LAMB_SEGMENTS, np.zeros((n_ranges, 2, 2)))


def test_the_registry_covers_every_optimizer():
    codes = {
        updates.SGD, updates.ADAM, updates.ADAGRAD, updates.RMSPROP, updates.ADAMW,
        updates.ADAHESSIAN, updates.ADADELTA, updates.RADAM, updates.LAMB,
    }
    assert set(updates.UPDATE_RULES) == codes
    assert set(REFERENCE_STEPS) == codes
    assert {o.code for o in OPTIMIZER_CASES} == codes
    assert {
        o.code for o in (
            SGD(), Adam(), AdamW(), AdaGrad(), RMSProp(), AdaHessian(), AdaDelta(), RAdam(), LAMB()
        )
    } == codes
    for code, rule in updates.UPDATE_RULES.items():
        assert rule.update is updates._update_slice.kernels[code]
        assert rule.l1_proximal is updates._l1_proximal_step.kernels[code]


def test_a_rule_without_a_kernel_is_an_error():
    rule = updates.UPDATE_RULES[updates.SGD]
    with pytest.raises(TypeError, match="l1_proximal is not a compiled kernel"):
        updates.selections({updates.SGD: rule._replace(l1_proximal=None)})
    with pytest.raises(TypeError, match="update is not a compiled kernel"):
        updates.selections({updates.SGD: rule._replace(update=_sgd_reference)})
    with pytest.raises(TypeError):  # no field has a default
        updates.UpdateRule(rule.update, n_slots=1)


@pytest.mark.parametrize("optimizer", OPTIMIZER_CASES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_optimizer_steps_as_its_paper_with_l2_and_l1(optimizer, dtype):
    """Eight steps of each registered optimizer against its NumPy reference:
    the gradient scaled by ``gs`` plus L2 on the weights (the first
    ``n_weights`` entries), the update, then the L1 proximal step on the
    weights, soft-thresholding by ``l1`` times each coordinate's step."""
    n, n_weights, gs, l2, l1 = 11, 7, 0.5, 0.1, 0.5
    lr = optimizer.initial_rate(0.05)  # AdaDelta has a rate of its own
    rng = np.random.default_rng(15)
    theta = rng.normal(scale=0.05, size=n).astype(dtype)
    zeros = 0
    expected = theta.astype(np.float64)
    hyper = optimizer.hyper()
    state = optimizer.start(n, dtype).state
    moments = np.zeros(state.shape)
    reference = REFERENCE_STEPS[optimizer.code]
    weights = np.arange(n) < n_weights
    ridge = np.where(weights, l2, 0.0)
    decay = np.where(weights, hyper.weight_decay, 0.0)
    opt = OptimizerStep(
        kernel_code(optimizer.code), state, hyper, lr, n_weights, 0, _layer_norms(optimizer)
    )
    for t in range(1, 9):
        grad = rng.normal(size=n).astype(dtype)
        z = np.sign(rng.normal(size=n)).astype(dtype)
        hz = rng.normal(size=n).astype(dtype)
        before = theta.astype(np.float64)
        if optimizer.layerwise:  # the epoch's phase before the step
            updates.layer_norms_range(opt, theta, grad[None], True, 0, n, t, gs, _penalties(l2, l1), 0)
        got = updates.optimizer_step(
            opt, theta, grad, 0, n, t, gs, _penalties(l2, l1), Diagonal(z, hz)
        )
        g = gs * grad + ridge * expected
        d = z.astype(np.float64) * hz + ridge  # the L2 term's curvature
        expected, step = reference(hyper, expected, moments, t, lr, g, decay, d)
        expected[weights] = _soft(expected[weights], l1 * step[weights])
        rtol = RTOL[dtype]
        np.testing.assert_allclose(theta, expected, rtol=rtol, atol=rtol * 1e-2)
        np.testing.assert_allclose(state, moments, rtol=rtol, atol=rtol * 1e-4)
        w = before[:n_weights]
        np.testing.assert_allclose(got[:2], [w @ w, np.abs(w).sum()], rtol=rtol)
        zeros += np.count_nonzero(theta[:n_weights] == 0)
    assert zeros  # exact zeros, not tiny values


def _soft(w, t):
    return np.sign(w) * np.maximum(np.abs(w) - t, 0)


def test_l1_is_a_proximal_step_after_sgd():
    rng = np.random.default_rng(9)
    theta = rng.normal(scale=0.05, size=12)
    grad = rng.normal(size=12)
    expected = theta - 0.1 * grad
    expected[:8] = _soft(expected[:8], 0.1 * 0.2)  # weights only
    before = theta.copy()
    opt = OptimizerStep(updates.SGD, np.zeros((1, 12)), SGD(momentum=0.0).hyper(), 0.1, 8, 0)
    got = updates.optimizer_step(
        opt, theta, grad, 0, 12, 1, 1.0, _penalties(l1=0.2), _no_diagonal()
    )
    np.testing.assert_allclose(theta, expected, rtol=1e-14)
    assert (theta[:8] == 0).any()  # exact zeros, not tiny values
    np.testing.assert_allclose(got[1], np.abs(before[:8]).sum())


def test_prior_pulls_towards_the_prior_weights():
    rng = np.random.default_rng(11)
    theta = rng.normal(size=5)
    prior = rng.normal(size=5)
    grad = np.zeros(5)
    before = theta.copy()
    opt = OptimizerStep(updates.SGD, np.zeros((1, 5)), SGD(momentum=0.0).hyper(), 0.1, 5, 0)
    got = updates.optimizer_step(
        opt, theta, grad, 0, 5, 1, 1.0, _penalties(prior_coef=2.0, prior=prior), _no_diagonal()
    )
    np.testing.assert_allclose(theta, before - 0.1 * 2.0 * (before - prior), rtol=1e-14)
    np.testing.assert_allclose(got[2], ((before - prior) ** 2).sum())


@pytest.mark.parametrize("code", list(updates.UPDATE_RULES))
def test_update_of_two_ranges_equals_one(code):
    """Workers update disjoint ranges; together they equal one update."""
    rng = np.random.default_rng(8)
    theta = rng.normal(size=23)
    grad = rng.normal(size=23)
    prior = rng.normal(size=23)
    hyper = Hyper(momentum=0.9, nesterov=True, weight_decay=0.01)
    whole, split = theta.copy(), theta.copy()
    n_slots = updates.UPDATE_RULES[code].n_slots
    s1, s2 = np.zeros((n_slots, 23)), np.zeros((n_slots, 23))
    diagonal = Diagonal(np.sign(rng.normal(size=23)), rng.normal(size=23))
    penalties = _penalties(0.2, 0.05, 0.3, prior)
    args = (1, 0.7, penalties, diagonal)
    layers = NO_LAYER_NORMS
    if code == updates.LAMB:  # the phase before the step, over the two ranges
        layers = LayerNorms(np.array([[0, 15, 0], [15, 23, 1]]), np.zeros((2, 2, 2)))
        norms = OptimizerStep(code, s1, hyper, 0.1, 15, 0, layers)
        for r, (lo, hi) in enumerate([(0, 11), (11, 23)]):
            updates.layer_norms_range(norms, theta, grad[None], True, lo, hi, 1, 0.7, penalties, r)
    # each call gets its own gradient: the step adds the prior's pull to it
    a = updates.optimizer_step(
        OptimizerStep(code, s1, hyper, 0.1, 15, 0, layers), whole, grad.copy(), 0, 23, *args
    )
    g2 = grad.copy()
    opt = OptimizerStep(code, s2, hyper, 0.1, 15, 0, layers)
    b1 = updates.optimizer_step(opt, split, g2, 0, 11, *args)
    b2 = updates.optimizer_step(opt, split, g2, 11, 23, *args)
    np.testing.assert_array_equal(whole, split)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(whole, theta)
    np.testing.assert_allclose(a, np.add(b1, b2), rtol=1e-14)


def test_gradient_scale_and_averaging():
    rng = np.random.default_rng(14)
    theta = rng.normal(size=5)
    g = rng.normal(size=5)
    expected = theta - 0.1 * 0.25 * g
    opt = OptimizerStep(updates.SGD, np.zeros((1, 5)), SGD(momentum=0.0).hyper(), 0.1, 5, 0)
    updates.optimizer_step(opt, theta, g, 0, 5, 1, 0.25, _penalties(), _no_diagonal())
    np.testing.assert_allclose(theta, expected, rtol=1e-14)
    average = np.zeros(5)
    values = [rng.normal(size=5) for _ in range(4)]
    for k, value in enumerate(values, 1):
        updates.average_update(average, value, 1.0 / k)
    np.testing.assert_allclose(average, np.mean(values, axis=0), rtol=1e-12)


def test_counter_based_random_numbers():
    from scipy import stats

    from skdeep._kernels.random import make_key

    from .kernels_for_tests import fill_normal, fill_uniform

    def key_of(*args):  # keys above 2**63 come back from numba as Python ints
        return np.uint64(make_key(*args))

    key = key_of(12345, 3, 1, 2)
    u = np.empty(200_000)
    fill_uniform(key, u)
    assert 0 <= u.min() and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = np.empty(200_001)  # odd: the last draw comes from half a pair
    fill_normal(key, z)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # Box-Muller on the same uniforms, with numpy's log, cos and sin
    radius = np.sqrt(-2 * np.log1p(-u[0::2]))
    angle = 2 * np.pi * u[1::2]
    np.testing.assert_allclose(z[0:200_000:2], radius * np.cos(angle), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(z[1:200_000:2], radius * np.sin(angle), rtol=1e-12, atol=1e-14)
    # keys of other steps, shards or purposes give unrelated streams
    for other in (key_of(12345, 4, 1, 2), key_of(12345, 3, 2, 2), key_of(12345, 3, 1, 3)):
        v = np.empty(20_000)
        fill_uniform(other, v)
        assert abs(np.corrcoef(u[:20_000], v)[0, 1]) < 0.03
    # a pure function of (key, counter)
    again = np.empty(10)
    fill_uniform(key, again)
    np.testing.assert_array_equal(again, u[:10])
