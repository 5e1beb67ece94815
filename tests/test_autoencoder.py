"""MLPAutoencoder: the estimator contract, the contractive penalty and its
gradient, reconstructions against PCA, denoising, anomaly scores, tangents
from the encoder's Jacobian and unsupervised pretraining (issues 17 and 18)."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeep import MLPAutoencoder, MLPClassifier
from skdeep._estimators._autoencoder import _row_errors

from .test_gradients import _numerical_gradient, _objective

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HELD_OUT = 9  # the digit the fixture's autoencoder never sees


# one configuration: the contractive kernels' float32 and sparse compiles
# would cost more suite time than they check (their gradient is tested below)
@parametrize_with_checks([MLPAutoencoder((8,), max_iter=30, random_state=0)])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits01():
    """Digits scaled to [0, 1]: training rows without the held-out digit,
    test rows of the training digits, the held-out digit's rows, and the
    labels of the training and test rows."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(X.shape[0])
    X, y = X[order], y[order]
    known = y != HELD_OUT
    X_known = X[known]
    n_train = int(0.75 * X_known.shape[0])
    y_known = y[known]
    return X_known[:n_train], X_known[n_train:], X[~known], y_known[:n_train], y_known[n_train:]


@pytest.fixture(scope="module")
def fitted(digits01):
    X_train = digits01[0]
    return MLPAutoencoder(
        (64, 16), activation="tanh", learning_rate_init=0.003, batch_size=32, max_iter=100,
        random_state=0,
    ).fit(X_train)


# --------------------------------------------------------- the penalty


@pytest.mark.parametrize("activation", ["logistic", "tanh", "softplus", "relu"])
def test_contractive_gradient_and_value(activation):
    """Full-batch objective: the gradient against finite differences, and
    the penalty against lambda * ||J||_F^2 with J by central differences."""
    rng = np.random.default_rng(0)
    n, d, h = 7, 5, 3
    X = rng.normal(size=(n, d))
    sw = rng.random(n) + 0.5
    net, obj = _objective([d, h, d], activation, "squared_error", X, X.copy(), sw, 0.1, np.float64, contractive=0.7)
    _, plain = _objective([d, h, d], activation, "squared_error", X, X.copy(), sw, 0.1, np.float64)
    theta = rng.normal(scale=0.6, size=net.n_params)
    grad = obj(theta)[1].copy()
    np.testing.assert_allclose(grad, _numerical_gradient(obj, theta), rtol=1e-6, atol=1e-8)

    f = {
        "logistic": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh,
        "softplus": lambda a: np.logaddexp(0, a), "relu": lambda a: np.maximum(a, 0),
    }[activation]
    W, b = net.coefs(theta)[0], net.intercepts(theta)[0]
    eps = 1e-6
    norms = [
        sum(np.sum(((f((x + eps * e) @ W + b) - f((x - eps * e) @ W + b)) / (2 * eps)) ** 2) for e in np.eye(d))
        for x in X
    ]
    expected = 0.7 * np.dot(sw, norms) / sw.sum()
    np.testing.assert_allclose(obj(theta)[0] - plain(theta)[0], expected, rtol=1e-6)


def test_contractive_stochastic_step_follows_the_exact_gradient():
    """The epoch kernel's contractive term (per shard): one plain SGD step
    over the whole data set is -lr times the full-batch gradient."""
    rng = np.random.default_rng(1)
    X = rng.random((40, 6))
    common = dict(activation="logistic", alpha=0.0, random_state=0)
    ae = MLPAutoencoder(
        (4,), solver="sgd", momentum=0.0, batch_size=40, learning_rate_init=1e-3,
        max_iter=1, shuffle=False, contractive=0.5, warm_start=True, **common,
    ).fit(X)
    theta0 = ae._theta.copy()
    ae.fit(X)
    net, obj = _objective([6, 4, 6], "logistic", "squared_error", X, X.copy(), np.ones(40), 0.0, np.float64, contractive=0.5)
    np.testing.assert_allclose(ae._theta, theta0 - 1e-3 * obj(theta0)[1], rtol=1e-10, atol=1e-13)


def test_contractive_lowers_the_jacobian(digits01):
    X_train, X_test = digits01[0][:600], digits01[1]
    params = dict(activation="logistic", learning_rate_init=0.01, max_iter=30, random_state=0)
    plain = MLPAutoencoder((16,), **params).fit(X_train)
    cae = MLPAutoencoder((16,), contractive=0.1, **params).fit(X_train)

    def norm(ae):
        return np.mean(np.sum(ae.encoder_jacobian(X_test) ** 2, axis=(1, 2)))

    assert norm(cae) < 0.5 * norm(plain)


# ------------------------------------------------------ reconstruction


def test_reconstruction_beats_pca(digits01, fitted):
    X_train, X_test = digits01[:2]
    pca = PCA(16).fit(X_train)
    pca_error = np.mean(_row_errors(X_test, pca.inverse_transform(pca.transform(X_test))))
    ae_error = -fitted.score(X_test)
    assert ae_error < pca_error
    np.testing.assert_allclose(ae_error, np.mean(_row_errors(X_test, fitted.inverse_transform(fitted.transform(X_test)))))


