"""Shared fixtures: small data sets, so that the whole suite runs in minutes."""

import copy
import dataclasses
import os

# one compile of the engine for every activation, optimizer and cheap option
# (the suite uses most combinations, and compiling each made its cold run
# several times longer): set before skdeep is imported, and inherited by the tests' child
# processes. Tests of the specialisation set it themselves.
os.environ.setdefault("SKDEEP_SPECIALISE", "0")

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.preprocessing import StandardScaler

from skdeep._kernels._jit import remove_stale_caches

# numba's cache does not notice edits of a kernel's callees in other modules
remove_stale_caches()

DTYPES = [np.float32, np.float64]
#: relative tolerance of numerical comparisons per dtype
RTOL = {np.float32: 2e-4, np.float64: 1e-10}


@pytest.fixture(scope="session")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[::3], y[::3]  # 599 rows keep the tests quick
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _same(a, b, path):
    if isinstance(a, np.random.Generator):
        assert a.bit_generator.state == b.bit_generator.state, path
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {set(a) ^ set(b)} differ"
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        _same(vars(a), vars(b), path)
    elif hasattr(a, "__dict__") and not isinstance(a, type) and type(a).__module__.startswith(("skdeep", "sklearn")):
        _same(vars(a), vars(b), path)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def snapshot(estimator):
    """A deep copy of the estimator's state, for ``assert_unchanged``."""
    return copy.deepcopy(estimator.__dict__)


def assert_unchanged(estimator, before):
    """The estimator's state equals the snapshot ``before``, array for array."""
    _same(before, estimator.__dict__, type(estimator).__name__)


@pytest.fixture(scope="session")
def dask_client():
    """One distributed.LocalCluster for the session (2 workers, 1 thread
    each), in this process: tasks and data movement as on a real cluster,
    without starting processes that would compile the engine again."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
