"""Semi-supervised classification: the unlabelled rows' terms (value against
NumPy, gradient against finite differences) and the estimator's contract."""

import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight

from skdeep import MLPClassifier, MLPRegressor
from skdeep._estimators._runs import split_validation
from skdeep._estimators._semi_supervised import UnlabeledClassWarning
from skdeep._kernels.unlabeled import UNLABELED_TERMS
from skdeep._listeners import UnlabeledRamp

from .test_gradients import _numerical_gradient, _objective

# ------------------------------------------------------------- the terms


def _numpy_terms(mode, Z, binary):
    """Each row's unlabelled term from its logits ``Z``, in NumPy."""
    if binary:
        p = 1 / (1 + np.exp(-Z[:, 0]))
        if mode == "pseudo_label":
            return -np.log(np.where(p > 0.5, p, 1 - p))
        return -(p * np.log(p) + (1 - p) * np.log(1 - p))
    logp = log_softmax(Z, axis=1)
    if mode == "pseudo_label":
        return -logp.max(axis=1)
    return -(softmax(Z, axis=1) * logp).sum(axis=1)


def _numpy_log_loss(Z, Y, binary):
    if binary:
        p = 1 / (1 + np.exp(-Z[:, 0]))
        return -(Y[:, 0] * np.log(p) + (1 - Y[:, 0]) * np.log(1 - p))
    return -(Y * log_softmax(Z, axis=1)).sum(axis=1)


@pytest.mark.parametrize("mode", UNLABELED_TERMS)
@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
def test_unlabeled_term_value_and_gradient(mode, loss):
    """The data term with unlabelled rows equals the NumPy sum of the
    labelled rows' log-loss and the unlabelled rows' term, and its gradient
    matches finite differences."""
    rng = np.random.default_rng(0)
    n, d = 10, 3
    binary = loss == "binary_log_loss"
    k = 1 if binary else 4
    X = rng.normal(size=(n, d))
    if binary:
        Y = (rng.random((n, 1)) < 0.5).astype(float)
    else:
        Y = np.eye(k)[rng.integers(0, k, n)]
    unlabeled = np.arange(n) % 3 != 0
    Y[unlabeled] = -1.0
    sw = rng.random(n) + 0.5
    code = UNLABELED_TERMS[mode].code
    net, obj = _objective([d, 5, k], "tanh", loss, X, Y, sw, 0.0, np.float64, unlabeled=code)
    theta = rng.normal(scale=0.8, size=net.n_params)
    value, grad = obj(theta)
    grad = grad.copy()

    W, b = net.coefs(theta), net.intercepts(theta)
    Z = np.tanh(X @ W[0] + b[0]) @ W[1] + b[1]
    rows = np.where(unlabeled, _numpy_terms(mode, Z, binary), _numpy_log_loss(Z, np.abs(Y), binary))
    np.testing.assert_allclose(value, (sw * rows).sum() / sw.sum(), rtol=1e-12)
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-9)
    # float32: the same gradient to float32 precision
    _, obj32 = _objective([d, 5, k], "tanh", loss, X, Y, sw, 0.0, np.float32, unlabeled=code)
    grad32 = obj32(theta.astype(np.float32))[1]
    np.testing.assert_allclose(grad32, grad, rtol=2e-3, atol=2e-5)


def test_without_unlabeled_rows_the_term_changes_nothing():
    rng = np.random.default_rng(1)
    n, d, k = 8, 3, 3
    X = rng.normal(size=(n, d))
    Y = np.eye(k)[rng.integers(0, k, n)]
    sw = np.ones(n)
    net, plain = _objective([d, 4, k], "tanh", "log_loss", X, Y, sw, 0.0, np.float64)
    _, semi = _objective([d, 4, k], "tanh", "log_loss", X, Y, sw, 0.0, np.float64, unlabeled=2)
    theta = rng.normal(size=net.n_params)
    np.testing.assert_array_equal(plain(theta)[1].copy(), semi(theta)[1].copy())


# -------------------------------------------------------------- estimator

_PARAMS = dict(hidden_layer_sizes=(32,), max_iter=40, random_state=0)