def test_score_samples_flag_the_held_out_digit(digits01, fitted):
    X_test, X_new = digits01[1], digits01[2]
    scores = fitted.score_samples(np.vstack([X_test, X_new]))
    is_new = np.r_[np.zeros(len(X_test)), np.ones(len(X_new))]
    assert roc_auc_score(is_new, -scores) > 0.8


def test_denoising_reconstructs_noisy_inputs_better(digits01):
    X_train, X_test = digits01[0][:600], digits01[1]
    params = dict(activation="logistic", learning_rate_init=0.01, max_iter=30, random_state=0)
    plain = MLPAutoencoder((16,), **params).fit(X_train)
    denoising = MLPAutoencoder((16,), input_noise=0.3, **params).fit(X_train)
    noisy = X_test + np.random.default_rng(0).normal(scale=0.3, size=X_test.shape)

    def error(ae):  # against the clean rows
        return np.mean(_row_errors(X_test, ae.inverse_transform(ae.transform(noisy))))

    assert error(denoising) < error(plain)


def test_transform_shapes_names_dtype_and_sparse(digits01, fitted):
    X = digits01[1][:20]
    codes = fitted.transform(X)
    assert codes.shape == (20, 16)
    assert list(fitted.get_feature_names_out()) == [f"mlpautoencoder{i}" for i in range(16)]
    np.testing.assert_allclose(fitted.transform(sp.csr_matrix(X)), codes, rtol=1e-12)
    assert len(fitted.coefs_) == 4 and fitted.coefs_[1].shape == (64, 16)
    ae32 = MLPAutoencoder((4,), max_iter=3, random_state=0).fit(X.astype(np.float32))
    assert ae32.transform(X.astype(np.float32)).dtype == np.float32
    assert ae32.inverse_transform(ae32.transform(X)).dtype == np.float32


# ---------------------------------------------------- Jacobian, tangents


def test_encoder_jacobian_and_tangents(digits01, fitted):
    X = digits01[1][:4]
    J = fitted.encoder_jacobian(X)
    assert J.shape == (4, 16, 64)
    eps = 1e-6
    numerical = np.stack(
        [(fitted.transform(X + eps * e) - fitted.transform(X - eps * e)) / (2 * eps) for e in np.eye(64)],
        axis=2,
    )
    np.testing.assert_allclose(J, numerical, rtol=1e-5, atol=1e-8)
    T = fitted.tangents(X, 5)
    assert T.shape == (4, 5, 64)
    np.testing.assert_allclose(np.einsum("itf,isf->its", T, T), np.broadcast_to(np.eye(5), (4, 5, 5)), atol=1e-12)
    # the leading right singular vectors of the finite-difference Jacobian
    for i in range(4):
        V = np.linalg.svd(numerical[i])[2][:5]
        np.testing.assert_allclose(np.abs(np.sum(V * T[i], axis=1)), 1, atol=1e-5)


# ---------------------------------------------------------- pretraining


def test_pretraining_copies_the_encoder(digits01, fitted):
    X_train, y_train = digits01[0], digits01[3]
    clf = MLPClassifier(
        (64, 16), activation="tanh", init=fitted, freeze_layers=2, max_iter=5, random_state=0
    ).fit(X_train[:300], y_train[:300])
    for k in range(2):
        np.testing.assert_array_equal(clf.coefs_[k], fitted.coefs_[k])
        np.testing.assert_array_equal(clf.intercepts_[k], fitted.intercepts_[k])
    # a wider network copies the encoder's layers that match, never the decoder
    wide = MLPClassifier((64, 16, 64), activation="tanh", init=fitted, max_iter=1, random_state=0)
    wide.fit(X_train[:50], y_train[:50])
    assert not np.allclose(wide.coefs_[2], fitted.coefs_[2], atol=0.05)
    # greedy: a deeper autoencoder starts from a shallower one's encoder, kept fixed
    first = MLPAutoencoder((64,), activation="tanh", max_iter=2, random_state=0).fit(X_train[:100])
    deep = MLPAutoencoder((64, 16), activation="tanh", init=first, freeze_layers=1, max_iter=2, random_state=0)
    np.testing.assert_array_equal(deep.fit(X_train[:100]).coefs_[0], first.coefs_[0])


def test_pretraining_with_a_wrong_shape_is_refused(digits01, fitted):
    X_train, y_train = digits01[0][:50], digits01[3][:50]
    clf = MLPClassifier((32,), max_iter=1, random_state=0).fit(X_train, y_train)
    before = clf._theta.copy()
    with pytest.raises(ValueError, match=r"first layer has shape \(64, 64\), but this network's is \(64, 32\)"):
        clf.set_params(init=fitted).fit(X_train, y_train)
    np.testing.assert_array_equal(clf._theta, before)  # the fitted model is kept
    with pytest.raises(ValueError, match="features"):
        MLPClassifier((64,), init=fitted, max_iter=1).fit(X_train[:, :10], y_train)


