"""The vectorisable exp, expm1, log, tanh, logistic, softplus and sine/cosine
against numpy, in ulps."""

import numpy as np
import pytest

from .kernels_for_tests import (
    cos_sin_turns_array,
    exp_array,
    expm1_array,
    log_array,
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
    "log": (log_array, np.log),
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
    # log's reduction (mantissa sqrt(2))
    edges = [0.1, 0.0999999, 0.1000001, 0.34657, 88.7, 89.0, 103.9, 104.5, 709.7, 709.9, 745.0,
             746.5, 1.0, 0.9999999, 1.0000001, 0.8813736, 0.881374, 0.8813733, 1.4142135,
             1.4142137, 0.70710677, 0.7071068, 2.8284271, 2.8284273]
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
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        exact = reference(x.astype(np.longdouble))
    assert ours.dtype == dtype
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(exact))  # log(x < 0) too
    with np.errstate(over="ignore"):
        rounded = exact.astype(dtype)
    finite = np.isfinite(rounded)
    special = ~finite & ~np.isnan(exact)  # overflow: inf, as numpy; log(0) = -inf
    np.testing.assert_array_equal(ours[special], rounded[special])
    ulp = np.spacing(np.abs(exact[finite].astype(dtype))).astype(np.longdouble)
    error = np.abs(ours[finite].astype(np.longdouble) - exact[finite]) / ulp
    assert error.max() <= 4, (x[finite][np.argmax(error)], error.max())
    if name == "tanh":  # odd, bounded, exact sign
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(x))
        assert np.all(np.abs(ours[~np.isnan(x)]) <= 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cos_sin_turns(dtype):
    """``(cos 2 pi t, sin 2 pi t)`` within a few ulps of the exact values,
    also next to their zeros: the reduction to quarter turns is exact, where
    numpy's ``cos(2 * pi * t)`` rounds ``2 pi t`` first."""
    rng = np.random.default_rng(1)
    quarters = np.arange(-8, 9) / 4
    t = np.concatenate([
        rng.random(20000), rng.uniform(-3, 3, 2000), quarters, quarters + 1e-9, quarters - 1e-9,
        quarters + 0.125, np.exp(rng.uniform(-60, 0, 2000)),
    ]).astype(dtype)
    cos, sin = np.empty_like(t), np.empty_like(t)
    cos_sin_turns_array(t, cos, sin)
    # exact: the same exact reduction, then extended precision
    q = np.floor(t.astype(np.longdouble) * 4 + 0.5)
    x = (t - q / 4) * (2 * np.longdouble("3.14159265358979323846264338327950288"))
    c, s = np.cos(x), np.sin(x)
    k = (q % 4).astype(int)
    exact_cos = np.choose(k, [c, -s, -c, s])
    exact_sin = np.choose(k, [s, c, -s, -c])
    for ours, exact in ((cos, exact_cos), (sin, exact_sin)):
        assert ours.dtype == dtype
        ulp = np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
        error = np.abs(ours.astype(np.longdouble) - exact) / ulp
        assert error.max() <= 4, (t[np.argmax(error)], error.max())
    np.testing.assert_allclose(cos.astype(float) ** 2 + sin.astype(float) ** 2, 1, rtol=4 * np.finfo(dtype).eps)
    nan = np.array([np.nan, np.inf, -np.inf], dtype=dtype)
    cos, sin = np.empty_like(nan), np.empty_like(nan)
    cos_sin_turns_array(nan, cos, sin)
    assert np.isnan(cos).all() and np.isnan(sin).all()
