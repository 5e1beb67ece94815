"""A fitted skdeep network as ONNX nodes.

``NetworkGraph`` writes the prediction-time network (batch normalisation
folded into the weights, see ``Network.fold``) into the container of an
``skl2onnx`` conversion: one ``Gemm`` per layer, then the hidden activation
(and, for a layer with an identity shortcut, an ``Add`` of its input), then
the output activation (the loss's link). A snapshot ensemble is the
mean of its members' outputs after the link, as ``predict`` computes it.

Every activation is written with operators that onnxruntime runs in float
and in double, so that a float64 model gives a graph of DOUBLE tensors:
onnxruntime (1.32, checked) has no double kernel of ``Elu``, ``Softplus`` or
``Mean``, so ELU is ``Where(x > 0, x, exp(min(x, 0)) - 1)``, softplus is
``max(x, 0) + log(1 + exp(-|x|))`` (what the engine computes, without its
``log1p``: an absolute error of one ulp of 1, far below the tolerance of the
comparisons) and the ensemble mean is a sum times ``1 / k``.

``ONNX_ACTIVATIONS`` and ``ONNX_LINKS`` are keyed like
``_kernels.activations.ACTIVATIONS`` and ``LOSSES[...].out_activation``; a
test checks that they cover both registries.
"""

import numpy as np

from .._kernels.activations import LEAKY_SLOPE


class NetworkGraph:
    """Writes nodes into an ``skl2onnx`` container in one dtype.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        Gives unique names.
    container : skl2onnx.common._container.ModelComponentContainer
        Receives the nodes and the initialisers.
    dtype : numpy dtype
        float32 or float64: the precision of every tensor of the network.
    """

    def __init__(self, scope, container, dtype):
        from onnx import TensorProto

        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self.proto = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT

    def constant(self, values, proto=None, name="constant"):
        """An initialiser holding ``values`` (in the graph's dtype unless
        ``proto`` says otherwise); returns its name."""
        values = np.asarray(values)
        if proto is None:
            proto, values = self.proto, values.astype(self.dtype)
        out = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(out, proto, list(values.shape), values.ravel().tolist())
        return out

    def node(self, op, inputs, output=None, domain="", **attrs):
        """One node of type ``op``; returns the name of its output (``output``
        when given, else a fresh one)."""
        out = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(
            op, list(inputs), [out], op_domain=domain,
            name=self.scope.get_unique_operator_name(op), **attrs,
        )
        return out

    def cast(self, name, proto, output=None):
        return self.node("Cast", [name], output, to=proto)

    def network(self, network, theta, x):
        """The output of ``network`` with parameters ``theta`` on the rows
        ``x``, after the output activation."""
        plain, theta = network.plain(), network.fold(theta)
        layers = list(zip(plain.coefs(theta), plain.intercepts(theta)))
        x = self.hidden_layers(layers[:-1], network.activation, x, network.shortcuts)
        W, b = layers[-1]
        x = self.node("Gemm", [x, self.constant(W, name="coef"), self.constant(b, name="intercept")])
        return ONNX_LINKS[network.out_activation](self, x, network.segments)

    def hidden_layers(self, layers, activation, x, shortcuts=None):
        """The rows ``x`` through ``layers`` (``(W, b)`` pairs), each followed
        by the hidden ``activation`` (an autoencoder's encoder, too), and
        with ``shortcuts[i]`` an identity shortcut around layer ``i``
        (``h_{i+1} = h_i + f(h_i W_i + b_i)``)."""
        activate = ONNX_ACTIVATIONS[activation]
        for i, (W, b) in enumerate(layers):
            h = x
            x = self.node("Gemm", [x, self.constant(W, name="coef"), self.constant(b, name="intercept")])
            x = activate(self, x)
            if shortcuts is not None and shortcuts[i]:
                x = self.node("Add", [h, x])
        return x

    def ensemble(self, network, thetas, x):
        """The mean of the outputs of ``network`` under each of ``thetas``."""
        outputs = [self.network(network, theta, x) for theta in thetas]
        if len(outputs) == 1:
            return outputs[0]
        total = self.node("Sum", outputs)
        return self.node("Mul", [total, self.constant(np.full(1, 1.0 / len(outputs)))])

    def columns(self, x, start, stop):
        """Columns ``start:stop`` of the 2-D tensor ``x``."""
        from onnx import TensorProto

        index = self.constant(np.arange(start, stop, dtype=np.int64), TensorProto.INT64, "columns")
        return self.node("Gather", [x, index], axis=1)


# ------------------------------------------------------- hidden activations


def _identity(graph, x):
    return x


def _unary(op):
    def activate(graph, x):
        return graph.node(op, [x])

    activate.__name__ = op.lower()
    return activate


def _leaky_relu(graph, x):
    # max(x, s x) is x for x > 0 and s x below, for any slope s < 1
    return graph.node("Max", [x, graph.node("Mul", [x, graph.constant([LEAKY_SLOPE])])])


def _elu(graph, x):
    zero, one = graph.constant([0.0]), graph.constant([1.0])
    negative = graph.node("Sub", [graph.node("Exp", [graph.node("Min", [x, zero])]), one])
    return graph.node("Where", [graph.node("Greater", [x, zero]), x, negative])


def _softplus(graph, x):
    zero, one = graph.constant([0.0]), graph.constant([1.0])
    decay = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x])])])
    tail = graph.node("Log", [graph.node("Add", [one, decay])])
    return graph.node("Add", [graph.node("Max", [x, zero]), tail])


#: hidden activation name -> ``(graph, x) -> name of f(x)``
ONNX_ACTIVATIONS = {
    "identity": _identity,
    "logistic": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "relu": _unary("Relu"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "softplus": _softplus,
}


# ------------------------------------------------------- output activations


def _softmax_heads(graph, x, segments):
    """A softmax over each head's columns (one head unless the classifier
    has several outputs), concatenated back."""
    bounds = list(zip(segments[:-1], segments[1:]))
    if len(bounds) == 1:
        return graph.node("Softmax", [x], axis=1)
    heads = [graph.node("Softmax", [graph.columns(x, a, b)], axis=1) for a, b in bounds]
    return graph.node("Concat", heads, axis=1)


#: output activation (``out_activation_``) -> ``(graph, x, segments) -> name``
ONNX_LINKS = {
    "identity": lambda graph, x, segments: x,
    "exp": lambda graph, x, segments: graph.node("Exp", [x]),
    "logistic": lambda graph, x, segments: graph.node("Sigmoid", [x]),
    "softmax": _softmax_heads,
}
