"""The compiled epoch: parallel workers, determinism, thread policy."""

import multiprocessing
import os
import threading
import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import skdeep._kernels.training as training
import skdeep._threads as threads
from skdeep import MLPAutoencoder, MLPClassifier
from skdeep._kernels._sync import atomic_compare_exchange, atomic_fetch_add, claim
from skdeep._network import Inputs, Network
from skdeep._training import Progress, StochasticLoop, TrainSet
from skdeep.optim import Adam
from skdeep.regularization import Regularization
from skdeep.schedules import Constant

#: regularisation settings under which the engine must stay deterministic
SETTINGS = {
    "none": {},
    "random": dict(
        dropout=np.array([0.3]), input_noise=0.1, input_dropout=0.1, weight_noise=0.01,
        dropconnect=0.2,
    ),
    "penalties": dict(l1=1e-2, max_norm=1.0, activity_l1=1e-3),
    "adversarial": dict(adversarial_eps=0.05, adversarial_steps=3),
}


def _loop(X, Y, n_shards, n_workers, seed=0, **reg):
    network = Network([X.shape[1], 16, Y.shape[1]], "tanh", "log_loss")
    rng = np.random.default_rng(seed)
    theta = rng.normal(scale=0.3, size=network.n_params)
    progress = Progress(optimizer=Adam().start(network.n_params, theta.dtype))
    reg = {"l2": 1e-3, "dropout": np.zeros(1), **reg}
    loop = StochasticLoop(
        network=network, theta=theta,
        train=TrainSet(Inputs(X, np.float64), Y, np.ones(len(Y))),
        validation=None, progress=progress, schedule=Constant(), lr_init=0.01,
        reg=Regularization(**reg), batch_size=64, shuffle=True, rng=rng, tol=0.0,
        n_iter_no_change=100, verbose=False,
    )
    loop.prepare(n_shards, n_workers)
    losses = [loop._run_epoch(0.01) for _ in range(3)]
    return theta, losses, progress.optimizer.counters[0]


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    Y = np.eye(3)[rng.integers(0, 3, 300)]
    return X, Y


@pytest.mark.parametrize("setting", SETTINGS)
def test_results_do_not_depend_on_the_number_of_workers(problem, setting):
    """Random numbers are keyed by step and shard, sums run in shard order:
    one thread or two give the same bits, regularisers included."""
    X, Y = problem
    one = _loop(X, Y, n_shards=2, n_workers=1, **SETTINGS[setting])
    two = _loop(X, Y, n_shards=2, n_workers=2, **SETTINGS[setting])
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1] == two[1] and one[2] == two[2] == 3 * 5  # 5 batches of 64


def test_workers_cannot_deadlock_when_run_one_after_the_other(problem, monkeypatch):
    """If the pool's threads start only after the calling thread's worker has
    finished, that worker claims all the work and the others find none left."""
    X, Y = problem
    reference = _loop(X, Y, n_shards=2, n_workers=2)
    ran = []

    def one_after_the_other(worker, n_workers, *args):
        ran.append(n_workers)
        result = worker(*args)
        for _ in range(n_workers - 1):
            worker(*args)
        return result

    monkeypatch.setattr(training, "run_workers", one_after_the_other)
    serial = _loop(X, Y, n_shards=2, n_workers=2)
    assert ran == [2, 2, 2]
    np.testing.assert_array_equal(serial[0], reference[0])
    np.testing.assert_array_equal(serial[1], reference[1])


def test_pool_threads_run_the_workers_at_the_same_time():
    started = threading.Barrier(2, timeout=10)

    def worker(tag):
        started.wait()  # returns only once both workers are running
        return threading.current_thread().name, tag

    assert threads.run_workers(worker, 2, "x") == (threading.current_thread().name, "x")


def _two_worker_theta(X, Y):
    return _loop(X, Y, n_shards=2, n_workers=2)[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_trains_on_a_pool_of_its_own(problem):
    """The parent's pool threads do not exist in a forked child: it must not
    wait for them, but start its own."""
    X, Y = problem
    parent = _two_worker_theta(X, Y)
    assert threads._pool is not None
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_two_worker_theta, (X, Y)).get(timeout=120)
    np.testing.assert_array_equal(child, parent)


