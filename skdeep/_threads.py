"""How many threads the engine uses, so that it never oversubscribes the cores,
and the threads that run a parallel epoch.

The engine runs a data-parallel epoch on ``n`` workers, each calling BLAS
single-threaded. ``n`` follows the BLAS thread limit in force (what
``threadpoolctl.threadpool_limits`` or joblib's ``n_jobs`` set for the worker),
so that ``with threadpool_limits(1): est.fit(X, y)`` and ``GridSearchCV(...,
n_jobs=2)`` both run one engine thread per fit. It is also bounded by the
number of cores and by how many rows a batch gives each worker.

The workers are the calling thread and threads of a pool kept for the
process (``run_workers``); the compiled epoch releases the GIL. A process
forked from one that trained gets a fresh pool: the parent's threads do not
exist in the child (on platforms without ``fork``, such as Windows, there is
nothing to do). With ``NUMBA_DISABLE_JIT=1`` the epoch is Python, which
holds the GIL, so the calling thread does all the work alone (the same
result: see ``run_workers``).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numba
from threadpoolctl import ThreadpoolController

#: fewest rows of a mini-batch per shard: below it, synchronising the
#: workers costs more than the work it shares
MIN_ROWS_PER_WORKER = 16
#: most shards per batch (each holds a gradient buffer of the full size)
MAX_SHARDS = 8

_controller = None
_pool = None


def _forget_pool():
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_forget_pool)


def _blas():
    global _controller
    if _controller is None:
        # load the BLAS numba calls (scipy's) first: threadpoolctl only
        # controls libraries loaded when the controller is made
        import scipy.linalg.cython_blas  # noqa: F401

        _controller = ThreadpoolController()
    return _controller.select(user_api="blas")


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
    return max(1, min(n_shards, blas_thread_limit(), os.cpu_count() or 1))


def single_threaded_blas(active=True):
    """A context in which BLAS runs one thread (when ``active``): each
    worker of a parallel epoch calls it on its own core."""
    return _blas().limit(limits=1) if active else nullcontext()


def blas_threads(n_threads):
    """A context in which BLAS runs ``n_threads`` threads: a pass that runs
    alone inside a parallel epoch's single-threaded context (validation, a
    self-paced curriculum's losses) gets the cores the epoch's workers had."""
    return _blas().limit(limits=n_threads) if n_threads > 1 else nullcontext()


def run_workers(worker, n_workers, *args):
    """``worker(*args)`` on ``n_workers`` threads at once: the calling thread
    and ``n_workers - 1`` threads of the pool. Returns the calling thread's
    result, once every call has returned.

    The workers share their work by claiming it (``_kernels._sync``), so the
    result does not depend on when, or whether in parallel, the pool's
    threads start.
    """
    global _pool
    if n_workers <= 1 or numba.config.DISABLE_JIT:
        return worker(*args)
    if _pool is None:
        _pool = ThreadPoolExecutor(MAX_SHARDS - 1, thread_name_prefix="skdeep")
    helpers = [_pool.submit(worker, *args) for _ in range(n_workers - 1)]
    try:
        return worker(*args)
    finally:
        _wait_for(helpers)


def run_each(function, n):
    """``function(i)`` for ``i`` in ``range(n)`` at once: ``i = 0`` on the
    calling thread, the others on the pool's threads (each call with work
    of its own, unlike ``run_workers``'s claimed items)."""
    global _pool
    if n <= 1:
        return function(0)
    if _pool is None:
        _pool = ThreadPoolExecutor(MAX_SHARDS - 1, thread_name_prefix="skdeep")
    helpers = [_pool.submit(function, i) for i in range(1, n)]
    try:
        function(0)
    finally:
        _wait_for(helpers)


def _wait_for(helpers):
    """Wait until every helper has returned, even through a
    ``KeyboardInterrupt`` (raised once they have): the caller must not go on
    while a helper still writes to the buffers they share."""
    interrupted = False
    for helper in helpers:
        while True:
            try:
                helper.result()
                break
            except KeyboardInterrupt:
                interrupted = True
    if interrupted:
        raise KeyboardInterrupt
