"""The decorators of the numba kernels, all made by ``kernel_decorator``.

``fastmath`` is restricted to flags that keep NaN/inf semantics (no ``nnan`` /
``ninf``): full fastmath assumes finite values and has produced NaN models
elsewhere. ``error_model="numpy"`` removes Python's division-by-zero checks from
inner loops. ``cache=True`` writes the compiled code next to the sources, so a
fresh process loads it instead of compiling; ``nogil=True`` lets joblib's
threading backend run several fits at once.

Two things cut what a fresh process pays (numba internals, with numba's own
behaviour as the fallback when they are missing):

- loading from the cache skips numba's context refresh
  (``_FastLoadingCache``): 0.1 s of a fresh process's first fit;
- a kernel that only other kernels call (``jit``) is compiled without the
  CPython wrapper that unboxes Python arguments (``_InnerKernel``): the
  default configuration's first compile took 24.4 s with every wrapper and
  takes about 21 s without these. Kernels that Python code calls are
  ``entry_jit``: the library's own entry points (a test checks that the
  library calls nothing else) and small kernels the tests call directly.
"""

import types as pytypes

import numba
from numba.core import types
from numba.extending import overload

try:  # numba internals; without them, numba's own cache and wrappers
    from numba.core.caching import FunctionCache
    from numba.core.registry import CPUDispatcher
    from numba.core.runtime import rtsys
except ImportError:  # pragma: no cover
    FunctionCache = None

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
#: the options of a kernel that only kernels call
_INNER_OPTIONS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


if FunctionCache is not None:

    class _FastLoadingCache(FunctionCache):
        """numba's cache of a function's machine code, loaded without
        refreshing the target context.

        numba's ``load_overload`` first calls ``target_context.refresh()``,
        which imports and installs every lowering registry numba has (about
        0.1 s in a fresh process) although loading machine code lowers
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

    class _InnerKernel(CPUDispatcher):
        """A kernel that only other kernels call, compiled without numba's
        CPython wrapper (the code that unboxes Python arguments: for the
        kernels that take tuples of arrays, a large part of what LLVM
        optimises).

        Machine code without the wrapper crashes the process if Python calls
        it, so a call from Python (a test's) goes to a twin compiled with
        the wrapper on first use, cached under its own name: numba's cache
        does not key on the compile options, so the two must not share a
        file.
        """

        def __call__(self, *args, **kwargs):
            twin = self.__dict__.get("_twin")
            if twin is None:
                function = self.py_func
                copy = pytypes.FunctionType(
                    function.__code__, function.__globals__, function.__name__,
                    function.__defaults__, function.__closure__,
                )
                copy.__qualname__ = function.__qualname__ + "_from_python"
                copy.__module__ = function.__module__
                copy.__doc__ = function.__doc__
                options = {k: v for k, v in self.targetoptions.items() if k not in _INNER_OPTIONS}
                twin = self._twin = _dispatcher(copy, options, CPUDispatcher)
            return twin(*args, **kwargs)


def _dispatcher(function, options, kind):
    """What ``numba.njit(**options)(function)`` makes, as a ``kind``, with
    the fast cache loading."""
    dispatcher = kind(py_func=function, locals={}, targetoptions={"nopython": True, "boundscheck": None, **options})
    dispatcher._cache = _FastLoadingCache(function)
    return dispatcher


def kernel_decorator(python=False, **options):
    """``numba.njit`` with the cache and ``nogil`` on, numpy's error model,
    ``options`` and the fast cache loading. ``python``: whether Python code
    calls the kernel; other kernels are compiled without the CPython
    wrapper (``_InnerKernel``)."""
    options = {"nogil": True, "error_model": "numpy", **options}
    if FunctionCache is None:  # pragma: no cover
        return numba.njit(cache=True, **options)

    def decorate(function):
        if python:
            return _dispatcher(function, options, CPUDispatcher)
        return _dispatcher(function, {**options, **_INNER_OPTIONS}, _InnerKernel)

    return decorate


#: a kernel that only other kernels call (a test's call from Python reaches a twin)
jit = kernel_decorator(fastmath=set(FASTMATH_FLAGS))
#: a kernel that Python code calls
entry_jit = kernel_decorator(python=True, fastmath=set(FASTMATH_FLAGS))

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
