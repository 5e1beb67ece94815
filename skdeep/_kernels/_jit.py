"""The decorators of the numba kernels, all made by ``kernel_decorator``.

``fastmath`` is restricted to flags that keep NaN/inf semantics (no ``nnan`` /
``ninf``): full fastmath assumes finite values and has produced NaN models
elsewhere. ``error_model="numpy"`` removes Python's division-by-zero checks from
inner loops. ``cache=True`` writes the compiled code next to the sources, so a
fresh process loads it instead of compiling; ``nogil=True`` lets joblib's
threading backend run several fits at once.

A fit compiles only the activation and optimizer it uses: their codes are
compile-time ``Constant``s and each selection is a ``switch`` (see
``SPECIALISE``); the options it leaves off reach the kernels as None
(``option``), which numba prunes. A selection (``switch``, ``by_presence``,
``optional``) is typed and lowered as a direct call of the kernel it chooses
(``_forwarding``), without a compiled function of its own. Two more things
cut what a fresh process pays:

- loading from the cache skips numba's context refresh
  (``_FastLoadingCache``);
- a kernel that only other kernels call (``jit``) is compiled without the
  CPython wrapper that unboxes Python arguments (``_InnerKernel``), a
  large part of a first compile. Kernels that Python code calls are
  ``entry_jit``: the library's own entry points (a test checks that the
  library calls nothing else) and small kernels the tests call directly.
  (The figures are in docs/performance.md.)

The machine code of a kernel calls its own copies of its callees
(``_SelfContainedLibrary``), so that the process that compiles a kernel
computes the same bits as every process that loads it. And LLVM optimises
and generates machine code only for the kernels Python calls, each with the
whole tree of kernels it calls, once (``_LazyLibrary``): numba would
optimise and compile every kernel, and every implementation of its own
overloads, on its own and then again inside each caller.

These hooks subclass numba internals. They are built in one place
(``_numba_hooks``), which also checks that numba's methods they override or
rely on still exist, take the same arguments and are still called where the
hooks expect; on a numba outside ``TESTED_NUMBA``, on any failure there, or
with ``SKDEEP_PLAIN_NUMBA=1`` in the environment, the kernels are plain
``numba.njit`` functions, after one ``NumbaFallbackWarning``. With
``NUMBA_DISABLE_JIT=1`` (numba's way to debug kernels as Python) every
decorator returns the Python function itself, as ``numba.njit`` does.
"""

import gc
import hashlib
import inspect
import operator
import os
import sys
import types as pytypes
import warnings
from contextlib import contextmanager
from typing import NamedTuple

import numba
from numba.core import errors, types
from numba.extending import intrinsic, typeof_impl

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
#: how numba's names of the environment globals begin (numba's compiler
#: matches them the same way)
_ENV_PREFIX = "_ZN08NumbaEnv"
#: the options of every kernel: no C-callable wrapper (numba's ``cfunc``
#: wrapper, for code that calls a kernel through its address, which skdeep
#: never does)
_KERNEL_OPTIONS = {"no_cfunc_wrapper": True}
#: the options of a kernel that only kernels call
_INNER_OPTIONS = {"no_cpython_wrapper": True, **_KERNEL_OPTIONS}

#: the oldest and newest numba (major, minor) the hooks were tested with
#: (``pyproject.toml`` admits the same range)
TESTED_NUMBA = ((0, 60), (0, 68))
#: whether to use plain numba, without the hooks (``SKDEEP_PLAIN_NUMBA``, off
#: unless set to something other than ``0``): for a user whose numba
#: misbehaves with them, and for the test of the fallback
PLAIN_NUMBA = os.environ.get("SKDEEP_PLAIN_NUMBA", "0") not in ("", "0")


class NumbaFallbackWarning(UserWarning):
    """skdeep's hooks into numba internals are not installed: the kernels are
    plain ``numba.njit`` functions. Fits give the same models within
    rounding; first fits compile and load somewhat more slowly."""


def compiles():
    """Whether numba compiles the kernels: not with ``NUMBA_DISABLE_JIT=1``,
    which runs them as Python."""
    return not numba.config.DISABLE_JIT


class _Hooks(NamedTuple):
    dispatcher: type
    cache: type
    inner_kernel: type
    integer_kernel: type
    library: type
    lazy_library: type
    pipeline: type
    fingerprint: object


def _require(owner, name, parameters, calls=(), only=False):
    """Raise unless numba's ``owner.name`` takes ``parameters`` and its code
    names each of ``calls`` (``only``: and nothing else), as the hooks
    expect: a renamed method, or an override numba no longer calls, would
    otherwise fail or change the behaviour silently."""
    function = getattr(owner, name)
    found = list(inspect.signature(function).parameters)
    if found != list(parameters):
        raise TypeError(f"{owner.__name__}.{name} takes {found}, expected {list(parameters)}")
    names = set(function.__code__.co_names)
    if (names != set(calls)) if only else not set(calls) <= names:
        raise TypeError(f"{owner.__name__}.{name} uses {sorted(names)}, expected {sorted(calls)}")


#: how much rarer Python's full (oldest-generation) garbage collections are
#: while skdeep compiles
FULL_COLLECTION_FACTOR = 10
#: skdeep compiles in progress in this process (they nest: a kernel's
#: compile compiles its callees), all under numba's compiler lock
_compiles_in_progress = 0


