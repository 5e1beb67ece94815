"""``FeatureExtractor``: a fitted network's hidden layer as a transformer.

Transfer learning by feature extraction: the activations of a network's
hidden layer, computed by the compiled prediction pass (batch normalisation
folded in), feed another estimator, e.g. in a ``Pipeline``. The meta-estimator
mirrors scikit-learn's ``SelectFromModel``: ``fit`` fits a clone of
``estimator`` into ``estimator_`` unless ``prefit=True``, in which case it
only checks that ``estimator`` is fitted and keeps a deep copy of it.
"""

from copy import deepcopy
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    MetaEstimatorMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import (
    _check_feature_names,
    check_is_fitted,
    validate_data,
)

from .._network import Inputs


def _check_network(estimator):
    """Raise unless ``estimator`` is (an instance of) a skdeep network."""
    if not hasattr(estimator, "_prediction_inputs"):
        raise TypeError(
            "FeatureExtractor needs a skdeep MLPClassifier or MLPRegressor, whose "
            f"hidden activations it computes; got {type(estimator).__name__}."
        )


def _hidden_layer(estimator, layer, n_hidden=None):
    """``layer`` as a non-negative index into the ``estimator``'s hidden
    layers (``n_hidden`` of them, by default those of the fitted network);
    raises if it has none or ``layer`` is out of range."""
    if n_hidden is None:
        n_hidden = estimator._network.n_layers - 1
    if n_hidden == 0:
        raise ValueError(
            f"The {type(estimator).__name__} has no hidden layer (hidden_layer_sizes=()): "
            "there are no hidden activations to extract."
        )
    if not -n_hidden <= layer < n_hidden:
        raise ValueError(
            f"layer={layer} is out of range: the {type(estimator).__name__} has "
            f"{n_hidden} hidden layer(s), so layer must be in [{-n_hidden}, {n_hidden - 1}]."
        )
    return layer % n_hidden


