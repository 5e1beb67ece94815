"""Drop-in compatibility with scikit-learn 1.9's MLPClassifier / MLPRegressor."""

import inspect
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sknn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdeep import MLPClassifier, MLPRegressor

PAIRS = [(MLPClassifier, sknn.MLPClassifier), (MLPRegressor, sknn.MLPRegressor)]
FITTED = [
    "coefs_", "intercepts_", "loss_", "loss_curve_", "best_loss_",
    "validation_scores_", "best_validation_score_", "n_iter_", "t_", "n_layers_",
    "n_outputs_", "out_activation_", "n_features_in_",
]


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_same_parameters_and_defaults(ours, theirs):
    mine = inspect.signature(ours.__init__).parameters
    sk = inspect.signature(theirs.__init__).parameters
    for name, param in sk.items():
        assert name in mine, name
        assert mine[name].default == param.default, name
        assert mine[name].kind == param.kind, name
    # positional order is the same too (MLPRegressor's loss comes first)
    positional = [n for n, p in sk.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert [n for n in mine if n in positional] == positional


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_same_fitted_attributes(ours, theirs, solver, iris):
    X, y = iris
    if ours is MLPRegressor:
        y = X[:, 0] + y
    kwargs = dict(hidden_layer_sizes=(7, 5), solver=solver, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mine = ours(**kwargs).fit(X, y)
        sk = theirs(**kwargs).fit(X, y)
    for name in FITTED:
        if hasattr(sk, name):
            assert hasattr(mine, name), name
    assert [c.shape for c in mine.coefs_] == [c.shape for c in sk.coefs_]
    assert [b.shape for b in mine.intercepts_] == [b.shape for b in sk.intercepts_]
    for name in ["n_layers_", "n_outputs_", "out_activation_", "n_features_in_"]:
        assert getattr(mine, name) == getattr(sk, name), name
    if ours is MLPClassifier:
        np.testing.assert_array_equal(mine.classes_, sk.classes_)


def _scores(cls, X, y, seeds, **kwargs):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            scores.append(cls(random_state=seed, **kwargs).fit(X_tr, y_tr).score(X_te, y_te))
    return np.array(scores)


def assert_within_noise(mine, theirs, floor):
    """Mean scores agree within three standard errors of their difference
    (the spread over seeds measures the noise), plus ``floor``."""
    se = np.sqrt(mine.var(ddof=1) / len(mine) + theirs.var(ddof=1) / len(theirs))
    assert abs(mine.mean() - theirs.mean()) <= 3 * se + floor, (mine, theirs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_iter=60),
        dict(solver="sgd", learning_rate_init=0.05, max_iter=60),
        dict(solver="lbfgs", max_iter=60),
        dict(early_stopping=True, max_iter=60),
    ],
)
def test_classifier_scores_within_noise_of_sklearn(kwargs, digits):
    X, y = digits
    kwargs["hidden_layer_sizes"] = (40,)
    mine = _scores(MLPClassifier, X, y, range(4), **kwargs)
    sk = _scores(sknn.MLPClassifier, X, y, range(4), **kwargs)
    assert_within_noise(mine, sk, floor=0.015)


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_iter=200), dict(solver="lbfgs", max_iter=50), dict(loss="poisson", max_iter=200)],
)
def test_regressor_scores_within_noise_of_sklearn(kwargs, diabetes):
    X, y = diabetes
    if kwargs.get("loss") == "poisson":
        y = y - y.min()
    kwargs["hidden_layer_sizes"] = (20,)
    mine = _scores(MLPRegressor, X, y, range(4), **kwargs)
    sk = _scores(sknn.MLPRegressor, X, y, range(4), **kwargs)
    assert_within_noise(mine, sk, floor=0.03)


def test_binary_classification_and_probabilities(iris):
    X, y = iris
    y = np.where(y == 0, "setosa", "other")  # string labels
    clf = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.predict(X).dtype == y.dtype
    assert clf.score(X, y) == 1.0


