"""The benchmark's workloads: data (from scikit-learn, standardised) and settings.

Every library trains the same network on the same rows for the same number of
epochs with the same optimizer settings: Adam, learning rate 1e-3, L2 penalty
alpha=1e-4, tol=0 and no early stopping.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Workload:
    name: str
    task: str  # "classification" or "regression"
    hidden: tuple
    batch_size: object  # int or "full"
    epochs: int  # epochs, or L-BFGS iterations for the full-batch workload
    solver: str = "adam"
    description: str = ""


WORKLOADS = {
    "W1": Workload(
        "W1", "classification", (256, 256), 256, 5,
        description="make_classification(70000, 100 features, 60 informative, 10 classes), 15% test",
    ),
    "W2": Workload("W2", "classification", (100,), 32, 30, description="load_digits, 25% test"),
    "W3": Workload(
        "W3", "regression", (128, 64), 128, 10,
        description="make_regression(25000, 50 features, 30 informative, noise 5), y standardised, 15% test",
    ),
    "W4": Workload(
        "W4", "classification", (100,), "full", 150, solver="lbfgs",
        description="load_digits, 25% test, L-BFGS",
    ),
}

#: W4's data with a network small enough for every full-batch solver (BFGS
#: and Newton keep n_params x n_params matrices): 64-16-10, 1210 parameters
SMALL_FULL_BATCH = Workload(
    "W4s", "classification", (16,), "full", 30, solver="lbfgs",
    description="load_digits, 25% test, hidden (16,)",
)


def load(name, dtype=np.float32):
    """``X_train, X_test, y_train, y_test`` of a workload, standardised."""
    if name == "W1":
        X, y = make_classification(
            70000, 100, n_informative=60, n_classes=10, random_state=0
        )
        split = dict(test_size=0.15)
    elif name in ("W2", "W4", "W4s"):
        X, y = load_digits(return_X_y=True)
        split = dict(test_size=0.25)
    elif name == "W3":
        X, y = make_regression(25000, 50, n_informative=30, noise=5, random_state=0)
        y = (y - y.mean()) / y.std()
        split = dict(test_size=0.15)
    elif name.startswith("S"):  # scaling sweep: S<rows>x<width>
        rows, width = (int(v) for v in name[1:].split("x"))
        X, y = make_classification(rows, 100, n_informative=60, n_classes=10, random_state=0)
        split = dict(test_size=0.01)
    else:
        raise ValueError(f"unknown workload {name!r}")
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, **split)
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(dtype)
    X_test = scaler.transform(X_test).astype(dtype)
    if np.issubdtype(y.dtype, np.floating):
        y_train, y_test = y_train.astype(dtype), y_test.astype(dtype)
    return X_train, X_test, y_train, y_test


def layer_sizes(workload, n_features, n_outputs):
    return [n_features, *workload.hidden, n_outputs]


def gemm_flops(sizes, n_rows):
    """Floating-point operations of the matrix products of one pass over
    ``n_rows`` rows: forward ``X W`` for every layer, and in the backward pass
    ``A^T D`` for every layer and ``D W^T`` for every layer but the first."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * n_rows * (3 * sum(pairs) - pairs[0])
