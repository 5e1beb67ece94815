"""skops persistence: round trips, the trusted types, refusing foreign types.

A fitted model's internal state is plain data (``_estimators/_state``), so
``skops.io.get_untrusted_types`` names skdeep's own classes only, and
``skops.io.load(..., trusted=skdeep.persistence.trusted_types())`` rebuilds
models of every solver family and regulariser with identical predictions and
training state (``partial_fit`` continues as on the original).
"""

import pickle

import numpy as np
import pytest
import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from skdeep import MLPClassifier, MLPRegressor
from skdeep.optim import LAMB, AdaHessian, Adam, Lookahead, RMSProp
from skdeep.persistence import trusted_types
from skdeep.schedules import Cosine, Cyclic

from .conftest import _same

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)

#: one model per solver family and regulariser
CONFIGURATIONS = {
    "adam": dict(solver="adam"),
    "sgd-momentum": dict(solver="sgd", momentum=0.8),
    "lbfgs": dict(solver="lbfgs"),
    "newton-cg": dict(solver="newton-cg"),
    "adahessian": dict(solver=AdaHessian(beta_1=0.8)),
    "rmsprop-object-cosine": dict(solver=RMSProp(rho=0.95), learning_rate=Cosine()),
    # their state beyond the moments: LAMB's layer norms, Lookahead's slow weights
    "lamb": dict(solver="lamb"),
    "lookahead-lamb": dict(solver=Lookahead(LAMB(), k=3)),
    "lookahead-adam": dict(solver=Lookahead(Adam(), k=3)),
    "adadelta": dict(solver="adadelta"),
    "dropout": dict(dropout=0.2, input_dropout=0.1),
    "batch_norm": dict(batch_norm=True),
    "max_norm": dict(max_norm=1.5, penalty="elasticnet"),
    "averaging": dict(average=True),
    "snapshots": dict(solver="sgd", learning_rate=Cyclic(step_size=1, snapshots=2)),
    "early_stopping": dict(early_stopping=True, validation_fraction=0.25),
    "restarts": dict(n_init=2),
    "coordinate": dict(solver="coordinate"),
    # history_ records with the curriculum's rows (partial_fit refuses it)
    "curriculum": dict(curriculum="self_paced", curriculum_start=0.5, curriculum_epochs=2),
}


def skops_round_trip(est):
    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= set(trusted_types()), untrusted
    return sio.loads(data, trusted=trusted_types())


def assert_same_predictions(est, loaded, X):
    for method in ("predict", "predict_proba"):
        if hasattr(est, method):
            a, b = getattr(est, method)(X), getattr(loaded, method)(X)
            for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
                np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_skops_round_trip(name, iris):
    X, y = iris
    est = MLPClassifier(**SMALL, **CONFIGURATIONS[name]).fit(X, y)
    loaded = skops_round_trip(est)
    assert type(loaded) is MLPClassifier
    assert_same_predictions(est, loaded, X)
    _same(vars(est), vars(loaded), name)  # every attribute, the internal ones rebuilt
    if hasattr(est, "partial_fit") and name not in ("early_stopping", "curriculum"):
        # the optimizer state and random generator came back too
        est.partial_fit(X, y)
        loaded.partial_fit(X, y)
        assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skops_other_targets(dtype, diabetes):
    X, y = diabetes
    X = X.astype(dtype)
    reg = MLPRegressor(**SMALL).fit(X, np.c_[y, -y])
    assert_same_predictions(reg, skops_round_trip(reg), X)
    heads = np.c_[y > 0, np.digitize(y, [-1, 0, 1])]
    clf = MLPClassifier(**SMALL).fit(X, heads)
    loaded = skops_round_trip(clf)
    assert_same_predictions(clf, loaded, X)
    assert loaded.predict(X).dtype == clf.predict(X).dtype


def test_untrusted_types_are_skdeeps_own(iris):
    X, y = iris
    est = MLPClassifier(**SMALL, solver=RMSProp(), learning_rate=Cosine()).fit(X, y)
    untrusted = sio.get_untrusted_types(data=sio.dumps(est))
    assert sorted(untrusted) == [
        "skdeep._estimators._classifier.MLPClassifier",
        "skdeep.optim._first_order.RMSProp",
        "skdeep.schedules.Cosine",
    ]
    assert all(name.startswith("skdeep.") for name in trusted_types())


def flip_rows(X, rng):
    """A module-level augmentation: skops stores it by name, untrusted."""
    return X[:, ::-1].copy()


def test_foreign_type_is_refused(iris, tmp_path):
    X, y = iris
    est = MLPClassifier(**SMALL, augment=flip_rows).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert "tests.test_persistence.flip_rows" in untrusted
    with pytest.raises(UntrustedTypesFoundException, match="flip_rows"):
        sio.load(path, trusted=trusted_types())


def test_pickle_keeps_working_with_plain_state(iris):
    X, y = iris
    est = MLPClassifier(**SMALL, solver=AdaHessian(), average=True).fit(X, y)
    state = est.__getstate__()
    assert isinstance(state["_network"], dict) and isinstance(state["_progress"], dict)
    loaded = pickle.loads(pickle.dumps(est))
    _same(vars(est), vars(loaded), "pickle")
    # a state written before the plain form (objects in place) still loads
    old = dict(vars(est))
    for name in ("coefs_", "intercepts_", "_views"):
        old.pop(name)
    legacy = MLPClassifier.__new__(MLPClassifier)
    legacy.__setstate__(old)
    assert_same_predictions(est, legacy, X)
