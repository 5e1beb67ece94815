"""Compile the engine ahead of time, for chosen configurations.

A configuration's first fit on a machine compiles the kernels it uses and
numba caches them; later processes load them in a fraction of a second (see
docs/performance.md). ``precompile`` does that compiling now, for a
container image or a CI cache, or before a grid search::

    python -m skdeep.precompile                         # the default MLPClassifier and MLPRegressor
    python -m skdeep.precompile --activation relu tanh --solver adam sgd --jobs 2
    python -m skdeep.precompile --all --dtype float32 float64

or from Python, for an estimator and the grid it will be searched over::

    from skdeep.precompile import precompile
    precompile(MLPClassifier(max_iter=300), param_grid={"activation": ["relu", "tanh"]})

Each configuration is fitted for one epoch on a few synthetic rows of the
chosen dtypes (and as a sparse matrix with ``sparse=True``) and predicts
once: what it compiles is exactly what a real fit and predict of that
configuration compile (the kernels depend on the configuration and the
dtype, not on the data's size). The cache is numba's: next to the installed
sources when they are writable, else in the directory ``NUMBA_CACHE_DIR``
names (set the same one when the image is built and when it runs).
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid

#: rows and features of the synthetic data (enough for a stratified
#: validation split of three classes with ``early_stopping``)
_N_ROWS, _N_FEATURES, _N_CLASSES = 60, 4, 3


def _data(classifier, dtype, sparse):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((_N_ROWS, _N_FEATURES)).astype(dtype)
    y = np.arange(_N_ROWS) % _N_CLASSES if classifier else rng.standard_normal(_N_ROWS)
    return (sp.csr_matrix(X) if sparse else X), y


def _compile_one(estimator, dtype, sparse):
    """Fit ``estimator`` for one epoch and predict; returns the seconds."""
    start = time.perf_counter()
    X, y = _data(is_classifier(estimator), dtype, sparse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = clone(estimator).set_params(max_iter=1).fit(X, y)
    if hasattr(fitted, "inverse_transform"):  # an autoencoder: y is ignored
        fitted.inverse_transform(fitted.transform(X))
        fitted.score_samples(X)
    else:
        fitted.predict(X)
    if is_classifier(fitted):
        fitted.predict_proba(X)
    return time.perf_counter() - start


def precompile(*estimators, param_grid=None, dtypes=("float64",), sparse=False, n_jobs=None):
    """Compile (or load from the cache) what fitting and predicting with
    each estimator uses.

    Parameters
    ----------
    *estimators : MLPClassifier, MLPRegressor or MLPAutoencoder
        Unfitted estimators with the parameters of the fits to come;
        without any, the default ``MLPClassifier()`` and ``MLPRegressor()``.
    param_grid : dict or list of dicts, default=None
        As ``GridSearchCV``'s: each estimator is compiled with every
        combination of these parameters (``sklearn.model_selection.ParameterGrid``).
    dtypes : sequence of {"float32", "float64"}, default=("float64",)
        The dtypes of the data the fits will get (each compiles apart).
    sparse : bool, default=False
        Compile for a scipy.sparse CSR ``X`` as well as for a dense one.
    n_jobs : int, default=None
        Processes that compile configurations side by side (joblib's
        meaning; None is one, in this process). Processes that need the
        same kernel compile it once: the others wait and load it.

    Returns
    -------
    timings : list of dict
        One per configuration: its ``params`` (those that differ from the
        defaults), ``dtype``, ``sparse`` and the ``seconds`` it took.
    """
    from sklearn.utils.parallel import Parallel, delayed

    from . import MLPAutoencoder, MLPClassifier, MLPRegressor

    if not estimators:
        estimators = (MLPClassifier(), MLPRegressor())
    for estimator in estimators:
        if not isinstance(estimator, (MLPClassifier, MLPRegressor, MLPAutoencoder)):
            raise TypeError(
                "precompile takes skdeep's MLPClassifier, MLPRegressor or MLPAutoencoder, "
                f"got {type(estimator).__name__}"
            )
    dtypes = [np.dtype(d) for d in dtypes]
    for dtype in dtypes:
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtypes must be float32 or float64, got {dtype}")
    grid = list(ParameterGrid(param_grid)) if param_grid is not None else [{}]
    jobs = [
        (clone(estimator).set_params(**params), params, dtype, is_sparse)
        for estimator in estimators
        for params in grid
        for dtype in dtypes
        for is_sparse in ([False, True] if sparse else [False])
    ]
    seconds = Parallel(n_jobs=n_jobs)(delayed(_compile_one)(est, d, s) for est, _, d, s in jobs)
    return [
        {"estimator": type(est).__name__, "params": {**_changed(est), **params},
         "dtype": dtype.name, "sparse": is_sparse, "seconds": s}
        for (est, params, dtype, is_sparse), s in zip(jobs, seconds)
    ]


def _changed(estimator):
    """The parameters of ``estimator`` that are not its class's defaults."""
    default = type(estimator)().get_params(deep=False)
    return {k: v for k, v in estimator.get_params(deep=False).items() if repr(v) != repr(default[k])}


def main(argv=None):
    from . import MLPAutoencoder, MLPClassifier, MLPRegressor
    from ._kernels.activations import ACTIVATIONS
    from .optim import FIRST_ORDER, FULL_BATCH

    parser = argparse.ArgumentParser(
        prog="python -m skdeep.precompile",
        description="Compile skdeep's engine ahead of time for chosen configurations "
        "(every combination of the options given; the default configuration without any).",
    )
    parser.add_argument("--estimator", nargs="+", choices=["classifier", "regressor", "autoencoder"],
                        default=["classifier", "regressor"])
    parser.add_argument("--activation", nargs="+", choices=sorted(ACTIVATIONS))
    parser.add_argument("--solver", nargs="+", choices=sorted(set(FIRST_ORDER) | set(FULL_BATCH)))
    parser.add_argument("--all", action="store_true", help="every activation and every solver")
    parser.add_argument("--dtype", nargs="+", choices=["float32", "float64"], default=["float64"])
    parser.add_argument("--sparse", action="store_true", help="also for sparse (CSR) input")
    parser.add_argument("--jobs", type=int, default=None, help="processes compiling side by side")
    args = parser.parse_args(argv)

    grid = {}
    if args.all or args.activation:
        grid["activation"] = sorted(ACTIVATIONS) if args.all else args.activation
    if args.all or args.solver:
        grid["solver"] = sorted(set(FIRST_ORDER) | set(FULL_BATCH)) if args.all else args.solver
    kinds = {"classifier": MLPClassifier, "regressor": MLPRegressor, "autoencoder": MLPAutoencoder}
    estimators = [kinds[name]() for name in args.estimator]
    start = time.perf_counter()
    timings = precompile(*estimators, param_grid=grid or None, dtypes=args.dtype,
                         sparse=args.sparse, n_jobs=args.jobs)
    for t in timings:
        print(f"{t['estimator']} {t['params']} {t['dtype']}{' sparse' if t['sparse'] else ''}: "
              f"{t['seconds']:.1f} s")
    print(f"{len(timings)} configurations ready in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
