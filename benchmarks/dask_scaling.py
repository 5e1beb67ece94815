"""Scale-out on Dask: time per epoch (Adam) and per L-BFGS iteration on a
``distributed.LocalCluster`` of 1 and 2 worker processes against the
in-memory fit, and the peak memory of the client and of each worker.

The data are generated on the workers (``dask.array.random``), so the
client of a cluster run never holds them; the in-memory baseline computes
them on the client, and runs last, because a process's peak memory only
grows. Each worker process loads the engine from numba's on-disk cache,
which a warm-up fit in this process fills first.

    python benchmarks/dask_scaling.py                      # 2 000 000 x 100 float32
    python benchmarks/dask_scaling.py --rows 20000 --features 20 --partitions 4

Figures are only meaningful on an otherwise idle machine.
"""

import argparse
import resource
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

warnings.simplefilter("ignore", ConvergenceWarning)


def _peak_mb():
    """This process's peak resident memory in MB (Linux: ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(rows, features, partitions, seed=0):
    """A linearly separable-ish problem as float32 Dask arrays, made on the workers."""
    import dask.array as da

    chunks = -(-rows // partitions)
    state = da.random.RandomState(seed)
    X = state.standard_normal((rows, features), chunks=(chunks, features)).astype(np.float32)
    w = np.random.default_rng(seed).standard_normal(features).astype(np.float32)
    y = (X @ w > 0).astype(np.int64)
    return X, y


def _per_epoch(est):
    """Median seconds per epoch (or solver iteration) from ``history_``."""
    return float(np.median([record["seconds"] for record in est.history_]))


def _fits(X, y, args):
    from skdeep import MLPClassifier

    hidden = tuple(args.hidden)
    adam = MLPClassifier(hidden, max_iter=args.epochs, random_state=0).fit(X, y)
    lbfgs = MLPClassifier(hidden, solver="lbfgs", max_iter=args.iterations, random_state=0).fit(X, y)
    return _per_epoch(adam), _per_epoch(lbfgs)


def main(args):
    from distributed import Client, LocalCluster

    from skdeep import MLPClassifier

    # warm-up: compile (or load) the engine's configurations once, here
    Xw, yw = np.random.default_rng(0).standard_normal((256, args.features)).astype(np.float32), np.arange(256) % 2
    MLPClassifier(tuple(args.hidden), max_iter=1).fit(Xw, yw)
    MLPClassifier(tuple(args.hidden), solver="lbfgs", max_iter=1).fit(Xw, yw)

    rows = []
    for n_workers in args.workers:
        with LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            memory_limit=0,
        ) as cluster, Client(cluster) as client:
            X, y = _data(args.rows, args.features, args.partitions)
            X, y = client.persist([X, y])
            started = time.perf_counter()
            epoch, iteration = _fits(X, y, args)
            total = time.perf_counter() - started
            workers = client.run(_peak_mb)
            rows.append((f"cluster, {n_workers} worker(s)", epoch, iteration, total, _peak_mb(), sorted(workers.values())))
    X, y = _data(args.rows, args.features, args.partitions)
    X, y = X.compute(), y.compute()
    started = time.perf_counter()
    epoch, iteration = _fits(X, y, args)
    rows.append(("in memory", epoch, iteration, time.perf_counter() - started, _peak_mb(), []))

    print(
        f"{args.rows} x {args.features} float32, {args.partitions} partitions, hidden "
        f"{tuple(args.hidden)}, {args.epochs} Adam epochs + {args.iterations} L-BFGS iterations"
    )
    print(f"{'':24s} {'s/epoch':>9s} {'s/L-BFGS it':>12s} {'total s':>9s} {'client MB':>10s}  workers' peak MB")
    for name, epoch, iteration, total, client_mb, worker_mb in rows:
        workers = ", ".join(f"{m:.0f}" for m in worker_mb) or "-"
        print(f"{name:24s} {epoch:9.3f} {iteration:12.3f} {total:9.1f} {client_mb:10.0f}  {workers}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    main(parser.parse_args())
