"""What a careful user meets: the caller's input is never written to,
read-only memory compiles nothing of its own, and an interrupted fit keeps a
model whose attributes agree with its weights."""

import importlib
import pkgutil
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import skdeep._kernels
from skdeep import MLPClassifier, MLPRegressor

from .conftest import assert_unchanged, snapshot

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 5))
y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# ------------------------------------------------ the caller's input is kept


def _non_canonical_csr():
    """A CSR matrix with unsorted indices and duplicate entries in its rows."""
    indptr = np.arange(0, 3 * 60 + 1, 3, dtype=np.int32)
    indices = np.tile(np.array([3, 1, 3], dtype=np.int32), 60)  # 3 twice, unsorted
    data = rng.normal(size=indices.shape[0])
    M = sp.csr_matrix((data, indices, indptr), shape=(60, 5))
    assert not M.has_canonical_format
    return M


def _arrays(M):
    return [M.data.copy(), M.indices.copy(), M.indptr.copy()]


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fit_and_predict_leave_a_non_canonical_csr_matrix_as_it_was(solver):
    M = _non_canonical_csr()
    before = _arrays(M)
    clf = _quiet_fit(MLPClassifier((4,), solver=solver, max_iter=5, random_state=0), M, y)
    clf.predict_proba(M)
    for kept, now in zip(before, [M.data, M.indices, M.indptr]):
        assert kept.dtype == now.dtype and kept.tobytes() == now.tobytes()
    # and the model is the one fitted on the canonical matrix
    canonical = M.copy()
    canonical.sum_duplicates()
    same = _quiet_fit(MLPClassifier((4,), solver=solver, max_iter=5, random_state=0), canonical, y)
    np.testing.assert_array_equal(clf.predict_proba(M), same.predict_proba(canonical))


def test_a_read_only_non_canonical_csr_matrix_is_accepted():
    """As joblib hands large arrays to the workers of GridSearchCV(n_jobs=2)."""
    M = _non_canonical_csr()
    writeable = _quiet_fit(MLPClassifier((4,), max_iter=5, random_state=0), M.copy(), y)
    for array in (M.data, M.indices, M.indptr):
        array.flags.writeable = False
    clf = _quiet_fit(MLPClassifier((4,), max_iter=5, random_state=0), M, y)
    np.testing.assert_array_equal(clf.predict_proba(M), writeable.predict_proba(M.copy()))
    np.testing.assert_array_equal(writeable.predict_proba(M), clf.predict_proba(M.copy()))


# ------------------------------------- read-only memory compiles nothing new


def _read_only_signatures():
    """The compiled signatures of every kernel that hold a read-only array."""
    found = set()
    for module in pkgutil.iter_modules(skdeep._kernels.__path__):
        namespace = importlib.import_module(f"skdeep._kernels.{module.name}")
        for name, value in vars(namespace).items():
            signatures = getattr(value, "signatures", None) if not isinstance(value, type) else None
            if isinstance(signatures, list):
                found |= {f"{name}{s}" for s in signatures if "readonly" in str(s)}
    return found


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("sparse", [False, True])
def test_read_only_input_and_models_compile_nothing_of_their_own(tmp_path, solver, sparse):
    """Read-only X (a memory map), and a model loaded with
    ``joblib.load(mmap_mode="r")``, reach the kernels as the writeable types:
    no kernel has a signature with a read-only array, and the results are
    those of writeable arrays. The memory maps are read-only pages, so a
    kernel writing to them would crash this test."""
    data = sp.csr_matrix(X) if sparse else X
    path = tmp_path / "X.joblib"
    joblib.dump(data, path)
    mapped = joblib.load(path, mmap_mode="r")
    assert not (mapped.data if sparse else mapped).flags.writeable
    params = dict(hidden_layer_sizes=(4,), solver=solver, max_iter=5, random_state=0)
    clf = _quiet_fit(MLPClassifier(**params), mapped, y)
    reference = _quiet_fit(MLPClassifier(**params), data, y)
    np.testing.assert_array_equal(clf.predict_proba(mapped), reference.predict_proba(data))
    model = tmp_path / "model.joblib"
    joblib.dump(reference, model)
    loaded = joblib.load(model, mmap_mode="r")
    assert not loaded._theta.flags.writeable and not loaded.coefs_[0].flags.writeable
    np.testing.assert_array_equal(loaded.predict_proba(mapped), reference.predict_proba(data))
    assert _read_only_signatures() == set()


def test_a_read_only_snapshot_ensemble_and_mc_dropout_compile_nothing_of_their_own(tmp_path):
    from skdeep.schedules import Cyclic

    params = dict(hidden_layer_sizes=(4,), max_iter=6, dropout=0.2, random_state=0)
    reg = _quiet_fit(MLPRegressor(learning_rate=Cyclic(step_size=1, snapshots=2), **params), X, X[:, 0])
    path = tmp_path / "model.joblib"
    joblib.dump(reg, path)
    loaded = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    np.testing.assert_array_equal(
        loaded.predict_mc_dropout(X, n_samples=3, random_state=0)[0],
        reg.predict_mc_dropout(X, n_samples=3, random_state=0)[0],
    )
    assert _read_only_signatures() == set()


# ------------------------------------------ float64 input of a float32 model


@pytest.mark.parametrize("sparse", [False, True])
def test_a_float32_model_refuses_float64_input_beyond_float32s_range(sparse):
    clf = _quiet_fit(MLPClassifier((4,), max_iter=5, random_state=0), X.astype(np.float32), y)
    big = X.copy()
    big[3, 2] = 1e39
    big = sp.csr_matrix(big) if sparse else big
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy cast warning either
        for method in (clf.predict, clf.predict_proba, clf.predict_log_proba):
            with pytest.raises(ValueError, match="X has values beyond the range of float32"):
                method(big)
    before = snapshot(clf)
    with pytest.raises(ValueError, match="beyond the range of float32"):
        clf.set_params(warm_start=True).fit(big, y)
    clf.set_params(warm_start=False)
    assert_unchanged(clf, before | {"warm_start": False})
    # within the range, float64 input predicts as its float32 cast
    fine = X.copy()
    fine[3, 2] = 1e38
    np.testing.assert_array_equal(clf.predict_proba(fine), clf.predict_proba(fine.astype(np.float32)))
