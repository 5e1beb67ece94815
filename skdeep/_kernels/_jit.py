"""The one decorator every numba kernel uses.

``fastmath`` is restricted to flags that keep NaN/inf semantics (no ``nnan`` /
``ninf``): full fastmath assumes finite values and has produced NaN models
elsewhere. ``error_model="numpy"`` removes Python's division-by-zero checks from
inner loops. ``cache=True`` writes the compiled code next to the sources, so a
fresh process loads it instead of compiling; ``nogil=True`` lets joblib's
threading backend run several fits at once.
"""

import numba

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

jit = numba.njit(
    cache=True, nogil=True, fastmath=set(FASTMATH_FLAGS), error_model="numpy"
)
