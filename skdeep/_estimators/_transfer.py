"""Transfer learning: whether ``init=<fitted network>`` copies the output layer.

A source network's hidden layers compute features that may serve another
task, but its output layer answers the source's question: the logit of class
"3" is no use to a network whose third output means "8" (measured in issue
17: a head copied across tasks fine-tunes worse than a network trained from
scratch). The output layer is therefore copied only when both networks'
outputs mean the same thing (``same_task``); otherwise the initialiser draws
it afresh.
"""

import numpy as np
from sklearn.base import is_classifier, is_regressor


def _labels(classes):
    """``classes_`` as nested tuples of Python scalars (one tuple per output
    for multi-output targets), so that equal labels compare equal whatever
    the array type."""
    if isinstance(classes, list):  # one array of classes per output
        return tuple(tuple(np.asarray(c).tolist()) for c in classes)
    return (tuple(np.asarray(classes).tolist()),)


def task_of(estimator):
    """What a fitted network's output units mean, as a comparable tuple, or
    None for a bare ``(coefs, intercepts)`` pair, whose outputs carry no
    meaning to compare.

    - classifier: its classes in order (per output), its output activation
      (softmax, or logistic for binary and multilabel) and its number of
      output units;
    - regressor: its number of outputs and its output activation (the link of
      its loss); outputs have no names, so their order is the user's to keep;
    - any other estimator (an autoencoder, say): its type, which never
      matches a classifier's or a regressor's task.
    """
    if not (hasattr(estimator, "get_params") and hasattr(estimator, "fit")):
        return None
    head = (
        getattr(estimator, "out_activation_", None),
        getattr(estimator, "n_outputs_", None),
    )
    if is_classifier(estimator):
        return ("classifier", *head, _labels(getattr(estimator, "classes_", ())))
    if is_regressor(estimator):
        return ("regressor", *head)
    return (type(estimator).__name__, *head)


def same_task(source, target):
    """Whether ``init=source`` copies its output layer into the fitted-to-be
    ``target`` (whose ``classes_``, ``n_outputs_`` and ``out_activation_``
    are already set for this fit)."""
    source_task = task_of(source)
    return source_task is None or source_task == task_of(target)