class FeatureExtractor(
    ClassNamePrefixFeaturesOutMixin, MetaEstimatorMixin, TransformerMixin, BaseEstimator
):
    """The activations of a fitted network's hidden layer, as a transformer.

    Transfer learning by feature extraction: the hidden units of a network
    trained on one task become the input features of another estimator,
    e.g. ``make_pipeline(FeatureExtractor(MLPClassifier()), LogisticRegression())``.
    ``transform`` is one compiled forward pass of the network (with batch
    normalisation folded into the weights, as at prediction time).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        The skdeep network whose hidden activations to return. With
        ``prefit=False`` a clone of it is fitted by :meth:`fit`; with
        ``prefit=True`` it must already be fitted.

    layer : int, default=-1
        Which hidden layer: an index into the hidden layers (``0`` the first,
        ``-1`` the last, as in ``hidden_layer_sizes``). The output layer is
        not a hidden layer: use the estimator's ``predict_proba`` or
        ``predict`` for it.

    prefit : bool, default=False
        Whether ``estimator`` is already fitted. If True, :meth:`fit` only
        checks that it is and stores a deep copy of it in ``estimator_``
        (the data are checked against it, not fitted), and :meth:`transform`
        may be called without :meth:`fit`, as with scikit-learn's
        :class:`~sklearn.feature_selection.SelectFromModel`.

    Attributes
    ----------
    estimator_ : MLPClassifier or MLPRegressor
        The network the activations are computed with: a deep copy of
        ``estimator`` if ``prefit=True``, else a clone of it fitted on the
        data passed to :meth:`fit`.

    layer_ : int
        The hidden layer used, as a non-negative index.

    n_features_in_ : int
        Number of features seen during :meth:`fit` (the network's).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit` (the network's). Defined
        only when the network was fitted on data with string column names.

    See Also
    --------
    sklearn.feature_selection.SelectFromModel : The meta-transformer whose
        ``prefit`` and ``estimator_`` behaviour this one follows.

    Notes
    -----
    The activations are in the dtype the network was fitted in (the dtype of
    its training data): float32 data give a float32 network, hence float32
    features. Sparse input is accepted, as by the network. A network that is
    a snapshot ensemble (``learning_rate=Cyclic(..., snapshots=True)``)
    contributes its final weights' activations. The output feature names are
    ``featureextractor0``, ``featureextractor1``, ... (scikit-learn's
    convention for transformers whose outputs are new features).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skdeep import FeatureExtractor, MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> network = MLPClassifier((32,), max_iter=50, random_state=0)
    >>> pipe = make_pipeline(FeatureExtractor(network), LogisticRegression())
    >>> pipe.fit(X / 16, y).named_steps["featureextractor"].transform(X[:2] / 16).shape
    (2, 32)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "layer": [Integral],
        "prefit": ["boolean"],
    }

    def __init__(self, estimator, *, layer=-1, prefit=False):
        self.estimator = estimator
        self.layer = layer
        self.prefit = prefit

    @_fit_context(prefer_skip_nested_validation=False)  # the estimator validates its own
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the network on ``(X, y)``, or check the prefit one.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training input samples.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            The targets the network is fitted to (class labels for a
            classifier, real numbers for a regressor). Ignored if
            ``prefit=True``.

        **fit_params : dict
            Passed to the network's ``fit`` (e.g. ``sample_weight``), or
            routed to it with metadata routing enabled. Ignored if
            ``prefit=True``.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        _check_network(self.estimator)
        if self.prefit:
            self._check_prefit()
            estimator = deepcopy(self.estimator)
            _hidden_layer(estimator, self.layer)
            # only validate: the data must be what the network was fitted on
            validate_data(
                estimator, X, reset=False, accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
            )
        else:
            if _routing_enabled():
                fit_params = process_routing(self, "fit", **fit_params).estimator.fit
            estimator = clone(self.estimator)
            # an impossible layer is reported before a fit, not after it
            _hidden_layer(estimator, self.layer, len(estimator._hidden_sizes()))
            estimator.fit(X, y, **fit_params)
        self.layer_ = _hidden_layer(estimator, self.layer)
        self.estimator_ = estimator
        if hasattr(estimator, "feature_names_in_"):
            self.feature_names_in_ = estimator.feature_names_in_
        else:
            _check_feature_names(self, X, reset=True)
        self._n_features_out = int(estimator._network.sizes[1 + self.layer_])
        return self

    def _check_prefit(self):
        try:
            check_is_fitted(self.estimator)
        except NotFittedError as exc:
            raise NotFittedError(
                "When `prefit=True`, `estimator` is expected to be a fitted estimator."
            ) from exc

    def transform(self, X):
        """The hidden layer's activations for the rows of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input samples, with the network's features.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_units)
            The activations of hidden layer ``layer`` (``n_units`` is its
            size), in the network's dtype.
        """
        if hasattr(self, "estimator_"):
            estimator, layer, checked = self.estimator_, self.layer_, self
        elif self.prefit:  # as SelectFromModel: a prefit network needs no fit
            _check_network(self.estimator)
            self._check_prefit()
            estimator = self.estimator
            layer, checked = _hidden_layer(estimator, self.layer), estimator
        else:
            check_is_fitted(self)
        X = validate_data(
            checked, X, reset=False, accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
        )
        theta = estimator._parameters()
        return estimator._network.hidden_activations(theta, Inputs(X, theta.dtype), layer)

    @property
    def n_features_in_(self):
        """Number of features seen during :meth:`fit`."""
        # an AttributeError before fit, so that hasattr() is False
        try:
            check_is_fitted(self)
        except NotFittedError as exc:
            raise AttributeError(
                f"{type(self).__name__} object has no n_features_in_ attribute."
            ) from exc
        return self.estimator_.n_features_in_

    def get_metadata_routing(self):
        """Get metadata routing of this object.

        Returns
        -------
        routing : MetadataRouter
            ``fit``'s metadata goes to the network's ``fit``.
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.required = not self.prefit  # the network is fitted to y
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
