"""skl2onnx's parser, shape calculators and converters for skdeep's MLPs.

The converters follow what skl2onnx produces for scikit-learn's
``MLPClassifier`` and ``MLPRegressor``: a classifier gives a ``label``
output and a ``probabilities`` output (columns in the order of
``classes_``), on which skl2onnx's ``zipmap`` option acts as for any
classifier; a regressor gives ``variable`` of shape ``(n_samples,
n_outputs)``. A classifier with several categorical outputs (one softmax
head per column of ``y``) gives the label matrix ``(n_samples, n_outputs)``
and a sequence of probability tensors, one per output, as skl2onnx does for
``MultiOutputClassifier``; ``zipmap`` does not apply to it.

The network computes in the model's dtype (float32 or float64) whatever the
input's type, as ``predict`` does, and the probabilities and regression
outputs have that dtype.
"""

import inspect
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._estimators import MLPAutoencoder, MLPClassifier, MLPRegressor
from .._estimators._targets import HeadTargets
from ._graph import ONNX_ACTIVATIONS, ONNX_LINKS, NetworkGraph

CLASSIFIER_ALIAS = "SkdeepMLPClassifier"
REGRESSOR_ALIAS = "SkdeepMLPRegressor"
AUTOENCODER_ALIAS = "SkdeepMLPAutoencoder"

#: the estimator parameters the export knows. Those that shape the
#: prediction-time network are read by ``NetworkGraph``; the others act on
#: training only. A parameter missing here (one added to the estimators
#: later) must keep its default value, or the export refuses the model
#: rather than write a graph that may compute something else.
KNOWN_PARAMETERS = frozenset({
    # the network at prediction time
    "hidden_layer_sizes", "activation", "batch_norm", "residual", "loss",
    # training only
    "solver", "alpha", "batch_size", "learning_rate", "learning_rate_init", "power_t",
    "max_iter", "shuffle", "random_state", "tol", "verbose", "warm_start", "momentum",
    "nesterovs_momentum", "early_stopping", "validation_fraction", "beta_1", "beta_2",
    "epsilon", "n_iter_no_change", "max_fun", "class_weight", "penalty", "l1_ratio",
    "max_norm", "dropout", "input_dropout", "input_noise", "weight_noise", "dropconnect",
    "label_smoothing", "activity_l1", "adversarial_eps", "adversarial_steps",
    "tangent_prop", "contractive", "coef_prior", "prior_alpha", "augment", "init",
    "freeze_layers", "clip_grad_norm", "average", "n_init", "semi_supervised",
    "unlabeled_weight", "unlabeled_rampup", "dask_sync_every", "curriculum",
    "curriculum_start", "curriculum_epochs",
})


def check_exportable(estimator):
    """Raise a clear error if ``estimator`` cannot be written as ONNX.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted skdeep estimator.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If it uses an option the export cannot write: a parameter the
        export does not know at a value other than its default, an
        activation without ONNX translation, or class labels that are
        neither integers nor strings.
    """
    check_is_fitted(estimator)
    name = type(estimator).__name__
    defaults = {
        p.name: p.default
        for p in inspect.signature(type(estimator).__init__).parameters.values()
    }
    for param, value in estimator.get_params(deep=False).items():
        if param not in KNOWN_PARAMETERS and not _same(value, defaults.get(param)):
            raise ValueError(
                f"{name}({param}={value!r}) cannot be exported to ONNX: skdeep.onnx does "
                f"not know how {param!r} changes the network at prediction time."
            )
    network = estimator._network
    if network.activation not in ONNX_ACTIVATIONS:
        raise ValueError(
            f"{name}(activation={network.activation!r}) cannot be exported to ONNX: the "
            f"export writes the activations {sorted(ONNX_ACTIVATIONS)}."
        )
    if network.out_activation not in ONNX_LINKS:
        raise ValueError(
            f"{name} with output activation {network.out_activation!r} cannot be "
            f"exported to ONNX: the export writes {sorted(ONNX_LINKS)}."
        )
    if isinstance(estimator, MLPClassifier):
        for classes in _class_lists(estimator):
            _label_values(classes)


def _same(value, default):
    try:
        return bool(value == default) if not isinstance(value, np.ndarray) else False
    except Exception:  # noqa: BLE001 (a user's object with an odd __eq__)
        return value is default


def _class_lists(estimator):
    classes = estimator.classes_
    return classes if isinstance(classes, list) else [classes]