def test_multilabel_classification(iris):
    X, y = iris
    Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    clf = MLPClassifier((16,), solver="lbfgs", max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert clf.predict(X).shape == (150, 3)
    assert clf.predict_proba(X).shape == (150, 3)
    assert clf.score(X, Y) > 0.9


def test_multioutput_regression(diabetes):
    X, y = diabetes
    Y = np.column_stack([y, X[:, 2] - X[:, 3]])
    reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200, random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (len(X), 2)
    assert reg.score(X, Y) > 0.5


def test_column_vector_target_warns_and_is_raveled(iris):
    from sklearn.exceptions import DataConversionWarning

    X, y = iris
    with pytest.warns(DataConversionWarning):
        clf = MLPClassifier((4,), solver="lbfgs", max_iter=20).fit(X, y.reshape(-1, 1))
    assert clf.predict(X).shape == (150,)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_trains_like_dense(solver, digits):
    X, y = digits
    X = np.where(X > 0.5, X, 0.0)
    kwargs = dict(hidden_layer_sizes=(20,), solver=solver, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**kwargs).fit(X, y)
        for fmt in (sp.csr_matrix, sp.csc_matrix, sp.csr_array):
            sparse = MLPClassifier(**kwargs).fit(fmt(X), y)
            np.testing.assert_allclose(
                sparse.predict_proba(fmt(X)), dense.predict_proba(X), atol=1e-6
            )


def test_feature_names_are_checked(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = MLPClassifier((4,), solver="lbfgs", max_iter=20).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["b", "a", "c", "d"]])


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_float32_is_kept(cls, solver, iris):
    X, y = iris
    X = X.astype(np.float32)
    est = cls(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    out = est.predict_proba(X) if cls is MLPClassifier else est.predict(X)
    assert out.dtype == np.float32
    # a float64 X at predict time is computed with the float32 model
    out64 = est.predict_proba(X.astype(np.float64)) if cls is MLPClassifier else est.predict(X.astype(np.float64))
    np.testing.assert_array_equal(out, out64)


def test_coefs_are_views_of_one_flat_vector(iris):
    X, y = iris
    clf = MLPClassifier((6, 4), solver="lbfgs", max_iter=30, random_state=0).fit(X, y)
    theta = clf._theta
    for array in clf.coefs_ + clf.intercepts_:
        assert np.shares_memory(array, theta)
    # writing through a view changes the model
    before = clf.predict_proba(X)
    clf.coefs_[-1] *= 0
    clf.intercepts_[-1][:] = [0.0, 5.0, 0.0]
    assert not np.allclose(clf.predict_proba(X), before)
    assert (clf.predict(X) == 1).all()


def test_replaced_coefs_are_used(iris):
    """Code that assigns new arrays to coefs_ (not views) keeps working."""
    X, y = iris
    clf = MLPClassifier((6,), solver="lbfgs", max_iter=30, random_state=0).fit(X, y)
    other = MLPClassifier((6,), solver="lbfgs", max_iter=30, random_state=1).fit(X, y)
    clf.coefs_ = [c.copy() for c in other.coefs_]
    clf.intercepts_ = [b.copy() for b in other.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(X), other.predict_proba(X))
    # and training continues from them
    clf.set_params(warm_start=True, max_iter=1).fit(X, y)
    assert np.shares_memory(clf.coefs_[0], clf._theta)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_partial_fit(cls, digits):
    X, y = digits
    if cls is MLPRegressor:
        y = y / 10.0
    est = cls(hidden_layer_sizes=(20,), random_state=0)
    kwargs = {"classes": np.unique(y)} if cls is MLPClassifier else {}
    for _ in range(5):
        est.partial_fit(X[: 300], y[: 300], **kwargs)
        est.partial_fit(X[300:], y[300:])
        assert est.n_iter_ == 1  # as scikit-learn: one epoch per call
    assert len(est.loss_curve_) == 10
    assert est.t_ == 10 * len(X) // 2
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_partial_fit_is_not_available_with_lbfgs(cls):
    est = cls(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        getattr(est, "partial_fit")  # noqa: B009 (the attribute access is the test)
    assert hasattr(cls(solver="sgd"), "partial_fit")


def test_partial_fit_after_fit_continues_the_optimizer(iris):
    X, y = iris
    clf = MLPClassifier((5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    steps = clf._progress.optimizer.counters[0]
    clf.partial_fit(X, y)
    assert clf._progress.optimizer.counters[0] == steps + 1  # one batch of 150
    assert len(clf.loss_curve_) == 4


def test_warm_start_continues_from_the_fitted_weights(iris):
    X, y = iris
    clf = MLPClassifier((5,), max_iter=5, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = [c.copy() for c in clf.coefs_]
        clf.fit(X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10 and len(clf.history_) == 10
    assert clf.t_ == 10 * 150
    cold = MLPClassifier((5,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X, y)
    np.testing.assert_array_equal(cold.coefs_[0], first[0])
    assert not np.array_equal(clf.coefs_[0], first[0])


def test_warm_start_with_lbfgs(iris):
    X, y = iris
    clf = MLPClassifier((5,), solver="lbfgs", max_iter=5, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        loss1 = clf.fit(X, y).loss_
        loss2 = clf.fit(X, y).loss_
    assert loss2 < loss1


def test_verbose_prints_like_sklearn(iris, capsys):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((4,), max_iter=2, verbose=True, early_stopping=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert re.search(r"Iteration 1, loss = \d+\.\d{8}", out)
    assert "Validation score: " in out


def test_verbose_lbfgs_prints_what_sklearn_prints(iris, capfd):
    """Whatever scipy's L-BFGS-B writes (from compiled code: captured at the
    file descriptors), the same lines as scikit-learn, up to the numbers."""
    X, y = iris

    def output(cls):
        capfd.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cls((4,), solver="lbfgs", max_iter=200, verbose=True, random_state=0).fit(X, y)
        captured = capfd.readouterr()
        return [re.sub(r"[-+]?\d[\d.eE+-]*", "#", line) for line in (captured.out + captured.err).splitlines()]

    assert output(MLPClassifier) == output(sknn.MLPClassifier)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_convergence_warning(solver, iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning):
        MLPClassifier((4,), solver=solver, max_iter=2, random_state=0).fit(X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("n_iter_no_change", [1, 2, 5])
def test_stopping_rule_matches_sklearn(n_iter_no_change, early_stopping, iris):
    """With a tolerance no epoch can meet, both stop after the same number of
    epochs."""
    X, y = iris
    kwargs = dict(
        hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=n_iter_no_change,
        early_stopping=early_stopping, random_state=0,
    )
    mine = MLPClassifier(**kwargs).fit(X, y)
    sk = sknn.MLPClassifier(**kwargs).fit(X, y)
    assert mine.n_iter_ == sk.n_iter_ == n_iter_no_change + 2


def test_adaptive_learning_rate_divides_by_five(iris):
    X, y = iris
    clf = MLPClassifier(
        (4,), solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1,
        max_iter=8, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    rates = [record["learning_rate"] for record in clf.history_]
    # a plateau after epochs 3 and 5 (count > 1), each dividing the rate by 5
    np.testing.assert_allclose(rates, [1e-3] * 3 + [2e-4] * 2 + [4e-5] * 2 + [8e-6])
    assert clf._progress.lr == pytest.approx(8e-6)  # carried into partial_fit


def test_n_iter_no_change_can_be_infinite(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier((4,), tol=10.0, n_iter_no_change=np.inf, max_iter=7).fit(X, y)
    assert clf.n_iter_ == 7


def test_sample_weight_equals_repetition_with_lbfgs(iris):
    X, y = iris
    w = np.random.default_rng(0).integers(0, 3, len(y))
    kwargs = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**kwargs).fit(X, y, sample_weight=w)
        repeated = MLPClassifier(**kwargs).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_hidden_layer_sizes_forms(iris):
    X, y = iris
    for sizes, expected in [(5, [4, 5, 3]), ([5, 3], [4, 5, 3, 3]), (np.array([2]), [4, 2, 3]), ((), [4, 3])]:
        clf = MLPClassifier(sizes, solver="lbfgs", max_iter=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert [c.shape[0] for c in clf.coefs_] + [clf.coefs_[-1].shape[1]] == expected


def test_lbfgs_honours_max_fun(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier((20,), solver="lbfgs", max_fun=15, max_iter=1000, random_state=0).fit(X, y)
    evaluations = clf.t_ // len(y)  # t_ counts samples x function evaluations
    assert 15 <= evaluations <= 15 + 25  # scipy may finish its last line search
    assert clf.n_iter_ <= evaluations


def test_early_stopping_stratified():
    """scikit-learn's own test (sklearn/neural_network/tests/test_mlp.py),
    with skdeep's classifier: a class of one member cannot be stratified."""
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    y = [0, 0, 0, 1]

    mlp = MLPClassifier(early_stopping=True)
    with pytest.raises(
        ValueError,
        match=(
            r"The least populated classes in y have only 1 member.*Classes with "
            r"too few members are: \['True'\]"
        ),
    ):
        mlp.fit(X, y)


def test_early_stopping_names_a_multiclass_target_s_single_member_class():
    X = np.arange(16.0).reshape(8, 2)
    with pytest.raises(ValueError, match=r"Classes with too few members are: \['c'\]\. early_stopping=True"):
        MLPClassifier(early_stopping=True).fit(X, list("aaaabbbc"))
