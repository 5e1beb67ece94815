"""Manifold techniques: local PCA tangents and the tangent-distance
nearest-neighbour classifier (issue 18, parts 1 and 4)."""

import warnings
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import subspace_angles
from scipy.ndimage import shift
from scipy.stats import ortho_group
from sklearn.datasets import load_digits, make_swiss_roll
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeep import MLPClassifier, TangentDistanceClassifier
from skdeep._estimators._tangent_distance import _gram
from skdeep._kernels.neighbors import tangent_distances
from skdeep._kernels.records import TangentPlanes
from skdeep.tangents import local_tangents, shift_tangents

from .conftest import DTYPES

#: tolerance of the distances per dtype (the dot products run in the
#: input's dtype, the small systems in float64)
DISTANCE_RTOL = {np.float32: 1e-4, np.float64: 1e-9}


class FeatureShiftTangents:
    """One tangent per row: the difference to the row with its features
    rotated by one place (a 'shift' for any number of features). A class
    with a fixed ``repr``, so that the ids of the estimator checks below are
    the same in every process (pytest-xdist's workers compare them)."""

    def __call__(self, X):
        return (np.roll(X, 1, axis=1) - X)[:, None, :]

    def __repr__(self):
        return "feature_shift_tangents"


feature_shift_tangents = FeatureShiftTangents()


#: the tangents of 8x8 digits along shifts
image_shift_tangents = partial(shift_tangents, image_shape=(8, 8))


def pairwise_tangent_distances(P, TP, X, TX, regularization):
    """Squared tangent distances of every row of P to every row of X, by
    the kernel."""
    candidates = np.tile(np.arange(len(X)), (len(P), 1))
    k = TP.shape[1] + TX.shape[1]
    out = np.empty(candidates.shape)
    tangent_distances(
        TangentPlanes(P, TP, _gram(TP)), TangentPlanes(X, TX, _gram(TX)), candidates,
        np.empty(P.shape[1], P.dtype), np.empty((k, k + 1)), out, regularization,
    )
    return out


def reference_distance(p, Tp, x, Tx, regularization):
    """The ridge problem min ||p + Tp^T a - x - Tx^T b||^2 + lam ||(a, b)||^2
    by NumPy's least squares on the stacked system, in float64."""
    A = np.concatenate([Tp, -Tx]).T.astype(np.float64)
    lam = regularization * np.trace(A.T @ A) / A.shape[1]
    stacked = np.vstack([A, np.sqrt(lam) * np.eye(A.shape[1])])
    rhs = np.concatenate([x - p, np.zeros(A.shape[1])]).astype(np.float64)
    c = np.linalg.lstsq(stacked, rhs, rcond=None)[0]
    return np.sum((stacked @ c - rhs) ** 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("regularization", [0.0, 1e-3])
def test_tangent_distance_kernel_matches_lstsq(dtype, regularization):
    rng = np.random.default_rng(0)
    P, X = rng.normal(size=(4, 9)).astype(dtype), rng.normal(size=(5, 9)).astype(dtype)
    TP, TX = rng.normal(size=(4, 2, 9)).astype(dtype), rng.normal(size=(5, 3, 9)).astype(dtype)
    found = pairwise_tangent_distances(P, TP, X, TX, regularization)
    expected = [[reference_distance(p, tp, x, tx, regularization) for x, tx in zip(X, TX)]
                for p, tp in zip(P, TP)]
    np.testing.assert_allclose(found, expected, rtol=DISTANCE_RTOL[dtype], atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tangent_distance_symmetric_zero_on_itself_and_below_euclidean(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 6)).astype(dtype)
    T = rng.normal(size=(12, 2, 6)).astype(dtype)
    T[3] = T[4]  # planes sharing their directions: the ridge term keeps it solvable
    T[5] = 0.0  # no tangent at all: the Euclidean distance
    D = pairwise_tangent_distances(X, T, X, T, 1e-6)
    np.testing.assert_allclose(D, D.T, rtol=DISTANCE_RTOL[dtype], atol=1e-6)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    euclidean = ((X[:, None, :] - X[None, :, :]).astype(np.float64) ** 2).sum(-1)
    assert np.all(D <= euclidean * (1 + DISTANCE_RTOL[dtype]))
    assert np.all(D[~np.eye(12, dtype=bool)] > 0)
    # the point without tangents sees the others along their planes only
    np.testing.assert_allclose(D[5, 5], 0.0)
    shifted = X[0] + 0.7 * T[0, 0] - 0.2 * T[0, 1]  # on 0's plane
    D_plane = pairwise_tangent_distances(shifted[None], T[:1], X[:1], T[:1], 0.0)
    np.testing.assert_allclose(D_plane, 0.0, atol=1e-8 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_local_tangents_orthonormal(dtype):
    X = np.random.default_rng(0).normal(size=(40, 7)).astype(dtype)
    T = local_tangents(X, n_tangents=3, n_neighbors=5)
    assert T.shape == (40, 3, 7) and T.dtype == dtype and T.flags.c_contiguous
    gram = np.einsum("nkd,njd->nkj", T.astype(np.float64), T)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(3), gram.shape), atol=1e-5)
    # the sign convention: each vector's largest entry is positive
    largest = np.take_along_axis(T, np.abs(T).argmax(axis=2)[..., None], axis=2)
    assert np.all(largest > 0)


