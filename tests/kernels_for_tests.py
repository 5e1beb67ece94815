"""Kernels that only the tests need: array loops over the engine's scalar
functions, compiled here (not cached) so that the package holds none."""

import numba

from skdeep._kernels.elementary import (
    cos_sin_turns,
    exp,
    expm1,
    log,
    logistic,
    softplus,
    tanh,
)
from skdeep._kernels.random import add_normal, uniform

# contract (fused multiply-add) only: the scalar functions' own accuracy
_exact = numba.njit(fastmath={"contract"}, error_model="numpy")


def _elementwise(function):
    """The kernel ``out[i] <- function(x[i])``."""

    @_exact
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = function(x[i])

    return loop


exp_array = _elementwise(exp)
tanh_array = _elementwise(tanh)
logistic_array = _elementwise(logistic)
expm1_array = _elementwise(expm1)
softplus_array = _elementwise(softplus)
log_array = _elementwise(log)


@_exact
def cos_sin_turns_array(t, cos, sin):
    for i in range(t.shape[0]):
        cos[i], sin[i] = cos_sin_turns(t[i])


@numba.njit
def fill_uniform(key, out):
    """``out`` (1-D) filled with uniform draws."""
    for i in range(out.shape[0]):
        out[i] = uniform(key, i)


@numba.njit
def fill_normal(key, out):
    out[:] = 0
    add_normal(out, 1.0, key)
