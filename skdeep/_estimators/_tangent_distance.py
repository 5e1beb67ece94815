"""k-nearest-neighbour classification under the two-sided tangent distance."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._kernels.neighbors import tangent_distances
from .._kernels.records import TangentPlanes
from .._network import kernel_view
from ..regularization._tangents import check_tangents
from ..tangents import principal_directions

#: pairs per call of the distance kernel, bounding the candidate and
#: distance blocks' memory
_PAIRS_PER_BLOCK = 1 << 18


class TangentDistanceClassifier(ClassifierMixin, BaseEstimator):
    """k-nearest neighbours under the two-sided tangent distance.

    The distance between two points is the distance between their tangent
    planes (Simard et al., 1993): with ``Tx`` and ``Ty`` the tangent vectors
    of ``x`` and ``y`` (rows),

    ``d(x, y) = min_{a, b} ||(x + Tx^T a) - (y + Ty^T b)||``,

    so that two images that differ by a small transformation along the
    tangents (a shift, a rotation) are close. Each pair's least-squares
    problem is solved by compiled kernels over blocks of queries, on the
    ``n_candidates`` Euclidean nearest training rows of each query
    (scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`), or on
    every training row. See ``docs/manifold.md``.

    Parameters
    ----------
    n_neighbors : int, default=1
        Number of neighbours that vote.

    tangents : 'local' or callable, default='local'
        Where the tangent vectors come from.

        - ``'local'``: local PCA of the training rows
          (:func:`skdeep.tangents.local_tangents`): a training row's
          ``n_tangents`` tangents are the principal directions of the
          differences to its ``n_local_neighbors`` nearest *other* training
          rows; a query's, of the differences to its ``n_local_neighbors``
          nearest training rows. Both are centred on the point itself, so a
          query's plane is estimated from the training set's neighbourhoods
          and never from other queries.
        - a callable ``tangents(X) -> T`` with ``T`` of shape
          ``(n_samples, n_tangents, n_features)`` (or ``(n_samples,
          n_features)`` for one tangent), applied to the training rows in
          ``fit`` and to the queries: for images, the derivatives along
          shifts, rotations or thickening. Its vectors need not be
          orthonormal, and ``n_tangents`` and ``n_local_neighbors`` are then
          unused.

    n_tangents : int, default=2
        Tangent vectors per point with ``tangents='local'``; at most
        ``min(n_local_neighbors, n_features)`` are used (``n_tangents_``).

    n_local_neighbors : int, default=10
        Neighbourhood of the local PCA with ``tangents='local'``; at most
        ``n_samples - 1`` are used.

    n_candidates : int or None, default=50
        The tangent distance is computed to the ``n_candidates`` Euclidean
        nearest training rows of each query only (at least ``n_neighbors``):
        the tangent distance is at most the Euclidean one, so rows far in
        Euclidean distance are rarely the nearest in tangent distance.
        ``None``: to every training row (exact search, ``n_samples_fit_``
        least-squares problems per query).

    weights : {'uniform', 'distance'}, callable or None, default='uniform'
        Weights of the neighbours' votes, as in
        :class:`~sklearn.neighbors.KNeighborsClassifier`: equal
        (``'uniform'`` or None), the inverse of the tangent distance
        (``'distance'``; neighbours at distance zero then get all the
        weight), or a callable mapping an array of distances to an array of
        weights of the same shape.

    regularization : float, default=1e-6
        Ridge term of each pair's least-squares problem, relative to the
        mean squared length of the two points' tangents: the distance is
        ``min_{a, b} ||(x + Tx^T a) - (y + Ty^T b)||^2 + lam (||a||^2 +
        ||b||^2)`` under the square root. It keeps the normal equations
        well-posed when the two planes share a direction; the distance
        stays symmetric, zero from a point to itself and at most the
        Euclidean distance. 0 solves the exact problem, dropping the
        directions that are linearly dependent.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    tangents_ : ndarray of shape (`n_samples_fit_`, `n_tangents_`, `n_features_in_`)
        The training rows' tangent vectors.

    n_tangents_ : int
        Tangent vectors per training row.

    n_samples_fit_ : int
        Number of training rows.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    sklearn.neighbors.KNeighborsClassifier : k-nearest neighbours under
        the Euclidean (or another fixed) metric.
    skdeep.tangents.local_tangents : the local PCA tangents.

    Notes
    -----
    A query costs about ``n_candidates * (1 + 2 k + k^2) * n_features``
    multiply-adds for ``k`` tangents per point, plus the Euclidean
    pre-selection. The pairs' problems are solved by a Cholesky
    factorisation of their normal equations in float64, whatever the input
    dtype; distances are returned in the input's dtype.

    References
    ----------
    P. Simard, Y. LeCun and J. Denker, "Efficient pattern recognition using
    a new transformation distance", NIPS 5, 1993.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeep import TangentDistanceClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = TangentDistanceClassifier(n_tangents=3).fit(X[:300], y[:300])
    >>> clf.predict(X[300:305]).shape
    (5,)
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "tangents": [StrOptions({"local"}), callable],
        "n_tangents": [Interval(Integral, 1, None, closed="left")],
        "n_local_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_candidates": [Interval(Integral, 1, None, closed="left"), None],
        "weights": [StrOptions({"uniform", "distance"}), callable, None],
        "regularization": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self, n_neighbors=1, *, tangents="local", n_tangents=2, n_local_neighbors=10,
        n_candidates=50, weights="uniform", regularization=1e-6,
    ):
        self.n_neighbors = n_neighbors
        self.tangents = tangents
        self.n_tangents = n_tangents
        self.n_local_neighbors = n_local_neighbors
        self.n_candidates = n_candidates
        self.weights = weights
        self.regularization = regularization

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the training rows and their tangent vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows, dense (float32 stays float32).
        y : array-like of shape (n_samples,)
            Class labels, of any type scikit-learn classifiers accept.

        Returns
        -------
        self : TangentDistanceClassifier
            The fitted classifier.
        """
        local = self.tangents == "local"
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], order="C",
            ensure_min_samples=2 if local else 1,
        )
        check_classification_targets(y)
        self.classes_, self._y = np.unique(y, return_inverse=True)
        self._neighbors = NearestNeighbors().fit(X)
        if local:
            self._n_local = min(self.n_local_neighbors, len(X) - 1)
            self.n_tangents_ = min(self.n_tangents, self._n_local, X.shape[1])
            indices = self._neighbors.kneighbors(n_neighbors=self._n_local, return_distance=False)
            tangents = principal_directions(X, X, indices, self.n_tangents_)
        else:
            tangents = check_tangents(self.tangents(X), *X.shape, X.dtype)
            self.n_tangents_ = tangents.shape[1]
        self._fit_X = X
        self.tangents_ = tangents
        self._gram = _gram(tangents)
        self.n_samples_fit_ = len(X)
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest training rows of each query under the tangent distance.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            The queries. None: the training rows, each without itself among
            its neighbours (as in scikit-learn).
        n_neighbors : int, default=None
            Number of neighbours; ``self.n_neighbors`` by default.
        return_distance : bool, default=True
            Whether to return the distances.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Tangent distances to the neighbours, nearest first; only with
            ``return_distance=True``.
        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Indices of the neighbours in the training rows.
        """
        check_is_fitted(self)
        n_neighbors = self.n_neighbors if n_neighbors is None else n_neighbors
        n_fit = self.n_samples_fit_ - (X is None)
        if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer; got {n_neighbors!r}.")
        if n_neighbors > n_fit:
            raise ValueError(
                f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {n_neighbors}, "
                f"n_samples_fit = {self.n_samples_fit_}, n_samples = {n_fit}"
            )
        distances, candidates = self._tangent_distances(X, n_neighbors)
        order = np.argsort(distances, axis=1, kind="stable")[:, :n_neighbors]
        indices = np.take_along_axis(candidates, order, axis=1)
        if not return_distance:
            return indices
        return np.take_along_axis(distances, order, axis=1), indices

    def predict_proba(self, X):
        """Class probabilities: the neighbours' weighted votes.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            The queries.

        Returns
        -------
        proba : ndarray of shape (n_queries, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        check_is_fitted(self)
        distances, indices = self.kneighbors(X)
        weights = _vote_weights(distances, self.weights)
        proba = np.zeros((len(indices), len(self.classes_)))
        np.add.at(proba, (np.arange(len(indices))[:, None], self._y[indices]), weights)
        totals = proba.sum(axis=1, keepdims=True)
        totals[totals == 0] = 1.0
        return proba / totals

    def predict(self, X):
        """The class of each query: the neighbours' weighted majority.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            The queries.

        Returns
        -------
        y : ndarray of shape (n_queries,)
            Predicted labels (ties go to the first class in ``classes_``).
        """
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _tangent_distances(self, X, n_neighbors):
        """Tangent distances of the queries (None: the training rows) to
        their candidate training rows, in the input's dtype, and the
        candidates' indices, both ``(n_queries, n_candidates)``."""
        Xf = self._fit_X
        n_fit = len(Xf) - (X is None)
        n_candidates = n_fit if self.n_candidates is None else max(self.n_candidates, n_neighbors)
        n_candidates = min(n_candidates, n_fit)
        local = self.tangents == "local"
        if X is None:
            queries, query_tangents = Xf, self.tangents_
            candidates = self._neighbors.kneighbors(n_neighbors=n_candidates, return_distance=False)
        else:
            queries = validate_data(self, X, dtype=Xf.dtype, order="C", reset=False)
            reach = max(n_candidates, self._n_local) if local else n_candidates
            nearest = self._neighbors.kneighbors(queries, n_neighbors=reach, return_distance=False)
            candidates = np.ascontiguousarray(nearest[:, :n_candidates])
            if local:
                query_tangents = principal_directions(
                    queries, Xf, nearest[:, : self._n_local], self.n_tangents_
                )
            else:
                query_tangents = check_tangents(self.tangents(queries), *queries.shape, Xf.dtype)
        train = TangentPlanes(kernel_view(Xf), kernel_view(self.tangents_), kernel_view(self._gram))
        k = query_tangents.shape[1] + self.n_tangents_
        residual = np.empty(Xf.shape[1], dtype=Xf.dtype)
        system = np.empty((k, k + 1))
        distances = np.empty(candidates.shape)
        gram = _gram(query_tangents)
        queries, query_tangents = kernel_view(queries), kernel_view(query_tangents)
        step = max(1, _PAIRS_PER_BLOCK // max(n_candidates, 1))
        for start in range(0, len(queries), step):
            rows = slice(start, start + step)
            block = TangentPlanes(queries[rows], query_tangents[rows], gram[rows])
            tangent_distances(block, train, candidates[rows], residual, system, distances[rows],
                              float(self.regularization))
        return np.sqrt(distances).astype(Xf.dtype, copy=False), candidates

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _gram(tangents):
    """The Gram matrix ``T T^T`` of each point's tangents, float64."""
    T = tangents.astype(np.float64, copy=False)
    return np.ascontiguousarray(np.matmul(T, T.transpose(0, 2, 1)))


def _vote_weights(distances, weights):
    """Each neighbour's vote, as KNeighborsClassifier weighs them."""
    if weights in (None, "uniform"):
        return np.ones_like(distances, dtype=np.float64)
    if weights == "distance":
        distances = distances.astype(np.float64)
        with np.errstate(divide="ignore"):
            inverse = 1.0 / distances
        exact = np.isinf(inverse)
        rows = exact.any(axis=1)
        inverse[rows] = exact[rows]  # a zero distance takes all the weight
        return inverse
    return np.asarray(weights(distances), dtype=np.float64)