def test_shards_change_summation_but_not_the_model(problem):
    X, Y = problem
    one = _loop(X, Y, n_shards=1, n_workers=1)
    four = _loop(X, Y, n_shards=4, n_workers=2)
    np.testing.assert_allclose(one[0], four[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(one[1], four[1], rtol=1e-12)


@numba.njit(parallel=True)
def _claim_all(counters, n_items, taken):
    for _worker in numba.prange(2):
        while True:
            item = claim(counters, 0, n_items)
            if item < 0:
                break
            taken[item] += 1


@numba.njit
def _fetch_add(a, i, v):
    return atomic_fetch_add(a, i, v)


@numba.njit
def _compare_exchange(a, i, expected, value):
    return atomic_compare_exchange(a, i, expected, value)


def test_atomics():
    a = np.zeros(3, dtype=np.int64)
    assert _fetch_add(a, 1, 5) == 0 and a[1] == 5
    assert _compare_exchange(a, 1, 4, 9) == 5 and a[1] == 5  # no swap
    assert _compare_exchange(a, 1, 5, 9) == 5 and a[1] == 9
    taken = np.zeros(10_000, dtype=np.int64)
    _claim_all(np.zeros(1, dtype=np.int64), 10_000, taken)
    assert (taken == 1).all()  # every item claimed exactly once


def test_workers_follow_the_blas_thread_limit():
    with threadpool_limits(1, user_api="blas"):
        assert threads.engine_workers(4) == 1
    assert threads.engine_workers(1) == 1
    assert threads.engine_shards(8) == 1  # fewer than 16 rows per shard
    assert threads.engine_shards(10_000) <= threads.MAX_SHARDS


def test_a_pass_that_runs_alone_gets_the_workers_blas_threads_back(monkeypatch, digits):
    """Inside a parallel epoch's single-threaded BLAS, the validation pass
    (and a self-paced curriculum's) runs BLAS on the epoch's workers'
    threads; the single-threaded limit is back afterwards."""
    seen = []
    original = Network.predict

    def spy(self, *args, **kwargs):
        seen.append(threads.blas_thread_limit())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Network, "predict", spy)
    with threads.single_threaded_blas():
        with threads.blas_threads(2):
            assert threads.blas_thread_limit() == 2
        assert threads.blas_thread_limit() == 1
    X, y = digits
    # every core for BLAS, whatever limit earlier code left in this process
    # (under pytest-xdist the test was skipped once for a limit of 1)
    with threadpool_limits(limits=os.cpu_count(), user_api="blas"):
        workers = threads.engine_workers(threads.engine_shards(200))  # the fit's batches of 200
        if workers < 2:
            pytest.skip("one core: the epochs run on one thread, BLAS is not limited")
        MLPClassifier((32,), early_stopping=True, max_iter=2, random_state=0).fit(X, y)
    assert len(seen) == 2 and min(seen) >= workers  # 1 before the passes got the threads back


def test_model_is_the_same_with_a_blas_limit(digits):
    """A fit inside threadpool_limits (as in a joblib worker) gives the same
    model as one with every thread."""
    X, y = digits
    params = dict(hidden_layer_sizes=(32,), batch_size=64, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free = MLPClassifier(**params).fit(X, y)
        with threadpool_limits(1, user_api="blas"):
            limited = MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(free._theta, limited._theta)


#: estimator settings that switch on each technique the epoch kernel gets as
#: a separate, None-able argument
TECHNIQUES = {
    "weight_noise": dict(weight_noise=0.01),
    "adversarial": dict(adversarial_eps=0.05),
    "tangent": dict(tangent_prop=0.1),
    "batch_norm": dict(batch_norm=True),
    "contractive": dict(contractive=0.1),  # the autoencoder's
    "probe": dict(solver="adahessian"),
}


@pytest.mark.parametrize("on", [None, *TECHNIQUES])
def test_the_epoch_kernel_is_specialised_on_the_techniques_in_use(monkeypatch, on):
    """A technique that is off reaches the kernel as None, so the compiled
    specialisation (the one this call ran) has no code for it."""
    import inspect

    calls = []
    kernel = training.worker_epoch

    def recording(*args):
        calls.append(args)
        return kernel(*args)

    monkeypatch.setattr(training, "worker_epoch", recording)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = rng.integers(0, 2, 40)
    fit_params = {"tangents": rng.normal(size=(40, 1, 4))} if on == "tangent" else {}
    if on == "contractive":
        est, y = MLPAutoencoder(hidden_layer_sizes=(4,), max_iter=1, contractive=0.1), None
    else:
        est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, **TECHNIQUES.get(on, {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, **fit_params)
    names = list(inspect.signature(kernel.py_func).parameters)
    types = tuple(numba.typeof(a) for a in calls[-1])
    assert types in kernel.signatures  # the specialisation that ran
    techniques = types[names.index("techniques")]
    assert list(techniques.fields) + ["probe"] == list(TECHNIQUES)
    members = dict(zip(techniques.fields, techniques.types), probe=types[names.index("probe")])
    for name, member in members.items():
        assert (member == numba.types.none) == (name != on), name


_ALLOCATIONS = """
import json, sys, warnings
import numpy as np
from numba.core.runtime import rtsys
from skdeep import MLPClassifier

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.normal(size=(2048, 6))
y = (X[:, 0] > 0).astype(int)
counts = {}
T = rng.normal(size=(2048, 2, 6))
for name, params in json.loads(sys.argv[1]).items():
    fit = {"tangents": T} if "tangent_prop" in params else {}
    first = {key: value[:64] for key, value in fit.items()}
    MLPClassifier(hidden_layer_sizes=(8, 4), batch_size=32, max_iter=1, random_state=0, **params).fit(X[:64], y[:64], **first)
    counts[name] = []
    for rows in (128, 2048):  # 4 and 64 batches per epoch
        before = rtsys.get_allocation_stats().alloc
        MLPClassifier(
            hidden_layer_sizes=(8, 4), batch_size=32, max_iter=2, tol=0.0,
            n_iter_no_change=99, random_state=0, **params,
        ).fit(X[:rows], y[:rows], **{key: value[:rows] for key, value in fit.items()})
        counts[name].append(rtsys.get_allocation_stats().alloc - before)
print(json.dumps(counts))
"""


def test_nothing_is_allocated_per_batch():
    """numba's own allocation count (``NUMBA_NRT_STATS``) of a fit is the
    same with 4 and with 64 batches per epoch, for the plain engine and for
    every technique with buffers of its own, tangent propagation included.
    (``RZ[i] += vb`` in the Hessian-vector product and the
    batch-normalisation sums each allocated once per batch.)"""
    import json
    import subprocess
    import sys

    settings = {
        "plain": {}, "batch_norm": {"batch_norm": True},
        "random": {
            "dropout": 0.3, "input_dropout": 0.1, "input_noise": 0.1, "weight_noise": 0.01,
            "dropconnect": 0.2,
        },
        "adahessian": {"solver": "adahessian"}, "adversarial": {"adversarial_eps": 0.1},
        "constraints": {"max_norm": 1.0, "clip_grad_norm": 1.0, "average": True},
        "tangent_prop": {"tangent_prop": 0.1},
    }
    done = subprocess.run(
        [sys.executable, "-c", _ALLOCATIONS, json.dumps(settings)], capture_output=True, text=True,
        env={**os.environ, "NUMBA_NRT_STATS": "1"}, check=True, timeout=600,
    )
    counts = json.loads(done.stdout.splitlines()[-1])
    assert set(counts) == set(settings)
    for name, (few, many) in counts.items():
        assert few > 0, name  # the counter works (arguments are unboxed)
        assert many == few, (name, few, many)


_LOADING = """
import json, sys, warnings
import numpy as np
import scipy.sparse as sp
from numba.core import base, caching

if sys.argv[1] == "stock":  # numba's own loading, with its context refresh
    import skdeep._kernels._jit as jit
    jit._FastLoadingCache.load_overload = caching.Cache.load_overload
refreshes = []
refresh = base.BaseContext.refresh
base.BaseContext.refresh = lambda self: (refreshes.append(1), refresh(self))[1]

from skdeep import MLPClassifier, MLPRegressor

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.normal(size=(96, 5)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(int)
fits = {
    "adam": (MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0), X),
    "sgd_random_bn": (MLPClassifier(
        hidden_layer_sizes=(8, 4), solver="sgd", dropout=0.2, weight_noise=0.01, batch_norm=True,
        batch_size=32, max_iter=3, random_state=0), X),
    "lbfgs": (MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=5, random_state=0), X),
    "newton": (MLPClassifier(hidden_layer_sizes=(3,), solver="newton", max_iter=2, random_state=0), X),
    "sparse": (MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0), sp.csr_array(X)),
}
out = {}
for name, (est, data) in fits.items():
    est.fit(data, y)
    out[name] = [float(est.loss_), np.asarray(est.predict(data), dtype=float).tolist()]
print(json.dumps({"refreshes": len(refreshes), "results": out}))
"""


def test_a_warm_cache_loads_the_kernels_without_numba_refreshing(tmp_path):
    """A fresh process whose kernels are all cached loads them without
    numba's context refresh (``_jit._FastLoadingCache``: most of a first
    fit's start-up), and its models are those of numba's own loading: fits
    with the adam, sgd (with dropout, weight noise and batch norm), L-BFGS
    and Newton kernels, and on sparse input."""
    import json
    import subprocess
    import sys

    def child(mode):
        done = subprocess.run(
            [sys.executable, "-c", _LOADING, mode], capture_output=True, text=True, check=True, timeout=600,
        )
        return json.loads(done.stdout.splitlines()[-1])

    stock = child("stock")  # compiles what is not cached yet
    fast = child("fast")
    assert fast["refreshes"] == 0
    assert fast["results"] == stock["results"]


def _wrapper_address(dispatcher, sig):
    dispatcher.compile(sig)
    result = dispatcher.overloads[sig]
    return result.library.get_pointer_to_function(result.fndesc.llvm_cpython_wrapper_name)


def test_inner_kernels_have_no_python_wrapper_and_python_calls_reach_a_twin():
    """A kernel that only kernels call is compiled without numba's CPython
    wrapper; a call from Python runs a twin compiled with it, cached in a
    file of its own (numba's cache does not key on the options: a shared
    file could hand the twin the wrapper-less code, which would crash)."""
    from skdeep._kernels import _jit
    from skdeep._kernels.linalg import copy_vector as inner

    vector = numba.float64[::1]
    assert isinstance(inner, _jit._InnerKernel)
    assert _wrapper_address(inner, (vector, vector)) == 0
    assert _wrapper_address(numba.njit(inner.py_func), (vector, vector)) != 0  # the measure's control
    source, target = np.arange(3.0), np.zeros(3)
    inner(source, target)
    np.testing.assert_array_equal(target, source)
    twin = inner._twin
    assert not isinstance(twin, _jit._InnerKernel)
    assert _wrapper_address(twin, (vector, vector)) != 0
    assert twin._cache._cache_file._index_name != inner._cache._cache_file._index_name
    assert not isinstance(training.worker_epoch, _jit._InnerKernel)


def test_llvm_compiles_machine_code_only_for_the_kernels_python_calls():
    """A kernel that only kernels call keeps its module for its callers to
    link: LLVM neither optimises it on its own nor generates machine code
    for it (``_jit._LazyLibrary``); the kernel Python calls optimises and
    compiles the tree once, and runs. Machine code of the inner kernel is
    still made when asked for. numba's library class is left as it was for
    code that is not skdeep's."""
    from numba.core.caching import NullCache
    from numba.core.codegen import JITCodeLibrary

    from skdeep._kernels import _jit

    if _jit._HOOKS is None:
        pytest.skip("plain numba")

    def add_one(x, out):
        for i in range(x.size):
            out[i] = x[i] + 1.0

    options = {"nogil": True, "error_model": "numpy"}
    inner = _jit._dispatcher(add_one, {**options, **_jit._INNER_OPTIONS}, _jit._InnerKernel)

    def call_it(x, out):
        inner(x, out)

    entry = _jit._dispatcher(call_it, options, _jit._Dispatcher)
    for kernel in (inner, entry):
        kernel._cache = NullCache()  # compiled here, not loaded
    x, out = np.arange(4.0), np.zeros(4)
    entry(x, out)
    np.testing.assert_array_equal(out, x + 1)

    [inner_result] = inner.overloads.values()
    [entry_result] = entry.overloads.values()
    library = inner_result.library
    assert isinstance(library, _jit._LazyLibrary) and not library._materialised
    engine = library._codegen._engine
    name = inner_result.fndesc.mangled_name
    assert not engine.is_symbol_defined(name)
    assert entry_result.library._materialised
    assert library.get_pointer_to_function(name) != 0  # on demand
    assert library._materialised and engine.is_symbol_defined(name)

    codegen = library._codegen
    assert "_library_class" not in vars(codegen)
    plain = numba.njit(lambda v: v + 1)
    assert plain(1) == 2
    assert type(next(iter(plain.overloads.values())).library) is JITCodeLibrary


def test_llvms_lock_runs_no_callbacks_while_skdeep_compiles():
    """numba's ``numba:llvm_lock`` events are off while skdeep's
    dispatcher compiles (``_jit._Dispatcher``) and back afterwards, for
    numba's own compiles."""
    from llvmlite import binding as llvm
    from numba.core import event
    from numba.core.caching import NullCache

    from skdeep._kernels import _jit

    if _jit._HOOKS is None:
        pytest.skip("plain numba")

    def double(x):
        return 2.0 * x

    kernel = _jit._dispatcher(double, {"nogil": True, "error_model": "numpy"}, _jit._Dispatcher)
    kernel._cache = NullCache()
    before = list(llvm.ffi.lib._lock._cblist)
    assert before  # numba's
    with event.install_recorder("numba:llvm_lock") as ours:
        assert kernel(2.0) == 4.0
    assert llvm.ffi.lib._lock._cblist == before
    with event.install_recorder("numba:llvm_lock") as numbas:
        assert numba.njit(lambda v: 3.0 * v)(2.0) == 6.0
    assert not ours.buffer and numbas.buffer


def test_full_collections_are_rarer_while_skdeep_compiles():
    """While skdeep's dispatcher compiles, the collector's oldest-generation
    threshold is ``FULL_COLLECTION_FACTOR`` times higher, once, however
    deep the compiles nest (a caller's compile compiles its callee); the
    young generations as usual. Afterwards, and after a failed compile, the
    thresholds are the caller's again; a collector turned off by a first
    threshold of 0 is left alone, and so are thresholds something else set
    during the compile."""
    import gc

    from numba.core import event
    from numba.core.caching import NullCache

    from skdeep._kernels import _jit

    if _jit._HOOKS is None:
        pytest.skip("plain numba")
    saved = gc.get_threshold()
    gc.set_threshold(500, 7, 9)
    if gc.get_threshold() != (500, 7, 9):  # Python 3.14's incremental collector
        gc.set_threshold(*saved)
        pytest.skip("no third threshold")
    seen = []

    class Listener(event.Listener):
        def on_start(self, e):
            seen.append((e.data["dispatcher"].py_func.__name__, gc.get_threshold()))

        def on_end(self, e):
            pass

    def make(function):
        kernel = _jit._dispatcher(function, {"nogil": True, "error_model": "numpy"}, _jit._Dispatcher)
        kernel._cache = NullCache()
        return kernel

    def triple(x):
        return 3.0 * x

    inner = make(triple)

    def outer(x):
        return inner(x) + 1.0

    def broken(x):
        return x.no_such_attribute

    try:
        with event.install_listener("numba:compile", Listener()):
            assert make(outer)(2.0) == 7.0
            with pytest.raises(numba.core.errors.TypingError):
                make(broken)(2.0)
        raised = (500, 7, 9 * _jit.FULL_COLLECTION_FACTOR)
        assert seen == [("outer", raised), ("triple", raised), ("broken", raised)]
        assert gc.get_threshold() == (500, 7, 9)
        with _jit._fewer_full_collections():
            gc.set_threshold(400, 7, 9)  # another thread's, say
        assert gc.get_threshold() == (400, 7, 9)
        gc.set_threshold(0, 7, 9)
        with _jit._fewer_full_collections():
            assert gc.get_threshold() == (0, 7, 9)
        assert gc.get_threshold() == (0, 7, 9)
    finally:
        gc.set_threshold(*saved)


def test_the_library_calls_no_inner_kernel_from_python(monkeypatch):
    """skdeep's own Python code calls only the kernels declared as entry
    points (``_jit.entry_jit``): a call of an inner kernel would compile a
    twin of it, a second compile of the same code. Fits with every solver
    family and the techniques with kernels of their own, then prediction."""
    import scipy.sparse as sp

    from skdeep import MLPRegressor
    from skdeep._kernels import _jit

    callers = []
    call = _jit._InnerKernel.__call__

    def recording(self, *args, **kwargs):
        callers.append(self.py_func.__qualname__)
        return call(self, *args, **kwargs)

    monkeypatch.setattr(_jit._InnerKernel, "__call__", recording)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    settings = [
        {}, {"solver": "sgd", "dropout": 0.2, "weight_noise": 0.01, "batch_norm": True, "activity_l1": 1e-3},
        {"solver": "adahessian"}, {"adversarial_eps": 0.1}, {"solver": "lbfgs"}, {"solver": "newton"},
        {"solver": "newton-cg"}, {"solver": "cg"},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for params in settings:
            est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params).fit(X, y)
            est.predict_proba(X)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(sp.csr_array(X), y).predict(sp.csr_array(X))
        est = MLPClassifier(hidden_layer_sizes=(4,), dropout=0.2).partial_fit(X, y, classes=[0, 1])
        est.predict_mc_dropout(X, n_samples=2, random_state=0)
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, X[:, 0]).predict(X)
    assert callers == []