def _keep_labels(y, fraction, seed):
    y_semi = y.copy()
    y_semi[np.random.default_rng(seed).random(y.shape[0]) > fraction] = -1
    return y_semi


@pytest.fixture(scope="module")
def partly_labelled(digits):
    """Digits with one label in ten kept; ``y`` the true labels."""
    X, y = digits
    return X, y, _keep_labels(y, 0.1, 0)


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


#: the setting of docs/semi_supervised.md (with dropout, as Lee, 2013)
_DIGITS = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, dropout=0.3, random_state=0)
_SEEDS = (0, 2)


@pytest.fixture(scope="module")
def six_percent():
    """All of digits in [0, 1], and 6% of its labels for each seed."""
    X, y = load_digits(return_X_y=True)
    return X / 16, y, [_keep_labels(y, 0.06, seed) for seed in _SEEDS]


@pytest.fixture(scope="module")
def labelled_only_accuracy(six_percent):
    X, y, semis = six_percent
    scores = []
    for y_semi in semis:
        labelled = y_semi != -1
        est = _fit(MLPClassifier(max_iter=200, **_DIGITS), X[labelled], y_semi[labelled])
        scores.append(est.score(X[~labelled], y[~labelled]))
    return np.mean(scores)


@pytest.mark.parametrize("mode", UNLABELED_TERMS)
def test_unlabeled_rows_improve_on_labelled_only(six_percent, labelled_only_accuracy, mode):
    """6% of digits' labels: each mode beats the labelled rows alone, on
    average over two draws of the labels (measured: by 0.03, from 0.876)."""
    X, y, semis = six_percent
    scores = []
    for y_semi in semis:
        est = _fit(
            MLPClassifier(semi_supervised=mode, max_iter=100, unlabeled_rampup=30, **_DIGITS),
            X, y_semi,
        )
        unlabeled = y_semi == -1
        scores.append(est.score(X[unlabeled], y[unlabeled]))
        np.testing.assert_array_equal(est.classes_, np.arange(10))
        assert set(np.unique(est.predict(X))) <= set(range(10))
    assert np.mean(scores) > labelled_only_accuracy + 0.01, (scores, labelled_only_accuracy)


def test_the_ramp_starts_at_zero(partly_labelled):
    """The first epoch trains with the unlabelled rows at weight 0 (the
    same model as unlabeled_weight=0), unless the ramp is off."""
    X, _, y_semi = partly_labelled
    one = dict(_PARAMS, max_iter=1)
    ramped = _fit(MLPClassifier(semi_supervised="entropy", **one), X, y_semi)
    weightless = _fit(MLPClassifier(semi_supervised="entropy", unlabeled_weight=0.0, **one), X, y_semi)
    at_once = _fit(MLPClassifier(semi_supervised="entropy", unlabeled_rampup=0, **one), X, y_semi)
    np.testing.assert_array_equal(ramped.coefs_[0], weightless.coefs_[0])
    assert not np.array_equal(ramped.coefs_[0], at_once.coefs_[0])