@contextmanager
def _fewer_full_collections():
    """Python's garbage collector with its full collections
    ``FULL_COLLECTION_FACTOR`` times rarer, until the outermost compile
    ends (the compiles it starts change nothing).

    A compile makes hundreds of thousands of objects (numba's IR, types,
    LLVM IR as Python objects), most of them alive until it ends; each full
    collection walks them all and every other object of the process (a few
    hundred thousand after importing scikit-learn): seven full collections
    during a default fit's first compile took 0.5 s and found little to
    free. The young generations are collected as usual, and the caller's
    thresholds are restored afterwards, unless something else changed them
    meanwhile; the compile's garbage waits for the next full collection.
    Left alone if the collector is off (a first threshold of 0) or has no
    third threshold (Python 3.14's incremental collector reports 0).
    """
    global _compiles_in_progress
    raised = None
    if _compiles_in_progress == 0:
        saved = gc.get_threshold()
        if saved[0] > 0 and saved[2] > 0:
            raised = (saved[0], saved[1], min(saved[2] * FULL_COLLECTION_FACTOR, 2**31 - 1))
            gc.set_threshold(*raised)
    _compiles_in_progress += 1
    try:
        yield
    finally:
        _compiles_in_progress -= 1
        if raised is not None and gc.get_threshold() == raised:
            gc.set_threshold(*saved)


