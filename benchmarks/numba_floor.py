"""The smallest cached numba kernel: start-up of any numba-based library."""

import numba


@numba.njit(cache=True)
def smallest(x):
    return x.sum()
