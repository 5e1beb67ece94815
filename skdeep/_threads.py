"""How many threads the engine uses, so that it never oversubscribes the cores.

The engine runs a data-parallel epoch on ``n`` workers, each calling BLAS
single-threaded. ``n`` follows the BLAS thread limit in force (what
``threadpoolctl.threadpool_limits`` or joblib's ``n_jobs`` set for the worker),
so that ``with threadpool_limits(1): est.fit(X, y)`` and ``GridSearchCV(...,
n_jobs=2)`` both run one engine thread per fit. It is also bounded by numba's
thread count and by how many rows a batch gives each worker.

The parallel epoch needs a thread-safe numba threading layer (OpenMP or TBB):
numba's fallback ``workqueue`` layer aborts the process when two threads launch
parallel work at once. GNU OpenMP is not fork-safe either, so a process forked
after the engine ran uses one worker.
"""

import importlib
import os
from contextlib import nullcontext

import numba
from threadpoolctl import ThreadpoolController

#: fewest rows of a mini-batch per shard: below it, synchronising the
#: workers costs more than the work it shares
MIN_ROWS_PER_WORKER = 16
#: most shards per batch (each holds a gradient buffer of the full size)
MAX_SHARDS = 8

_controller = None
_forked = False


def _mark_forked():
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_mark_forked)


def _blas():
    global _controller
    if _controller is None:
        # load the BLAS numba calls (scipy's) first: threadpoolctl only
        # controls libraries loaded when the controller is made
        import scipy.linalg.cython_blas  # noqa: F401

        _controller = ThreadpoolController()
    return _controller.select(user_api="blas")


def _threadsafe_layer():
    if numba.config.THREADING_LAYER == "workqueue":
        return False
    for module in ("numba.np.ufunc.tbbpool", "numba.np.ufunc.omppool"):
        try:
            importlib.import_module(module)
            return True
        except ImportError:
            continue
    return False


_THREADSAFE = _threadsafe_layer()


def blas_thread_limit():
    """The number of threads BLAS may use now (1 if no BLAS is visible)."""
    info = _blas().info()
    return min((lib["num_threads"] for lib in info), default=1)


def engine_shards(batch_size):
    """Shards per mini-batch of ``batch_size`` rows: one per core, at most
    ``MAX_SHARDS``, and at least ``MIN_ROWS_PER_WORKER`` rows each. It does
    not depend on the threads a fit may use, so neither do the results."""
    cores = min(os.cpu_count() or 1, MAX_SHARDS)
    return max(1, min(cores, batch_size // MIN_ROWS_PER_WORKER))


def engine_workers(n_shards):
    """Threads for a parallel epoch over ``n_shards`` shards."""
    if _forked or not _THREADSAFE:
        return 1
    return max(1, min(n_shards, blas_thread_limit(), numba.get_num_threads()))


def single_threaded_blas(active=True):
    """A context in which BLAS runs one thread (when ``active``): each
    worker of a parallel epoch calls it on its own core."""
    return _blas().limit(limits=1) if active else nullcontext()
