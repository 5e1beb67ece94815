"""Prediction: one compiled call with the output activation inside, checked
against a forward pass written in NumPy; the direct check of plain input
against scikit-learn's ``validate_data``; several threads on one model."""

import copy
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import validate_data

import skdeep._network as network_module
from skdeep import MLPClassifier, MLPRegressor
from skdeep._estimators._predict_input import prediction_input
from skdeep._estimators._targets import targets_for
from skdeep._kernels.batchnorm import EPSILON
from tests.conftest import DTYPES, RTOL

ACTIVATIONS = {
    "relu": lambda Z: np.maximum(Z, 0),
    "tanh": np.tanh,
    "logistic": lambda Z: 1 / (1 + np.exp(-Z)),
    "identity": lambda Z: Z,
}


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _reference(est, X, out):
    """The fitted network's output in NumPy (float64), from ``coefs_`` and
    ``intercepts_``, with the output activation ``out``."""
    A = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    f = ACTIVATIONS[est.activation]
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        A = A @ W.astype(np.float64) + b.astype(np.float64)
        if i < len(est.coefs_) - 1:
            A = f(A)
    return out(A)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _cases(digits):
    X, y = digits
    X = X[:200]
    y = y[:200]
    Y = np.c_[y % 3, y % 2]
    return {
        "softmax": (MLPClassifier((16,), max_iter=20, random_state=0), X, y,
                    lambda est, P: P, _softmax),
        "logistic": (MLPClassifier((12, 8), activation="tanh", max_iter=20, random_state=0), X, y % 2,
                     lambda est, P: P[:, 1:], lambda Z: 1 / (1 + np.exp(-Z))),
        "heads": (MLPClassifier((16,), max_iter=20, random_state=0), X, Y,
                  lambda est, P: np.hstack(P),
                  lambda Z: np.hstack([_softmax(Z[:, :3]), _softmax(Z[:, 3:])])),
        "identity": (MLPRegressor(hidden_layer_sizes=(16,), activation="logistic", max_iter=20, random_state=0),
                     X, np.c_[y / 9.0, y % 2], lambda est, P: P, lambda Z: Z),
        "exp": (MLPRegressor("poisson", hidden_layer_sizes=(16,), max_iter=20, random_state=0),
                X, y / 9.0, lambda est, P: P.reshape(-1, 1), np.exp),
    }


def _output(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["softmax", "logistic", "heads", "identity", "exp"])
@pytest.mark.parametrize("sparse", [False, True])
def test_prediction_matches_a_numpy_forward_pass(digits, monkeypatch, dtype, case, sparse):
    """Every output activation, applied inside the compiled call, in both
    dtypes, dense and sparse input, over several chunks of rows and one."""
    est, X, y, take, out = _cases(digits)[case]
    X = X.astype(dtype)
    _fit(est, sp.csr_matrix(X) if sparse else X, y)
    expected = _reference(est, X, out)
    Xp = sp.csr_matrix(X) if sparse else X
    for chunk in (network_module.CHUNK_ROWS, 37):
        monkeypatch.setattr(network_module, "CHUNK_ROWS", chunk)
        P = take(est, _output(est, Xp))
        assert P.dtype == dtype
        np.testing.assert_allclose(P, expected, rtol=20 * RTOL[dtype], atol=1e-6 if dtype == np.float32 else 1e-12)
    # one row at a time gives the same values as the whole batch
    one = take(est, _output(est, Xp[:1]))
    np.testing.assert_allclose(one, P[:1], rtol=RTOL[dtype])


def test_predict_decodes_labels_as_label_binarizer():
    """The direct decoding of binary and multiclass outputs gives what
    ``LabelBinarizer.inverse_transform`` gives, ties and NaN included."""
    rng = np.random.default_rng(0)
    for y in [np.array(["a", "b", "c", "a"]), np.array([3, 7, 7, 3]), np.array([True, False, True])]:
        targets = targets_for(y)
        k = len(targets.classes_)
        out = rng.random((50, 1 if k == 2 else k))
        out[0] = 0.5
        out[1] = np.nan
        expected = targets.binarizer.inverse_transform(out.ravel() if k == 2 else out)
        found = targets.decode(out)
        assert found.dtype == expected.dtype
        np.testing.assert_array_equal(found, expected)


