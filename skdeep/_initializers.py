"""Weight initialisation schemes, by name.

An initialiser fills one layer: ``init(rng, W, b, activation)`` writes the
``(fan_in, fan_out)`` matrix ``W`` and the bias ``b`` in place (both views of
the flat parameter vector), drawing from the fit's ``numpy.random.Generator``.
Biases start at zero, except in scikit-learn's scheme (``'auto'``), which draws
them like the weights.
"""

import warnings

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


def glorot_uniform(rng, W, b, activation):
    """Uniform in ``[-r, r]``, ``r = sqrt(6 / (fan_in + fan_out))``: variance
    ``2 / (fan_in + fan_out)`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = W.shape
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    W[...] = rng.uniform(-bound, bound, W.shape)
    b[...] = 0


def glorot_normal(rng, W, b, activation):
    """Normal with variance ``2 / (fan_in + fan_out)``."""
    fan_in, fan_out = W.shape
    W[...] = rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), W.shape)
    b[...] = 0


def he_uniform(rng, W, b, activation):
    """Uniform with variance ``2 / fan_in`` (He et al., 2015), for ReLU."""
    bound = np.sqrt(6.0 / W.shape[0])
    W[...] = rng.uniform(-bound, bound, W.shape)
    b[...] = 0


def he_normal(rng, W, b, activation):
    """Normal with variance ``2 / fan_in`` (He et al., 2015), for ReLU."""
    W[...] = rng.normal(0.0, np.sqrt(2.0 / W.shape[0]), W.shape)
    b[...] = 0


def lecun_normal(rng, W, b, activation):
    """Normal with variance ``1 / fan_in`` (LeCun et al., 1998)."""
    W[...] = rng.normal(0.0, np.sqrt(1.0 / W.shape[0]), W.shape)
    b[...] = 0


def orthogonal(rng, W, b, activation):
    """A (semi-)orthogonal matrix (Saxe et al., 2014): the Q factor of a
    Gaussian matrix, sign-corrected so that it is uniformly distributed."""
    rows, cols = W.shape
    A = rng.normal(size=(max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(A)
    Q *= np.sign(np.diag(R))
    W[...] = Q if rows >= cols else Q.T
    b[...] = 0


def normal(rng, W, b, activation):
    """Normal with standard deviation 0.01."""
    W[...] = rng.normal(0.0, 0.01, W.shape)
    b[...] = 0


def uniform(rng, W, b, activation):
    """Uniform in ``[-0.05, 0.05]``."""
    W[...] = rng.uniform(-0.05, 0.05, W.shape)
    b[...] = 0


def zeros(rng, W, b, activation):
    """All zeros."""
    W[...] = 0
    b[...] = 0


INITIALIZERS = {
    "auto": sklearn_glorot_uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
    "normal": normal,
    "uniform": uniform,
    "zeros": zeros,
}


def initialize(network, init, rng, dtype, copy_head=True):
    """A new flat parameter vector for ``network``, filled by ``init``: a name
    of ``INITIALIZERS`` or a fitted MLP whose layers to start from. The
    fitted MLP's output layer is copied only with ``copy_head`` (its outputs
    mean what this network's mean, see ``_estimators._transfer``).

    With batch normalisation the scales start at 1, the shifts and running
    means at 0, the running variances at 1, and the hidden biases (unused) at
    0; a fitted network with batch normalisation passes its own on.
    """
    theta = np.empty(network.n_params, dtype=dtype)
    layers = list(zip(network.coefs(theta), network.intercepts(theta)))
    if network.batch_norm:
        scales, shifts, means, variances = network.batch_norm_views(theta)
        for arrays, value in ((scales, 1), (shifts, 0), (means, 0), (variances, 1)):
            for a in arrays:
                a[:] = value
    if not isinstance(init, str):
        copied = _copy_layers(init, layers, network, theta, copy_head)
        for W, b in layers[copied:]:
            sklearn_glorot_uniform(rng, W, b, network.activation)
        _unused_biases(network, theta)
        return theta
    if init == "zeros" and network.n_layers > 1:
        warnings.warn(
            "init='zeros': the hidden units of a layer start identical and get "
            "identical gradients, so they stay identical (the network learns as "
            "if each hidden layer had one unit).",
            UserWarning,
            stacklevel=3,
        )
    fill = INITIALIZERS[init]
    for W, b in layers:
        fill(rng, W, b, network.activation)
    _unused_biases(network, theta)
    return theta


def _unused_biases(network, theta):
    """Batch normalisation's shifts replace the hidden biases: zero them."""
    if network.batch_norm:
        for b in network.intercepts(theta)[:-1]:
            b[:] = 0


