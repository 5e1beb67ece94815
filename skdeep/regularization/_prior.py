"""The prior network of soft parameter sharing (``coef_prior``)."""

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def layers_of(network, name="coef_prior"):
    """``(coefs, intercepts)`` of a fitted MLP, or of the pair itself;
    ``name`` is the parameter that gave it, for the error messages."""
    if hasattr(network, "get_params") and hasattr(network, "fit"):
        if not hasattr(network, "coefs_") and _is_fitted(network):
            raise TypeError(
                f"{name} must be a fitted MLPClassifier/MLPRegressor (skdeep's or "
                f"scikit-learn's) or a pair (coefs, intercepts); got a fitted "
                f"{type(network).__name__}, which has no layers (coefs_)."
            )
        if not hasattr(network, "coefs_"):
            raise ValueError(
                f"{name} is a {type(network).__name__} that is not fitted: fit it "
                "first (or pass its (coefs, intercepts))."
            )
        inner = getattr(network, "_network", None)
        if getattr(inner, "batch_norm", False):  # what it computes, folded
            folded = inner.fold(network._parameters())
            plain = inner.plain()
            return plain.coefs(folded), plain.intercepts(folded)
        return network.coefs_, network.intercepts_
    if isinstance(network, (tuple, list)) and len(network) == 2:
        return network[0], network[1]
    raise TypeError(
        f"{name} must be a fitted MLPClassifier/MLPRegressor (skdeep's or "
        f"scikit-learn's) or a pair (coefs, intercepts); got {type(network).__name__}."
    )


def prior_parameters(coef_prior, network, dtype):
    """The prior network's parameters as a flat vector laid out for
    ``network``; raises if its layers do not have the network's shapes."""
    coefs, intercepts = layers_of(coef_prior)
    try:
        coefs = [np.asarray(c, dtype=np.float64) for c in coefs]
        intercepts = [np.asarray(b, dtype=np.float64) for b in intercepts]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"coef_prior's layers must be numeric arrays: {exc}") from None
    expected = [(int(a), int(b)) for a, b in zip(network.sizes[:-1], network.sizes[1:])]
    found = [c.shape for c in coefs]
    found_b = [b.shape for b in intercepts]
    if found != expected or found_b != [(b,) for _, b in expected]:
        raise ValueError(
            f"coef_prior has layers of shapes {found} (biases {found_b}), but this "
            f"network's are {expected}: the prior must have the same layer sizes."
        )
    theta = network.pack(coefs, intercepts, dtype)
    if not np.all(np.isfinite(theta)):
        raise ValueError("coef_prior contains NaN or infinite values.")
    return theta