def _numba_hooks():
    """The hooks into numba internals (``_Hooks``); raises if numba is
    outside ``TESTED_NUMBA`` or does not have what they need."""
    version = tuple(int(part) for part in numba.__version__.split(".")[:2])
    if not TESTED_NUMBA[0] <= version <= TESTED_NUMBA[1]:
        raise RuntimeError(f"numba {numba.__version__} is outside the tested range "
                           "{}.{} to {}.{}".format(*TESTED_NUMBA[0], *TESTED_NUMBA[1]))
    from llvmlite import binding as llvm
    from llvmlite import ir as llvm_ir
    from numba._dispatcher import compute_fingerprint
    from numba.core import cgutils
    from numba.core.caching import FunctionCache
    from numba.core.codegen import CPUCodeLibrary, JITCodeLibrary, JITCPUCodegen
    from numba.core.compiler import Compiler
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.cpu import CPUTargetOptions
    from numba.core.registry import CPUDispatcher
    from numba.core.runtime import rtsys
    from numba.core.typed_passes import NativeLowering

    # _FastLoadingCache: numba's loading is the refresh plus what it repeats
    _require(FunctionCache, "load_overload", ["self", "sig", "target_context"],
             ["refresh", "_guard_against_spurious_io_errors", "_load_overload"], only=True)
    _require(FunctionCache, "_load_overload", ["self", "sig", "target_context"])
    _require(CPUDispatcher, "enable_caching", ["self"], ["FunctionCache", "_cache"])
    _require(CPUDispatcher, "compile", ["self", "sig"], ["_cache", "load_overload"])
    _require(FunctionCache, "save_overload", ["self", "sig", "data"])
    if not isinstance(FunctionCache.cache_path, property):
        raise TypeError("numba's cache has no cache_path")
    from numba.core import sigutils

    sigutils.normalize_signature((types.float64,))
    if not callable(rtsys.initialize):
        raise TypeError("numba's runtime has no initialize")
    # _InnerKernel and _dispatcher: the dispatcher numba.njit makes
    _require(CPUDispatcher, "__init__",
             ["self", "py_func", "locals", "targetoptions", "pipeline_class"], ["targetoptions"])
    # _IntegerKernel: how numba types a call of a kernel from a kernel
    _require(CPUDispatcher, "get_call_template", ["self", "args", "kws"], ["compile"])
    missing = [k for k in [*_INNER_OPTIONS, "nogil", "fastmath", "error_model", "inline"]
               if not hasattr(CPUTargetOptions, k)]
    if missing:
        raise TypeError(f"numba's CPU target has no option {missing}")
    # _SelfContainedLibrary and _Pipeline: the library numba would make,
    # made by the pipeline before numba's lowering makes one
    if JITCPUCodegen._library_class is not JITCodeLibrary:
        raise TypeError("numba's JIT codegen makes another code library")
    _require(JITCodeLibrary, "__init__", ["self", "codegen", "name"])
    _require(JITCodeLibrary, "finalize", ["self"],
             ["_optimize_final_module", "_get_module_for_linking"])
    _require(JITCodeLibrary, "_optimize_final_module", ["self"], ["_final_module"])
    _require(JITCodeLibrary, "_get_module_for_linking", ["self"], ["_final_module"])
    _require(JITCodeLibrary, "enable_object_caching", ["self"])
    # _LazyLibrary: finalising a library optimises it, then hands its module
    # to the engine; machine code is asked for by function name; the object
    # cache hands back a library's compiled object; libraries are made from
    # the codegen's library class
    _require(JITCodeLibrary, "finalize", ["self"], ["_finalize_final_module"])
    _require(CPUCodeLibrary, "_finalize_final_module", ["self"],
             ["_add_module", "_finalize_specific", "_final_module"])
    _require(JITCodeLibrary, "get_pointer_to_function", ["self", "name"], ["_ensure_finalized"])
    _require(JITCodeLibrary, "_object_getbuffer_hook", ["ll_module"], ["_compiled_object"])
    _require(JITCPUCodegen, "create_library", ["self", "name", "kwargs"], ["_library_class"])
    from numba.core.funcdesc import default_mangler

    if not default_mangler(".NumbaEnv.kernel", []).startswith(_ENV_PREFIX):
        raise TypeError("numba names the environment globals otherwise")  # the stub's globals
    # _LazyLibrary._optimize_functions: numba runs its per-function passes
    # when a module is added, with a pass builder per function (llvmlite's
    # new pass manager; numba 0.60's legacy one is left as it is)
    _require(CPUCodeLibrary, "add_llvm_module", ["self", "ll_module"], ["_optimize_functions"])
    _require(CPUCodeLibrary, "_optimize_functions", ["self", "ll_module"],
             ["_function_pass_manager", "run", "data_layout"])
    from numba.core.codegen import CPUCodegen

    pass_builder_per_function = (
        list(inspect.signature(CPUCodegen._function_pass_manager).parameters) == ["self", "kwargs"]
    )
    _require(Compiler, "compile_extra", ["self", "func"])
    _require(NativeLowering, "run_pass", ["self", "state"], ["library", "create_library"])
    # _quiet_llvm_lock: llvmlite's lock keeps its callbacks in a list
    if not isinstance(getattr(getattr(llvm.ffi.lib, "_lock", None), "_cblist", None), list):
        raise TypeError("llvmlite's lock keeps its callbacks otherwise")
    for linkage in ("external", "linkonce_odr"):
        getattr(llvm.Linkage, linkage)
    # records holding Constants: numba's fingerprint of a tuple
    compute_fingerprint((1, 2.0))

    class _FastLoadingCache(FunctionCache):
        """numba's cache of a function's machine code, loaded without
        refreshing the target context.

        numba's ``load_overload`` first calls ``target_context.refresh()``,
        which imports and installs every lowering registry numba has
        although loading machine code lowers
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
                loaded = self._load_overload(sig, target_context)
            if loaded is None:
                _announce_compilation()
            return loaded

        def save_overload(self, sig, data):
            """numba's saving, under the function's lock file: it rewrites
            the function's index (read, add this signature, write), which
            two processes saving other signatures at once would otherwise
            race on, losing one's entry."""
            with _file_lock(self.lock_file):
                super().save_overload(sig, data)

        def lock_file(self, args=None):
            """The lock file of the function's index, or of compiling
            signature ``args``: beside the cached machine code, named after
            the function (and a hash of the signature)."""
            name = self._impl.filename_base
            if args is not None:
                name += "." + hashlib.sha1(repr(tuple(args)).encode()).hexdigest()[:16]
            return os.path.join(self.cache_path, "skdeep-locks", name)

    @contextmanager
    def _quiet_llvm_lock():
        """llvmlite's lock without its callbacks, until the block ends.
        numba's send a ``numba:llvm_lock`` event each time a call into LLVM
        takes and releases the lock, which every compile in progress
        listens to, to time it for its compile result's metadata (the
        ``llvm_lock`` timer); over the tens of thousands of calls of a
        first compile they cost 0.3-0.5 s. skdeep's compile results have
        no such timer, and a listener of that event does not see skdeep's
        compiles (numba's own compiles still send it)."""
        callbacks = llvm.ffi.lib._lock._cblist
        saved = callbacks[:]
        callbacks.clear()
        try:
            yield
        finally:
            callbacks[:] = saved + [c for c in callbacks if c not in saved]

    class _Dispatcher(CPUDispatcher):
        """numba's dispatcher, which compiles a signature it has neither in
        memory nor in the cache while holding a lock file beside the cache
        (``_file_lock``): processes that need the same kernel at the
        same time (joblib's workers of a grid search) compile it once, the
        others wait and then load it from the cache.

        The lock is taken under numba's compiler lock, so threads of one
        process never wait for each other's file locks, and a kernel holds
        its lock while it compiles the kernels it calls: locks are taken
        in the order of the call graph, which has no cycle, so processes
        cannot deadlock.

        While it compiles or loads, llvmlite's lock runs no callbacks
        (``_quiet_llvm_lock``), and Python's garbage collector runs fewer
        full collections (``_fewer_full_collections``).
        """

        def compile(self, sig):
            with global_compiler_lock, _quiet_llvm_lock(), _fewer_full_collections():
                args, _ = sigutils.normalize_signature(sig)
                if tuple(args) in self.overloads or not self._cache_enabled():
                    return super().compile(sig)
                with _file_lock(self._cache.lock_file, args):
                    return super().compile(sig)

        def _cache_enabled(self):
            return isinstance(self._cache, _FastLoadingCache) and self._cache._enabled

    class _InnerKernel(_Dispatcher):
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
                options = {k: v for k, v in self.targetoptions.items() if k != "no_cpython_wrapper"}
                copy = _renamed(self.py_func, "_from_python")
                twin = self._twin = _dispatcher(copy, options, _Dispatcher)
            return twin(*args, **kwargs)

    class _IntegerKernel(_InnerKernel):
        """An inner kernel compiled once for integer arguments, whatever
        their values.

        numba compiles a kernel called with an integer constant (a random
        stream's number, a phase of the epoch, layer 0) for that constant,
        as a specialisation of its own, each as long to compile as the
        kernel; inlined into its caller, the kernel's code is as good with
        the constant folded by LLVM.
        """

        def get_call_template(self, args, kws):
            args = tuple(
                types.unliteral(a) if isinstance(a, types.IntegerLiteral) else a for a in args
            )
            return super().get_call_template(args, kws)

    class _SelfContainedLibrary(JITCodeLibrary):
        """A kernel's machine code, calling copies of the kernels it calls
        that no other machine code can stand in for, so that it runs the
        same instructions in every process.

        numba links the code of each callee into its caller as a weak
        (``linkonce_odr``) copy, optimised again with the caller, and a weak
        symbol resolves to the first definition a process has: in the
        process that compiles, the callee's own library (compiled first);
        in a process that loads the caller from the cache, the caller's
        copy. With ``reassoc`` and ``contract`` the two are not the same
        arithmetic (FMAs formed differently), so a fit gave other bits, the
        first time on a machine, than ever after (W1's test score 0.9163
        against 0.9154).

        After the optimisation, each copy left gets a name of this
        library's own (a hash of the names it exports, which numba makes
        unique per function and signature), so its calls resolve to the
        copy. The module other kernels link (``_get_module_for_linking``)
        keeps the plain names, so that the linker still merges the copies
        that reach a caller by several paths. (Copies made internal would
        do as well, but LLVM then inlines far more of them and a first
        compile takes longer.)
        """

        def _optimize_final_module(self):
            super()._optimize_final_module()
            functions = list(self._final_module.functions)
            own = sorted(
                f.name for f in functions
                if not f.is_declaration and f.linkage == llvm.Linkage.external
            )
            self._copy_tag = "." + hashlib.sha1("\n".join(own).encode()).hexdigest()[:16]
            for function in functions:
                if function.linkage == llvm.Linkage.linkonce_odr:
                    function.name += self._copy_tag

        def _get_module_for_linking(self):
            module = super()._get_module_for_linking()
            tag = getattr(self, "_copy_tag", None)
            if tag is not None and module is not self._final_module:
                for function in module.functions:
                    if function.name.endswith(tag):
                        function.name = function.name[: -len(tag)]
            return module

    class _LazyLibrary(_SelfContainedLibrary):
        """A ``_SelfContainedLibrary`` that LLVM optimises and turns into
        machine code only when machine code of its own is asked for: when
        Python calls the kernel (its CPython wrapper) or numba takes the
        address of one of its functions.

        numba optimises every library when it is finalised and generates its
        machine code, then links a copy of it into each caller, which is
        optimised and compiled again with the caller. Most libraries a fit
        compiles are only ever linked: the kernels that only kernels call and
        the implementations of numba's own overloads they use, neither with
        a CPython wrapper. Here such a library keeps its module as numba's
        per-function passes left it, for its callers to link, and the
        execution engine gets a stub that defines only the module's
        environment globals (numba sets the kernel's environment through
        the engine). The kernels Python calls link the whole tree of their
        callees unoptimised and optimise it once, as a C compiler optimises
        one translation unit, so LLVM works on each function once per entry
        kernel instead of once per level of the call graph.

        A library loaded from numba's cache, which comes with its machine
        code, is loaded as numba does.
        """

        _materialised = False

        def _optimize_final_module(self):
            """Deferred to ``_materialise``."""

        if pass_builder_per_function:
            def _optimize_functions(self, ll_module):
                """numba's per-function passes, with one pass builder for
                the module instead of one per function, and only over the
                functions it defines: the same passes on the same
                functions, the same code (the reference fits keep their
                bits), without some 60 calls into LLVM for each of the
                hundreds of declarations a first fit's modules hold."""
                ll_module.data_layout = self._codegen._data_layout
                passes, builder = self._codegen._function_pass_manager()
                for function in ll_module.functions:
                    if not function.is_declaration:
                        passes.run(function, builder)

        def _finalize_final_module(self):
            module = self._final_module
            if getattr(self, "_compiled_object", None) is not None:  # loaded from the cache
                self._materialised = True
                return super()._finalize_final_module()
            if any(g.name.startswith("numba.dynamic.globals") for g in module.global_variables):
                self._materialised = True  # globals numba must see in the engine
                _SelfContainedLibrary._optimize_final_module(self)
                return super()._finalize_final_module()
            self._linked = module
            self._final_module = llvm.parse_assembly(str(self._stub(module)))
            super()._finalize_final_module()
            self._final_module = module  # what callers link and inspection shows

        def _stub(self, module):
            stub = self._codegen._create_empty_module(self.name + ".stub")
            for found in module.global_variables:
                if found.name.startswith(_ENV_PREFIX):  # numba's environment globals
                    gv = llvm_ir.GlobalVariable(stub, cgutils.voidptr_t, name=found.name)
                    gv.linkage = "common"
                    gv.initializer = cgutils.get_null_value(gv.type.pointee)
            return stub

        def get_pointer_to_function(self, name):
            self._ensure_finalized()
            if not self._materialised:
                found = next((f for f in self._linked.functions if f.name == name), None)
                if found is not None and not found.is_declaration:
                    self._materialise()
            return super().get_pointer_to_function(name)

        def _materialise(self):
            """Optimise the module and generate its machine code."""
            self._materialised = True
            self._get_module_for_linking()  # the module callers link, kept unoptimised
            self._final_module = self._linked.clone()
            _SelfContainedLibrary._optimize_final_module(self)
            self._final_module.verify()
            self._compiled_object = None  # the stub's: numba's object cache would hand it back
            CPUCodeLibrary._finalize_final_module(self)

    class _Pipeline(Compiler):
        """numba's pipeline, lowering into a ``_LazyLibrary``, and making
        every library numba creates while it compiles (for its overloads) a
        ``_LazyLibrary`` too."""

        def compile_extra(self, func):
            codegen = self.state.targetctx.codegen()
            if self.state.library is None:
                self.state.library = _LazyLibrary(codegen, func.__qualname__)
                self.state.library.enable_object_caching()  # as numba does, for the cache
            previous = codegen.__dict__.get("_library_class")
            codegen._library_class = _LazyLibrary
            try:
                return super().compile_extra(func)
            finally:
                if previous is None:
                    del codegen._library_class
                else:
                    codegen._library_class = previous

    hooks = _Hooks(
        _Dispatcher, _FastLoadingCache, _InnerKernel, _IntegerKernel, _SelfContainedLibrary,
        _LazyLibrary, _Pipeline, compute_fingerprint,
    )
    for cls in hooks[:7]:  # module-level names, for pickle (numba pickles a dispatcher's class)
        cls.__qualname__ = cls.__name__
    return hooks


