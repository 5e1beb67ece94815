"""Scale-out on Dask: training on the partitions, lazy prediction, and the
Dask tools users already have (issue 20).

Every test runs on the session's LocalCluster (``dask_client`` in
conftest: 2 workers, 1 thread each) with the same small network, so the
engine compiles once for the file."""

import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skdeep import MLPAutoencoder, MLPClassifier, MLPRegressor  # noqa: E402

from .conftest import assert_unchanged, snapshot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HIDDEN = (8,)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        2000, 10, n_informative=6, n_classes=3, random_state=0
    )
    return X, y


@pytest.fixture(scope="module")
def dask_data(data):
    X, y = data
    return da.from_array(X, chunks=500), da.from_array(y, chunks=500)


def test_lbfgs_on_partitions_is_the_in_memory_fit(dask_client, data, dask_data):
    """The full-batch objective summed over the partitions (penalty added
    once, the data term divided by the whole weight sum) gives the
    in-memory model up to the order of the sums, and its gradients run on
    the workers: one task per partition and evaluation, none of whose
    results holds the data."""
    X, y = data
    params = dict(hidden_layer_sizes=HIDDEN, solver="lbfgs", alpha=1e-2, max_iter=30, random_state=0)
    memory = MLPClassifier(**params).fit(X, y)
    with distributed.get_task_stream(client=dask_client) as stream:
        cluster = MLPClassifier(**params).fit(*dask_data)
    assert cluster.n_iter_ == memory.n_iter_
    assert cluster.n_evaluations_ == memory.n_evaluations_
    for a, b in zip(cluster.coefs_ + cluster.intercepts_, memory.coefs_ + memory.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    assert cluster.loss_ == pytest.approx(memory.loss_, rel=1e-10)
    np.testing.assert_array_equal(cluster.classes_, memory.classes_)

    gradients = [t for t in stream.data if "partition_loss_grad" in str(t["key"])]
    assert len(gradients) == 4 * cluster.n_evaluations_  # 4 partitions
    # on the workers (the scheduler places them; usually on both)
    assert {t["worker"] for t in gradients} <= set(dask_client.scheduler_info()["workers"])
    # no task ever returned the data to the client: the largest result is a
    # partition (persisted on a worker), not the whole array
    assert max(t.get("nbytes", 0) for t in stream.data) <= X.nbytes // 4 + 1024


def test_full_batch_solvers_and_regressor(dask_client, data, dask_data):
    """Hessian-vector products (newton-cg) and the exact Hessian (newton)
    are sums over the partitions too; the regressor and sample weights
    likewise."""
    X, y = data
    sw = np.linspace(0.5, 2.0, X.shape[0])
    for solver in ("newton-cg", "newton"):
        params = dict(hidden_layer_sizes=(3,), solver=solver, max_iter=3, random_state=0)
        memory = MLPClassifier(**params).fit(X, y, sample_weight=sw)
        cluster = MLPClassifier(**params).fit(*dask_data, sample_weight=da.from_array(sw, chunks=500))
        np.testing.assert_allclose(cluster.coefs_[0], memory.coefs_[0], rtol=1e-7, atol=1e-9)
    target = X[:, 0] - 2 * X[:, 1]
    params = dict(hidden_layer_sizes=HIDDEN, solver="lbfgs", max_iter=20, random_state=0)
    memory = MLPRegressor(**params).fit(X, target)
    cluster = MLPRegressor(**params).fit(dask_data[0], da.from_array(target, chunks=500))
    np.testing.assert_allclose(cluster.coefs_[0], memory.coefs_[0], rtol=1e-8, atol=1e-10)
    prediction = cluster.predict(dask_data[0])
    assert isinstance(prediction, da.Array)
    np.testing.assert_allclose(prediction.compute(), memory.predict(X), rtol=1e-8, atol=1e-10)


def test_without_a_client_on_the_local_scheduler(dask_client, data, dask_data):
    """Without a distributed client, Dask's own schedulers run the same
    tasks in this process: the same model."""
    import dask

    X, y = data
    params = dict(hidden_layer_sizes=HIDDEN, solver="lbfgs", max_iter=10, random_state=0)
    memory = MLPClassifier(**params).fit(X, y)
    with dask.config.set(scheduler="synchronous"), distributed.get_task_stream(client=dask_client) as stream:
        local = MLPClassifier(**params).fit(*dask_data)
        assert isinstance(local.predict(dask_data[0]), da.Array)
    assert not stream.data  # nothing ran on the cluster
    np.testing.assert_allclose(local.coefs_[0], memory.coefs_[0], rtol=1e-8, atol=1e-10)


def test_one_partition_steps_as_in_memory(dask_client, data):
    """One partition, no shuffling: the partition's compiled epochs are the
    in-memory ones, also when the optimizer state (Adam's moments and step
    count) goes back to the client after every 2 mini-batches."""
    X, y = data
    params = dict(hidden_layer_sizes=HIDDEN, max_iter=3, shuffle=False, batch_size=100, random_state=0)
    memory = MLPClassifier(**params).fit(X, y)
    one = (da.from_array(X, chunks=-1), da.from_array(y, chunks=-1))
    for sync in (None, 2):
        cluster = MLPClassifier(**params, dask_sync_every=sync).fit(*one)
        np.testing.assert_allclose(cluster.coefs_[0], memory.coefs_[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(cluster.loss_curve_, memory.loss_curve_, rtol=1e-10)
        assert cluster.t_ == memory.t_


def test_model_averaging_of_sgd_steps_is_the_full_gradient_step(dask_client, data):
    """Two partitions of 1000 rows, each one plain SGD step on all its rows:
    the row-weighted average of the two steps is one step along the mean
    gradient of all rows, the in-memory SGD step with a batch of 2000."""
    X, y = data
    params = dict(
        hidden_layer_sizes=HIDDEN, solver="sgd", momentum=0.0, alpha=0.0, max_iter=1,
        shuffle=False, learning_rate_init=0.5, random_state=0,
    )
    memory = MLPClassifier(**params, batch_size=2000).fit(X, y)
    cluster = MLPClassifier(**params, batch_size=1000).fit(
        da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    )
    for a, b in zip(cluster.coefs_ + cluster.intercepts_, memory.coefs_ + memory.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_adam_on_the_cluster_reaches_the_in_memory_accuracy(dask_client):
    """40 000 rows in 4 partitions: averaging every 5 mini-batches, Adam
    reaches the in-memory accuracy on held-out rows within noise, with the
    rate scaled by the number of partitions (the average of 4 steps from
    the same point is about one step: the linear scaling rule)."""
    X, y = make_classification(44000, 20, n_informative=10, random_state=1)
    X_test, y_test, X, y = X[40000:], y[40000:], X[:40000], y[:40000]
    params = dict(hidden_layer_sizes=(16,), max_iter=4, random_state=0)
    memory = MLPClassifier(**params).fit(X, y).score(X_test, y_test)
    cluster = MLPClassifier(**params, dask_sync_every=5, learning_rate_init=0.004).fit(
        da.from_array(X, chunks=10000), da.from_array(y, chunks=10000)
    )
    assert memory > 0.85
    assert abs(cluster.score(X_test, y_test) - memory) < 0.02
    assert len(cluster.loss_curve_) == 4


def test_lazy_predictions_equal_in_memory(dask_client, data, dask_data):
    X, y = data
    clf = MLPClassifier(HIDDEN, max_iter=3, random_state=0).fit(X, y)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        lazy = getattr(clf, method)(dask_data[0])
        assert isinstance(lazy, da.Array)
        assert lazy.chunks[0] == dask_data[0].chunks[0]
        np.testing.assert_allclose(lazy.compute(), getattr(clf, method)(X), rtol=1e-12)
    # the model is one key of the graph, sent once, not once per block
    graph = dict(clf.predict(dask_data[0]).__dask_graph__())
    assert len([k for k in graph if "mlpclassifier" in str(k).lower()]) == 1


def test_autoencoder_codes_and_scores_are_lazy(dask_client, data, dask_data):
    """An autoencoder fitted in memory encodes and scores a Dask array block
    by block on the workers: the same codes and scores as in memory."""
    X, _ = data
    ae = MLPAutoencoder(HIDDEN, solver="lbfgs", max_iter=5, random_state=0).fit(X)
    with distributed.get_task_stream(client=dask_client) as stream:
        codes, scores = ae.transform(dask_data[0]), ae.score_samples(dask_data[0])
        assert isinstance(codes, da.Array) and isinstance(scores, da.Array)
        assert codes.chunks == (dask_data[0].chunks[0], (HIDDEN[-1],))
        codes, scores = dask_client.compute([codes, scores], sync=True)
    assert len(stream.data) >= 2 * dask_data[0].numblocks[0]  # a task per block and method
    np.testing.assert_allclose(codes, ae.transform(X), rtol=1e-12)
    np.testing.assert_allclose(scores, ae.score_samples(X), rtol=1e-12)


def test_dask_dataframe_feature_names_and_labels(dask_client, data):
    """Feature names of a Dask DataFrame, string labels, class weights from
    the global counts, and labels missing from some partitions."""
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data
    order = np.argsort(y, kind="stable")  # partition 0 holds only class 0
    X, y = X[order], np.array(["a", "b", "c"])[y[order]]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    params = dict(hidden_layer_sizes=HIDDEN, solver="lbfgs", max_iter=15, class_weight="balanced", random_state=0)
    memory = MLPClassifier(**params).fit(frame, y)
    cluster = MLPClassifier(**params).fit(
        dd.from_pandas(frame, npartitions=4), dd.from_pandas(pd.Series(y), npartitions=4)
    )
    assert list(cluster.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(cluster.classes_, ["a", "b", "c"])
    np.testing.assert_allclose(cluster.coefs_[0], memory.coefs_[0], rtol=1e-8, atol=1e-10)
    labels = cluster.predict(dd.from_pandas(frame, npartitions=3))
    np.testing.assert_array_equal(labels.compute(), memory.predict(frame))


def _unknown_chunks(X):
    return X[X[:, 0] > -np.inf]


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda X, y: (_unknown_chunks(X), y), ValueError, "compute_chunk_sizes"),
        (lambda X, y: (X.rechunk((500, 5)), y), ValueError, r"rechunk\(\{1: -1\}\)"),
        (lambda X, y: (X, y.rechunk(400)), ValueError, "partitioned differently"),
        (lambda X, y: (X.compute(), y), TypeError, "X is not"),
        (lambda X, y: (da.where(X > 3, np.nan, X), y), ValueError, "NaN"),
        (lambda X, y: (X, None), ValueError, "target is None"),
        (lambda X, y: (X, da.stack([y, y], axis=1)), ValueError, "one label column"),
    ],
    ids=["unknown chunks", "feature chunks", "different partitions", "numpy X", "nan", "no y", "2d y"],
)
def test_bad_dask_input_leaves_the_model_unchanged(dask_client, data, dask_data, make, error, match):
    X, y = data
    clf = MLPClassifier(HIDDEN, solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    before = snapshot(clf)
    with pytest.raises(error, match=match):
        clf.fit(*make(*dask_data))
    assert_unchanged(clf, before)


@pytest.mark.parametrize(
    "params, fit, error, match",
    [
        ({"average": True}, {}, ValueError, "not supported on Dask"),
        ({"curriculum": "self_paced"}, {}, ValueError, "curriculum is not supported on Dask"),
        ({"semi_supervised": "entropy"}, {}, ValueError, "semi_supervised is not supported on Dask"),
        (
            {"average": True, "augment": lambda X, rng: X}, {}, ValueError,
            "augment / average is not supported on Dask",
        ),
        ({"dask_sync_every": 2, "solver": "lbfgs"}, {}, ValueError, "stochastic solver"),
        ({"dask_sync_every": 0}, {}, ValueError, "dask_sync_every"),
        ({}, {"partial": True}, TypeError, "Incremental"),
    ],
)
def test_unsupported_options_on_dask_are_refused(dask_client, dask_data, params, fit, error, match):
    clf = MLPClassifier(HIDDEN, max_iter=2, **params)
    with pytest.raises(error, match=match):
        if fit:
            clf.partial_fit(*dask_data, classes=[0, 1, 2])
        else:
            clf.fit(*dask_data)


def test_tangent_prop_on_dask_is_refused_and_leaves_the_model_unchanged(dask_client, data, dask_data):
    """Tangent propagation needs the tangents beside the rows: refused on
    Dask input, before anything of a fitted model changes."""
    X, y = data
    clf = MLPClassifier(HIDDEN, max_iter=2, random_state=0).fit(X, y)
    before = snapshot(clf)
    tangents = np.zeros((X.shape[0], 1, X.shape[1]))
    clf.set_params(tangent_prop=0.1, warm_start=True)
    with pytest.raises(ValueError, match="tangent_prop is not supported on Dask"):
        clf.fit(*dask_data, tangents=tangents)
    clf.set_params(tangent_prop=0.0, warm_start=False)
    assert_unchanged(clf, before)


def test_validation_scores_add_up_over_partitions(data):
    """The sums the validation score is made of, over two parts of the
    rows, give scikit-learn's accuracy and R² of all the rows."""
    from sklearn.metrics import accuracy_score, r2_score

    X, y = data
    sw = np.linspace(0.5, 2.0, X.shape[0])
    clf = MLPClassifier(HIDDEN, max_iter=2, random_state=0).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=HIDDEN, max_iter=2, random_state=0).fit(X, np.c_[X[:, 0], X[:, 1]])
    for est, target, score in ((clf, y, accuracy_score), (reg, np.c_[X[:, 0], X[:, 1]], r2_score)):
        output = est._forward(X)
        halves = [slice(0, 700), slice(700, None)]
        sums = sum(est._validation_sums(output[h], target[h], sw[h]) for h in halves)
        expected = score(target, est.predict(X), sample_weight=sw)
        assert est._score_of_sums(sums) == pytest.approx(expected, rel=1e-10)


def test_early_stopping_on_the_workers(dask_client, data, dask_data):
    """Validation sets as Dask collections are scored on the workers, as
    the same rows in memory; without one, validation_fraction of each
    partition is held out there."""
    X, y = data
    params = dict(hidden_layer_sizes=HIDDEN, early_stopping=True, max_iter=3, random_state=0)
    memory = MLPClassifier(**params).fit(*dask_data, X_val=X[:600], y_val=y[:600])
    cluster = MLPClassifier(**params).fit(
        *dask_data, X_val=da.from_array(X[:600], chunks=300), y_val=da.from_array(y[:600], chunks=300)
    )
    np.testing.assert_allclose(cluster.validation_scores_, memory.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(cluster.coefs_[0], memory.coefs_[0], rtol=1e-12)
    held = MLPClassifier(**params, validation_fraction=0.2).fit(*dask_data)
    assert len(held.validation_scores_) == 3
    assert held.best_validation_score_ == max(held.validation_scores_)
    assert held.t_ == 3 * 1600  # 400 of each 500-row partition trained on


def test_grid_search_under_the_dask_joblib_backend(dask_client, data):
    from joblib import parallel_backend

    X, y = data
    search = GridSearchCV(MLPClassifier(HIDDEN, max_iter=3, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=2)
    with parallel_backend("dask"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X[:600], y[:600])
    assert search.best_params_["alpha"] in (1e-4, 1e-2)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_dask_ml_incremental_and_parallel_post_fit(dask_client, data, dask_data):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = data
    inc = wrappers.Incremental(MLPClassifier(HIDDEN, random_state=0))
    inc.fit(*dask_data, classes=[0, 1, 2])
    assert inc.estimator_.t_ == X.shape[0]  # one partial_fit per block: one epoch
    post = wrappers.ParallelPostFit(MLPClassifier(HIDDEN, max_iter=3, random_state=0)).fit(X, y)
    lazy = post.predict(dask_data[0])
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), post.estimator.predict(X))
