"""Same seed -> bit-identical model; pickle/joblib round trips; threads."""

import copy
import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier, MLPRegressor

from .conftest import DTYPES

CONFIGS = [
    dict(solver="adam"),
    dict(solver="sgd", momentum=0.5),
    dict(solver="lbfgs"),
    dict(solver="adam", early_stopping=True, n_iter_no_change=3),
    dict(solver="sgd", shuffle=False, batch_size=16),
]


def _fit(cls, X, y, **params):
    est = cls(hidden_layer_sizes=(12, 7), max_iter=15, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("params", CONFIGS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_gives_bit_identical_weights(params, dtype, digits):
    X, y = digits
    X = X.astype(dtype)
    a = _fit(MLPClassifier, X, y, random_state=3, **params)
    b = _fit(MLPClassifier, X, y, random_state=3, **params)
    np.testing.assert_array_equal(a._theta, b._theta)
    assert a.loss_curve_ == b.loss_curve_
    c = _fit(MLPClassifier, X, y, random_state=4, **params)
    assert not np.array_equal(a._theta, c._theta)


def test_random_state_instance_is_used(iris):
    X, y = iris
    a = _fit(MLPClassifier, X, y, random_state=np.random.RandomState(0))
    b = _fit(MLPClassifier, X, y, random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(a._theta, b._theta)


def test_partial_fit_sequence_is_reproducible(digits):
    X, y = digits

    def run():
        est = MLPClassifier((10,), random_state=0)
        for chunk in np.array_split(np.arange(len(y)), 4):
            est.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
        return est

    np.testing.assert_array_equal(run()._theta, run()._theta)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pickle_round_trip(cls, dtype, iris):
    X, y = iris
    X = X.astype(dtype)
    est = _fit(cls, X, y, random_state=0)
    clone = pickle.loads(pickle.dumps(est))
    predict = "predict_proba" if cls is MLPClassifier else "predict"
    np.testing.assert_array_equal(getattr(clone, predict)(X), getattr(est, predict)(X))
    # the flat vector is stored once and the views are rebuilt
    for array in clone.coefs_ + clone.intercepts_:
        assert np.shares_memory(array, clone._theta)
    # a deep copy behaves the same
    np.testing.assert_array_equal(getattr(copy.deepcopy(est), predict)(X), getattr(est, predict)(X))


def test_pickle_keeps_replaced_coefs(iris):
    X, y = iris
    est = _fit(MLPClassifier, X, y, random_state=0)
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict_proba(X), est.predict_proba(X))
    assert all(not c.any() for c in clone.coefs_)


def test_joblib_memory_mapped_model_predicts(tmp_path, iris):
    X, y = iris
    est = _fit(MLPClassifier, X, y, random_state=0)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path, mmap_mode="r")
    assert not loaded._theta.flags.writeable
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    # training continues from a read-only model without touching the file
    loaded.set_params(warm_start=True, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loaded.fit(X, y)
    np.testing.assert_array_equal(joblib.load(path)._theta, est._theta)


def test_fits_in_threads_match_sequential_fits(digits):
    """Kernels release the GIL; concurrent fits do not share state."""
    X, y = digits
    seeds = range(4)
    sequential = [_fit(MLPClassifier, X, y, random_state=s)._theta for s in seeds]
    parallel = joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(_fit)(MLPClassifier, X, y, random_state=s) for s in seeds
    )
    for a, b in zip(sequential, parallel):
        np.testing.assert_array_equal(a, b._theta)


_CHILD = """
import sys, warnings
import numpy as np
from sklearn.datasets import load_iris
from skdeep import MLPClassifier
warnings.simplefilter("ignore")
X, y = load_iris(return_X_y=True)
est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, batch_size=32, random_state=0)
est.fit(X.astype(np.float32), y)
sys.stdout.write(est._theta.tobytes().hex())
"""


def test_the_process_that_compiles_gets_the_bits_of_those_that_load(tmp_path):
    """A fit in a fresh process with an empty cache (which compiles the
    kernels) and the same fit in a process that loads them from that cache
    give bit-identical weights: the machine code of each kernel calls its
    own copies of the kernels it calls (``_jit._SelfContainedLibrary``).
    With numba's weak symbols the compiling process ran the callees' own
    libraries, optimised apart, and Adam in float32 gave other bits. The specialised kernels
    (the default) and LLVM's optimisation on (``NUMBA_OPT=1``, enough to
    form the FMAs that differed; 0 would not)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_OPT": "1", "SKDEEP_SPECIALISE": "1"}

    def weights():
        done = subprocess.run(
            [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env,
            check=True, timeout=600,
        )
        return np.frombuffer(bytes.fromhex(done.stdout), dtype=np.float32)

    compiled = weights()
    assert any(tmp_path.rglob("*.nbc"))  # the first process compiled and cached
    loaded = weights()
    assert np.isfinite(compiled).all() and compiled.size == 4 * 8 + 8 + 8 * 3 + 3
    np.testing.assert_array_equal(compiled, loaded)


_CHILD_ACTIVATION = _CHILD.replace("batch_size=32,", "batch_size=32, activation=sys.argv[1],")


def test_a_kernel_compiled_over_cached_callees_gets_the_bits_of_a_fresh_compile(tmp_path):
    """A fit whose engine is compiled in a process that loads the kernels it
    shares with an earlier configuration from the cache (they link the
    module the cache keeps, ``_jit._LazyLibrary``) gives the bits of the same
    fit compiled from an empty cache."""
    def weights(cache, activation):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "SKDEEP_SPECIALISE": "1"}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_ACTIVATION, activation], capture_output=True, text=True,
            env=env, check=True, timeout=600,
        )
        return np.frombuffer(bytes.fromhex(done.stdout), dtype=np.float32)

    weights(tmp_path / "shared", "relu")
    over_cached = weights(tmp_path / "shared", "tanh")
    fresh = weights(tmp_path / "empty", "tanh")
    assert np.isfinite(fresh).all()
    np.testing.assert_array_equal(over_cached, fresh)
