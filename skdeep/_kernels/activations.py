"""Hidden-layer activations: fused bias + nonlinearity, and derivatives.

Every activation has two in-place kernels:

``<name>_forward(Z, b)``
    ``Z <- f(Z + b)`` for a pre-activation block ``Z`` of shape
    ``(n_samples, n_units)``.
``<name>_backward(A, D)``
    ``D <- D * f'(x)`` where ``A = f(x)``. The derivative is written in terms of
    the *output* ``A`` (as scikit-learn does), so no pre-activation buffer has to
    be kept between the forward and the backward pass.
``<name>_second(A, S)``
    ``S <- f''(x)``, also from the output, for tangent propagation.

numba cannot cache a function that receives another jitted function as an
argument (the dispatcher type is process specific), so the engine selects the
kernel with an integer code, a compile-time ``Constant``: ``activation_forward``
and ``activation_backward`` are ``switch``es, so a kernel compiles only the
activation its network uses. ``ACTIVATIONS`` maps each public name to its code
and is the only list of names: parameter validation and the docs derive from
it.
"""

from dataclasses import dataclass

from ._jit import Constant, entry_jit, jit, switch
from .elementary import expm1, logistic, softplus, tanh

IDENTITY, LOGISTIC, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS = map(Constant, range(7))

#: slope of leaky_relu for x < 0 (the value PyTorch and Keras use by default)
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """A hidden activation: its engine code and a short formula for the docs."""

    code: int
    formula: str


ACTIVATIONS = {
    "identity": Activation(IDENTITY, "f(x) = x"),
    "logistic": Activation(LOGISTIC, "f(x) = 1 / (1 + exp(-x))"),
    "tanh": Activation(TANH, "f(x) = tanh(x)"),
    "relu": Activation(RELU, "f(x) = max(0, x)"),
    "leaky_relu": Activation(
        LEAKY_RELU, f"f(x) = x if x > 0 else {LEAKY_SLOPE} * x"
    ),
    "elu": Activation(ELU, "f(x) = x if x > 0 else exp(x) - 1"),
    "softplus": Activation(SOFTPLUS, "f(x) = log(1 + exp(x))"),
}


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


@entry_jit
def activation_second(code, A, S):
    """``S <- f''(x)`` computed from ``A = f(x)``; zero for piecewise-linear f."""
    one = A.dtype.type(1)
    two = A.dtype.type(2)
    n, m = A.shape
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            if code == LOGISTIC:
                S[i, j] = a * (one - a) * (one - two * a)
            elif code == TANH:
                S[i, j] = -two * a * (one - a * a)
            elif code == ELU:
                S[i, j] = a + one if a <= 0 else 0
            elif code == SOFTPLUS:
                s = -expm1(-a)
                S[i, j] = s * (one - s)
            else:
                S[i, j] = 0


# --------------------------------------------------------------- dispatch


@jit
def identity_backward(A, D):
    """f' = 1: nothing to do."""


#: ``activation_forward(code, Z, b)``: ``Z <- f(Z + b)`` in place
activation_forward = switch(
    "activation_forward",
    {
        IDENTITY: identity_forward,
        LOGISTIC: logistic_forward,
        TANH: tanh_forward,
        RELU: relu_forward,
        LEAKY_RELU: leaky_relu_forward,
        ELU: elu_forward,
        SOFTPLUS: softplus_forward,
    },
)

#: ``activation_backward(code, A, D)``: ``D *= f'(x)`` in place, from ``A = f(x)``
activation_backward = switch(
    "activation_backward",
    {
        IDENTITY: identity_backward,
        LOGISTIC: logistic_backward,
        TANH: tanh_backward,
        RELU: relu_backward,
        LEAKY_RELU: leaky_relu_backward,
        ELU: elu_backward,
        SOFTPLUS: softplus_backward,
    },
)