# --------------------------------------------------------- bad inputs


def test_bad_inputs_leave_the_model_unchanged(digits01, fitted):
    X = digits01[1][:10]
    before = (fitted._theta.copy(), fitted.n_iter_, fitted.transform(X))
    with pytest.raises(ValueError, match="64 features"):
        fitted.transform(X[:, :10])
    with pytest.raises(ValueError, match="64 features"):
        fitted.score_samples(X[:, :10])
    with pytest.raises(ValueError, match="codes of width 16"):
        fitted.inverse_transform(np.zeros((3, 15)))
    with pytest.raises(ValueError, match="n_tangents must be an integer from 1 to 16"):
        fitted.tangents(X, 17)
    with pytest.raises(ValueError, match="one-layer encoder"):
        fitted.set_params(contractive=0.1).fit(X)
    fitted.set_params(contractive=0.0)
    with pytest.raises(ValueError, match="Hessian-vector products"):
        MLPAutoencoder((4,), solver="newton-cg", contractive=0.1).fit(X)
    with pytest.raises(ValueError, match="batch_norm"):
        MLPAutoencoder((4,), batch_norm=True, contractive=0.1).fit(X)
    with pytest.raises(ValueError, match="at least one hidden layer"):
        MLPAutoencoder(()).fit(X)
    np.testing.assert_array_equal(fitted._theta, before[0])
    assert fitted.n_iter_ == before[1]
    np.testing.assert_array_equal(fitted.transform(X), before[2])


def test_pickle_round_trip(digits01, fitted):
    X = digits01[1][:10]
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))


def test_onnx_export_of_transform_and_skops_round_trip(digits01, fitted):
    from skdeep.onnx import to_onnx

    from .test_onnx import run
    from .test_persistence import skops_round_trip

    X = digits01[1][:10]
    codes = run(to_onnx(fitted, X[:1]), X)[0]
    np.testing.assert_allclose(codes, fitted.transform(X), rtol=1e-5, atol=1e-6)
    loaded = skops_round_trip(fitted)
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(codes), fitted.inverse_transform(codes))


def test_manifold_tangent_classifier(digits01):
    """Contractive autoencoder -> tangents -> tangent propagation: the output
    is less sensitive along the learned tangents, at equal accuracy within
    noise (issue 18)."""
    X_train, X_test = digits01[0][:400], digits01[1][:200]
    y_train, y_test = digits01[3][:400], digits01[4][:200]
    cae = MLPAutoencoder(
        (32,), activation="logistic", contractive=0.05, learning_rate_init=0.01,
        max_iter=30, random_state=0,
    ).fit(X_train)
    T_train, T_test = cae.tangents(X_train, 2), cae.tangents(X_test, 2)

    def sensitivity(clf, h=1e-4):
        return np.mean([
            np.sum((clf.predict_proba(X_test + h * T_test[:, k]) - clf.predict_proba(X_test - h * T_test[:, k])) ** 2)
            / (2 * h) ** 2
            for k in range(2)
        ])

    params = dict(hidden_layer_sizes=(32,), activation="tanh", max_iter=60, random_state=0)
    plain = MLPClassifier(**params).fit(X_train, y_train)
    mtc = MLPClassifier(tangent_prop=0.03, **params).fit(X_train, y_train, tangents=T_train)
    assert sensitivity(mtc) < 0.8 * sensitivity(plain)
    assert abs(mtc.score(X_test, y_test) - plain.score(X_test, y_test)) < 0.04


def test_precompile_takes_an_autoencoder():
    from skdeep.precompile import precompile

    (timing,) = precompile(MLPAutoencoder((4,), activation="logistic", contractive=0.1))
    assert timing["estimator"] == "MLPAutoencoder" and timing["params"]["contractive"] == 0.1


@pytest.mark.parametrize(
    "params",
    [
        dict(early_stopping=True, validation_fraction=0.2),
        dict(batch_norm=True, hidden_layer_sizes=(8, 4)),
        dict(solver="lbfgs", contractive=0.1, activation="logistic"),
        dict(dropout=0.1, contractive=0.1, activation="tanh", input_dropout=0.1),
        dict(average=True, weight_noise=0.01, activity_l1=1e-3),
    ],
    ids=["early_stopping", "batch_norm", "lbfgs_contractive", "dropout_contractive", "averaging"],
)
def test_options_combine_and_halves_agree(digits01, params):
    """With each option, the network's reconstruction (score_samples) is
    the decoder applied to the encoder's codes."""
    X = digits01[0][:120]
    ae = MLPAutoencoder(**{"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0, **params}).fit(X)
    assert np.isfinite(ae.loss_)
    np.testing.assert_allclose(
        -ae.score_samples(X), _row_errors(X, ae.inverse_transform(ae.transform(X))), rtol=1e-9
    )
    if params.get("early_stopping"):
        assert ae.best_validation_score_ <= 0  # minus a reconstruction error
