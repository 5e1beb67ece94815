"""The vectorisable exp, expm1, tanh, logistic and softplus against numpy, in
ulps."""

import numpy as np
import pytest

from skdeep._kernels.elementary import (
    exp_array,
    expm1_array,
    logistic_array,
    softplus_array,
    tanh_array,
)


def _logistic(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def _softplus(x):
    return np.logaddexp(np.zeros_like(x), x)


KERNELS = {
    "exp": (exp_array, np.exp),
    "expm1": (expm1_array, np.expm1),
    "tanh": (tanh_array, np.tanh),
    "logistic": (logistic_array, _logistic),
    "softplus": (softplus_array, _softplus),
}


def _arguments(dtype):
    """Every scale from the smallest subnormal to beyond overflow, both signs,
    the thresholds of the implementation and the special values."""
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    magnitudes = np.exp(rng.uniform(np.log(float(info.smallest_subnormal)), np.log(800.0), 20000))
    # tanh's series, exp's reduction and clamps, expm1's series, softplus's
    # reduction (e^-|x| = sqrt(2) - 1)
    edges = [0.1, 0.0999999, 0.1000001, 0.34657, 88.7, 89.0, 103.9, 104.5, 709.7, 709.9, 745.0,
             746.5, 1.0, 0.9999999, 1.0000001, 0.8813736, 0.881374, 0.8813733]
    x = np.concatenate([magnitudes, -magnitudes, edges, np.negative(edges), rng.normal(scale=3, size=20000)])
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    return np.concatenate([x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", KERNELS)
def test_within_a_few_ulps_of_numpy(name, dtype):
    kernel, reference = KERNELS[name]
    x = _arguments(dtype)
    ours = np.empty_like(x)
    kernel(x, ours)
    with np.errstate(over="ignore", under="ignore"):
        exact = reference(x.astype(np.longdouble))
    assert ours.dtype == dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(x))
    with np.errstate(over="ignore"):
        rounded = exact.astype(dtype)
    finite = np.isfinite(rounded)
    special = ~finite & ~np.isnan(x)  # overflow: inf, as numpy
    np.testing.assert_array_equal(ours[special], rounded[special])
    ulp = np.spacing(np.abs(exact[finite].astype(dtype))).astype(np.longdouble)
    error = np.abs(ours[finite].astype(np.longdouble) - exact[finite]) / ulp
    assert error.max() <= 4, (x[finite][np.argmax(error)], error.max())
    if name == "tanh":  # odd, bounded, exact sign
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(x))
        assert np.all(np.abs(ours[~np.isnan(x)]) <= 1)
