"""MLPAutoencoder: a multilayer perceptron trained to reconstruct its input.

An autoencoder is the regressor of ``X`` on ``X`` with a mirrored network:
``hidden_layer_sizes`` are the encoder's layers, the last one is the code,
and the decoder repeats the encoder's hidden layers in reverse order before
the linear output layer of ``n_features`` units. It trains on the engine of
the MLPs (half the squared reconstruction error, the same solvers,
schedules, regularisers and strategies); ``transform`` returns the code,
``inverse_transform`` decodes codes, ``score_samples`` is minus each row's
squared reconstruction error.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted

from .._kernels.contractive import activation_derivative
from .._network import Inputs, Network
from ..regularization._prior import layers_of
from . import _docstrings
from ._base import BaseMLP
from ._dask import lazy_on_dask
from ._support import store_parameters

#: the MLPs' parameters an autoencoder does not have, and their off values
_NOT_OFFERED = {"tangent_prop": 0.0, "residual": False, "dropconnect": 0.0, "dask_sync_every": None}
_PARAMETERS = [
    "hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
    "learning_rate", "learning_rate_init", "power_t", "max_iter", "shuffle",
    "random_state", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1",
    "beta_2", "epsilon", "n_iter_no_change", "max_fun", "penalty", "l1_ratio",
    "max_norm", "dropout", "input_dropout", "input_noise", "weight_noise",
    "activity_l1", "contractive", "adversarial_eps", "adversarial_steps",
    "coef_prior", "prior_alpha", "augment",
    *(name for name in _docstrings.STRATEGIES if name not in _NOT_OFFERED),
]
_ATTRIBUTES = [
    "loss_", "best_loss_", "loss_curve_", "validation_scores_",
    "best_validation_score_", "best_epoch_", "history_", "t_", "coefs_", "intercepts_",
    "n_features_in_", "feature_names_in_", "n_iter_", "n_layers_", "n_outputs_",
    "out_activation_", "unused_features_", "activation_sparsity_",
    *_docstrings.STRATEGY_ATTRIBUTES,
]
_EXTRA = """\
See Also
--------
sklearn.decomposition.PCA : The linear autoencoder's solution, in closed form.
FeatureExtractor : Any hidden layer of a fitted network as a transformer.

Notes
-----
The network is ``n_features -> hidden_layer_sizes -> reversed(hidden_layer_sizes[:-1])
-> n_features``: for ``hidden_layer_sizes=(64, 16)`` it is
``n -> 64 -> 16 -> 64 -> n``, and ``coefs_`` holds all four layers (the
first ``len(hidden_layer_sizes)`` are the encoder). The code units use
``activation``; the output is linear. The loss is half the squared
reconstruction error summed over features, averaged over rows, plus the
penalties. ``dropout`` takes one rate per hidden layer of the whole network
(``2 * len(hidden_layer_sizes) - 1`` of them).