def _label_values(classes):
    """``(kind, values)``: the labels as ONNX stores them, ``kind`` "int64"
    or "string". Float labels must be integers, as skl2onnx requires."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return "int64", classes.astype(np.int64)
    if classes.dtype.kind == "f":
        if np.all(np.mod(classes, 1) == 0):
            return "int64", classes.astype(np.int64)
    elif all(isinstance(c, str) for c in classes.tolist()):
        return "string", np.array([c.encode("utf-8") for c in classes.tolist()], dtype=object)
    raise ValueError(
        f"Class labels {classes.tolist()!r} cannot be exported to ONNX: ONNX labels "
        "are integers or strings (float labels must have integer values)."
    )


def _label_kind(estimator):
    kinds = {_label_values(c)[0] for c in _class_lists(estimator)}
    if len(kinds) > 1:
        raise ValueError(
            "The outputs of this classifier mix integer and string labels; an ONNX "
            "label tensor has one type."
        )
    return kinds.pop()


def _is_multilabel(estimator):
    targets = estimator._targets
    return not isinstance(targets, HeadTargets) and targets.multilabel


# ------------------------------------------------------------------ types


def _tensor_type(estimator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if estimator._theta.dtype == np.float64 else FloatTensorType


def _label_type(estimator):
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    return Int64TensorType if _label_kind(estimator) == "int64" else StringTensorType


def parse_classifier(scope, model, inputs, custom_parsers=None):
    """skl2onnx parser: the outputs of ``model``, a skdeep classifier.

    Single-output classifiers go through skl2onnx's classifier parser (so
    that the ``zipmap`` option works as for scikit-learn's); one with
    several outputs declares ``label`` and a sequence ``probabilities``.
    """
    check_exportable(model)
    if isinstance(getattr(model, "_targets", None), HeadTargets):
        from skl2onnx.common.data_types import SequenceType

        operator = scope.declare_local_operator(CLASSIFIER_ALIAS, model)
        operator.inputs = inputs
        operator.outputs.append(scope.declare_local_variable("label", _label_type(model)()))
        operator.outputs.append(
            scope.declare_local_variable("probabilities", SequenceType(_tensor_type(model)()))
        )
        return operator.outputs
    zipmap = scope.get_options(model, dict(zipmap=True))["zipmap"]
    if zipmap is not False and model._theta.dtype == np.float64:
        raise ValueError(
            "A float64 classifier cannot be exported with ZipMap, skl2onnx's default "
            "classifier output: ONNX's ZipMap takes float probabilities only. Pass "
            "options={'zipmap': False} (probabilities as one double tensor), or fit "
            "the model on float32 data."
        )
    return _classifier_parser()(scope, model, inputs, custom_parsers=custom_parsers)


def _classifier_parser():
    """skl2onnx's parser of classifiers (private: its name may change),
    or, if it cannot be had, a parser declaring the two outputs without
    ZipMap."""
    try:
        from skl2onnx._parse import _parse_sklearn_classifier

        return _parse_sklearn_classifier
    except Exception:  # noqa: BLE001 (any failure: fall back to the public API)
        return _plain_classifier_parser


def _plain_classifier_parser(scope, model, inputs, custom_parsers=None):
    options = scope.get_options(model, dict(zipmap=True))
    if options["zipmap"] is not False:
        warnings.warn(
            "skl2onnx's classifier parser is unavailable: the skdeep classifier is "
            "exported without ZipMap (as with options={'zipmap': False}).",
            UserWarning, stacklevel=2,
        )
    operator = scope.declare_local_operator(CLASSIFIER_ALIAS, model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("label", _label_type(model)()))
    operator.outputs.append(scope.declare_local_variable("probabilities", _tensor_type(model)()))
    return operator.outputs


def classifier_shapes(operator):
    """skl2onnx shape calculator of the classifier's two outputs."""
    from skl2onnx.common.data_types import SequenceType

    estimator = operator.raw_operator
    check_exportable(estimator)
    rows = operator.inputs[0].get_first_dimension()
    tensor, label = _tensor_type(estimator), _label_type(estimator)
    n_units = int(estimator._network.sizes[-1])
    if isinstance(estimator._targets, HeadTargets):
        operator.outputs[0].type = label([rows, len(estimator.classes_)])
        operator.outputs[1].type = SequenceType(tensor([rows, None]))
    elif _is_multilabel(estimator):
        operator.outputs[0].type = label([rows, n_units])
        operator.outputs[1].type = tensor([rows, n_units])
    else:
        operator.outputs[0].type = label([rows])
        operator.outputs[1].type = tensor([rows, len(estimator.classes_)])


def regressor_shapes(operator):
    """skl2onnx shape calculator of the regressor's output."""
    estimator = operator.raw_operator
    check_exportable(estimator)
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(estimator)([rows, int(estimator.n_outputs_)])


