"""The noise regularisers' definitions: input dropout, input noise, weight
noise and the dropout of Monte-Carlo prediction.

Each is tested twice: its kernel's draws against their distribution (rate,
scaling, standard deviation, what is left untouched), and a whole fit with a
learning rate of about zero, where the weights cannot move: the trained
weights must equal those of a plain fit (the noise is applied to copies
only), and the mean training loss must be the expectation, computed here in
NumPy, of the loss under the noise the technique defines.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier, MLPRegressor
from skdeep._kernels.random import INPUT_DROPOUT, INPUT_NOISE, WEIGHT_NOISE, make_key
from skdeep._kernels.regularizers import perturb_inputs

from .conftest import DTYPES


def _key(seed, step, shard, purpose):
    return np.uint64(make_key(seed, step, shard, purpose))


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


#: a bound of 5 standard errors: a correct kernel fails it about once in 2
#: million seeds, and these seeds are fixed
Z = 5.0


# ------------------------------------------------------------- kernels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_input_dropout_zeros_inputs_at_its_rate_and_scales_the_kept_ones(rate, dtype):
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.5, size=(400, 50)).astype(dtype)  # no zeros of its own
    Xb = X.copy()
    perturb_inputs(Xb, rate, 0.0, _key(1, 2, 0, INPUT_DROPOUT), _key(1, 2, 0, INPUT_NOISE))
    dropped = Xb == 0
    n = dropped.size
    assert abs(dropped.mean() - rate) < Z * np.sqrt(rate * (1 - rate) / n)
    # independent draws: no correlation between neighbouring columns or rows
    d = dropped.astype(float)
    for a, b in ((d[:, :-1], d[:, 1:]), (d[:-1], d[1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < Z / np.sqrt(a.size)
    # inverted dropout: the kept inputs are scaled by 1 / (1 - rate), so that
    # the expected input is the input itself
    np.testing.assert_allclose(
        Xb[~dropped], X[~dropped] / (1 - rate), rtol=4 * np.finfo(dtype).eps
    )
    # the mask depends on the key only, not on the values
    other = np.full_like(X, 3.0)
    perturb_inputs(other, rate, 0.0, _key(1, 2, 0, INPUT_DROPOUT), _key(1, 2, 0, INPUT_NOISE))
    np.testing.assert_array_equal(other == 0, dropped)


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_noise_adds_gaussian_noise_of_its_standard_deviation(dtype):
    rng = np.random.default_rng(1)
    std = 0.3
    X = rng.normal(size=(400, 50)).astype(dtype)
    Xb = X.copy()
    keys = (_key(3, 4, 1, INPUT_DROPOUT), _key(3, 4, 1, INPUT_NOISE))
    perturb_inputs(Xb, 0.0, std, *keys)
    noise = Xb.astype(np.float64) - X
    n = noise.size
    assert abs(noise.mean()) < Z * std / np.sqrt(n)
    assert abs(noise.std() / std - 1) < Z / np.sqrt(2 * n)
    assert stats.kstest(noise.ravel() / std, "norm").pvalue > 1e-3
    # independent entries: no correlation between neighbouring columns or rows
    for a, b in ((noise[:, :-1], noise[:, 1:]), (noise[:-1], noise[1:])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < Z / np.sqrt(a.size)
    # a row's noise does not depend on the other rows of its batch
    first = X[:10].copy()
    perturb_inputs(first, 0.0, std, *keys)
    np.testing.assert_allclose(first.astype(np.float64) - X[:10], noise[:10], rtol=1e-6, atol=1e-6)


def test_weight_noise_perturbs_a_copy_of_the_weights_not_the_biases():
    """The kernel behind ``weight_noise``: ``noisy <- theta + N(0, std^2)`` on
    the weights (the first ``n_weights`` entries of the flat vector), a copy
    of the biases, over the range ``[lo, hi)`` it is given; ``theta`` stays."""
    from skdeep._kernels.training import _noisy_weights

    rng = np.random.default_rng(2)
    n_params, n_weights, std = 30_000, 29_000, 0.2
    theta = rng.normal(size=n_params)
    before = theta.copy()
    noisy = np.full(n_params, np.nan)
    lo, hi = 1_000, 29_500  # a range across the boundary of weights and biases
    _noisy_weights(theta, noisy, lo, hi, n_weights, std, _key(5, 6, 0, WEIGHT_NOISE))
    np.testing.assert_array_equal(theta, before)
    assert np.isnan(noisy[:lo]).all() and np.isnan(noisy[hi:]).all()  # its range only
    np.testing.assert_array_equal(noisy[n_weights:hi], theta[n_weights:hi])  # biases
    noise = noisy[lo:n_weights] - theta[lo:n_weights]
    assert abs(noise.mean()) < Z * std / np.sqrt(noise.size)
    assert abs(noise.std() / std - 1) < Z / np.sqrt(2 * noise.size)
    assert stats.kstest(noise / std, "norm").pvalue > 1e-3


# ------------------------------------------------------ through a fit

#: SGD with a learning rate of about zero: the weights stay where they were
#: initialised (a step moves them by ~1e-12), and the loss of each batch is
#: that of the initial network under the batch's noise
FROZEN = dict(
    solver="sgd", momentum=0.0, learning_rate_init=1e-12, alpha=0.0, tol=0.0,
    n_iter_no_change=np.inf, random_state=0,
)
NOISES = {
    "weight_noise": dict(weight_noise=0.3),
    "input_noise": dict(input_noise=0.5),
    "input_dropout": dict(input_dropout=0.3),
}


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("technique", NOISES)
def test_trained_weights_never_contain_the_noise(technique, solver, digits):
    """A fit with noise and a plain fit, both with a learning rate of about
    zero, end with the same weights: the noise acts on the forward and
    backward passes only (on copies of the weights and inputs), and the
    data passed to fit are not changed either."""
    X, y = digits
    X_before = X.copy()
    params = dict(FROZEN, solver=solver, hidden_layer_sizes=(16, 8), batch_size=32, max_iter=3)
    plain = _fit(MLPClassifier(**params), X, y)
    noisy = _fit(MLPClassifier(**params, **NOISES[technique]), X, y)
    for a, b in zip(noisy.coefs_ + noisy.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(X, X_before)
    # and the noise was there: the noisy network fits the data worse
    assert min(noisy.loss_curve_) > max(plain.loss_curve_) + 0.01


def test_sparse_input_is_not_changed_by_input_noise(digits):
    X, y = digits
    Xs = sp.csr_matrix(np.where(X > 0, X, 0))
    before = Xs.copy()
    _fit(MLPClassifier((8,), input_noise=0.5, input_dropout=0.3, max_iter=2, random_state=0), Xs, y)
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(Xs, part), getattr(before, part))


def _relu_output(coefs, intercepts, X):
    A = X
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        A = np.maximum(A @ W + b, 0)
    return A @ coefs[-1] + intercepts[-1]


def _half_squared_error(coefs, intercepts, X, y):
    """scikit-learn's squared-error loss."""
    return 0.5 * np.mean((_relu_output(coefs, intercepts, X).ravel() - y) ** 2)


