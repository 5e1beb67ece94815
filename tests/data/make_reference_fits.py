"""Record the reference fits: the final parameters and loss curves of a fixed
set of small fits, made by the engine as it is now.

They are the safety net of a redesign of the engine's internals: a refactor
that keeps the arithmetic must give the same bits on the machine that recorded
them (``tests/test_reference_fits.py`` checks that, and falls back to a
tolerance on another machine). Rerun this script only when a change of the
results is intended, and say so in the commit::

    python -m tests.data.make_reference_fits          # from the repository root

It runs in the mode the test suite uses (``SKDEEP_SPECIALISE=0``, one compile
for every option, as ``tests/conftest.py`` sets) unless the variable is set.
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a file: use the skdeep of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SKDEEP_SPECIALISE", "0")

import json  # noqa: E402
import platform  # noqa: E402
import warnings  # noqa: E402
from functools import cache  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdeep import MLPClassifier, MLPRegressor  # noqa: E402

PATH = Path(__file__).with_name("reference_fits.npz")

#: fitted attributes that make up the flat parameters, in this order (the
#: batch-normalisation ones only when the model has them)
PARAMETER_ATTRIBUTES = (
    "coefs_", "intercepts_", "batch_norm_scales_", "batch_norm_shifts_",
    "running_means_", "running_vars_",
)


# ------------------------------------------------------------------ data
# the suite's fixtures (tests/conftest.py), rebuilt here so that the script
# runs without pytest


@cache
def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@cache
def _digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[::3], y[::3]
    return StandardScaler().fit_transform(X), y


@cache
def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def _tangents(X, n_tangents=2, seed=0):
    """The same ``n_tangents`` orthonormal directions for every sample."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(X.shape[1], n_tangents)))
    return np.ascontiguousarray(np.broadcast_to(Q.T, (X.shape[0], n_tangents, X.shape[1])))


# ------------------------------------------------------------------ fits

#: small, quick settings shared by the classifier fits on digits
_BASE = dict(hidden_layer_sizes=(16,), max_iter=5, batch_size=64, learning_rate_init=0.01, random_state=0)


def _classifier(**params):
    return MLPClassifier(**{**_BASE, **params})


def _digits_fit(**params):
    """A classifier fit on the digits subset."""
    return lambda dtype: _fit(_classifier(**params), *_digits(), dtype)


def _fit(est, X, y, dtype, **fit_params):
    X = X.astype(dtype)  # dense or sparse
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **fit_params)


def _sparse(dtype):
    X, y = _digits()
    Xs = sp.csr_matrix(np.where(X > 0, X, 0))
    return _fit(_classifier(), Xs, y, dtype)


def _sparse_sgd(dtype):
    X, y = _digits()
    Xs = sp.csr_matrix(np.where(X > 0, X, 0))
    return _fit(_classifier(solver="sgd", learning_rate_init=0.05), Xs, y, dtype)


def _tangent_prop(dtype):
    X, y = _digits()
    return _fit(_classifier(tangent_prop=1.0), X, y, dtype, tangents=_tangents(X).astype(dtype))


def _coef_prior(dtype):
    X, y = _digits()
    prior = _fit(_classifier(solver="lbfgs", max_iter=5, random_state=1), X, y, dtype)
    return _fit(_classifier(coef_prior=prior, prior_alpha=0.5), X, y, dtype)


def _freeze_layers(dtype):
    X, y = _digits()
    source = _fit(_classifier(hidden_layer_sizes=(16, 8)), X, y, dtype)
    return _fit(
        _classifier(hidden_layer_sizes=(16, 8), init=source, freeze_layers=1, random_state=1),
        X, y, dtype,
    )


def _sample_weight(dtype):
    X, y = _digits()
    sw = np.random.default_rng(0).random(len(y)) * 2
    return _fit(_classifier(), X, y, dtype, sample_weight=sw)


def _explicit_validation(dtype):
    X, y = _digits()
    X = X.astype(dtype)
    return _fit(
        _classifier(early_stopping=True, max_iter=8), X[:450], y[:450], dtype,
        X_val=X[450:], y_val=y[450:],
    )


def _partial_fit(dtype):
    """Three calls of ``partial_fit`` on chunks, then one on all rows."""
    X, y = _digits()
    X = X.astype(dtype)
    est = _classifier(solver="sgd", learning_rate_init=0.05)
    for rows in np.array_split(np.arange(len(y)), 3):
        est.partial_fit(X[rows], y[rows], classes=np.unique(y))
    return est.partial_fit(X, y)


def _warm_start(dtype):
    X, y = _digits()
    est = _fit(_classifier(warm_start=True, max_iter=3), X, y, dtype)
    return _fit(est, X, y, dtype)


def _regressor(**params):
    def fit(dtype):
        X, y = _diabetes()
        if params.get("loss") == "poisson":
            y = np.exp(y / 2)  # positive targets
        est = MLPRegressor(**{**_BASE, "batch_size": 32, **params})
        return _fit(est, X, y, dtype)

    return fit


def _iris_multilabel(dtype):
    X, y = _iris()
    Y = np.column_stack([y == 0, y == 1, y % 2 == 0]).astype(int)
    return _fit(_classifier(batch_size=32), X, Y, dtype)


DTYPES = {"float32": np.float32, "float64": np.float64}

