"""ONNX export: onnxruntime's outputs against predict / predict_proba.

Every hidden activation, with and without batch normalisation, every target
type and both dtypes; a StandardScaler -> skdeep pipeline through skl2onnx's
own ``to_onnx``; snapshot ensembles; the errors of what cannot be exported.
Fits are a few epochs of tiny networks: only the agreement matters.
"""

import numpy as np
import onnxruntime as ort
import pytest
import scipy.sparse as sp
import skl2onnx
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier, MLPRegressor
from skdeep._kernels.activations import ACTIVATIONS
from skdeep._kernels.losses import LOSSES
from skdeep.onnx import _convert, check_exportable, to_onnx
from skdeep.onnx._graph import ONNX_ACTIVATIONS, ONNX_LINKS
from skdeep.schedules import Cyclic

from .conftest import DTYPES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def run(onx, X):
    """onnxruntime's outputs of the model ``onx`` on the rows ``X``."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no notes about unused initialisers
    session = ort.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def assert_close(actual, expected):
    """Within 1e-5 relative to the output's scale (float32 sums in another
    order differ by a few ulps, which is relative to the largest terms)."""
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype
    scale = max(float(np.abs(expected).max()), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


def data(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(dtype)
    bins = np.digitize(X[:, 0], [-0.5, 0.5])
    targets = {
        "binary": (X[:, 0] > 0).astype(int),
        "multiclass": bins,
        "multilabel": (X[:, :3] > 0).astype(int),
        "multiclass-multioutput": np.c_[bins, (X[:, 1] > 0).astype(int) + 5],
    }
    regression = {"single": X[:, :2].sum(axis=1), "multi-output": X[:, :2] * [1.0, -2.0]}
    return X, targets, regression


def check_classifier(clf, X):
    label, proba = run(to_onnx(clf, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    expected = clf.predict_proba(X)
    if isinstance(expected, list):
        assert len(proba) == len(expected)
        for actual, head in zip(proba, expected):
            assert_close(actual, head)
    else:
        assert_close(proba, expected)


def check_regressor(reg, X):
    (out,) = run(to_onnx(reg, X[:1]), X)
    expected = reg.predict(X)
    assert_close(out, expected.reshape(len(X), -1))


def test_registries_are_covered():
    assert set(ONNX_ACTIVATIONS) == set(ACTIVATIONS)
    assert {loss.out_activation for loss in LOSSES.values()} <= set(ONNX_LINKS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_onnx_matches_predict(activation, batch_norm, dtype):
    X, targets, regression = data(dtype)
    params = dict(
        hidden_layer_sizes=(5, 3), activation=activation, batch_norm=batch_norm,
        max_iter=3, random_state=0,
    )
    for kind, y in targets.items():
        clf = MLPClassifier(**params).fit(X, y)
        if kind == "multiclass-multioutput":
            assert isinstance(clf.classes_, list)
        check_classifier(clf, X)
    for y in regression.values():
        check_regressor(MLPRegressor(**params).fit(X, y), X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_and_string_labels(dtype):
    X, targets, _ = data(dtype)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    check_regressor(reg.fit(X, np.exp(X[:, 0])), X)
    words = np.array(["cat", "dog", "emu"])[targets["multiclass"]]
    check_classifier(MLPClassifier((4,), max_iter=3, random_state=0).fit(X, words), X)
    check_classifier(MLPClassifier((4,), max_iter=3, random_state=0).fit(X, words == "dog"), X)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_snapshot_ensemble_is_the_mean(batch_norm):
    X, targets, _ = data(np.float64)
    clf = MLPClassifier(
        (5,), solver="sgd", learning_rate=Cyclic(step_size=1, snapshots=3),
        batch_norm=batch_norm, max_iter=8, random_state=0,
    ).fit(X, targets["multiclass"])
    assert len(clf.snapshots_) == 3
    check_classifier(clf, X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_through_skl2onnx(dtype):
    X, targets, regression = data(dtype)
    X = X * 10 + 3
    clf = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=3, random_state=0))
    clf.fit(X, targets["multiclass"])
    if dtype == np.float32:
        # skl2onnx's own entry point, with its default ZipMap output
        label, proba = run(skl2onnx.to_onnx(clf, X[:1]), X)
        columns = np.array([[row[c] for c in clf.classes_] for row in proba])
    else:
        with pytest.raises(ValueError, match="ZipMap takes float probabilities"):
            skl2onnx.to_onnx(clf, X[:1])
        label, columns = run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(columns, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    # and skl2onnx's option nocl: class indices as labels
    label, _ = run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False, "nocl": True}), X)
    np.testing.assert_array_equal(label, np.searchsorted(clf.classes_, clf.predict(X)))
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0))
    reg.fit(X, regression["multi-output"])
    (out,) = run(skl2onnx.to_onnx(reg, X[:1]), X)
    assert_close(out, reg.predict(X))


def test_model_dtype_decides_the_graph():
    """A float32 model on double input computes in float, as predict does."""
    X, targets, _ = data(np.float32)
    clf = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, targets["multiclass"])
    X64 = X.astype(np.float64)
    label, proba = run(to_onnx(clf, X64[:1], options={"zipmap": False}), X64)
    assert proba.dtype == np.float32
    assert_close(proba, clf.predict_proba(X64))


def test_errors():
    X, targets, _ = data(np.float64)
    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier(), X)
    with pytest.raises(TypeError, match="X_sample must be dense"):
        to_onnx(MLPClassifier(), sp.csr_matrix(X))
    # scikit-learn's classification targets never have such labels, but a
    # model whose classes_ were set by hand might
    with pytest.raises(ValueError, match="ONNX labels are integers or strings"):
        _convert._label_values(np.array([0.5, 1.5]))



def test_unknown_parameter(monkeypatch):
    """A parameter the export does not know (as one added to the estimators
    later would be) refuses the model unless it has its default value."""
    X = data(np.float64)[0]
    monkeypatch.setattr(_convert, "KNOWN_PARAMETERS", _convert.KNOWN_PARAMETERS - {"max_norm"})
    model = MLPRegressor(hidden_layer_sizes=(3,), max_norm=2.0, max_iter=2, random_state=0)
    model.fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"max_norm=2.0\) cannot be exported"):
        to_onnx(model, X[:1])
    model.set_params(max_norm=None)
    check_exportable(model)


def test_missing_activation_translation(monkeypatch):
    X, targets, _ = data(np.float64)
    clf = MLPClassifier((3,), activation="elu", max_iter=2, random_state=0).fit(X, targets["binary"])
    monkeypatch.delitem(ONNX_ACTIVATIONS, "elu")
    with pytest.raises(ValueError, match="activation='elu'"):
        to_onnx(clf, X[:1])
    with pytest.raises(ValueError, match="activation='elu'"):
        skl2onnx.to_onnx(make_pipeline(StandardScaler(), clf), X[:1])


def test_parser_fallback(monkeypatch):
    """Without skl2onnx's private classifier parser, the export still works,
    without ZipMap."""
    monkeypatch.setattr(_convert, "_classifier_parser", lambda: _convert._plain_classifier_parser)
    X, targets, _ = data(np.float64)
    check_classifier(MLPClassifier((3,), max_iter=2, random_state=0).fit(X, targets["multiclass"]), X)


def test_import_skdeep_does_not_import_onnx():
    import subprocess
    import sys

    code = "import sys, skdeep; print(any(m.split('.')[0] in {'onnx', 'skl2onnx', 'onnxruntime', 'skops', 'matplotlib', 'dask', 'distributed'} for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