Regularised autoencoders (see docs/autoencoders.md): ``input_noise`` (or
``input_dropout``, masking noise) trains a denoising autoencoder, since the
network sees corrupted inputs and is asked for the clean ones;
``activity_l1`` a sparse one; ``contractive`` a contractive one (one-layer
encoders only). A fitted autoencoder is an ``init`` for MLPClassifier and
MLPRegressor (and for a deeper autoencoder): its encoder layers are copied
(unsupervised pretraining).

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from skdeep import MLPAutoencoder
>>> X = load_digits().data / 16
>>> ae = MLPAutoencoder((16,), activation="logistic", max_iter=20, random_state=0).fit(X)
>>> ae.transform(X).shape
(1797, 16)
>>> ae.inverse_transform(ae.transform(X[:2])).shape
(2, 64)
"""


class MLPAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseMLP):
    __doc__ = _docstrings.compose(
        "Autoencoder: a multilayer perceptron that reconstructs its input, "
        "trained by a compiled engine.",
        _PARAMETERS, _ATTRIBUTES, _EXTRA,
    )

    _parameter_constraints: dict = {
        **{k: v for k, v in BaseMLP._parameter_constraints.items() if k not in _NOT_OFFERED},
        "contractive": [Interval(Real, 0, None, closed="left")],
    }
    _targets_are_inputs = True

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", *,
        solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
        learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
        random_state=None, tol=1e-4, verbose=False, warm_start=False,
        momentum=0.9, nesterovs_momentum=True, early_stopping=False,
        validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, max_fun=15000, penalty="l2", l1_ratio=0.15,
        max_norm=None, dropout=0.0, input_dropout=0.0, input_noise=0.0,
        weight_noise=0.0, activity_l1=0.0, contractive=0.0, adversarial_eps=0.0,
        adversarial_steps=1, coef_prior=None, prior_alpha=0.0, augment=None,
        init="auto", freeze_layers=0, batch_norm=False, clip_grad_norm=None,
        average=False, n_init=1,
    ):
        store_parameters(self, locals())

    # ---------------------------------------------------- the base's hooks

    def _encoder_sizes(self):
        sizes = super()._hidden_sizes()
        if not sizes:
            raise ValueError(
                "hidden_layer_sizes is empty, but an autoencoder needs at least one "
                "hidden layer: its last entry is the code."
            )
        return sizes

    def _hidden_sizes(self):
        """The hidden layers of the whole network: the encoder's, then the
        decoder's mirror of them (the code is not repeated)."""
        encoder = self._encoder_sizes()
        return encoder + encoder[-2::-1]

    def _config_params(self):
        return {**self.get_params(deep=False), **_NOT_OFFERED}

    def _prepare_targets(self, y, *, first_pass, incremental, classes):
        return "squared_error", None

    def _encode_targets(self, y):
        return y

    def _validation_score(self, output, y, sample_weight):
        return self._score_of_sums(self._validation_sums(output, y, sample_weight))

    def _validation_sums(self, output, y, sample_weight):
        """The weight sum and the weighted sum of the rows' squared
        reconstruction errors."""
        if not np.isfinite(output).all():
            return np.full(2, np.nan)
        w = np.asarray(sample_weight, dtype=np.float64)
        return np.array([w.sum(), w @ _row_errors(y, output)])

    def _score_of_sums(self, sums):
        """Minus the weighted mean reconstruction error (higher is better)."""
        weight, error = sums
        return float(-error / weight)

    # ------------------------------------------------------------ fitting

    def _targets(self, X):
        """The reconstruction targets: ``X`` itself, dense."""
        Y = check_array(
            X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
            estimator=self, input_name="X",
        )
        return Y.toarray() if sp.issparse(Y) else Y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the autoencoder to reconstruct X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 input is trained in float32. Sparse input
            is reconstructed as a dense output.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : object
            The fitted autoencoder.
        """
        return self._fit(X, self._targets(X), sample_weight, incremental=False)

    @available_if(lambda est: est._check_partial_fit())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the autoencoder with one epoch over X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : object
            The updated autoencoder.
        """
        return self._fit(X, self._targets(X), sample_weight, incremental=True)

    # ------------------------------------------------- the two halves

    @property
    def _n_encoder_layers(self):
        """How many of ``coefs_`` are the encoder's (what ``init`` copies)."""
        return (self._network.n_layers + 1) // 2

    @property
    def _n_features_out(self):
        return int(self._network.sizes[self._n_encoder_layers])

    def _layers(self):
        """``(coefs, intercepts)`` of what the network computes (batch
        normalisation folded in), as arrays of the model's dtype."""
        coefs, intercepts = layers_of(self, name="autoencoder")
        dtype = self._theta.dtype
        return [np.asarray(c, dtype=dtype) for c in coefs], [np.asarray(b, dtype=dtype) for b in intercepts]

    def _part(self, start, stop):
        """The plain ``Network`` of layers ``start:stop`` and its flat
        parameters."""
        coefs, intercepts = self._layers()
        sizes = [coefs[start].shape[0]] + [c.shape[1] for c in coefs[start:stop]]
        part = Network(np.array(sizes), self._network.activation, "squared_error")
        return part, part.pack(coefs[start:stop], intercepts[start:stop], self._theta.dtype)

    def _codes(self, X):
        """The activations of every encoder layer for the rows of ``X``."""
        inputs, theta = self._prediction_inputs(X)
        k = self._n_encoder_layers
        activations = self._network.hidden_activations(theta, inputs)
        return inputs, activations[:k]

    @lazy_on_dask
    def transform(self, X):
        """Encode X: the activations of the code layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        codes : ndarray of shape (n_samples, hidden_layer_sizes[-1])
            The codes.
        """
        check_is_fitted(self)
        inputs, theta = self._prediction_inputs(X)
        return self._network.hidden_activations(theta, inputs, layer=self._n_encoder_layers - 1)

    def inverse_transform(self, X):
        """Decode codes into reconstructions in input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, hidden_layer_sizes[-1])
            Codes, as :meth:`transform` returns.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The decoder's output.
        """
        check_is_fitted(self)
        dtype = self._theta.dtype
        codes = check_array(X, dtype=dtype, input_name="X")
        width = self._n_features_out
        if codes.shape[1] != width:
            raise ValueError(
                f"inverse_transform takes codes of width {width} (the code layer, "
                f"hidden_layer_sizes[-1]), got X with {codes.shape[1]} columns."
            )
        decoder, theta = self._part(self._n_encoder_layers, self._network.n_layers)
        return decoder.predict(theta, Inputs(codes, dtype))

    def _reconstruction_errors(self, X):
        inputs, theta = self._prediction_inputs(X)
        X_dense = inputs.matrix.toarray() if inputs.sparse else inputs.dense
        return _row_errors(X_dense, self._network.predict(theta, inputs))

    @lazy_on_dask
    def score_samples(self, X):
        """Minus each row's squared reconstruction error.

        Higher is more typical of the training data: rows far from what the
        autoencoder learned to reconstruct (anomalies) score low.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-sum_j (x_j - reconstruction_j)^2`` per row.
        """
        check_is_fitted(self)
        return -self._reconstruction_errors(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean of :meth:`score_samples`: minus the mean squared reconstruction
        error per row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
        """
        return float(np.average(self.score_samples(X), weights=sample_weight))

    def tangents(self, X, n_tangents):
        """Tangents of the data manifold from the encoder's Jacobian.

        The manifold tangent classifier's construction (Rifai et al., 2011):
        at each row, the leading right singular vectors of the Jacobian
        ``J = d code / d x`` (``n_code x n_features``), the input directions
        the code is most sensitive to. ``J`` is computed exactly from the
        network, layer by layer (``J_k = diag(f'(a_k)) W_k^T J_{k-1}``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows at which to take the tangents.
        n_tangents : int
            Number of tangents per row, at most the code's width (the rank of
            ``J``).

        Returns
        -------
        T : ndarray of shape (n_samples, n_tangents, n_features)
            Orthonormal tangents per row, in order of decreasing singular
            value, ready for ``MLPClassifier(tangent_prop=...).fit(X, y,
            tangents=T)``.
        """
        check_is_fitted(self)
        width = self._n_features_out
        if (
            isinstance(n_tangents, (bool, np.bool_))
            or not isinstance(n_tangents, (Integral, np.integer))
            or not 1 <= n_tangents <= min(width, self.n_features_in_)
        ):
            raise ValueError(
                f"n_tangents must be an integer from 1 to {min(width, self.n_features_in_)} "
                f"(the rank of the encoder's Jacobian is at most the code's width, {width}, "
                f"and the number of features), got {n_tangents!r}."
            )
        J = self.encoder_jacobian(X)
        _, _, Vt = np.linalg.svd(J, full_matrices=False)
        return np.ascontiguousarray(Vt[:, :n_tangents, :])

    def encoder_jacobian(self, X):
        """The Jacobian of the code with respect to the input at each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        J : ndarray of shape (n_samples, hidden_layer_sizes[-1], n_features)
            ``J[i] = d code(x_i) / d x_i``, exact.
        """
        check_is_fitted(self)
        _, activations = self._codes(X)
        coefs, _ = self._layers()
        layout = self._network.plain().layout()
        JT = None  # (rows, n_features, units): the transposed Jacobian so far
        for W, A in zip(coefs, activations):
            F = np.empty_like(A)
            activation_derivative(layout, A, F)
            JT = np.broadcast_to(W, (A.shape[0], *W.shape)) if JT is None else JT @ W
            JT = JT * F[:, None, :]
        return np.ascontiguousarray(JT.transpose(0, 2, 1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.target_tags.multi_output = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _row_errors(X, reconstruction):
    """The squared reconstruction error of each row."""
    diff = np.asarray(X, dtype=np.float64) - reconstruction
    return np.einsum("ij,ij->i", diff, diff)