def _install_hooks():
    """The hooks (``_Hooks``), or None after one ``NumbaFallbackWarning`` if
    they cannot be used (any exception) or ``PLAIN_NUMBA``; None, quietly,
    when numba does not compile."""
    if not compiles():
        return None
    if PLAIN_NUMBA:
        reason = "SKDEEP_PLAIN_NUMBA is set"
    else:
        try:
            return _numba_hooks()
        except Exception as error:  # whatever numba changed
            reason = f"{type(error).__name__}: {error}"
    warnings.warn(
        f"skdeep compiles its kernels with plain numba, without its hooks into "
        f"numba's internals ({reason}). Models are the same within rounding; first "
        f"fits compile and load more slowly.",
        NumbaFallbackWarning, stacklevel=2,
    )
    return None


#: whether to tell the user, once per process, that the engine compiles
#: (``SKDEEP_COMPILE_MESSAGE``, on unless set to ``0``)
COMPILE_MESSAGE = os.environ.get("SKDEEP_COMPILE_MESSAGE", "1") != "0"
_announced = False


def _announce_compilation():
    """Print, the first time in this process that a kernel is not in the
    cache, one line on stderr saying what the wait is; nothing when the
    kernels load from the cache."""
    global _announced
    if _announced or not COMPILE_MESSAGE:
        return
    _announced = True
    print(
        "skdeep: compiling the engine for this configuration (once per machine: later "
        "runs load it from the cache; `python -m skdeep.precompile` compiles ahead of time)",
        file=sys.stderr, flush=True,
    )


