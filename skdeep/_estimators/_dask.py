"""The estimators on Dask collections: fit where the data live, predict lazily.

``fit(dask_X, dask_y)`` validates the collections, computes what needs the
whole data with Dask reductions (the classes and their counts, the target's
minimum, finiteness, the weight sum), encodes the targets and the weights
partition by partition, persists the partitions once and hands them to the
engine's Dask drivers (``skdeep._distributed``). ``predict*`` on a Dask
collection returns a Dask array computed block by block, the fitted model
sent to the workers once.

Whether an input is a Dask collection is told without importing dask: a
program that never imported it has none.
"""

import sys
from contextlib import nullcontext
from functools import wraps

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import _check_feature_names, _check_n_features

from .._distributed import (
    DaskStochasticLoop,
    DaskValidation,
    DistributedObjective,
    Partitions,
    broadcast,
    hidden_zero_fractions,
)
from ._runs import run_stochastic, train_full_batch
from ._support import naming

_UNKNOWN_CHUNKS = (
    "{name} is a Dask array with unknown chunk sizes (the rows of its partitions are "
    "not known, e.g. after boolean indexing or from a Dask DataFrame's .values): call "
    "{name}.compute_chunk_sizes() first, or use df.to_dask_array(lengths=True)."
)


def is_dask_collection(obj):
    """Whether ``obj`` is a Dask collection (False when dask was never
    imported: nothing can be one then)."""
    dask = sys.modules.get("dask")
    if dask is None or isinstance(obj, np.ndarray):  # the common case, at once
        return False
    return dask.is_dask_collection(obj)


def is_dask_input(*arrays):
    return any(is_dask_collection(a) for a in arrays)


def _is_frame(obj):
    return hasattr(obj, "to_dask_array")  # a Dask DataFrame or Series


def _names_source(X):
    """What scikit-learn reads feature names from: a Dask DataFrame's empty
    pandas frame of the same columns (``_meta``), else ``X``."""
    return X._meta if _is_frame(X) else X


def _as_array(obj, name):
    """A Dask DataFrame/Series as a Dask array with known partitions; a
    Dask array checked for known chunk sizes."""
    if _is_frame(obj):
        # the partitions' lengths by a task graph of their own: lengths=True
        # computes them with keys that the array's graph then reuses for
        # other tasks, which the distributed scheduler warns about
        lengths = tuple(int(n) for n in obj.map_partitions(len).compute())
        obj = obj.to_dask_array(lengths=lengths)
    if any(np.isnan(c) for c in obj.chunks[0]):
        raise ValueError(_UNKNOWN_CHUNKS.format(name=name))
    return obj


def _row_aligned(obj, name, X):
    """``y`` or ``sample_weight`` as a Dask array with the partitions of
    ``X``: an in-memory array is cut into them, a Dask one must have them."""
    import dask.array as da

    if not is_dask_collection(obj):
        obj = np.asarray(obj)
        if obj.shape[:1] != X.shape[:1]:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: X has "
                f"{X.shape[0]} rows, {name} {obj.shape[:1]}."
            )
        return da.from_array(obj, chunks=(X.chunks[0], *obj.shape[1:]))
    if _is_frame(obj):
        # a column is small: persisted once, the reductions and the encoding
        # read the same partitions (dask-expr otherwise rebuilds its tasks
        # under the same keys in each graph, which the scheduler warns about)
        obj = _as_array(obj, name).persist()
    obj = _as_array(obj, name)
    if obj.shape[0] != X.shape[0]:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has "
            f"{X.shape[0]} rows, {name} {obj.shape[0]}."
        )
    if obj.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"X and {name} are partitioned differently (rows per partition {X.chunks[0]} "
            f"and {obj.chunks[0]}): each partition of X trains with its own rows of "
            f"{name}. Rechunk {name} as X: {name}.rechunk({{0: X.chunks[0]}})."
        )
    if obj.ndim == 2 and len(obj.chunks[1]) > 1:
        obj = obj.rechunk({1: -1})  # the columns of a target are small
    return obj