def test_batch_norm_prediction_matches_numpy(digits):
    """The folded normalisation, against the formula with the running
    statistics."""
    X, y = digits
    est = _fit(MLPClassifier((10, 6), batch_norm=True, max_iter=5, random_state=0), X, y)
    A = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        A = A @ W
        if i < len(est.coefs_) - 1:
            A = (A - est.running_means_[i]) / np.sqrt(est.running_vars_[i] + EPSILON)
            A = np.maximum(A * est.batch_norm_scales_[i] + est.batch_norm_shifts_[i], 0)
        else:
            A = A + b
    np.testing.assert_allclose(est.predict_proba(X), _softmax(A), rtol=1e-8, atol=1e-12)


# ------------------------------------------------- validation of the input


@pytest.fixture(scope="module")
def fitted(iris):
    X, y = iris
    return _fit(MLPClassifier((5,), max_iter=5, random_state=0), X, y), X


def test_plain_input_is_checked_as_validate_data_does(fitted):
    est, X = fitted
    validate = dict(accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False)
    for good in [X, X.astype(np.float32), np.asfortranarray(X), X[::2], X[:1]]:
        found = prediction_input(est, good)
        expected = validate_data(est, good, **validate)
        assert found.dtype == expected.dtype
        np.testing.assert_array_equal(found, expected)
    # what the direct check leaves to validate_data, which converts or raises
    for other in [X.tolist(), X.astype(np.int64), X.astype(">f8"), sp.csr_matrix(X)]:
        found = prediction_input(est, other)
        expected = validate_data(est, other, **validate)
        assert type(found) is type(expected) and found.dtype == expected.dtype
    for bad in [X[:, :3], X[0], X[:0], np.where(X > 1, np.nan, X), np.where(X > 1, np.inf, X)]:
        with pytest.raises(ValueError) as ours:
            est.predict(bad)
        with pytest.raises(ValueError) as theirs:
            validate_data(est, bad, **validate)
        assert str(ours.value) == str(theirs.value)


def test_assume_finite_skips_the_check(fitted):
    est, X = fitted
    bad = np.where(X > 1, np.nan, X)
    with config_context(assume_finite=True):
        assert prediction_input(est, bad) is bad


def test_feature_names_are_still_checked(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    est = _fit(MLPClassifier((5,), max_iter=5, random_state=0), frame, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(frame)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.rename(columns={"f0": "other"}))


def test_replaced_coefs_are_used(fitted):
    """Layers swapped or replaced in ``coefs_`` (no longer the views of the
    flat parameters) are what the model predicts with."""
    est, X = fitted
    expected = _reference(est, X, _softmax)
    clone = copy.deepcopy(est)
    clone.coefs_ = [c.copy() for c in clone.coefs_]
    np.testing.assert_allclose(clone.predict_proba(X), expected, rtol=1e-8)
    clone.coefs_[0] = clone.coefs_[0] * 2
    doubled = _reference(clone, X, _softmax)
    np.testing.assert_allclose(clone.predict_proba(X), doubled, rtol=1e-8)
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-8)


# ------------------------------------------------------------- threads


def test_threads_predicting_with_one_model_match_sequential_calls(digits, monkeypatch):
    """Several threads predict with one model at once, on inputs of
    different sizes (one chunk and several): the same results as one after
    the other (each call has its own buffers)."""
    X, y = digits
    monkeypatch.setattr(network_module, "CHUNK_ROWS", 64)
    est = _fit(MLPClassifier((32, 16), dropout=0.2, max_iter=10, random_state=0), X, y)
    inputs = [X[i : i + n] for i, n in [(0, 1), (5, 599), (20, 130), (100, 64), (3, 7)] * 4]

    def predict(rows):
        return (
            est.predict_proba(rows),
            est.predict_mc_dropout(rows, n_samples=3, random_state=1)[0],
            est.activation_sparsity(rows),
        )

    expected = [predict(rows) for rows in inputs]
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(predict, inputs))
    for a, b in zip(expected, found):
        for x, z in zip(a, b):
            np.testing.assert_array_equal(x, z)
