"""MLPClassifier: multilayer perceptron for classification."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._kernels.unlabeled import UNLABELED_TERMS
from . import _docstrings
from ._base import BaseMLP
from ._dask import lazy_on_dask
from ._runs import unlabeled_rows
from ._semi_supervised import (
    UNLABELED,
    encode_with_unlabeled,
    labelled_targets,
    unlabeled_mask,
    unlabeled_sample_weight,
    warn_if_minus_one,
)
from ._support import store_parameters
from ._targets import targets_for, targets_from_classes

_PARAMETERS = [
    "hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
    "learning_rate", "learning_rate_init", "power_t", "max_iter", "shuffle",
    "random_state", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1",
    "beta_2", "epsilon", "n_iter_no_change", "max_fun", "class_weight", "penalty",
    "l1_ratio", "max_norm", "dropout", "input_dropout", "input_noise",
    "weight_noise", "dropconnect", "label_smoothing", "activity_l1", "adversarial_eps",
    "adversarial_steps", "tangent_prop", "coef_prior", "prior_alpha", "augment",
    "semi_supervised", "unlabeled_weight", "unlabeled_rampup", *_docstrings.STRATEGIES,
]
_ATTRIBUTES = [
    "classes_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
    "best_validation_score_", "best_epoch_", "history_", "t_", "coefs_", "intercepts_",
    "n_features_in_", "feature_names_in_", "n_iter_", "n_layers_", "n_outputs_",
    "out_activation_", "unused_features_", "activation_sparsity_",
    *_docstrings.STRATEGY_ATTRIBUTES,
]
_EXTRA = f"""\
See Also
--------
MLPRegressor : Multilayer perceptron regressor.
sklearn.neural_network.MLPClassifier : The estimator this one replaces.

