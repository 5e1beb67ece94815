"""MLPRegressor: multilayer perceptron for regression."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._kernels.losses import LOSSES
from . import _docstrings
from ._base import BaseMLP
from ._dask import lazy_on_dask
from ._support import store_parameters

_PARAMETERS = [
    "loss", "hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
    "learning_rate", "learning_rate_init", "power_t", "max_iter", "shuffle",
    "random_state", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1",
    "beta_2", "epsilon", "n_iter_no_change", "max_fun", "penalty", "l1_ratio",
    "max_norm", "dropout", "input_dropout", "input_noise", "weight_noise", "dropconnect",
    "activity_l1", "adversarial_eps", "adversarial_steps", "tangent_prop",
    "coef_prior", "prior_alpha", "augment", *_docstrings.STRATEGIES,
]
_ATTRIBUTES = [
    "loss_", "best_loss_", "loss_curve_", "validation_scores_",
    "best_validation_score_", "best_epoch_", "history_", "t_", "coefs_", "intercepts_",
    "n_features_in_", "feature_names_in_", "n_iter_", "n_layers_", "n_outputs_",
    "out_activation_", "unused_features_", "activation_sparsity_",
    *_docstrings.STRATEGY_ATTRIBUTES,
]
_EXTRA = f"""\
See Also
--------
MLPClassifier : Multilayer perceptron classifier.
sklearn.neural_network.MLPRegressor : The estimator this one replaces.

Notes
-----
A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`: same
parameters, defaults, fitted attributes and methods, with more hidden
activations, an explicit validation set for early stopping
(``fit(..., X_val=, y_val=)``) and a per-epoch ``history_``. Unlike
scikit-learn's, ``partial_fit`` is unavailable (``AttributeError``) with the
full-batch solver, as in the classifier.

{_docstrings.FIT_CONTRACT}

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.preprocessing import StandardScaler
>>> from skdeep import MLPRegressor
>>> X, y = load_diabetes(return_X_y=True)
>>> X = StandardScaler().fit_transform(X)
>>> reg = MLPRegressor((32,), solver="lbfgs", max_iter=100, random_state=0)
>>> reg.fit(X, y).score(X, y) > 0.5
True
"""


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = _docstrings.compose(
        "Multilayer perceptron regressor, trained by a compiled engine.",
        _PARAMETERS, _ATTRIBUTES, _EXTRA,
    )

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({name for name, loss in LOSSES.items() if loss.regression})],
    }

    def __init__(
        self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
        solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
        learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
        random_state=None, tol=1e-4, verbose=False, warm_start=False,
        momentum=0.9, nesterovs_momentum=True, early_stopping=False,
        validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, max_fun=15000, penalty="l2", l1_ratio=0.15,
        max_norm=None, dropout=0.0, input_dropout=0.0, input_noise=0.0,
        weight_noise=0.0, dropconnect=0.0, activity_l1=0.0, adversarial_eps=0.0,
        adversarial_steps=1, tangent_prop=0.0, coef_prior=None, prior_alpha=0.0,
        augment=None,
        init="auto", freeze_layers=0, batch_norm=False, residual=False,
        clip_grad_norm=None, average=False, n_init=1, dask_sync_every=None,
        curriculum=None, curriculum_start=0.25, curriculum_epochs=10,
    ):
        store_parameters(self, locals())

    def _prepare_targets(self, y, *, first_pass, incremental, classes):
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson "
                "regression (loss='poisson')."
            )
        return self.loss, None

    def _encode_targets(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _validation_score(self, output, y, sample_weight):
        if not np.isfinite(output).all():
            return np.nan
        return r2_score(y, self._format(output), sample_weight=sample_weight)

    def _validation_sums(self, output, y, sample_weight):
        """Per output: the weight sum, the weighted sums of ``y`` and ``y**2``
        and the weighted sum of squared residuals (rows of the result)."""
        if not np.isfinite(output).all():
            return np.full((4, output.shape[1]), np.nan)
        y = np.asarray(y, dtype=np.float64).reshape(output.shape)
        w = np.asarray(sample_weight, dtype=np.float64)[:, None]
        return np.stack([
            np.broadcast_to(w, y.shape).sum(axis=0), (w * y).sum(axis=0),
            (w * y * y).sum(axis=0), (w * (y - output) ** 2).sum(axis=0),
        ])

    def _score_of_sums(self, sums):
        """R², the mean over outputs, as ``r2_score`` (a constant target
        scores 1 if predicted exactly, else 0)."""
        weight, first, second, residual = sums
        total = second - first * first / weight  # sum w (y - mean)^2
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 0, 1.0 - residual / total, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))

    @staticmethod
    def _format(output):
        return output.ravel() if output.shape[1] == 1 else output

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, sample_weight=None, *, X_val=None, y_val=None,
        sample_weight_val=None, tangents=None,
    ):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 input is trained in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values (``>= 0`` for ``loss='poisson'``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        X_val, y_val : array-like, default=None
            Validation set for early stopping, used instead of holding out
            ``validation_fraction`` of the training data. Requires
            ``early_stopping=True`` and a stochastic solver.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples.
        tangents : array-like of shape (n_samples, n_tangents, n_features), default=None
            Directions in input space along which the output should not change,
            for ``tangent_prop``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
            sample_weight_val=sample_weight_val, tangents=tangents,
        )

    @available_if(lambda est: est._check_partial_fit())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, *, tangents=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        tangents : array-like of shape (n_samples, n_tangents, n_features), default=None
            Tangent vectors of these rows, for ``tangent_prop``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True, tangents=tangents)

    def _summarise_samples(self, outputs):
        return self._format(outputs.mean(axis=0)), self._format(outputs.std(axis=0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

    @lazy_on_dask
    def predict(self, X):
        """Predict with the network.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        check_is_fitted(self)
        return self._format(self._forward(X))
