"""``FeatureExtractor``: a fitted network's hidden activations as a
transformer, against a NumPy forward pass, in Pipelines, and under
scikit-learn's estimator checks."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeep import FeatureExtractor, MLPClassifier, MLPRegressor
from skdeep._kernels.batchnorm import EPSILON

from .conftest import DTYPES, RTOL

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

NUMPY_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "identity": lambda z: z,
}


def _hidden_reference(est, X, layer):
    """Hidden layer ``layer``'s activations by a NumPy forward pass over
    ``coefs_``/``intercepts_`` (and the batch normalisation statistics)."""
    f = NUMPY_ACTIVATIONS[est.activation]
    a = np.asarray(X, dtype=np.float64)
    for k in range(layer + 1):
        z = a @ est.coefs_[k].astype(np.float64)
        if est.batch_norm:
            scale = est.batch_norm_scales_[k] / np.sqrt(est.running_vars_[k].astype(np.float64) + EPSILON)
            z = scale * (z - est.running_means_[k]) + est.batch_norm_shifts_[k]
        else:
            z = z + est.intercepts_[k]
        a = f(z)
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("layer", [0, 1, -1])
def test_activations_match_a_numpy_forward_pass(dtype, activation, batch_norm, layer, digits):
    X, y = digits
    X = X.astype(dtype)
    network = MLPClassifier((12, 7), activation=activation, batch_norm=batch_norm, max_iter=5, random_state=0)
    fe = FeatureExtractor(network, layer=layer).fit(X, y)
    out = fe.transform(X)
    assert out.dtype == dtype
    assert out.shape == (len(X), (12, 7)[layer])
    expected = _hidden_reference(fe.estimator_, X, layer % 2)
    np.testing.assert_allclose(out, expected, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)


def test_sparse_input_gives_the_dense_activations(digits):
    X, y = digits
    fe = FeatureExtractor(MLPClassifier((9,), max_iter=5, random_state=0)).fit(X, y)
    np.testing.assert_allclose(fe.transform(sp.csr_matrix(X)), fe.transform(X), rtol=1e-12, atol=1e-12)


def test_in_a_pipeline(digits):
    X, y = digits
    pipe = Pipeline([
        ("features", FeatureExtractor(MLPClassifier((32,), max_iter=50, random_state=0))),
        ("linear", LogisticRegression(max_iter=500)),
    ])
    pipe.fit(X[::2], y[::2])
    assert pipe.score(X[1::2], y[1::2]) > 0.85
    names = pipe[:-1].get_feature_names_out()
    assert list(names[:2]) == ["featureextractor0", "featureextractor1"] and len(names) == 32


def test_prefit_mirrors_select_from_model(digits):
    X, y = digits
    network = MLPClassifier((8, 5), max_iter=5, random_state=0).fit(X, y)
    # transform without fit, on the network itself
    np.testing.assert_array_equal(
        FeatureExtractor(network, prefit=True).transform(X),
        FeatureExtractor(MLPClassifier(), prefit=True).set_params(estimator=network).transform(X),
    )
    fe = FeatureExtractor(network, layer=0, prefit=True).fit(X, y=None)
    assert fe.estimator_ is not network  # a deep copy, as SelectFromModel's
    np.testing.assert_array_equal(fe.estimator_.coefs_[0], network.coefs_[0])
    assert fe.n_features_in_ == X.shape[1] and fe.layer_ == 0
    with pytest.raises(NotFittedError, match="When `prefit=True`, `estimator` is expected to be a fitted"):
        FeatureExtractor(MLPClassifier(), prefit=True).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        FeatureExtractor(network, prefit=True).fit(X[:, :3])


def test_fit_fits_a_clone_with_its_fit_params(digits):
    X, y = digits
    network = MLPClassifier((8,), max_iter=5, random_state=0)
    fe = FeatureExtractor(network).fit(X, y, sample_weight=np.ones(len(y)))
    assert not hasattr(network, "coefs_") and hasattr(fe.estimator_, "coefs_")
    np.testing.assert_array_equal(fe.estimator_.coefs_[0], clone(network).fit(X, y).coefs_[0])


def test_feature_names_pass_through(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(X.shape[1])])
    fe = FeatureExtractor(MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)).fit(frame, y)
    assert list(fe.feature_names_in_) == list(frame.columns)
    fe.get_feature_names_out(frame.columns)
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        fe.get_feature_names_out([f"x{i}" for i in range(X.shape[1])])
    with pytest.raises(ValueError, match="The feature names should match"):
        fe.transform(frame[frame.columns[::-1]])


@pytest.mark.parametrize(
    "extractor, fit_args, error, match",
    [
        (FeatureExtractor(MLPClassifier((8,)), layer=1), True, ValueError, r"layer=1 is out of range.*\[-1, 0\]"),
        (FeatureExtractor(MLPClassifier((8, 4)), layer=-3), True, ValueError, r"layer=-3 is out of range"),
        (FeatureExtractor(MLPClassifier(())), True, ValueError, "has no hidden layer"),
        (FeatureExtractor(LogisticRegression()), True, TypeError, "needs a skdeep MLPClassifier or MLPRegressor"),
        (FeatureExtractor(MLPClassifier((8,))), False, NotFittedError, "is not fitted yet"),
    ],
)
def test_bad_settings_raise_clear_errors(extractor, fit_args, error, match, digits):
    X, y = digits
    with pytest.raises(error, match=match):
        extractor.fit(X, y) if fit_args else extractor.transform(X)


def _small(estimator):
    return estimator.set_params(hidden_layer_sizes=(6,), max_iter=20, random_state=0)


@parametrize_with_checks([
    FeatureExtractor(_small(MLPClassifier())),
    FeatureExtractor(_small(MLPRegressor()), layer=0),
])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_sample_weight_is_routed_to_the_network(digits):
    from sklearn import config_context

    X, y = digits
    weights = np.where(y == 0, 5.0, 1.0)
    expected = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y, sample_weight=weights)
    with config_context(enable_metadata_routing=True):
        network = MLPClassifier((8,), max_iter=5, random_state=0).set_fit_request(sample_weight=True)
        fe = FeatureExtractor(network).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(fe.estimator_.coefs_[0], expected.coefs_[0])
