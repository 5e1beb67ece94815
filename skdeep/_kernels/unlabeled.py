"""The unlabelled rows' terms of semi-supervised classification.

A row whose first target is negative (the estimator writes ``-1`` in every
column of an unlabelled row's encoded target: a classification target is
never negative) has no label. With ``semi_supervised`` on, the data term of a
pass is the log-loss of its labelled rows plus, for each unlabelled row ``i``
with weight ``sw_i`` (the estimator's ramped ``unlabeled_weight`` is in it),
``sw_i * u(z_i)`` with ``z_i`` the row's logits and ``u`` one of

``pseudo_label`` (Lee, 2013)
    the cross-entropy against the class of the largest predicted
    probability, re-chosen at every pass and held fixed in the gradient:
    ``u = -log p_k``, ``k = argmax p``; ``du/dz = p - e_k`` (a softmax head),
    ``u = softplus(z) - [z > 0] z``, ``du/dz = p - [z > 0]`` (a logistic unit);
``entropy`` (Grandvalet & Bengio, 2005)
    the entropy of the predicted distribution, ``u = -sum_c p_c log p_c``,
    ``du/dz_k = -p_k (log p_k + u)`` (a softmax head),
    ``u = p softplus(-z) + (1 - p) softplus(z) = softplus(z) - p z``,
    ``du/dz = -z p (1 - p)`` (a logistic unit).

Both are computed from the logits (``log p = z - logsumexp(z)``), as the
log-losses are. ``UNLABELED_TERMS`` is the registry (name -> code and
kernels); the estimator's ``semi_supervised`` constraint is derived from it.
The terms reach the passes as ``records.Hidden.unlabeled``, the term's code,
None when off: ``data_term`` is then the plain ``losses.loss_gradient`` and
none of this is compiled.
"""

from dataclasses import dataclass

from ._jit import by_presence, jit, switch
from .elementary import logistic, softplus
from .losses import LOG_LOSS, _softmax_inplace, loss_gradient


@jit
def pseudo_label_softmax(z, d, w):
    """One softmax head of an unlabelled row: ``z`` (logits ->
    probabilities), gradient ``d`` scaled by ``w``; returns ``-log p_k``."""
    k = 0
    for c in range(1, z.shape[0]):
        if z[c] > z[k]:
            k = c
    zk = z[k]
    lse = _softmax_inplace(z)
    for c in range(z.shape[0]):
        d[c] = w * z[c]
    d[k] -= w
    return lse - zk


@jit
def entropy_softmax(z, d, w):
    """As ``pseudo_label_softmax``, for the entropy of the head's
    distribution (``d`` holds the logits until the end)."""
    for c in range(z.shape[0]):
        d[c] = z[c]
    lse = _softmax_inplace(z)
    h = 0.0
    for c in range(z.shape[0]):
        h -= z[c] * (d[c] - lse)
    hz = z.dtype.type(h)
    for c in range(z.shape[0]):
        d[c] = -w * z[c] * (d[c] - lse + hz)
    return h


@jit
def pseudo_label_logistic(z, d, w):
    """The logistic units of an unlabelled row (binary or each label of a
    multilabel target), each against its own rounded prediction."""
    total = 0.0
    for c in range(z.shape[0]):
        zc = z[c]
        y = z.dtype.type(1) if zc > 0 else z.dtype.type(0)
        total += softplus(zc) - y * zc
        p = logistic(zc)
        z[c] = p
        d[c] = w * (p - y)
    return total


@jit
def entropy_logistic(z, d, w):
    """The entropies of the logistic units of an unlabelled row."""
    one = z.dtype.type(1)
    total = 0.0
    for c in range(z.shape[0]):
        zc = z[c]
        p = logistic(zc)
        # p softplus(-z) + (1 - p) softplus(z), with softplus(-z) = softplus(z) - z
        total += softplus(zc) - p * zc
        z[c] = p
        d[c] = -w * zc * p * (one - p)
    return total


@dataclass(frozen=True)
class UnlabeledTerm:
    """A semi-supervised objective's term for the unlabelled rows: its code
    (never 0, which means off when ``_jit.SPECIALISE`` is off), its formula
    and its kernels for one softmax head and for the logistic units of a
    row, each ``(z, d, w) -> u``."""

    code: int
    formula: str
    softmax: object
    logistic: object


UNLABELED_TERMS = {
    "pseudo_label": UnlabeledTerm(
        1, "-log p_k, k = argmax p (Lee, 2013)", pseudo_label_softmax, pseudo_label_logistic
    ),
    "entropy": UnlabeledTerm(
        2, "-sum_c p_c log p_c (Grandvalet & Bengio, 2005)", entropy_softmax, entropy_logistic
    ),
}

_softmax_term = switch("unlabeled_softmax", {t.code: t.softmax for t in UNLABELED_TERMS.values()})
_logistic_term = switch("unlabeled_logistic", {t.code: t.logistic for t in UNLABELED_TERMS.values()})


@jit
def unlabeled_row(mode, loss, z, d, w, segments):
    """Term ``mode`` of one unlabelled row with logits ``z`` (-> prediction)
    and gradient ``d`` scaled by ``w``: per softmax head for the log-loss,
    else per logistic unit; returns the unweighted term."""
    if loss == LOG_LOSS:
        total = 0.0
        for s in range(segments.shape[0] - 1):
            lo = segments[s]
            hi = segments[s + 1]
            total += _softmax_term(mode, z[lo:hi], d[lo:hi], w)
        return total
    return _logistic_term(mode, z, d, w)


def _labelled_term(mode, loss, Z, Y, sw, segments, scale, D):
    return loss_gradient(loss, Z, Y, sw, segments, scale, D)


def _semi_supervised_term(mode, loss, Z, Y, sw, segments, scale, D):
    """``loss_gradient`` on the labelled rows and term ``mode`` on the
    unlabelled ones (first target negative), row by row; the plain loss
    when ``mode`` is 0 (``_jit.SPECIALISE`` off, semi-supervision off)."""
    if mode == 0:
        return loss_gradient(loss, Z, Y, sw, segments, scale, D)
    total = 0.0
    for i in range(Z.shape[0]):
        if Y[i, 0] < 0:
            w = Z.dtype.type(scale * sw[i])
            total += sw[i] * unlabeled_row(mode, loss, Z[i], D[i], w, segments)
        else:
            total += loss_gradient(
                loss, Z[i : i + 1], Y[i : i + 1], sw[i : i + 1], segments, scale, D[i : i + 1]
            )
    return total


#: ``data_term(unlabeled, loss, Z, Y, sw, segments, scale, D)``: the pass's
#: data term as ``loss_gradient`` computes it, with the unlabelled rows'
#: term when ``unlabeled`` (a code of ``UNLABELED_TERMS``) is not None
data_term = by_presence(_labelled_term, _semi_supervised_term)
