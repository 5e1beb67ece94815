"""Hidden-layer activations: fused bias + nonlinearity, and derivatives.

Every activation has three in-place kernels:

``<name>_forward(Z, b)``
    ``Z <- f(Z + b)`` for a pre-activation block ``Z`` of shape
    ``(n_samples, n_units)``.
``<name>_backward(A, D)``
    ``D <- D * f'(x)`` where ``A = f(x)``. The derivative is written in terms of
    the *output* ``A`` (as scikit-learn does), so no pre-activation buffer has to
    be kept between the forward and the backward pass.
``<name>_second(A, S)``
    ``S <- f''(x)``, also from the output, for tangent propagation and the
    Hessian-vector products.

``ACTIVATIONS`` maps each public name to an ``Activation`` that carries its
code, its formula (for the docs) and its three kernels; it is the only list
of activations: parameter validation, the docs and the compiled selections
``activation_forward``, ``activation_backward`` and ``activation_second``
derive from it. numba cannot cache a function that receives another jitted
function as an argument (the dispatcher type is process specific), so the
engine selects the kernel with an integer code, a compile-time ``Constant``:
the selections are ``switch``es, so a kernel compiles only the activation its
network uses. Adding an activation is its three kernels and one entry.
"""

from dataclasses import dataclass

from ._jit import Constant, jit, switch
from .elementary import expm1, logistic, softplus, tanh

#: slope of leaky_relu for x < 0 (the value PyTorch and Keras use by default)
LEAKY_SLOPE = 0.01


# ---------------------------------------------------------------- forward


@jit
def identity_forward(Z, b):
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            Z[i, j] += b[j]


@jit
def logistic_forward(Z, b):
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            Z[i, j] = logistic(Z[i, j] + b[j])


@jit
def tanh_forward(Z, b):
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            Z[i, j] = tanh(Z[i, j] + b[j])


@jit
def relu_forward(Z, b):
    zero = Z.dtype.type(0)
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            x = Z[i, j] + b[j]
            Z[i, j] = x if x > zero else zero


@jit
def leaky_relu_forward(Z, b):
    slope = Z.dtype.type(LEAKY_SLOPE)
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            x = Z[i, j] + b[j]
            Z[i, j] = x if x > 0 else slope * x


@jit
def elu_forward(Z, b):
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            x = Z[i, j] + b[j]
            Z[i, j] = x if x > 0 else expm1(x)


@jit
def softplus_forward(Z, b):
    n, m = Z.shape
    for i in range(n):
        for j in range(m):
            Z[i, j] = softplus(Z[i, j] + b[j])


# --------------------------------------------------------------- backward


@jit
def logistic_backward(A, D):
    one = A.dtype.type(1)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            D[i, j] *= a * (one - a)


@jit
def tanh_backward(A, D):
    one = A.dtype.type(1)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            D[i, j] *= one - a * a


@jit
def relu_backward(A, D):
    zero = A.dtype.type(0)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            if A[i, j] <= zero:
                D[i, j] = zero


@jit
def leaky_relu_backward(A, D):
    slope = A.dtype.type(LEAKY_SLOPE)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            if A[i, j] <= 0:
                D[i, j] *= slope


@jit
def elu_backward(A, D):
    one = A.dtype.type(1)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            # for x <= 0: f = e^x - 1, so f' = e^x = f + 1
            if a <= 0:
                D[i, j] *= a + one


@jit
def softplus_backward(A, D):
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            # f' = sigmoid(x) = 1 - e^-f; -expm1 keeps precision for small f
            D[i, j] *= -expm1(-A[i, j])


# --------------------------------------------------------- second derivative


@jit
def zero_second(A, S):
    """``f'' = 0``: identity and the piecewise-linear activations."""
    zero = S.dtype.type(0)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            S[i, j] = zero


@jit
def logistic_second(A, S):
    one = A.dtype.type(1)
    two = A.dtype.type(2)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            S[i, j] = a * (one - a) * (one - two * a)


@jit
def tanh_second(A, S):
    one = A.dtype.type(1)
    two = A.dtype.type(2)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            S[i, j] = -two * a * (one - a * a)


@jit
def elu_second(A, S):
    one = A.dtype.type(1)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            S[i, j] = a + one if a <= 0 else 0


@jit
def softplus_second(A, S):
    one = A.dtype.type(1)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            s = -expm1(-A[i, j])
            S[i, j] = s * (one - s)


@jit
def identity_backward(A, D):
    """f' = 1: nothing to do."""


# --------------------------------------------------------------- registry


@dataclass(frozen=True)
class Activation:
    """A hidden activation: its engine code, a short formula for the docs,
    and its kernels (see the module docstring)."""

    code: int
    formula: str
    forward: object
    backward: object
    second: object


ACTIVATIONS = {
    "identity": Activation(
        Constant(0), "f(x) = x", identity_forward, identity_backward, zero_second
    ),
    "logistic": Activation(
        Constant(1), "f(x) = 1 / (1 + exp(-x))", logistic_forward, logistic_backward,
        logistic_second,
    ),
    "tanh": Activation(Constant(2), "f(x) = tanh(x)", tanh_forward, tanh_backward, tanh_second),
    "relu": Activation(Constant(3), "f(x) = max(0, x)", relu_forward, relu_backward, zero_second),
    "leaky_relu": Activation(
        Constant(4), f"f(x) = x if x > 0 else {LEAKY_SLOPE} * x", leaky_relu_forward,
        leaky_relu_backward, zero_second,
    ),
    "elu": Activation(
        Constant(5), "f(x) = x if x > 0 else exp(x) - 1", elu_forward, elu_backward, elu_second
    ),
    "softplus": Activation(
        Constant(6), "f(x) = log(1 + exp(x))", softplus_forward, softplus_backward,
        softplus_second,
    ),
}

IDENTITY, LOGISTIC, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS = (a.code for a in ACTIVATIONS.values())


def _selection(name, kernel):
    return switch(name, {a.code: getattr(a, kernel) for a in ACTIVATIONS.values()})


#: ``activation_forward(code, Z, b)``: ``Z <- f(Z + b)`` in place
activation_forward = _selection("activation_forward", "forward")
#: ``activation_backward(code, A, D)``: ``D *= f'(x)`` in place, from ``A = f(x)``
activation_backward = _selection("activation_backward", "backward")
#: ``activation_second(code, A, S)``: ``S <- f''(x)``, from ``A = f(x)``
activation_second = _selection("activation_second", "second")