def _copy_layers(source, layers, network, theta, copy_head):
    """Transfer learning: copy the fitted MLP ``source``'s leading hidden
    layers while their shapes match this network's hidden layers, with their
    batch normalisation when both networks have it, and its output layer
    into this network's output layer when ``copy_head`` and every layer
    before it was copied; returns how many leading layers were copied.

    A hidden layer never goes into an output layer nor the other way round:
    the output layer's units are the task's, not features."""
    from .regularization._prior import layers_of

    source_network = getattr(source, "_network", None)
    both = network.batch_norm and getattr(source_network, "batch_norm", False)
    if both:  # the raw weights, which go with the normalisation copied below
        coefs, intercepts = source.coefs_, source.intercepts_
    else:  # what the source computes (normalisation folded in)
        coefs, intercepts = layers_of(source, name="init")
    # a fitted autoencoder gives its encoder only (unsupervised pretraining)
    n_encoder = getattr(source, "_n_encoder_layers", None)
    if n_encoder is not None:
        coefs, intercepts, copy_head = coefs[:n_encoder], intercepts[:n_encoder], False
    try:
        coefs = [np.asarray(c, dtype=np.float64) for c in coefs]
        intercepts = [np.asarray(b, dtype=np.float64) for b in intercepts]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"init's layers must be numeric arrays: {exc}") from None
    if not all(np.isfinite(a).all() for a in (*coefs, *intercepts)):
        raise ValueError("init contains NaN or infinite values.")
    _check_first_layer(coefs, layers)

    def matches(k):
        W, b = layers[k]
        return np.shape(coefs[k]) == W.shape and np.shape(intercepts[k]) == b.shape

    # the source's hidden layers go into this network's hidden layers
    n_hidden = min(len(layers) - 1, len(coefs) if n_encoder is not None else len(coefs) - 1)
    copied = 0
    while copied < n_hidden and matches(copied):
        copied += 1
    if copy_head and copied == len(layers) - 1 == len(coefs) - 1 and matches(copied):
        copied += 1
    for (W, b), W_src, b_src in zip(layers[:copied], coefs, intercepts):
        W[...] = W_src
        b[...] = b_src
    if both:
        hidden = min(copied, network.n_layers - 1, source_network.n_layers - 1)
        mine = network.batch_norm_views(theta)
        theirs = source_network.batch_norm_views(source._theta)
        for target, origin in zip(mine, theirs):
            for layer in range(hidden):
                target[layer][:] = origin[layer]
    return copied


def _check_first_layer(coefs, layers):
    """Raise unless the source's first layer has this network's shape (the
    same input features, and the same first layer width)."""
    found, expected = np.shape(coefs[0]), layers[0][0].shape
    if len(found) != 2:
        raise ValueError(f"init's first weight matrix has shape {found}, not (n_in, n_out).")
    if found[0] != expected[0]:
        raise ValueError(
            f"init is a network of {found[0]} input features, but X has "
            f"{expected[0]} features: it cannot start this network."
        )
    if found != expected:
        raise ValueError(
            f"init is a network whose first layer has shape {found}, "
            f"but this network's is {expected}: nothing to start from."
        )