def _perturbed(technique, std_factor=1.0, scaled=True):
    """``(coefs, intercepts, X, rng) -> (coefs, intercepts, X)`` under the
    technique's noise, as its documentation defines it (or a wrong variant:
    another standard deviation, dropout without rescaling)."""
    if technique == "weight_noise":  # on the weights, not on the biases
        s = 0.3 * std_factor
        return lambda W, b, X, rng: ([w + s * rng.normal(size=w.shape) for w in W], b, X)
    if technique == "input_noise":
        s = 0.5 * std_factor
        return lambda W, b, X, rng: (W, b, X + s * rng.normal(size=X.shape))
    p = 0.3  # input dropout, inverted
    scale = 1 / (1 - p) if scaled else 1.0
    return lambda W, b, X, rng: (W, b, X * (rng.random(X.shape) >= p) * scale)


def _expected_excess(fitted, X, y, perturb, draws=3000):
    """E[loss under the noise] - loss, by Monte Carlo."""
    rng = np.random.default_rng(42)
    W, b = fitted.coefs_, fitted.intercepts_
    clean = _half_squared_error(W, b, X, y)
    losses = [_half_squared_error(*perturb(W, b, X, rng), y) for _ in range(draws)]
    return np.mean(losses) - clean, clean


@pytest.mark.parametrize("technique", NOISES)
def test_the_network_trains_on_the_loss_under_the_defined_noise(technique, diabetes):
    """With the weights frozen, each batch's loss is the loss of the initial
    network under a fresh draw of the noise, so the mean over 200 epochs of
    the training loss is its expectation (within ~5% here), which this
    computes in NumPy from the definition: N(0, std^2) added to every
    weight (not to the biases) or to every input, or inputs zeroed at the
    rate and the kept ones scaled by 1 / (1 - rate)."""
    X, y = diabetes
    est = MLPRegressor(
        hidden_layer_sizes=(8,), batch_size=64, max_iter=200, **FROZEN, **NOISES[technique]
    )
    est = _fit(est, X, y)
    expected, clean = _expected_excess(est, X, y, _perturbed(technique))
    observed = np.mean(est.loss_curve_) - clean
    assert observed == pytest.approx(expected, rel=0.15)
    # a fresh draw at each step (with one draw for the whole fit, every epoch
    # would see the same network and report the same loss)
    assert np.std(est.loss_curve_) > 0.02 * expected
    # the test tells the definition from the nearest wrong ones
    wrong = (
        [_perturbed(technique, std_factor=1.25)] if technique != "input_dropout"
        else [_perturbed(technique, scaled=False)]
    )
    for perturb in wrong:
        assert abs(_expected_excess(est, X, y, perturb, draws=1000)[0] - expected) > 0.3 * expected


def test_mc_dropout_spread_is_that_of_inverted_dropout_masks(diabetes):
    """One hidden layer of units ``h_j`` with output weights ``w_j`` and
    dropout rate ``p``: over masks ``m_j`` that are 0 or ``1 / (1 - p)``,
    the output ``b + sum_j m_j h_j w_j`` has mean ``b + sum_j h_j w_j`` (the
    deterministic prediction) and variance ``p / (1 - p) sum_j (h_j w_j)^2``."""
    X, y = diabetes
    p = 0.3
    reg = _fit(MLPRegressor(hidden_layer_sizes=(32,), dropout=p, max_iter=20, random_state=0), X, y)
    n_samples = 400
    mean, std = reg.predict_mc_dropout(X[:60], n_samples=n_samples, random_state=0)
    H = np.maximum(X[:60] @ reg.coefs_[0] + reg.intercepts_[0], 0)
    terms = H * reg.coefs_[1][:, 0]
    expected_std = np.sqrt(p / (1 - p) * np.sum(terms**2, axis=1))
    assert (expected_std > 0).all()
    # the sample std of n draws is off by ~1 / sqrt(2n) = 3.5% (8% at most
    # over these rows); a variance, or a std over fewer or other masks, is not
    np.testing.assert_allclose(std, expected_std, rtol=0.15)
    assert np.mean(std / expected_std) == pytest.approx(1, abs=0.03)
    np.testing.assert_array_less(np.abs(mean - reg.predict(X[:60])), Z * expected_std / np.sqrt(n_samples))