def _embedded(points, tangent_spaces, rng):
    """Points and their true tangent spaces, carried into 10 dimensions by a
    random orthogonal map."""
    Q = ortho_group.rvs(10, random_state=rng)[:, : points.shape[1]]
    return points @ Q.T, tangent_spaces @ Q.T


def test_local_tangents_match_a_circle_and_a_swiss_roll():
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 300)
    circle, true = _embedded(
        np.c_[np.cos(angle), np.sin(angle)], np.c_[-np.sin(angle), np.cos(angle)][:, None, :], rng
    )
    T = local_tangents(circle, n_tangents=1, n_neighbors=6)
    worst = max(subspace_angles(T[i].T, true[i].T).max() for i in range(len(T)))
    assert worst < 0.05  # radians

    roll, t = make_swiss_roll(2000, random_state=0)
    along = np.c_[np.cos(t) - t * np.sin(t), np.zeros_like(t), np.sin(t) + t * np.cos(t)]
    across = np.broadcast_to([0.0, 1.0, 0.0], roll.shape)
    roll, true = _embedded(roll, np.stack([along, across], axis=1), rng)
    T = local_tangents(roll, n_tangents=2, n_neighbors=12)
    angles = np.array([subspace_angles(T[i].T, true[i].T).max() for i in range(len(T))])
    assert np.median(angles) < 0.1 and np.quantile(angles, 0.95) < 0.3


def test_local_tangents_errors():
    X = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(TypeError, match="dense data is required.*toarray"):
        local_tangents(sp.csr_matrix(X), 1, 3)
    with pytest.raises(ValueError, match="n_tangents must be from 1 to min.*= 3.*got n_tangents = 4"):
        local_tangents(X, 4, 3)
    with pytest.raises(ValueError, match="n_tangents must be from 1 to min.*= 4.*got n_tangents = 5"):
        local_tangents(X, 5, 6)
    with pytest.raises(ValueError, match="got n_tangents = 0"):
        local_tangents(X, 0, 3)
    with pytest.raises(ValueError, match="less than n_samples = 10.*got n_neighbors = 10"):
        local_tangents(X, 1, 10)
    with pytest.raises(TypeError, match="n_neighbors must be an integer"):
        local_tangents(X, 1, 2.0)
    with pytest.raises(ValueError, match="1 sample"):
        local_tangents(X[:1], 1, 1)
    for bad in (np.nan, np.inf):
        X_bad = X.copy()
        X_bad[2, 1] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            local_tangents(X_bad, 1, 3)


def test_local_tangents_feed_tangent_propagation(iris):
    X, y = iris
    T = local_tangents(X.astype(np.float32), n_tangents=2, n_neighbors=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(5,), tangent_prop=0.1, max_iter=3, random_state=0)
        clf.fit(X.astype(np.float32), y, tangents=T)
    assert clf.coefs_[0].dtype == np.float32 and np.isfinite(clf.loss_)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shift_tangents_are_the_derivatives_along_shifts(dtype):
    """Linear interpolation's shift by half a pixel each way, differenced,
    is the central difference exactly."""
    images = np.random.default_rng(0).uniform(size=(3, 5, 7)).astype(dtype)
    T = shift_tangents(images.reshape(3, -1), (5, 7))
    assert T.shape == (3, 2, 35) and T.dtype == dtype
    for axis, moved in enumerate([(0, 1), (1, 0)]):
        half = np.multiply(moved, 0.5)
        expected = [shift(im, half, order=1, mode="grid-constant") - shift(im, -half, order=1, mode="grid-constant")
                    for im in images]
        np.testing.assert_allclose(T[:, axis], np.reshape(expected, (3, -1)), atol=1e-6)
    with pytest.raises(ValueError, match="has 36 pixels; X has 35 features"):
        shift_tangents(images.reshape(3, -1), (6, 6))


