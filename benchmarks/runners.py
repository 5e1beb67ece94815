"""One timed training run per library; each runs in its own process.

A run trains the workload's network for its epochs and returns the wall time
per epoch (compile time excluded: a first fit on a few rows compiles or loads
the kernels and is timed separately), the test score and what the engine used.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from workloads import SMALL_FULL_BATCH, WORKLOADS, load

warnings.simplefilter("ignore", ConvergenceWarning)

ALPHA = 1e-4
LEARNING_RATE = 1e-3


def _estimator(module, workload, **extra):
    cls = module.MLPClassifier if workload.task == "classification" else module.MLPRegressor
    params = dict(
        hidden_layer_sizes=workload.hidden, alpha=ALPHA, random_state=0,
        max_iter=workload.epochs, tol=0.0,
    )
    if workload.solver == "lbfgs":
        params.update(solver="lbfgs", max_fun=10**9)
    else:
        params.update(
            solver="adam", learning_rate_init=LEARNING_RATE,
            batch_size=workload.batch_size, n_iter_no_change=10**9,
            early_stopping=False,
        )
    params.update(extra)
    return cls(**params)


def _row_norm(X, y):
    """A curriculum's difficulty for the benchmark: each row's norm."""
    return np.linalg.norm(X, axis=1)


def run_estimator(library, name, dtype, repeat, extra=None):
    if library == "skdeep":
        import skdeep as module
    else:
        import sklearn.neural_network as module
    workload = _workload(name)
    X_train, X_test, y_train, y_test = load(name, dtype)

    extra = dict(extra or {})
    if extra.get("coef_prior") == "self":  # a prior network of the same shape
        prior = _estimator(module, workload, max_iter=1).fit(X_train[:2000], y_train[:2000])
        extra["coef_prior"] = prior
    if extra.get("solver") == "lookahead":  # not JSON: built here
        from skdeep.optim import Adam, Lookahead

        extra["solver"] = Lookahead(Adam())
    if extra.get("curriculum") == "row_norm":  # a callable: the rows' norms
        extra["curriculum"] = _row_norm
    start = time.perf_counter()
    _estimator(module, workload, **{**extra, "max_iter": 1}).fit(X_train[:512], y_train[:512])
    first_call = time.perf_counter() - start

    best = np.inf
    for _ in range(repeat):
        est = _estimator(module, workload, **extra)
        start = time.perf_counter()
        est.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        best = min(best, seconds / est.n_iter_)
    result = dict(
        ms_per_epoch=1e3 * best, first_call_s=first_call,
        score=float(est.score(X_test, y_test)), epochs=int(est.n_iter_),
        n_train=len(X_train), n_features=X_train.shape[1],
        n_outputs=int(est.n_outputs_), loss=float(est.loss_),
    )
    if workload.solver == "lbfgs" and library == "skdeep":
        result["evaluations"] = int(est.t_ // len(X_train))
    if library == "skdeep":
        from skdeep._threads import engine_shards, engine_workers

        if workload.solver != "lbfgs":
            shards = engine_shards(workload.batch_size)
            result.update(shards=shards, workers=engine_workers(shards))
    return result


def run_torch(name, dtype, repeat):
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    workload = _workload(name)
    X_train, X_test, y_train, y_test = load(name, dtype)
    X = torch.from_numpy(np.ascontiguousarray(X_train))
    classification = workload.task == "classification"
    y = torch.from_numpy(y_train.astype(np.int64) if classification else y_train.reshape(-1, 1))
    sizes = [X.shape[1], *workload.hidden, int(y_train.max()) + 1 if classification else 1]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    if dtype == np.float64:
        model = model.double()
    batch = workload.batch_size
    # scikit-learn's penalty alpha/2 ||W||^2 / batch on the weights only is
    # Adam's weight_decay = alpha / batch on the weight matrices
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    optimizer = torch.optim.Adam(
        [{"params": weights, "weight_decay": ALPHA / batch}, {"params": biases}],
        lr=LEARNING_RATE,
    )
    criterion = torch.nn.CrossEntropyLoss() if classification else torch.nn.MSELoss()

    def epoch(rows):
        permutation = torch.randperm(rows)
        for start in range(0, rows, batch):
            index = permutation[start : start + batch]
            optimizer.zero_grad()
            loss = criterion(model(X[index]), y[index])
            loss.backward()
            optimizer.step()

    start = time.perf_counter()
    epoch(512)  # warm-up, as the estimators' first fit
    first_call = time.perf_counter() - start
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(workload.epochs):
            epoch(len(X))
        best = min(best, (time.perf_counter() - start) / workload.epochs)
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(X_test))).numpy()
    if classification:
        score = float((out.argmax(1) == y_test).mean())
    else:
        from sklearn.metrics import r2_score

        score = float(r2_score(y_test, out.ravel()))
    return dict(ms_per_epoch=1e3 * best, first_call_s=first_call, score=score, epochs=workload.epochs)


def _workload(name):
    if name in WORKLOADS:
        return WORKLOADS[name]
    if name == SMALL_FULL_BATCH.name:
        return SMALL_FULL_BATCH
    return _sweep(name)


def _sweep(name):
    """Scaling-sweep workload ``S<rows>x<width>``: two hidden layers."""
    rows, width = (int(v) for v in name[1:].split("x"))
    return WORKLOADS["W1"].__class__(name, "classification", (width, width), 256, 3)


#: the nearest-neighbour settings: (library, label, parameters); skdeep's
#: are TangentDistanceClassifier's, with "shifts" for the image shift tangents
NEIGHBORS = [
    ("sklearn", "KNeighborsClassifier, Euclidean", {}),
    ("skdeep", "tangent distance, shifts, 50 candidates", {"tangents": "shifts"}),
    ("skdeep", "tangent distance, shifts, exact", {"tangents": "shifts", "n_candidates": None}),
    ("skdeep", "tangent distance, local PCA (3 tangents), 50 candidates", {"n_tangents": 3}),
]


def run_neighbors(setting, n_train, repeat):
    """1-NN on digits (raw pixels) with ``n_train`` training rows, queried
    with all the other rows: microseconds per query (the best of
    ``repeat`` predictions, after one that compiles or loads the kernels),
    the fit's seconds and the accuracy."""
    from functools import partial

    from sklearn.datasets import load_digits

    library, _, params = NEIGHBORS[setting]
    X, y = load_digits(return_X_y=True)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    if library == "sklearn":
        from sklearn.neighbors import KNeighborsClassifier

        est = KNeighborsClassifier(1)
    else:
        from skdeep import TangentDistanceClassifier
        from skdeep.tangents import shift_tangents

        if params.get("tangents") == "shifts":
            params = {**params, "tangents": partial(shift_tangents, image_shape=(8, 8))}
        est = TangentDistanceClassifier(1, **params)
    start = time.perf_counter()
    est.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    est.predict(X_test[:5])  # compiles or loads the kernels
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        predicted = est.predict(X_test)
        best = min(best, time.perf_counter() - start)
    return dict(us_per_query=1e6 * best / len(X_test), fit_s=fit_s,
                accuracy=float(np.mean(predicted == y_test)), n_train=n_train, n_test=len(X_test))