def _check_X(X, dtype, name="X"):
    """The dask array ``X``: 2-D, partitioned by rows only, numeric, in
    ``dtype`` (None: float32 kept, anything else float64)."""
    X = _as_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array, got a {X.ndim}D Dask array of shape {X.shape}.")
    if len(X.chunks[1]) > 1:
        raise ValueError(
            f"{name} is partitioned along its features (column chunks {X.chunks[1]}); every "
            f"partition must hold whole rows: {name}.rechunk({{1: -1}})."
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"Found array with shape {X.shape}: fit needs at least one row and one feature.")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X must hold numbers, got a Dask array of dtype {X.dtype}.")
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    return X.astype(dtype), np.dtype(dtype)


def _dense_block(block):
    if not isinstance(block, np.ndarray):
        raise TypeError(
            f"The partitions of a Dask X must be NumPy arrays, got {type(block).__name__}: "
            "convert them, e.g. X.map_blocks(lambda b: b.toarray())."
        )
    return block


def dask_fit(est, config, first_pass, X, y, sample_weight, *, incremental, validation):
    """``est.fit`` on Dask collections: the data stay on the partitions."""
    import dask.array as da

    if incremental:
        raise TypeError(
            "partial_fit takes in-memory blocks, not Dask collections; fit trains on the "
            "whole Dask data, and dask_ml.wrappers.Incremental calls partial_fit on each "
            "block."
        )
    X_given, y_given = X, y
    dtype = None if first_pass else est._theta.dtype
    X, y, sw, dtype = _aligned(est, (X, y, sample_weight), dtype, first_pass, _NAMES)

    classifier = is_classifier(est)
    found = _checked(X, sw, _target_summary(y, classifier))
    labels = _target_labels(found, classifier, y)
    loss, segments = est._prepare_targets(labels, first_pass=first_pass, incremental=False, classes=None)
    n_outputs = est._encode_targets(labels[:1]).shape[1]
    Y = _encoded_targets(est, y, dtype, n_outputs)
    sw = da.ones(y.shape[0], chunks=(y.chunks[0],), dtype=dtype) if sw is None else sw.astype(dtype)
    if classifier and getattr(est, "class_weight", None) is not None:
        per_class = _class_weights(est, found["classes"], found["counts"])
        sw = sw * y.map_blocks(_class_factor, found["classes"], per_class, dtype=dtype)

    network, reg, theta, rng, progress = est._start(
        config, X.shape[1], n_outputs, dtype, loss, segments, first_pass=first_pass,
        incremental=False,
    )
    train, val_set = (X, Y, sw, y), None
    X_val, y_val, sw_val = validation
    if is_dask_input(X_val, y_val):
        val_set = _dask_validation(est, validation, dtype, n_outputs)
    elif X_val is not None or y_val is not None:
        val_set = est._validation_set(est._explicit_validation(X_val, y_val, sw_val, dtype))
    elif config.stochastic and config.early_stopping:
        # held out on the workers: validation_fraction of each partition's rows
        seeds = rng.integers(np.iinfo(np.int32).max, size=len(X.chunks[0]))
        fraction = config.validation_fraction
        held = [_split(a, seeds, fraction, True) for a in train]
        train = [_split(a, seeds, fraction, False) for a in train]
        if held[0].shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        val_set = DaskValidation(
            Partitions.persist(*held[:3], _weight_sum(held[2]), y=held[3]),
            est._validation_sums, est._score_of_sums,
        )
    partitions = Partitions.persist(*train[:3], _weight_sum(train[2]))
    n_runs = config.n_init if first_pass else 1
    callbacks = est._sklearn_callbacks(X_given, y_given, sample_weight, n_runs)
    smallest = min(partitions.rows)

    def train_run(run_theta, run_progress, run_rng, listeners):
        if config.stochastic:
            loop = _dask_loop(partitions, config.dask_sync_every)
            return run_stochastic(
                config, network, run_theta, smallest, val_set, run_progress, run_rng,
                listeners, reg, loop,
            )
        objective = DistributedObjective(network, partitions, reg)
        return train_full_batch(config, network, run_theta, objective, run_progress, listeners, reg)

    return est._run_and_commit(
        config, network, reg, (theta, rng, progress, dtype), n_runs, callbacks, train_run,
        lambda theta: hidden_zero_fractions(network, theta, partitions),
    )


#: the names of ``fit``'s arguments, and of the validation set's
_NAMES = ("X", "y", "sample_weight")
_VAL_NAMES = ("X_val", "y_val", "sample_weight_val")