@pytest.fixture(scope="module")
def digits_300():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300], X[300:], y[300:]


def test_digits_shift_tangents_beat_euclidean(digits_300):
    """1-NN with the tangent distance along horizontal and vertical shifts
    against 1-NN Euclidean, 300 training digits (0.903 against 0.884 on the
    1497 others)."""
    X_train, y_train, X_test, y_test = digits_300
    euclidean = KNeighborsClassifier(1).fit(X_train, y_train).score(X_test, y_test)
    clf = TangentDistanceClassifier(tangents=image_shift_tangents).fit(X_train, y_train)
    tangent = clf.score(X_test, y_test)
    assert tangent > euclidean + 0.01, (tangent, euclidean)
    # the Euclidean pre-selection of 50 candidates finds the exact search's neighbours
    exact = clf.set_params(n_candidates=None).kneighbors(X_test[:200])
    selected = clf.set_params(n_candidates=50).kneighbors(X_test[:200])
    assert np.mean(exact[1] == selected[1]) > 0.97
    assert np.all(exact[0] <= selected[0] * (1 + 1e-12))


def test_kneighbors_predict_proba_and_weights(digits_300):
    X_train, y_train, X_test, _ = digits_300
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = TangentDistanceClassifier(n_neighbors=3, n_tangents=3).fit(X_train[:150], labels[y_train[:150]])
    distances, indices = clf.kneighbors(X_test[:20])
    assert distances.shape == indices.shape == (20, 3)
    assert np.all(np.diff(distances, axis=1) >= 0)
    euclidean = np.linalg.norm(X_test[:20, None] - X_train[indices], axis=2)
    assert np.all(distances <= euclidean * (1 + 1e-12))
    proba = clf.predict_proba(X_test[:20])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X_test[:20]), clf.classes_[proba.argmax(axis=1)])
    assert set(clf.predict(X_test[:20])) <= set(labels)
    # X=None: the training rows, each without itself
    own = clf.kneighbors(n_neighbors=2, return_distance=False)
    assert own.shape == (150, 2) and not np.any(own == np.arange(150)[:, None])
    # a training row is its own nearest neighbour, at distance zero; with
    # distance weights it takes all the weight
    distances, indices = clf.kneighbors(X_train[:5])
    np.testing.assert_array_equal(indices[:, 0], np.arange(5))
    np.testing.assert_array_equal(distances[:, 0], 0.0)
    clf.set_params(weights="distance")
    np.testing.assert_array_equal(clf.predict_proba(X_train[:5]).max(axis=1), 1.0)
    clf.set_params(weights=lambda d: np.exp(-d))
    np.testing.assert_allclose(clf.predict_proba(X_test[:5]).sum(axis=1), 1.0)


def test_tangent_distance_classifier_float32_and_errors(digits_300):
    X_train, y_train, X_test, _ = digits_300
    X32 = X_train.astype(np.float32)
    clf = TangentDistanceClassifier(tangents=image_shift_tangents).fit(X32, y_train)
    assert clf.tangents_.dtype == np.float32 and clf.n_tangents_ == 2
    distances, _ = clf.kneighbors(X_test[:10].astype(np.float32))
    assert distances.dtype == np.float32
    with pytest.raises(TypeError, match="dense data is required"):
        TangentDistanceClassifier().fit(sp.csr_matrix(X_train), y_train)
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        clf.kneighbors(X_test[:2], n_neighbors=301)
    with pytest.raises(ValueError, match=r"tangents must have shape .*\(300, n_tangents, 64\)"):
        TangentDistanceClassifier(tangents=lambda X: X[:, None, :-1]).fit(X_train, y_train)
    with pytest.raises(ValueError, match="NaN|infinity"):
        TangentDistanceClassifier(tangents=lambda X: X[:, None, :] * np.nan).fit(X_train, y_train)
    capped = TangentDistanceClassifier(n_tangents=5, n_local_neighbors=3).fit(X_train[:20], y_train[:20])
    assert capped.n_tangents_ == 3


@parametrize_with_checks([
    TangentDistanceClassifier(),
    TangentDistanceClassifier(
        n_neighbors=3, tangents=feature_shift_tangents, n_candidates=None, weights="distance",
    ),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
