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


def remove_stale_caches():
    """Delete the compiled kernels if any is older than the newest kernel
    source; returns how many files were removed.

    numba's cache keys a function on its own source file only, so a kernel
    whose callee in another module changed would load stale machine code (an
    edit of ``updates.py`` does not reach the cached ``train_epoch``). The
    test suite and the benchmark call this first; an installed package's
    caches are built from sources that no longer change.
    """
    from pathlib import Path

    here = Path(__file__).parent
    newest = max(p.stat().st_mtime for p in here.glob("*.py"))
    files = list((here / "__pycache__").glob("*.nb[ic]"))
    if not any(f.stat().st_mtime < newest for f in files):
        return 0
    for f in files:
        f.unlink(missing_ok=True)
    return len(files)
