"""Tangent vectors for tangent propagation, and reports on the weights."""

import numpy as np
from sklearn.utils import check_array

from .._network import kernel_view


def check_tangents(tangents, n_samples, n_features, dtype):
    """``tangents`` validated: a C-contiguous array of shape ``(n_samples,
    n_tangents, n_features)`` in ``dtype``."""
    T = check_array(
        tangents, dtype=dtype, ensure_2d=False, allow_nd=True, input_name="tangents",
        order="C",
    )
    if T.ndim == 2:  # one tangent per sample
        T = T[:, None, :]
    if T.ndim != 3 or T.shape[0] != n_samples or T.shape[2] != n_features:
        raise ValueError(
            f"tangents must have shape (n_samples, n_tangents, n_features) = "
            f"({n_samples}, n_tangents, {n_features}); got {T.shape}."
        )
    if T.shape[1] == 0:
        raise ValueError("tangents has no tangent vector (n_tangents = 0).")
    return kernel_view(np.ascontiguousarray(T))


def unused_inputs(first_layer_weights):
    """Indices of the inputs whose outgoing weights are all exactly zero."""
    return np.flatnonzero(~np.any(first_layer_weights != 0, axis=1))
