"""The input of ``predict``, validated as scikit-learn's ``validate_data`` does,
with a fast path for the common case.

``validate_data(est, X, reset=False, ...)`` costs about 60 us whatever the
size of ``X`` (feature-name checks, ``check_array``'s many options, the
estimator's tags), more than a compiled forward pass over a few rows. For a
NumPy float array of the model's width, from a model fitted without feature
names, what it checks is short: the dimensions, the dtype, that there is a row,
and that the values are finite. Those are checked here directly; anything else
(lists, DataFrames, sparse matrices, other dtypes, a wrong width, NaN) goes
through ``validate_data``, which converts it or raises its own message.
"""

import numpy as np
from sklearn import get_config
from sklearn.utils.validation import validate_data

#: the dtypes ``validate_data`` keeps as they are (native byte order)
_KEPT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _plain_rows(estimator, X):
    """Whether ``X`` is an array that ``validate_data`` would return as it
    is, without a warning or an error."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _KEPT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] == estimator.n_features_in_
        and not hasattr(estimator, "feature_names_in_")
        # not scikit-learn's test (whether the sum is finite), which warns
        # when it overflows: this one is as fast and never warns
        and (get_config()["assume_finite"] or bool(np.isfinite(X).all()))
    )


def prediction_input(estimator, X):
    """``X`` validated for prediction with the fitted ``estimator``: dense or
    CSR/CSC, float64 or float32 (as at fit time)."""
    if _plain_rows(estimator, X):
        return X
    return validate_data(
        estimator, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
        reset=False,
    )