# ------------------------------------------------------------- converters


def _network_output(scope, operator, container):
    """The graph of the estimator's network on the operator's input, and
    the name of its output (after the output activation)."""
    estimator = operator.raw_operator
    graph = NetworkGraph(scope, container, estimator._theta.dtype)
    graph.estimator = estimator
    x = graph.cast(operator.inputs[0].full_name, graph.proto)
    members = estimator._ensemble_members()
    return graph, graph.ensemble(estimator._network, members, x)


def _labels(graph, classes, indices, output=None):
    """The labels at ``indices`` (an int64 tensor) of ``classes``: the
    classes' indices instead with skl2onnx's option ``nocl``."""
    from onnx import TensorProto

    if graph.scope.get_options(graph.estimator, dict(nocl=False))["nocl"]:
        classes = np.arange(len(classes))
    kind, values = _label_values(classes)
    proto = TensorProto.INT64 if kind == "int64" else TensorProto.STRING
    return graph.node("Gather", [graph.constant(values, proto, "classes"), indices], output)


def convert_classifier(scope, operator, container):
    """skl2onnx converter of a skdeep ``MLPClassifier``."""
    from onnx import TensorProto

    estimator = operator.raw_operator
    graph, out = _network_output(scope, operator, container)
    label, proba = (v.full_name for v in operator.outputs[:2])
    if isinstance(estimator._targets, HeadTargets):
        segments = estimator._network.segments
        heads, labels = [], []
        for classes, a, b in zip(estimator.classes_, segments[:-1], segments[1:]):
            head = graph.columns(out, int(a), int(b))
            heads.append(head)
            labels.append(_labels(graph, classes, graph.node("ArgMax", [head], axis=1, keepdims=1)))
        graph.node("Concat", labels, label, axis=1)
        graph.node("SequenceConstruct", heads, proba)
    elif _is_multilabel(estimator):
        # LabelBinarizer.inverse_transform's threshold: (pos + neg) / 2
        graph.node("Identity", [out], proba)
        graph.cast(graph.node("Greater", [out, graph.constant([0.5])]), TensorProto.INT64, label)
    elif int(estimator._network.sizes[-1]) == 1:
        # binary: one logistic unit, the probability of classes_[1]
        graph.node("Concat", [graph.node("Sub", [graph.constant([1.0]), out]), out], proba, axis=1)
        positive = graph.cast(graph.node("Greater", [out, graph.constant([0.5])]), TensorProto.INT64)
        flat = graph.constant(np.array([-1], dtype=np.int64), TensorProto.INT64, "shape")
        _labels(graph, estimator.classes_, graph.node("Reshape", [positive, flat]), label)
    else:
        graph.node("Identity", [out], proba)
        _labels(graph, estimator.classes_, graph.node("ArgMax", [out], axis=1, keepdims=0), label)


def autoencoder_shapes(operator):
    """skl2onnx shape calculator of the autoencoder's output: the codes."""
    estimator = operator.raw_operator
    check_exportable(estimator)
    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(estimator)([rows, estimator._n_features_out])


def convert_autoencoder(scope, operator, container):
    """skl2onnx converter of a skdeep ``MLPAutoencoder``: its ``transform``
    (the encoder's layers, each with the hidden activation)."""
    estimator = operator.raw_operator
    graph = NetworkGraph(scope, container, estimator._theta.dtype)
    x = graph.cast(operator.inputs[0].full_name, graph.proto)
    coefs, intercepts = estimator._layers()
    k = estimator._n_encoder_layers
    codes = graph.hidden_layers(list(zip(coefs[:k], intercepts[:k])), estimator._network.activation, x)
    graph.node("Identity", [codes], operator.outputs[0].full_name)


def convert_regressor(scope, operator, container):
    """skl2onnx converter of a skdeep ``MLPRegressor``."""
    graph, out = _network_output(scope, operator, container)
    graph.node("Identity", [out], operator.outputs[0].full_name)


_registered = []


def register():
    """Register skdeep's converters with skl2onnx (once per process)."""
    if _registered:
        return
    from skl2onnx import update_registered_converter

    update_registered_converter(
        MLPClassifier, CLASSIFIER_ALIAS, classifier_shapes, convert_classifier,
        parser=parse_classifier, options={"zipmap": [True, False, "columns"], "nocl": [False, True]},
    )
    update_registered_converter(MLPRegressor, REGRESSOR_ALIAS, regressor_shapes, convert_regressor)
    update_registered_converter(
        MLPAutoencoder, AUTOENCODER_ALIAS, autoencoder_shapes, convert_autoencoder
    )
    _registered.append(True)