def test_ramp_factors_and_stopping_rule_restart():
    sw = np.ones(4)
    ramp = UnlabeledRamp(sw, np.array([True, False, True, False]), 4)
    assert [ramp.factor(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert UnlabeledRamp(sw, np.zeros(4, dtype=bool), 0).factor(0) == 1.0

    class Loop:
        validation = None

        class progress:
            history = [{}, {}]
            best_loss = 0.1
            no_improvement_count = 3

    ramp.on_epoch_begin(Loop)
    np.testing.assert_array_equal(sw, [0.5, 1, 0.5, 1])
    assert Loop.progress.best_loss == np.inf and Loop.progress.no_improvement_count == 0
    ramp.on_fit_end(Loop)
    np.testing.assert_array_equal(sw, np.ones(4))


def test_unlabeled_weights_balance_the_two_terms(partly_labelled):
    X, y, y_semi = partly_labelled
    est = MLPClassifier(semi_supervised="pseudo_label", unlabeled_weight=0.5)
    sw = est._sample_weight(None, X, y_semi, np.float64, False)
    unlabeled = y_semi == -1
    np.testing.assert_allclose(sw[unlabeled].sum(), 0.5 * (~unlabeled).sum())
    np.testing.assert_array_equal(sw[~unlabeled], 1.0)


def test_class_weight_balanced_counts_labelled_rows(partly_labelled):
    X, _, y_semi = partly_labelled
    est = MLPClassifier(semi_supervised="entropy", class_weight="balanced")
    est._prepare_targets(y_semi, first_pass=True, incremental=False, classes=None)
    factor = est._target_sample_weight(y_semi, False)
    labelled = y_semi != -1
    weights = compute_class_weight("balanced", classes=np.arange(10), y=y_semi[labelled])
    np.testing.assert_allclose(factor[labelled], weights[y_semi[labelled]])
    np.testing.assert_array_equal(factor[~labelled], 1.0)
    _fit(MLPClassifier(semi_supervised="entropy", class_weight="balanced", **dict(_PARAMS, max_iter=3)), X, y_semi)


def test_validation_rows_are_labelled(partly_labelled):
    X, y, y_semi = partly_labelled
    est = MLPClassifier(semi_supervised="entropy")
    est._prepare_targets(y_semi, first_pass=True, incremental=False, classes=None)
    Y = est._encode_targets(y_semi)
    rows = np.arange(y.shape[0], dtype=float)[:, None]

    class Inputs:  # takes rows by index, like _network.Inputs
        def __init__(self, a):
            self.a = a

        def take(self, idx):
            return Inputs(self.a[idx])

    class Config:
        validation_fraction = 0.2

    train, val = split_validation(
        Config, Inputs(rows), Y, y_semi, np.ones(len(y)), np.random.default_rng(0), None, True
    )
    assert (val[2] != -1).all()
    assert val[0].a.shape[0] == round(0.2 * (y_semi != -1).sum())
    train_rows = train[0].a[:, 0].astype(int)
    assert set(np.flatnonzero(y_semi == -1)) <= set(train_rows)
    assert len(train_rows) + val[0].a.shape[0] == len(y)
    est = _fit(MLPClassifier(semi_supervised="entropy", early_stopping=True, **dict(_PARAMS, max_iter=5)), X, y_semi)
    assert len(est.validation_scores_) == est.n_iter_


def test_full_batch_entropy_and_partial_fit(partly_labelled):
    X, y, y_semi = partly_labelled
    est = _fit(MLPClassifier(semi_supervised="entropy", solver="lbfgs", **dict(_PARAMS, max_iter=20)), X, y_semi)
    assert np.isfinite(est.loss_)
    est = MLPClassifier(semi_supervised="pseudo_label", hidden_layer_sizes=(32,), random_state=0)
    for chunk in np.array_split(np.arange(len(y)), 3):
        est.partial_fit(X[chunk], y_semi[chunk], classes=np.arange(10))
    np.testing.assert_array_equal(est.classes_, np.arange(10))
    coefs = est.coefs_[0].copy()
    with pytest.raises(ValueError, match="Every row of y is -1"):
        est.partial_fit(X[:5], np.full(5, -1))
    np.testing.assert_array_equal(est.coefs_[0], coefs)
    with pytest.raises(ValueError, match="classes contains -1"):
        MLPClassifier(semi_supervised="entropy").partial_fit(X[:5], y_semi[:5], classes=np.arange(-1, 10))


def test_bad_inputs(partly_labelled):
    X, y, y_semi = partly_labelled
    # -1 without semi_supervised is a class, as in scikit-learn, with a warning
    with pytest.warns(UnlabeledClassWarning, match="set semi_supervised='pseudo_label' or 'entropy'"):
        minus_one = _fit(MLPClassifier(**dict(_PARAMS, max_iter=2)), X, y_semi)
    assert -1 in minus_one.classes_
    fitted = _fit(MLPClassifier(**dict(_PARAMS, max_iter=2)), X, y)
    coefs = fitted.coefs_[0].copy()
    fitted.set_params(semi_supervised="entropy")
    with pytest.raises(ValueError, match="Every row of y is -1"):
        fitted.fit(X, np.full(len(y), -1))
    np.testing.assert_array_equal(fitted.coefs_[0], coefs)
    strings = np.array(["a", "b", "-1"] * 5, dtype=object)
    mixed = np.array(["a", "b", -1] * 5, dtype=object)
    for labels in (strings, mixed, strings.astype(str)):
        with pytest.raises(ValueError, match="string labels cannot hold"):
            MLPClassifier(semi_supervised="entropy").fit(X[:15], labels)
    # string labels without -1: every row is labelled
    words = np.array(["a", "b", "c"] * 5)
    est = _fit(MLPClassifier(semi_supervised="entropy", **dict(_PARAMS, max_iter=2)), X[:15], words)
    assert set(est.classes_) == {"a", "b", "c"}
    with pytest.raises(ValueError, match="single-output targets"):
        MLPClassifier(semi_supervised="entropy").fit(X, np.c_[y_semi, y_semi])
    with pytest.raises(ValueError, match="y_val contains -1"):
        MLPClassifier(semi_supervised="entropy", early_stopping=True).fit(X, y_semi, X_val=X[:4], y_val=y_semi[:4] * 0 - 1)
    for solver in ("lbfgs", "cg"):
        with pytest.raises(ValueError, match="semi_supervised='pseudo_label' re-chooses"):
            MLPClassifier(semi_supervised="pseudo_label", solver=solver).fit(X, y_semi)
    for solver in ("newton-cg", "adahessian"):
        with pytest.raises(ValueError, match="Hessian-vector products.*semi_supervised"):
            MLPClassifier(semi_supervised="entropy", solver=solver).fit(X, y_semi)
    with pytest.raises(ValueError, match="semi_supervised"):
        MLPClassifier(semi_supervised="self_training").fit(X, y_semi)
    with pytest.raises(TypeError, match="semi_supervised"):
        MLPRegressor(semi_supervised="entropy")
    assert "semi_supervised" not in MLPRegressor().get_params()


@pytest.mark.parametrize("mode", UNLABELED_TERMS)
def test_binary_targets(partly_labelled, mode):
    """A binary target's single logistic unit gets the logistic form of the
    term; its classes are the labelled rows'."""
    X, y, y_semi = partly_labelled
    y2, semi2 = (y >= 5).astype(int), np.where(y_semi == -1, -1, y >= 5)
    est = _fit(MLPClassifier(semi_supervised=mode, **dict(_PARAMS, max_iter=10)), X, semi2)
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert est.n_outputs_ == 1
    assert est.score(X, y2) > 0.7


@pytest.mark.parametrize("solver", ["sgd", "rmsprop", "adamw", "lamb", "lookahead"])
def test_stochastic_solvers(partly_labelled, solver):
    from skdeep.optim import Adam, Lookahead

    X, _, y_semi = partly_labelled
    solver = Lookahead(Adam()) if solver == "lookahead" else solver
    est = _fit(MLPClassifier(semi_supervised="pseudo_label", solver=solver, **dict(_PARAMS, max_iter=3)), X, y_semi)
    assert np.isfinite(est.loss_) and np.isfinite(est.coefs_[0]).all()
    np.testing.assert_array_equal(est.classes_, np.arange(10))


def test_a_semi_supervised_model_exports_and_persists(partly_labelled):
    """The options are for training only: the ONNX export (which refuses
    parameters it does not know) writes the network, and skops keeps it."""
    ort = pytest.importorskip("onnxruntime")
    sio = pytest.importorskip("skops.io")
    from skdeep.onnx import to_onnx
    from skdeep.persistence import trusted_types

    X, _, y_semi = partly_labelled
    X = X.astype(np.float32)
    est = _fit(MLPClassifier(semi_supervised="pseudo_label", **dict(_PARAMS, max_iter=3)), X, y_semi)
    session = ort.InferenceSession(to_onnx(est, X[:2]).SerializeToString())
    labels = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_array_equal(labels, est.predict(X))
    loaded = sio.loads(sio.dumps(est), trusted=trusted_types())
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
