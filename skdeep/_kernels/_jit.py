"""The one decorator every numba kernel uses.

``fastmath`` is restricted to flags that keep NaN/inf semantics (no ``nnan`` /
``ninf``): full fastmath assumes finite values and has produced NaN models
elsewhere. ``error_model="numpy"`` removes Python's division-by-zero checks from
inner loops. ``cache=True`` writes the compiled code next to the sources, so a
fresh process loads it instead of compiling; ``nogil=True`` lets joblib's
threading backend run several fits at once.
"""

import numba
from numba.core import types
from numba.extending import overload

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

jit = numba.njit(
    cache=True, nogil=True, fastmath=set(FASTMATH_FLAGS), error_model="numpy"
)

#: for functions called in loops that should vectorise but that LLVM's
#: inliner finds too large (``random.normal_pair``): numba inlines them into
#: their callers' IR, since a loop with a call in it stays scalar
inline_jit = numba.njit(
    cache=True, nogil=True, fastmath=set(FASTMATH_FLAGS), error_model="numpy", inline="always"
)


def optional(impl):
    """The kernel ``f(x, *args)``: ``None`` when ``x`` is None, else
    ``impl(x, *args)``, chosen when numba types the call.

    A technique that is off passes None for its buffers. numba prunes a branch
    ``if x is None`` when ``x`` is a None *argument*, but keeps both branches
    when ``x`` has another type, so a kernel that built "None or a tuple" in
    a branch would type it as an Optional, which tuples do not support. This
    overload makes the choice by type instead.
    """
    compiled = jit(impl)

    def kernel(x, *args):
        raise NotImplementedError("compiled only: call it from a numba kernel")

    kernel.__name__ = kernel.__qualname__ = impl.__name__
    kernel.__doc__ = impl.__doc__

    @overload(kernel)
    def _typed(x, *args):
        if isinstance(x, types.NoneType):
            return lambda x, *args: None
        return lambda x, *args: compiled(x, *args)

    return kernel


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