def _aligned(est, arrays, dtype, reset, names):
    """``(X, y, sample_weight)`` as Dask arrays of the same row partitions,
    ``X`` checked (features, names, dtype: None keeps float32, else
    float64), and the dtype."""
    X, y, sample_weight = arrays
    name_X, name_y, name_sw = names
    if not is_dask_collection(X):
        raise TypeError(
            f"{name_y} is a Dask collection but {name_X} is not: pass both as Dask "
            "collections, or both in memory."
        )
    if y is None:
        raise ValueError(f"{name_y} must be given with {name_X}: the target is None.")
    with naming(name_X) if name_X != "X" else nullcontext():
        _check_feature_names(est, _names_source(X), reset=reset)
        X, dtype = _check_X(X, dtype, name_X)
        _check_n_features(est, X, reset=reset)
    X = X.map_blocks(_dense_block, dtype=dtype)
    y = _row_aligned(y, name_y, X)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    sw = None if sample_weight is None else _row_aligned(sample_weight, name_sw, X)
    if sw is not None and sw.ndim != 1:
        raise ValueError(f"{name_sw} must be 1D, got shape {sw.shape}.")
    return X, y, sw, dtype


def _checked(X, sw, summary, names=_NAMES):
    """Compute the reductions ``summary`` with the checks of ``X`` and the
    weights, in one pass over the data; raise on what they find."""
    import dask
    import dask.array as da

    checks = {"X finite": da.isfinite(X).all(), **summary}
    if sw is not None:
        checks["sw finite"] = da.isfinite(sw).all()
        checks["sw min"] = sw.min()
    found = dask.compute(checks)[0]
    if not found["X finite"]:
        raise ValueError(f"Input {names[0]} contains NaN or infinity.")
    if sw is not None and not (found["sw finite"] and found["sw min"] >= 0):
        raise ValueError(f"{names[2]} must be finite and non-negative.")
    return found


def _encoded_targets(est, y, dtype, n_outputs):
    """The targets as the network's outputs, encoded partition by partition."""
    return y.map_blocks(
        _encoded, broadcast(est), dtype, dtype=dtype, chunks=(y.chunks[0], (n_outputs,)),
        new_axis=1 if y.ndim == 1 else None, meta=np.empty((0, 0), dtype=dtype),
    )


def _weight_sum(sw):
    total = float(sw.sum(dtype=np.float64).compute())
    if not total > 0:
        raise ValueError("The sample weights sum to zero: nothing to fit.")
    return total


def _dask_validation(est, validation, dtype, n_outputs):
    """``X_val``, ``y_val`` (and ``sample_weight_val``) given as Dask
    collections: checked, encoded and persisted on the workers."""
    import dask.array as da

    X, y, sw, _ = _aligned(est, validation, dtype, False, _VAL_NAMES)
    _checked(X, sw, {}, _VAL_NAMES)
    Y = _encoded_targets(est, y, dtype, n_outputs)
    sw = da.ones(y.shape[0], chunks=(y.chunks[0],), dtype=dtype) if sw is None else sw.astype(dtype)
    return DaskValidation(
        Partitions.persist(X, Y, sw, _weight_sum(sw), y=y), est._validation_sums, est._score_of_sums
    )


def _held_out(n, fraction):
    """Rows of a partition of ``n`` rows held out for validation."""
    return int(np.ceil(fraction * n))


def _split(array, seeds, fraction, held):
    """The held-out (``held``) or the training rows of each partition of
    ``array``: a random ``validation_fraction`` of its rows, the same rows
    for every array given the same ``seeds`` (one per partition)."""
    rows = tuple(
        _held_out(n, fraction) if held else n - _held_out(n, fraction) for n in array.chunks[0]
    )
    return array.map_blocks(
        _split_block, seeds, fraction, held, dtype=array.dtype, chunks=(rows, *array.chunks[1:]),
    )


def _split_block(block, seeds, fraction, held, block_id=None):
    n = block.shape[0]
    k = _held_out(n, fraction)
    order = np.random.default_rng(int(seeds[block_id[0]])).permutation(n)
    return block[np.sort(order[:k] if held else order[k:])]


def _dask_loop(partitions, sync_every):
    def make(**settings):
        settings.pop("train", None)
        return DaskStochasticLoop(partitions=partitions, sync_every=sync_every, **settings)

    return make


