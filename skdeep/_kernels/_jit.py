"""The one decorator every numba kernel uses.

``fastmath`` is restricted to flags that keep NaN/inf semantics (no ``nnan`` /
``ninf``): full fastmath assumes finite values and has produced NaN models
elsewhere. ``error_model="numpy"`` removes Python's division-by-zero checks from
inner loops. ``cache=True`` writes the compiled code next to the sources, so a
fresh process loads it instead of compiling; ``nogil=True`` lets joblib's
threading backend run several fits at once.

Loading from the cache skips numba's context refresh (``_FastLoadingCache``):
it is most of the cost of a fresh process's first fit.
"""

import numba
from numba.core import types
from numba.extending import overload

try:  # numba internals: without them, numba's own cache loading
    from numba.core.caching import FunctionCache
    from numba.core.runtime import rtsys
except ImportError:  # pragma: no cover
    FunctionCache = None

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})


if FunctionCache is not None:

    class _FastLoadingCache(FunctionCache):
        """numba's cache of a function's machine code, loaded without
        refreshing the target context.

        numba's ``load_overload`` first calls ``target_context.refresh()``,
        which imports and installs every lowering registry numba has (about
        0.13 s in a fresh process) although loading machine code lowers
        nothing. What loading needs of it is the runtime (NRT), whose
        functions the code links against, and the symbols that
        ``numba.cpython.hashing`` adds when imported (the only module of the
        refresh that adds any; skdeep's kernels do not use them today). A
        compilation still refreshes: numba's compiler does it itself.
        """

        def load_overload(self, sig, target_context):
            import numba.cpython.hashing  # noqa: F401  (its symbols)

            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)


def kernel_decorator(**options):
    """``numba.njit`` with the cache and ``nogil`` on, numpy's error model,
    ``options`` and the fast cache loading."""
    njit = numba.njit(cache=True, nogil=True, error_model="numpy", **options)

    def decorate(function):
        dispatcher = njit(function)
        if FunctionCache is not None:
            dispatcher._cache = _FastLoadingCache(function)
        return dispatcher

    return decorate


jit = kernel_decorator(fastmath=set(FASTMATH_FLAGS))

#: for functions called in loops that should vectorise but that LLVM's
#: inliner finds too large (``random.normal_pair``): numba inlines them into
#: their callers' IR, since a loop with a call in it stays scalar
inline_jit = kernel_decorator(fastmath=set(FASTMATH_FLAGS), inline="always")


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
