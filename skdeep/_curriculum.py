"""Curriculum learning: which training rows each epoch of a first-order
solver sees.

Epoch ``e`` (from 0) of a fit trains on the ``ceil(f_e * n)`` easiest of the
``n`` training rows, ``f_e = min(1, start + (1 - start) * e / epochs)``
(Bengio et al., 2009). The difficulty of a row is given once per fit by the
user's callable, or, for ``'self_paced'`` (Kumar et al., 2010), is the loss
of the row under the network trained so far, evaluated at the start of each
epoch that does not use every row. The rows are chosen here, in Python,
before the compiled epoch, which receives them as its order of rows: without
a curriculum the compiled path is the same as before.
"""

import math

import numpy as np
import scipy.sparse as sp


def pacing_fraction(epoch, start, epochs):
    """The fraction of the training rows that epoch ``epoch`` (from 0) uses."""
    return min(1.0, start + (1.0 - start) * epoch / epochs)


def pacing_rows(epoch, start, epochs, n):
    """The number of (easiest) rows that epoch ``epoch`` trains on."""
    fraction = pacing_fraction(epoch, start, epochs)
    # rounded first: 0.6 * 150 is 90.00000000000001 in floating point
    return n if fraction >= 1.0 else max(1, min(n, math.ceil(round(fraction * n, 9))))


def check_difficulty(difficulty, n_samples):
    """The callable's result as a float64 array of ``n_samples`` finite
    numbers, or a clear error."""
    if sp.issparse(difficulty):
        raise TypeError("curriculum must return a 1-d array of numbers, got a sparse matrix.")
    try:
        values = np.asarray(difficulty)
    except Exception as exc:  # noqa: BLE001 (what the user's callable returns)
        raise TypeError(
            f"curriculum must return a 1-d array of numbers, got {type(difficulty).__name__}: {exc}"
        ) from None
    if values.dtype.kind not in "fiub":
        raise TypeError(
            f"curriculum must return numbers (one difficulty per row), got dtype {values.dtype}."
        )
    if values.ndim != 1 or values.shape[0] != n_samples:
        raise ValueError(
            f"curriculum must return one difficulty per row: an array of shape "
            f"({n_samples},), got shape {values.shape}."
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("curriculum returned NaN or infinite difficulties.")
    return values


class Curriculum:
    """Chooses each epoch's rows.

    ``difficulty`` is one number per training row (lower is easier), or None
    for a self-paced curriculum, which evaluates the rows' losses under
    ``theta`` with ``network`` on ``inputs`` and the targets ``Y``.
    """

    def __init__(self, difficulty, start, epochs, network, inputs, Y):
        self.difficulty = difficulty
        self.start = float(start)
        self.epochs = int(epochs)
        self.network = network
        self.inputs = inputs
        self.Y = Y
        self.n = inputs.n_samples
        self._chosen = np.zeros(self.n, dtype=bool)

    def n_rows(self, epoch):
        return pacing_rows(epoch, self.start, self.epochs, self.n)

    def rows(self, epoch, order, theta):
        """The rows of epoch ``epoch`` in the order ``order`` (the epoch's
        shuffled order of every row): ``order`` itself once every row is
        used, else the easiest rows, as a new array in ``order``'s order."""
        k = self.n_rows(epoch)
        if k >= self.n:
            return order
        difficulty = self.difficulty
        if difficulty is None:  # self-paced: the current loss of each row
            raw = self.network.predict(theta, self.inputs, link=False)
            difficulty = self.network.row_losses(raw, self.Y)
        easiest = np.argsort(difficulty, kind="stable")[:k]
        self._chosen[:] = False
        self._chosen[easiest] = True
        return np.ascontiguousarray(order[self._chosen[order]])