Notes
-----
A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`: same
parameters, defaults, fitted attributes and methods. Beyond it: more hidden
activations, ``class_weight``, an explicit validation set for early stopping
(``fit(..., X_val=, y_val=)``), a per-epoch ``history_``, and
multiclass-multioutput targets (``y`` with several categorical columns gets one
softmax head per column on shared hidden layers), and semi-supervised learning
from rows labelled ``-1`` (``semi_supervised``).

The loss minimised is the log-loss (cross-entropy) of the predicted
probabilities, weighted by ``sample_weight`` and ``class_weight``: softmax
outputs for multiclass targets, a logistic output per column for binary and
multilabel ones; plus the penalties (``alpha``'s L2 and the regularisers
switched on). It is computed from the logits, so it stays exact for
confident predictions.

{_docstrings.FIT_CONTRACT}

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from skdeep import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0)
>>> clf.fit(X, y).score(X, y) > 0.95
True
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = _docstrings.compose(
        "Multilayer perceptron classifier, trained by a compiled engine.",
        _PARAMETERS, _ATTRIBUTES, _EXTRA,
    )

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "semi_supervised": [StrOptions(set(UNLABELED_TERMS)), None],
        "unlabeled_weight": [Interval(Real, 0, None, closed="left")],
        "unlabeled_rampup": [Interval(Integral, 0, None, closed="left")],
    }

    #: the loss the classifier minimises, as scikit-learn's ``loss`` attribute
    loss = "log_loss"

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
        alpha=0.0001, batch_size="auto", learning_rate="constant",
        learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
        random_state=None, tol=1e-4, verbose=False, warm_start=False,
        momentum=0.9, nesterovs_momentum=True, early_stopping=False,
        validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        n_iter_no_change=10, max_fun=15000, class_weight=None, penalty="l2",
        l1_ratio=0.15, max_norm=None, dropout=0.0, input_dropout=0.0,
        input_noise=0.0, weight_noise=0.0, dropconnect=0.0, label_smoothing=0.0,
        activity_l1=0.0,
        adversarial_eps=0.0, adversarial_steps=1, tangent_prop=0.0,
        coef_prior=None, prior_alpha=0.0, augment=None, semi_supervised=None,
        unlabeled_weight=1.0, unlabeled_rampup=10, init="auto", freeze_layers=0,
        batch_norm=False, residual=False, clip_grad_norm=None, average=False, n_init=1,
        dask_sync_every=None, curriculum=None, curriculum_start=0.25, curriculum_epochs=10,
    ):
        store_parameters(self, locals())

    # ---------------------------------------------------------- targets

    def _unlabeled(self, y):
        """Which rows of ``y`` are unlabelled (None without ``semi_supervised``)."""
        return unlabeled_mask(y, self.semi_supervised)

    def _prepare_targets(self, y, *, first_pass, incremental, classes):
        if self.semi_supervised is None:
            warn_if_minus_one(y)
        y = labelled_targets(y, self._unlabeled(y), classes=classes)
        check_classification_targets(y)
        if incremental and not hasattr(self, "_targets"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._targets = targets_from_classes(classes, y)
        elif incremental:
            if classes is not None and not self._targets.same_classes(classes):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to "
                    f"partial_fit, was: {self.classes_!r}"
                )
        elif first_pass:
            self._targets = targets_for(y)
        else:
            current = targets_for(y)
            if type(current) is not type(self._targets) or not self._targets.same_classes(
                current.classes_
            ):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"`y` has {current.classes_}"
                )
        self.classes_ = self._targets.classes_
        return self._targets.loss, self._targets.segments

    def _encode_targets(self, y):
        mask = self._unlabeled(y)
        if mask is None or not mask.any():
            return self._targets.encode(y)
        return encode_with_unlabeled(self._targets.encode, y, mask)

    def _training_targets(self, Y):
        """Label smoothing: each softmax head's one-hot targets become
        ``(1 - eps) * y + eps / K``, each logistic unit's ``(1 - eps) * y +
        eps / 2`` (Szegedy et al., 2016); unlabelled rows stay -1."""
        eps = self.label_smoothing
        if eps == 0:
            return Y
        unlabeled = unlabeled_rows(Y)
        Y = self._smoothed(Y, eps)
        Y[unlabeled] = UNLABELED
        return Y

    def _smoothed(self, Y, eps):
        segments = self._targets.segments
        if segments is None and self._targets.loss == "log_loss":
            segments = [0, Y.shape[1]]
        if segments is None:
            return Y * (1 - eps) + eps / 2
        Y = Y * (1 - eps)
        for lo, hi in zip(segments[:-1], segments[1:]):
            Y[:, lo:hi] += eps / (hi - lo)
        return Y

    def _target_sample_weight(self, y, incremental):
        if self.class_weight is None:
            return None
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: the class "
                "frequencies of the whole data are unknown. Compute them once with "
                "sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) and pass class_weight as a dict."
            )
        _check_class_weight(self.class_weight)
        mask = self._unlabeled(y)
        if mask is None:
            return self._targets.class_sample_weight(self.class_weight, y)
        factor = np.ones(y.shape[0])  # the unlabelled rows have no class
        factor[~mask] = self._targets.class_sample_weight(self.class_weight, y[~mask])
        return factor

    def _sample_weight(self, sample_weight, X, y, dtype, incremental):
        sw = super()._sample_weight(sample_weight, X, y, dtype, incremental)
        mask = self._unlabeled(y)
        if mask is None:
            return sw
        return unlabeled_sample_weight(sw, mask, self.unlabeled_weight)

    def _explicit_validation(self, X_val, y_val, sample_weight_val, dtype):
        if self.semi_supervised is not None and y_val is not None and np.any(
            np.asarray(y_val, dtype=object) == UNLABELED
        ):
            raise ValueError(
                "y_val contains -1 (unlabelled rows): the validation set of early "
                "stopping must be labelled."
            )
        return super()._explicit_validation(X_val, y_val, sample_weight_val, dtype)

    def _validation_score(self, output, y, sample_weight):
        if not np.isfinite(output).all():
            return np.nan
        return self._targets.score(output, y, sample_weight)

    def _validation_sums(self, output, y, sample_weight):
        """The weight of the rows predicted right (all outputs right), and
        the weight of all rows: the accuracy is their ratio."""
        if not np.isfinite(output).all():
            return np.array([np.nan, 1.0])
        right = self._targets.decode(output) == np.asarray(y)
        if right.ndim == 2:
            right = right.all(axis=1)
        sw = np.asarray(sample_weight, dtype=np.float64)
        return np.array([np.dot(right, sw), sw.sum()])

    def _score_of_sums(self, sums):
        return float(sums[0] / sums[1])

    # ------------------------------------------------------- public API

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
            Class labels; a 0/1 indicator matrix for multilabel targets, or
            several label columns for multiclass-multioutput targets.
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
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, tangents=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        classes : array-like of shape (n_classes,) or list of arrays, default=None
            All the classes, required on the first call (one array per output
            for multiclass-multioutput targets); ``y`` need not contain them all.
        tangents : array-like of shape (n_samples, n_tangents, n_features), default=None
            Tangent vectors of these rows, for ``tangent_prop``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes, tangents=tangents)

    @lazy_on_dask
    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted labels.
        """
        check_is_fitted(self)
        return self._targets.decode(self._forward(X))

    @lazy_on_dask
    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            Probabilities in the order of ``classes_``; one array per output for
            multiclass-multioutput targets.
        """
        check_is_fitted(self)
        return self._targets.proba(self._forward(X))

    @lazy_on_dask
    def predict_log_proba(self, X):
        """Log of the class probabilities (see :meth:`predict_proba`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            ``log(predict_proba(X))``.
        """
        proba = self.predict_proba(X)
        if isinstance(proba, list):
            return [np.log(p, out=p) for p in proba]
        return np.log(proba, out=proba)

    def _summarise_samples(self, outputs):
        mean = self._targets.proba(outputs.mean(axis=0))
        std = self._targets.proba(outputs.std(axis=0))
        if isinstance(mean, list):
            return mean, std
        if outputs.shape[2] == 1:  # binary: both columns have the same spread
            std[:, 0] = std[:, 1]
        return mean, std

    def score(self, X, y, sample_weight=None):
        """Accuracy (subset accuracy for several outputs) on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy of ``self.predict(X)`` against ``y``.
        """
        check_is_fitted(self)
        if isinstance(self._targets.classes_, list):
            return self._targets.score(self._forward(X), y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # semi-supervised targets are single-output labels
        semi = self.semi_supervised is not None
        tags.classifier_tags.multi_label = not semi
        tags.target_tags.multi_output = not semi
        return tags


def _check_class_weight(class_weight):
    """Each weight of a ``class_weight`` dict (or list of dicts, one per
    output) is a finite non-negative number, as ``sample_weight``'s are."""
    dicts = class_weight if isinstance(class_weight, list) else [class_weight]
    for weights in dicts:
        if not isinstance(weights, dict):
            continue
        for label, weight in weights.items():
            if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (Real, np.number)):
                raise TypeError(
                    f"class_weight of class {label!r} must be a number, got {weight!r}."
                )
            if not np.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"class_weight of class {label!r} must be finite and non-negative, "
                    f"got {weight!r}."
                )
