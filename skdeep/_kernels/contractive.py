"""The contractive penalty of an autoencoder's one-layer encoder.

For a code ``h = f(x W + b)`` (``W`` of shape ``(n_features, n_code)``) the
Jacobian of the code with respect to the input is ``J = diag(f'(a)) W^T``
and its squared Frobenius norm is (Rifai et al., 2011)

    ||J(x)||_F^2 = sum_j f'(a_j)^2 ||W_j||^2,      ||W_j||^2 = sum_k W_kj^2.

The penalty of a pass is ``strength * sum_i sw_i ||J(x_i)||_F^2`` (scaled,
like the data term, by ``1 / sum of the batch's weights``). Its exact
gradient has two parts:

- through the pre-activations: ``d/da_ij = strength sw_i ||W_j||^2
  2 f'(a_ij) f''(a_ij)``, added to the first hidden layer's deltas, from
  where back-propagation carries it to ``W``, ``b`` and the input;
- through the norms: ``d/dW_kj = 2 strength (sum_i sw_i f'(a_ij)^2) W_kj``,
  added to the first layer's weight gradient.

``forward`` keeps ``f'`` and ``f''`` of the block's first hidden layer in
the record's scratch ``F`` and ``F2`` (before dropout touches the
activations), and the backward pass reads them. The kernels are handed the
record, None when the penalty is off, through ``by_presence``: a network
without it compiles none of this code.
"""

from ._jit import by_presence, entry_jit, jit
from .activations import activation_backward, activation_second


@jit
def _column_norm(W, j):
    """``sum_k W[k, j]^2``."""
    total = W.dtype.type(0)
    for k in range(W.shape[0]):
        total += W[k, j] * W[k, j]
    return total


@jit
def contractive_value(A, W, sw, F, F2, activation):
    """``F <- f'``, ``F2 <- f''`` of the activations ``A = f(a)``; returns
    ``sum_i sw_i sum_j F_ij^2 ||W_j||^2``."""
    F[:, :] = 1
    activation_backward(activation, A, F)
    activation_second(activation, A, F2)
    n, m = A.shape
    total = 0.0
    for j in range(m):
        norm = _column_norm(W, j)
        column = 0.0
        for i in range(n):
            column += sw[i] * F[i, j] * F[i, j]
        total += norm * column
    return total


@jit
def contractive_deltas(W, D, sw, F, F2, coef):
    """``D_ij += coef * sw_i * ||W_j||^2 * 2 F_ij F2_ij``: the penalty's
    gradient with respect to the pre-activations."""
    n, m = D.shape
    for j in range(m):
        c = 2 * coef * _column_norm(W, j)
        for i in range(n):
            D[i, j] += D.dtype.type(c * sw[i] * F[i, j] * F2[i, j])


@jit
def contractive_weights(W, G, sw, F, coef):
    """``G[:, j] += 2 coef (sum_i sw_i F_ij^2) W[:, j]``: the penalty's
    gradient through the column norms."""
    n, m = F.shape
    for j in range(m):
        column = 0.0
        for i in range(n):
            column += sw[i] * F[i, j] * F[i, j]
        c = G.dtype.type(2 * coef * column)
        for k in range(W.shape[0]):
            G[k, j] += c * W[k, j]


@entry_jit
def activation_derivative(net, A, F):
    """``F <- f'(a)`` from the activations ``A = f(a)`` of the layout
    ``net``'s hidden activation (for the encoder's Jacobian in Python)."""
    F[:, :] = 1
    activation_backward(net.activation, A, F)


def _no_forward(contractive, activation, A, W, sw, penalty):
    return penalty


def contractive_forward(contractive, activation, A, W, sw, penalty):
    """``penalty`` plus the block's contractive penalty (the first hidden
    layer's activations ``A``, weights ``W``); keeps ``f'``, ``f''``."""
    n, m = A.shape
    F = contractive.F[: n * m].reshape((n, m))
    F2 = contractive.F2[: n * m].reshape((n, m))
    return penalty + contractive.strength * contractive_value(A, W, sw, F, F2, activation)


def _no_deltas(contractive, W, D, sw, scale):
    pass


def contractive_backward(contractive, W, D, sw, scale):
    """The penalty's gradient into the first hidden layer's deltas ``D``."""
    n, m = D.shape
    F = contractive.F[: n * m].reshape((n, m))
    F2 = contractive.F2[: n * m].reshape((n, m))
    contractive_deltas(W, D, sw, F, F2, contractive.strength * scale)


def _no_weights(contractive, W, G, sw, scale):
    pass


def contractive_weight_grad(contractive, W, G, sw, scale):
    """The penalty's gradient through the norms into the weight gradient ``G``."""
    n = sw.shape[0]
    m = W.shape[1]
    F = contractive.F[: n * m].reshape((n, m))
    contractive_weights(W, G, sw, F, contractive.strength * scale)


contractive_forward = by_presence(_no_forward, contractive_forward)
contractive_backward = by_presence(_no_deltas, contractive_backward)
contractive_weight_grad = by_presence(_no_weights, contractive_weight_grad)
