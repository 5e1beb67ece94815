"""Semi-supervised classification's targets: which rows are unlabelled, and
their weights.

Rows labelled ``-1`` are unlabelled, scikit-learn's convention
(``SelfTrainingClassifier``, ``LabelSpreading``). The classes are those of
the labelled rows; an unlabelled row's encoded target is ``-1`` in every
column, which the kernels read as the mark of an unlabelled row
(``_kernels/unlabeled.py``). The unlabelled term of each mini-batch is
weighed against the labelled one as in Lee (2013): an unlabelled row weighs
its sample weight times ``unlabeled_weight`` times ``S_L / S_U``, the total
weight of the labelled rows of the call over that of its unlabelled rows
(so that ``unlabeled_weight=1`` gives the two terms the same total weight);
the ramp over the first epochs multiplies that (``_listeners.UnlabeledRamp``).
"""

import warnings

import numpy as np

#: the label of an unlabelled row
UNLABELED = -1


def _is_string(value):
    return isinstance(value, (str, bytes, np.str_, np.bytes_))


def _marks_unlabeled(value):
    """-1, or its text (what a user may have meant by it among strings)."""
    if _is_string(value):
        text = value.decode() if isinstance(value, bytes) else str(value)
        return text.strip() == "-1"
    return not isinstance(value, bool) and value == UNLABELED


class UnlabeledClassWarning(UserWarning):
    """``y`` has the label -1 while ``semi_supervised`` is None: it is
    trained as a class, not as the mark of unlabelled rows."""


def warn_if_minus_one(y):
    """Warn when integer labels hold -1 without ``semi_supervised``. It stays
    a class, as in scikit-learn's classifiers (whose common checks train on
    the labels -1 and 1), but it is also scikit-learn's mark of unlabelled
    rows, so the warning says how to use them as such."""
    y = np.asarray(y)
    if y.dtype.kind in "iuf" and np.any(y == UNLABELED):
        warnings.warn(
            "y contains the label -1, which scikit-learn's semi-supervised estimators "
            "read as 'unlabelled'; with semi_supervised=None it is trained as a class. "
            "To learn from those rows as unlabelled ones, set "
            "semi_supervised='pseudo_label' or 'entropy'.",
            UnlabeledClassWarning,
            stacklevel=5,
        )


def unlabeled_mask(y, semi_supervised):
    """Which rows of ``y`` are unlabelled (None when ``semi_supervised`` is
    None); raises on targets that cannot mark rows unlabelled."""
    y = np.asarray(y)
    if semi_supervised is None:
        return None
    if y.ndim != 1:
        raise ValueError(
            f"semi_supervised={semi_supervised!r} needs single-output targets (binary or "
            f"multiclass labels, -1 for unlabelled rows); got y of shape {y.shape}."
        )
    if y.dtype.kind in "USO":
        values = y.tolist()
        if any(_is_string(v) for v in values):
            if any(_marks_unlabeled(v) for v in values):
                raise ValueError(
                    f"semi_supervised={semi_supervised!r} marks unlabelled rows with the "
                    "integer label -1 (scikit-learn's convention), which string labels "
                    "cannot hold: y mixes strings with -1. Encode the labels as integers "
                    "(sklearn.preprocessing.LabelEncoder) and label the unlabelled rows -1."
                )
            return np.zeros(y.shape[0], dtype=bool)  # string labels: every row labelled
    return y == UNLABELED


def labelled_targets(y, mask, *, classes):
    """The labelled rows' targets; raises when there are none (the
    unlabelled rows' term is weighed against them, in every ``fit`` and
    ``partial_fit`` call) and when ``classes`` has -1."""
    if mask is None:
        return y
    if classes is not None and np.any(np.asarray(classes, dtype=object) == UNLABELED):
        raise ValueError(
            "classes contains -1, which marks unlabelled rows with semi_supervised; "
            "classes_ holds the labels of the labelled rows only."
        )
    if mask.all():
        raise ValueError(
            "Every row of y is -1 (unlabelled): semi-supervised training needs at least "
            "one labelled row in each fit or partial_fit call (the labels define the "
            "classes, and the unlabelled rows' term is weighed against them)."
        )
    return y[~mask]


def encode_with_unlabeled(encode, y, mask):
    """``encode(y)`` of the labelled rows, -1 in every column of the others."""
    Y_labelled = encode(y[~mask])
    Y = np.full((y.shape[0], Y_labelled.shape[1]), float(UNLABELED))
    Y[~mask] = Y_labelled
    return Y


def unlabeled_sample_weight(sw, mask, unlabeled_weight):
    """The sample weights with the unlabelled rows' scaled by
    ``unlabeled_weight * S_L / S_U`` (see the module's docstring); raises
    when the labelled rows weigh nothing."""
    labelled = float(np.sum(sw[~mask], dtype=np.float64))
    if not labelled > 0:
        raise ValueError(
            "The labelled rows of y (those not -1) have no weight in this call (none, "
            "or zero sample weights): the unlabelled rows' term is weighed against the "
            "labelled rows of the same fit or partial_fit call, so each call needs some."
        )
    unlabeled = float(np.sum(sw[mask], dtype=np.float64))
    if unlabeled > 0:
        sw[mask] *= sw.dtype.type(unlabeled_weight * labelled / unlabeled)
    return sw
