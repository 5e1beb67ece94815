"""Tangent vectors of the data manifold.

``local_tangents(X, n_tangents, n_neighbors)`` estimates, at each row, an
orthonormal basis of the tangent plane of the manifold the rows lie on, by
local PCA of the row's neighbourhood. ``shift_tangents(X, image_shape)``
gives the tangents of images along horizontal and vertical shifts, known in
advance. Either is the ``tangents`` of tangent propagation
(``MLPClassifier(tangent_prop=...).fit(X, y, tangents=T)``) and of
``TangentDistanceClassifier``.
"""

from numbers import Integral

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_array

__all__ = ["local_tangents", "shift_tangents"]

#: rows per batch of local PCAs, bounding the (rows, n_neighbors, n_features)
#: array of differences
_ROWS_PER_BATCH = 1024


def local_tangents(X, n_tangents, n_neighbors):
    """Orthonormal tangent vectors of the data manifold at each row of ``X``.

    The tangents at row ``x`` are the ``n_tangents`` leading principal
    directions of its neighbourhood: the right singular vectors of the
    ``(n_neighbors, n_features)`` matrix of differences ``x_j - x`` to its
    ``n_neighbors`` nearest other rows (Euclidean, scikit-learn's
    :class:`~sklearn.neighbors.NearestNeighbors`). The differences are
    centred on the row, not on the neighbourhood's mean: the plane sought
    is the one through ``x`` (tangent propagation and the tangent distance
    both use ``x + T a``), and on a curved manifold the neighbourhood's mean
    lies off the manifold, on the concave side; centring on the row also
    keeps all ``n_neighbors`` directions (the mean would remove one).
    See ``docs/manifold.md`` for the derivation.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The rows, dense, finite, float32 or float64 (other numeric types
        are converted to float64). Sparse input is refused: densify it
        (``X.toarray()``) first.
    n_tangents : int
        Number of tangent vectors per row, the dimension of the estimated
        tangent plane: from 1 to ``min(n_neighbors, n_features)``.
    n_neighbors : int
        Size of each row's neighbourhood (the row itself not counted): at
        least ``n_tangents`` and less than ``n_samples``. A few times the
        manifold's dimension is typical; too many neighbours see its
        curvature, too few its noise.

    Returns
    -------
    tangents : ndarray of shape (n_samples, n_tangents, n_features)
        ``tangents[i, k]`` is the k-th tangent vector at row ``i``, in
        decreasing order of the neighbourhood's variance along it; the
        vectors of a row are orthonormal. The sign of each is fixed so that
        its largest entry in absolute value is positive. Same dtype as
        ``X`` (float32 or float64), C-contiguous.

    Raises
    ------
    TypeError
        If ``X`` is sparse.
    ValueError
        If ``X`` has NaN or infinite values, fewer than 2 rows, or if
        ``n_tangents`` or ``n_neighbors`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeep.tangents import local_tangents
    >>> angle = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    >>> circle = np.c_[np.cos(angle), np.sin(angle)]
    >>> T = local_tangents(circle, n_tangents=1, n_neighbors=2)
    >>> T.shape
    (50, 1, 2)
    >>> bool(abs(T[0, 0] @ [0.0, 1.0]) > 0.999)  # at (1, 0) the tangent is vertical
    True
    """
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2, order="C")
    n_samples, n_features = X.shape
    _check_integer("n_neighbors", n_neighbors)
    _check_integer("n_tangents", n_tangents)
    if not 1 <= n_neighbors < n_samples:
        raise ValueError(
            f"n_neighbors must be at least 1 and less than n_samples = {n_samples} "
            f"(a row is not its own neighbour); got n_neighbors = {n_neighbors}."
        )
    if not 1 <= n_tangents <= min(n_neighbors, n_features):
        raise ValueError(
            f"n_tangents must be from 1 to min(n_neighbors, n_features) = "
            f"{min(n_neighbors, n_features)} (n_neighbors = {n_neighbors}, n_features = "
            f"{n_features}); got n_tangents = {n_tangents}."
        )
    neighbors = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    indices = neighbors.kneighbors(return_distance=False)  # each row's others
    return principal_directions(X, X, indices, n_tangents)


def shift_tangents(X, image_shape):
    """The tangents of images along horizontal and vertical shifts.

    The derivative of each image along a shift of its content to the right
    and downwards, by central differences between the neighbouring pixels
    (pixels outside the image count as zero): the tangent vectors of the
    manifold of shifted images at each row (Simard et al., 1993). Pass it
    to ``TangentDistanceClassifier`` with the shape fixed, e.g.
    ``tangents=functools.partial(shift_tangents, image_shape=(8, 8))``.

    Parameters
    ----------
    X : array-like of shape (n_samples, height * width)
        Images, one per row, flattened row by row (C order).
    image_shape : tuple of int
        ``(height, width)`` of the images.

    Returns
    -------
    tangents : ndarray of shape (n_samples, 2, height * width)
        ``tangents[:, 0]`` along the horizontal shift, ``tangents[:, 1]``
        along the vertical one; not normalised (their length is the image's
        contrast). float32 for float32 input, else float64.
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    height, width = image_shape
    if height * width != X.shape[1]:
        raise ValueError(
            f"image_shape {tuple(image_shape)} has {height * width} pixels; "
            f"X has {X.shape[1]} features."
        )
    images = np.pad(X.reshape(-1, height, width), ((0, 0), (1, 1), (1, 1)))
    # moving the content right by t changes a pixel by -t * d/dx
    horizontal = (images[:, 1:-1, :-2] - images[:, 1:-1, 2:]) / 2
    vertical = (images[:, :-2, 1:-1] - images[:, 2:, 1:-1]) / 2
    return np.stack([horizontal, vertical], axis=1).reshape(len(X), 2, -1)


def principal_directions(points, reference, indices, n_tangents):
    """The ``n_tangents`` leading right singular vectors of
    ``reference[indices[i]] - points[i]`` for each row ``i`` of ``points``:
    local PCA centred on the point, over the rows of ``reference`` it names.
    An array of shape ``(len(points), n_tangents, n_features)`` in
    ``points``' dtype (``local_tangents`` and the tangent-distance
    classifier's queries share it)."""
    n_features = points.shape[1]
    tangents = np.empty((len(points), n_tangents, n_features), dtype=points.dtype)
    for start in range(0, len(points), _ROWS_PER_BATCH):
        rows = slice(start, start + _ROWS_PER_BATCH)
        differences = reference[indices[rows]] - points[rows, None, :]
        # batched LAPACK SVD, in the input's dtype
        vt = np.linalg.svd(differences, full_matrices=False)[2][:, :n_tangents]
        largest = np.take_along_axis(vt, np.abs(vt).argmax(axis=2)[..., None], axis=2)
        tangents[rows] = np.where(largest < 0, -vt, vt)
    return tangents


def _check_integer(name, value):
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer; got {value!r}.")