#: name -> (dtype -> the fitted estimator); each is recorded in both dtypes
FITS = {
    # solvers
    "adam": _digits_fit(),
    "sgd_nesterov": _digits_fit(solver="sgd", learning_rate_init=0.05, momentum=0.9),
    "sgd_momentum": _digits_fit(solver="sgd", learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=False),
    "sgd_plain": _digits_fit(solver="sgd", learning_rate_init=0.05, momentum=0.0),
    "lbfgs": _digits_fit(solver="lbfgs", max_iter=10),
    "newton_cg": _digits_fit(solver="newton-cg", hidden_layer_sizes=(8,)),
    "adahessian": _digits_fit(solver="adahessian", learning_rate_init=0.05),
    "rmsprop": _digits_fit(solver="rmsprop"),
    "adagrad": _digits_fit(solver="adagrad", learning_rate_init=0.05),
    "adamw": _digits_fit(solver="adamw"),
    # penalties and constraints
    "l1_adam": _digits_fit(penalty="l1", alpha=0.1),
    "l1_lbfgs": _digits_fit(penalty="l1", alpha=0.1, solver="lbfgs", max_iter=10),
    "elasticnet_sgd": _digits_fit(penalty="elasticnet", l1_ratio=0.5, alpha=0.1, solver="sgd", learning_rate_init=0.05),
    "max_norm_sgd": _digits_fit(max_norm=0.5, solver="sgd", learning_rate_init=0.05),
    "max_norm_adam": _digits_fit(max_norm=0.5, hidden_layer_sizes=(16, 8)),
    "coef_prior": _coef_prior,
    "clip_grad_norm": _digits_fit(clip_grad_norm=0.5),
    # noise and dropout
    "dropout": _digits_fit(dropout=0.3),
    "dropout_per_layer_sgd": _digits_fit(hidden_layer_sizes=(16, 8), dropout=[0.3, 0.2], solver="sgd", learning_rate_init=0.05),
    "input_dropout": _digits_fit(input_dropout=0.2),
    "input_noise": _digits_fit(input_noise=0.3),
    "weight_noise": _digits_fit(weight_noise=0.05),
    "weight_noise_sgd": _digits_fit(weight_noise=0.05, solver="sgd", learning_rate_init=0.05),
    # other regularisers
    "activity_l1": _digits_fit(activity_l1=0.01),
    "label_smoothing": _digits_fit(label_smoothing=0.1),
    "adversarial_fgsm": _digits_fit(adversarial_eps=0.1),
    "adversarial_pgd3": _digits_fit(adversarial_eps=0.1, adversarial_steps=3),
    "tangent_prop": _tangent_prop,
    # training techniques
    "average": _digits_fit(average=True),
    "batch_norm": _digits_fit(batch_norm=True),
    "freeze_layers": _freeze_layers,
    "early_stopping": _digits_fit(early_stopping=True, max_iter=8),
    "no_shuffle": _digits_fit(shuffle=False, solver="sgd", learning_rate_init=0.05),
    "sample_weight": _sample_weight,
    "explicit_validation": _explicit_validation,
    "partial_fit": _partial_fit,
    "warm_start": _warm_start,
    # inputs and targets
    "sparse_csr": _sparse,
    "sparse_csr_sgd": _sparse_sgd,
    "multilabel": _iris_multilabel,
    "regressor": _regressor(),
    "regressor_poisson": _regressor(loss="poisson", activation="tanh"),
    "regressor_lbfgs": _regressor(solver="lbfgs", max_iter=10),
}

#: every recorded case: ``"<fit>-<dtype>"`` -> (fit, dtype)
CASES = {
    f"{name}-{dtype_name}": (fit, dtype)
    for name, fit in FITS.items()
    for dtype_name, dtype in DTYPES.items()
}


def flat_parameters(est):
    """The fitted parameters as one vector, in the model's dtype."""
    parts = []
    for name in PARAMETER_ATTRIBUTES:
        for array in getattr(est, name, []):
            parts.append(np.ravel(array))
    return np.concatenate(parts)


def run(case):
    """``(flat parameters, loss curve)`` of a recorded case."""
    fit, dtype = CASES[case]
    est = fit(dtype)
    return flat_parameters(est), np.asarray(est.loss_curve_, dtype=np.float64)


def machine():
    """What the bits of a fit depend on besides the code: the instruction set
    numba compiles for, numba's version, the compile mode, the number of
    cores (it sets the number of shards a batch is summed over) and the BLAS
    the matrix products run on."""
    import llvmlite.binding
    import numba
    from threadpoolctl import threadpool_info

    from skdeep._kernels import _jit

    blas = sorted(
        f"{lib.get('internal_api')} {lib.get('version')}"
        for lib in threadpool_info() if lib.get("user_api") == "blas"
    )
    return {
        "cpu": llvmlite.binding.get_host_cpu_name(),
        "numba": numba.__version__,
        "specialise": bool(_jit.SPECIALISE),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas,
    }


def main():
    from skdeep._kernels._jit import remove_stale_caches

    remove_stale_caches()
    arrays = {}
    for case in CASES:
        theta, curve = run(case)
        arrays[f"{case}/theta"] = theta
        arrays[f"{case}/loss_curve"] = curve
        print(f"{case:40s} {theta.dtype} {theta.size:6d} params, {curve.size} epochs, loss {curve[-1]:.6g}")
    meta = {**machine(), "python": platform.python_version(), "cases": list(CASES)}
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez_compressed(PATH, **arrays)
    print(f"wrote {PATH} ({len(CASES)} cases) on {meta}")


if __name__ == "__main__":
    main()
