"""Weight initialisation schemes, by name.

An initialiser fills one layer: ``init(rng, W, b, activation)`` writes the
``(fan_in, fan_out)`` matrix ``W`` and the bias ``b`` in place (both views of
the flat parameter vector), drawing from the fit's ``numpy.random.Generator``.
"""

import numpy as np


def sklearn_glorot_uniform(rng, W, b, activation):
    """scikit-learn's rule: weights and biases uniform in ``[-r, r]`` with
    ``r = sqrt(6 / (fan_in + fan_out))``, or ``sqrt(2 / ...)`` for logistic
    units (Glorot & Bengio, 2010)."""
    fan_in, fan_out = W.shape
    factor = 2.0 if activation == "logistic" else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    W[...] = rng.uniform(-bound, bound, W.shape)
    b[...] = rng.uniform(-bound, bound, b.shape)


INITIALIZERS = {
    "auto": sklearn_glorot_uniform,
}


def initialize(network, init, rng, dtype):
    """A new flat parameter vector for ``network``, filled by ``init``."""
    theta = np.empty(network.n_params, dtype=dtype)
    fill = INITIALIZERS[init]
    for W, b in zip(network.coefs(theta), network.intercepts(theta)):
        fill(rng, W, b, network.activation)
    return theta