def _target_summary(y, classifier):
    """The reductions over ``y`` the target encoding needs."""
    import dask.array as da

    if classifier:
        if y.ndim != 1:
            raise ValueError(
                f"A classifier fitted on Dask input takes one label column (y of shape "
                f"(n_samples,)), got shape {y.shape}: fit multilabel or multi-output "
                "targets in memory."
            )
        classes, counts = da.unique(y, return_counts=True)
        return {"classes": classes, "counts": counts}
    if y.dtype.kind not in "fiub":
        raise ValueError(f"y must hold numbers for a regressor, got dtype {y.dtype}.")
    return {"y min": y.min(axis=0), "y finite": da.isfinite(y).all()}


def _target_labels(found, classifier, y):
    """What ``_prepare_targets`` sees of the target: its classes, or a row of
    its minima (all a regressor checks)."""
    if classifier:
        return np.asarray(found["classes"])
    if not found["y finite"]:
        raise ValueError("Input y contains NaN or infinity.")
    minima = np.asarray(found["y min"], dtype=np.float64)
    return minima.reshape(1, -1) if y.ndim == 2 else minima.reshape(1)


def _encoded(y_block, est, dtype):
    """A partition's targets, encoded as the network's outputs."""
    Y = est._training_targets(est._encode_targets(np.asarray(y_block)).astype(dtype))
    return np.ascontiguousarray(Y, dtype=dtype)


def _class_weights(est, classes, counts):
    """The weight of each class (in ``classes`` order), from the classes'
    global counts for ``'balanced'``."""
    if isinstance(est.class_weight, str):  # 'balanced': n / (n_classes * count)
        return counts.sum() / (len(classes) * counts.astype(np.float64))
    # a dict: the weight of each label, given the labels themselves
    return est._target_sample_weight(classes, incremental=False)


def _class_factor(y_block, classes, per_class):
    return per_class[np.searchsorted(classes, y_block)]


# ------------------------------------------------------------ prediction


def lazy_on_dask(method):
    """``method(X)`` on a Dask collection returns a Dask array computed block
    by block on the workers, with the fitted estimator sent once."""

    @wraps(method)
    def predict(self, X, *args, **kwargs):
        if not is_dask_collection(X):
            return method(self, X, *args, **kwargs)
        return _lazy_prediction(self, method, X)

    return predict


def _lazy_prediction(est, method, X):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    names = getattr(est, "feature_names_in_", None)
    frame = None  # the blocks go to ``method`` as frames of this type, with names
    if _is_frame(X):
        _check_feature_names(est, _names_source(X), reset=False)
        frame = type(X._meta) if names is not None else None
        X = X.to_dask_array()  # partitions of unknown size are fine here
    elif names is not None:
        _check_feature_names(est, X, reset=False)  # warns: X has no names
    if X.ndim != 2 or len(X.chunks[1]) > 1:
        raise ValueError(
            f"predict on Dask input takes a 2D array partitioned by rows only; got shape "
            f"{X.shape} with column chunks {X.chunks[1] if X.ndim == 2 else None}: "
            "X.rechunk({1: -1})."
        )
    if not np.isnan(X.shape[1]) and X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    # the output's shape, from one row of zeros (a prediction, not data)
    sample = method(est, _frame(np.zeros((1, est.n_features_in_), est._theta.dtype), frame, names))
    if isinstance(sample, list):
        raise ValueError(
            "predict_proba of a multi-output classifier returns one array per output; "
            "on Dask input use predict, or compute X first."
        )
    shape = sample.shape[1:]
    return X.map_blocks(
        _predict_block, broadcast(est), method.__name__, frame, names,
        dtype=sample.dtype, chunks=(X.chunks[0], *[(s,) for s in shape]),
        drop_axis=None if shape else 1, meta=np.empty((0,) * sample.ndim, dtype=sample.dtype),
    )


def _frame(block, frame, names):
    """A block of rows as a frame of type ``frame`` (the Dask DataFrame's
    partitions', e.g. pandas') with the model's feature names, or as is."""
    return block if frame is None else frame(block, columns=names)


def _predict_block(block, est, name, frame, names):
    return getattr(est, name)(_frame(block, frame, names))