#: the lock files this process holds, with how many times (a lock is
#: re-entered, not waited for, by the process that holds it)
_held = {}


@contextmanager
def _file_lock(lock_file, *args):
    """Hold an exclusive lock on the file ``lock_file(*args)`` names
    (``fcntl.flock``: released when the process ends, however it ends).
    Without a lock when the file cannot be made: a cache directory that is
    not writable (numba then does not save either), or no ``fcntl``.
    Callers hold numba's compiler lock, which also guards ``_held``."""
    try:
        import fcntl

        path = lock_file(*args)
        if path in _held:
            handle = None
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handle = open(path, "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError, AttributeError):
        yield
        return
    if handle is None:
        _held[path] += 1
    else:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # waits for another process's compile
        except BaseException:  # e.g. KeyboardInterrupt while waiting
            handle.close()
            raise
        _held[path] = 1
    try:
        yield
    finally:
        _held[path] -= 1
        if not _held[path]:
            del _held[path]
            handle.close()  # releases the lock


_HOOKS = _install_hooks()
if _HOOKS is not None:  # the module's names of the hooks (tests patch and inspect them)
    (_Dispatcher, _FastLoadingCache, _InnerKernel, _IntegerKernel, _SelfContainedLibrary,
     _LazyLibrary, _Pipeline) = _HOOKS[:7]
else:
    _Dispatcher = _FastLoadingCache = _InnerKernel = _IntegerKernel = None
    _SelfContainedLibrary = _LazyLibrary = _Pipeline = None


def _renamed(function, suffix):
    """A copy of ``function`` whose qualified name (and so numba's cache
    file) ends in ``suffix``."""
    copy = pytypes.FunctionType(
        function.__code__, function.__globals__, function.__name__,
        function.__defaults__, function.__closure__,
    )
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__module__ = function.__module__
    copy.__doc__ = function.__doc__
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def _dispatcher(function, options, kind):
    """What ``numba.njit(**options)(function)`` makes, as a ``kind``, with
    the fast cache loading and self-contained machine code."""
    dispatcher = kind(
        py_func=function, locals={}, pipeline_class=_Pipeline,
        targetoptions={"nopython": True, "boundscheck": None, **options},
    )
    dispatcher._cache = _FastLoadingCache(function)
    return dispatcher


def kernel_decorator(python=False, integers=False, **options):
    """``numba.njit`` with the cache and ``nogil`` on, numpy's error model,
    ``options`` and the fast cache loading. ``python``: whether Python code
    calls the kernel; other kernels are compiled without the CPython
    wrapper (``_InnerKernel``). ``integers``: compiled once for integer
    arguments whatever their values (``_IntegerKernel``), for an inner
    kernel that callers pass integer constants.

    Without the hooks, plain ``numba.njit`` under a name of its own
    (``_plain``): numba's cache does not key on the compile options, and a
    kernel cached with the hooks has no CPython wrapper. With
    ``NUMBA_DISABLE_JIT=1``, the function itself.
    """
    options = {"nogil": True, "error_model": "numpy", **options}

    def decorate(function):
        if not compiles():
            return function
        if _HOOKS is None:
            return numba.njit(cache=True, **options)(_renamed(function, "_plain"))
        if python:
            return _dispatcher(function, {**options, **_KERNEL_OPTIONS}, _HOOKS.dispatcher)
        kind = _IntegerKernel if integers else _InnerKernel
        return _dispatcher(function, {**options, **_INNER_OPTIONS}, kind)

    return decorate


def intrinsic_with_python(python):
    """numba's ``intrinsic`` decorator, with ``python`` standing in for the
    intrinsic when numba does not compile (``NUMBA_DISABLE_JIT=1``): an
    intrinsic cannot run as Python."""

    def decorate(typer):
        return intrinsic(typer) if compiles() else python

    return decorate


def _extremum(python, comparison):
    """``python`` (``max`` or ``min``) of two numbers inside a kernel, as
    numba computes it (Python's rule: ``max(a, b)`` is ``b`` only if ``b >
    a``, so a NaN in ``b`` is never taken), lowered in place.

    Inside a kernel numba's ``max`` and ``min`` are overloads, which compile
    a function of their own for each pair of argument types only to call
    numba's lowering ``do_minmax``; here that lowering is an intrinsic's, in
    the caller. On a numba without ``do_minmax`` it is ``python`` itself,
    numba's overload."""
    try:
        from numba.cpython.builtins import do_minmax
    except ImportError:  # pragma: no cover (another numba's layout)
        return python

    def typer(context, a, b):
        result = context.unify_types(a, b)
        if not all(isinstance(t, (types.Number, types.Boolean)) for t in (a, b)) or result is None:
            raise errors.TypingError(f"{python.__name__}() of {a} and {b}")

        def codegen(context, builder, sig, args):
            return do_minmax(context, builder, list(sig.args), list(args), comparison)

        return result(a, b), codegen

    typer.__name__ = "larger" if python is max else "smaller"
    return intrinsic_with_python(python)(typer)


#: ``max(a, b)`` and ``min(a, b)`` of two numbers, for kernels
larger = _extremum(max, operator.gt)
smaller = _extremum(min, operator.lt)


#: a kernel that only other kernels call (a test's call from Python reaches a twin)
jit = kernel_decorator(fastmath=set(FASTMATH_FLAGS))
#: a kernel that only other kernels call, some of them with integer
#: constants (indices, counters), compiled once for all their values
integer_jit = kernel_decorator(integers=True, fastmath=set(FASTMATH_FLAGS))
#: a kernel that Python code calls
entry_jit = kernel_decorator(python=True, fastmath=set(FASTMATH_FLAGS))

#: for functions called in loops that should vectorise but that LLVM's
#: inliner finds too large (``random.normal_pair``): numba inlines them into
#: their callers' IR, since a loop with a call in it stays scalar
inline_jit = kernel_decorator(fastmath=set(FASTMATH_FLAGS), inline="always")


def _trivial(function):
    """What the plain Python ``function`` does, if it only returns one of
    its arguments or a constant: ``("arg", index)`` or ``("const", value)``
    (None for a function that ends in ``pass``); else None."""
    import dis

    steps = [i for i in dis.get_instructions(function)
             if i.opname not in ("RESUME", "NOP", "CACHE", "EXTENDED_ARG")]
    names = list(inspect.signature(function).parameters)
    if [i.opname for i in steps] == ["RETURN_CONST"]:
        value = steps[0].argval
    elif [i.opname for i in steps] == ["LOAD_CONST", "RETURN_VALUE"]:
        value = steps[0].argval
    elif (len(steps) == 2 and steps[0].opname in ("LOAD_FAST", "LOAD_FAST_BORROW")  # 3.14's
          and steps[1].opname == "RETURN_VALUE" and steps[0].argval in names):
        return ("arg", names.index(steps[0].argval))
    else:
        return None
    return ("const", value) if value is None or isinstance(value, bool) else None


def _forwarding(kernel, choose, prefer_literal):
    """Make numba type and lower a call of the Python function ``kernel``
    from a kernel by ``choose(*argument_types)``, which returns what the call
    does: ``(dispatcher, first)``, call the kernel ``dispatcher`` with the
    arguments from ``first`` on; ``("arg", index)``, the value of an
    argument; ``("const", value)``, None or a bool; ``("chain", name,
    [(code, dispatcher), ...])``, call the dispatcher whose code equals the
    first argument with the others, and raise ``ValueError`` for another
    code.

    numba's ``overload`` would compile a function of its own for each
    choice, and for each signature, only to call or inline the chosen
    kernel; here numba types the chosen kernel's call and the caller calls
    it directly, and an argument or a constant costs no compile at all.
    """
    from numba.core import cgutils
    from numba.core.imputils import impl_ret_borrowed, lower_builtin
    from numba.core.typing.templates import (
        AbstractTemplate,
        infer,
        infer_global,
        signature,
    )

    def resolve(context, args):
        chosen = choose(*args)
        if chosen[0] == "chain":
            calls = [(code, target, context.resolve_function_type(types.Dispatcher(target), args[1:], {}))
                     for code, target in chosen[2]]
            returned = context.unify_types(*(called.return_type for _, _, called in calls))
            if returned is None:
                raise errors.NumbaTypeError(f"{chosen[1]}: the kernels return different types")
            return chosen, (returned, calls)
        if isinstance(chosen[0], str):
            return chosen, None
        target, first = chosen
        called = context.resolve_function_type(types.Dispatcher(target), args[first:], {})
        return chosen, called

    def call(context, builder, target, called, args, types_):
        values = [context.cast(builder, v, t, c) for v, t, c in zip(args, types_, called.args)]
        return context.get_function(types.Dispatcher(target), called)(builder, values)

    def generic(self, args, kws):
        if kws:
            return None
        chosen, called = resolve(self.context, args)
        if chosen[0] == "chain":
            return signature(called[0], *args)
        if called is not None:
            return signature(called.return_type, *args)
        kind, value = chosen
        if kind == "arg":
            return signature(types.unliteral(args[value]), *args)
        return signature(types.none if value is None else types.boolean, *args)

    template = type(f"{kernel.__name__}_Forwarding", (AbstractTemplate,), {
        "key": kernel, "generic": generic, "prefer_literal": prefer_literal,
    })
    infer(template)
    infer_global(kernel, types.Function(template))

    @lower_builtin(kernel, types.VarArg(types.Any))
    def lower(context, builder, sig, args):
        chosen, called = resolve(context.typing_context, sig.args)
        if chosen[0] == "chain":  # if code == c: return kernels[c](*args) ... else raise
            returned, calls = called
            result = cgutils.alloca_once(builder, context.get_value_type(returned))
            done = builder.append_basic_block(f"{chosen[1]}.done")
            for code, target, one in calls:
                match = builder.icmp_signed("==", args[0], context.get_constant(sig.args[0], code))
                with builder.if_then(match):
                    value = call(context, builder, target, one, args[1:], sig.args[1:])
                    builder.store(context.cast(builder, value, one.return_type, returned), result)
                    builder.branch(done)
            context.call_conv.return_user_exc(builder, ValueError, (f"{chosen[1]}: unknown code",))
            builder.position_at_end(done)
            return builder.load(result)
        if called is not None:
            target, first = chosen
            return call(context, builder, target, called, args[first:], sig.args[first:])
        kind, value = chosen
        if kind == "arg":
            returned = context.cast(builder, args[value], sig.args[value], sig.return_type)
            return impl_ret_borrowed(context, builder, sig.return_type, returned)
        if value is None:
            return context.get_dummy_value()
        return context.get_constant(types.boolean, value)


def optional(impl):
    """The kernel ``f(x, *args)``: ``None`` when ``x`` is None, else
    ``impl(x, *args)``, chosen when numba types the call.

    A technique that is off passes None for its buffers. numba prunes a branch
    ``if x is None`` when ``x`` is a None *argument*, but keeps both branches
    when ``x`` has another type, so a kernel that built "None or a tuple" in
    a branch would type it as an Optional, which tuples do not support. This
    makes the choice by type instead (``_forwarding``).
    """
    compiled = jit(impl)

    def kernel(x, *args):  # from Python (and with NUMBA_DISABLE_JIT=1)
        return None if x is None else compiled(x, *args)

    kernel.__name__ = kernel.__qualname__ = impl.__name__
    kernel.__doc__ = impl.__doc__
    if compiles():
        _forwarding(
            kernel, lambda x, *args: ("const", None) if isinstance(x, types.NoneType) else (compiled, 0),
            prefer_literal=False,
        )
    return kernel


def by_presence(absent, present):
    """The kernel ``f(x, ...)``: ``absent(x, ...)`` when ``x`` is None, else
    ``present(x, ...)``, chosen by type when numba types the call.

    This is how a kernel acts on a field of a record that may be None (a
    technique that is off): numba prunes ``if x is None`` only for an
    argument of the function it compiles. ``absent`` and ``present`` are
    plain Python functions with the same parameters; each is compiled as a
    kernel when a call chooses it, except an ``absent`` that only returns
    one of its arguments, None or a bool, which costs no compile
    (``_forwarding``). The kernel is named after ``present``.
    """
    params = list(inspect.signature(present).parameters)
    if params != list(inspect.signature(absent).parameters):
        raise TypeError(f"{present.__name__}: absent and present take other arguments")

    def kernel(*args):  # from Python (and with NUMBA_DISABLE_JIT=1)
        return (absent if args[0] is None else present)(*args)

    kernel.__name__ = kernel.__qualname__ = present.__name__
    kernel.__doc__ = present.__doc__
    kernel.__module__ = present.__module__
    kernel.__signature__ = inspect.signature(present)
    if compiles():
        trivial = _trivial(absent)
        kernel.absent = None if trivial is not None else jit(absent)  # None: no compile
        kernel.present = jit(present)
        when_absent = trivial if trivial is not None else (kernel.absent, 0)
        when_present = (kernel.present, 0)
        _forwarding(
            kernel, lambda x, *args: when_absent if isinstance(x, types.NoneType) else when_present,
            prefer_literal=False,
        )
    return kernel


def by_layout(contiguous, other):
    """The kernel ``f(x, ...)``: ``contiguous(x, ...)`` when numba types the
    array ``x`` as C-contiguous, else ``other(x, ...)`` (both kernels): a
    flat loop over a contiguous block needs ``reshape``, which numba types
    only for a contiguous layout."""

    def kernel(x, *args):  # from Python (and with NUMBA_DISABLE_JIT=1)
        return (contiguous if x.flags.c_contiguous else other)(x, *args)

    kernel.__name__ = kernel.__qualname__ = getattr(contiguous, "__name__", "by_layout")
    kernel.__module__ = getattr(contiguous, "__module__", __name__)
    if compiles():
        _forwarding(
            kernel,
            lambda x, *args: (contiguous if isinstance(x, types.Array) and x.layout == "C" else other, 0),
            prefer_literal=False,
        )
    return kernel


#: whether a fit's kernels are compiled for what its configuration uses
#: only (``SKDEEP_SPECIALISE``, on unless set to ``0``): for the codes of its
#: activation and optimizer (the loss is always chosen at run time, see
#: ``Network.spec``), without the code of the cheap options it leaves off
#: (``option``) and, for dense input, without the sparse-input code. Off, one
#: longer compile serves every code and option: for a grid over those
#: parameters, and for the test suite, which uses most combinations.
SPECIALISE = os.environ.get("SKDEEP_SPECIALISE", "1") != "0"


def option(value, on):
    """A cheap option's argument for the kernels: ``value`` when the option
    is ``on``, None when it is off and ``SPECIALISE`` (numba then prunes the
    option's code, as for the costly techniques), else ``value``, whose zeros
    switch the option off at run time in the one compile that serves every
    configuration."""
    return value if on or not SPECIALISE else None


class Constant(int):
    """An integer that the kernels see as a compile-time constant (numba's
    ``IntegerLiteral``): each value compiles a specialisation of its own, in
    which ``switch`` keeps only the kernel the value selects.

    The codes of the activations and optimizers are Constants.
    numba's dispatcher cannot fingerprint an int subclass in C and types
    such an argument in Python at each call: pass Constants alone or in a
    record (``records``), whose type is then looked up in a cache.
    """

    __slots__ = ()  # and no __repr__ of its own: llvmlite writes constants with str()


@typeof_impl.register(Constant)
def _typeof_constant(value, context):
    return types.IntegerLiteral(int(value))


def kernel_code(code):
    """``code`` as the kernels should get it: a Constant when
    ``SPECIALISE``, else a plain int."""
    return Constant(code) if SPECIALISE else int(code)


def switch(name, kernels):
    """The kernel ``f(code, *args)``: ``kernels[code](*args)``.

    With a compile-time constant ``code`` (a ``Constant`` passed from
    Python, or a global constant) the choice is made when numba types the
    call, so the caller compiles only the kernel ``code`` selects and calls
    it; with an integer variable, at run time among all of them
    (``SPECIALISE`` off), by a chain of comparisons written into the caller
    (``_forwarding``). From Python, ``f`` makes the choice at run time.
    """
    arity = {len(inspect.signature(getattr(k, "py_func", k)).parameters) for k in kernels.values()}
    if len(arity) != 1:
        raise TypeError(f"{name}: the kernels take different numbers of arguments")
    inlined = [k for k in kernels.values() if getattr(k, "targetoptions", {}).get("inline") == "always"]
    if inlined:  # numba inlines those into a caller's IR, which a switch does not have
        raise TypeError(f"{name}: a switch cannot choose an inline_jit kernel")

    def kernel(code, *args):  # from Python (and with NUMBA_DISABLE_JIT=1)
        return kernels[code](*args)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.kernels = kernels
    kernel.compiled = set()  # the codes compiled in this process; None: all

    def choose(code, *args):
        if isinstance(code, types.IntegerLiteral):
            if code.literal_value not in kernels:
                raise errors.NumbaValueError(f"{name}: unknown code {code.literal_value}")
            kernel.compiled.add(code.literal_value)
            return (kernels[code.literal_value], 1)
        if isinstance(code, types.Integer):
            kernel.compiled.add(None)
            return ("chain", name, list(kernels.items()))
        raise errors.NumbaTypeError(f"{name}: the code must be an integer, got {code}")

    if compiles():
        _forwarding(kernel, choose, prefer_literal=True)
    return kernel


def is_kernel(function):
    """Whether ``function`` is a kernel made by the decorators here: a numba
    dispatcher, or with ``NUMBA_DISABLE_JIT=1`` the Python function itself."""
    if compiles():
        return hasattr(function, "py_func")
    return isinstance(function, pytypes.FunctionType)


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
