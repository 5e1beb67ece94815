"""Classification targets: labels <-> output units of the network.

``LabelTargets`` covers what scikit-learn's MLPClassifier covers (binary,
multiclass, multilabel) with its ``LabelBinarizer``. ``HeadTargets`` adds
multiclass-multioutput targets: ``y`` with several categorical columns gets one
softmax head per column on the shared hidden layers (hard parameter sharing
between the tasks).
"""

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.multiclass import type_of_target, unique_labels


def _check_known(labels, known, what="`y`"):
    unknown = np.setdiff1d(labels, known)
    if unknown.size:
        raise ValueError(
            f"{what} has classes not in `self.classes_`. `self.classes_` has "
            f"{known}. 'y' has {labels}: {unknown} are unknown."
        )


def _unknown_labels(class_weight, classes):
    """The keys of a ``class_weight`` dict that are not in ``classes``."""
    if not isinstance(class_weight, dict):
        return []
    known = classes.tolist()
    return [label for label in class_weight if label not in known]


class LabelTargets:
    """Binary, multiclass or multilabel targets through a ``LabelBinarizer``."""

    def __init__(self, binarizer):
        self.binarizer = binarizer

    @classmethod
    def fit(cls, y):
        return cls(LabelBinarizer().fit(y))

    @property
    def classes_(self):
        return self.binarizer.classes_

    @property
    def multilabel(self):
        return self.binarizer.y_type_.startswith("multilabel")

    @property
    def loss(self):
        if self.binarizer.y_type_ == "multiclass":
            return "log_loss"
        return "binary_log_loss"

    segments = None

    def same_classes(self, classes):
        return set(np.asarray(classes).tolist()) == set(self.classes_.tolist())

    def encode(self, y):
        if self.multilabel:
            if type_of_target(y) != "multilabel-indicator" or y.shape[1] != len(
                self.classes_
            ):
                raise ValueError(
                    f"Expected a multilabel indicator matrix with {len(self.classes_)}"
                    f" columns, got targets of type {type_of_target(y)!r}."
                )
        else:
            _check_known(unique_labels(y), self.classes_)
        return self.binarizer.transform(y)

    def decode(self, output):
        # what inverse_transform computes for dense binary and multiclass
        # targets, without its checks (tens of microseconds, more than
        # predicting a row takes)
        binarizer, classes = self.binarizer, self.classes_
        if not binarizer.sparse_input_:
            if binarizer.y_type_ == "multiclass":
                return classes[np.argmax(output, axis=1)]
            if binarizer.y_type_ == "binary" and len(classes) == 2 and output.shape[1] == 1:
                threshold = (binarizer.pos_label + binarizer.neg_label) / 2.0
                return classes[(output[:, 0] > threshold).astype(np.intp)]
        if output.shape[1] == 1:
            output = output.ravel()
        return binarizer.inverse_transform(output)

    def proba(self, output):
        if output.shape[1] == 1:
            p = output.ravel()
            return np.vstack([1 - p, p]).T
        return output

    def score(self, output, y, sample_weight):
        return accuracy_score(y, self.decode(output), sample_weight=sample_weight)

    def class_sample_weight(self, class_weight, y):
        if self.multilabel:
            return compute_sample_weight(class_weight, y)
        if isinstance(class_weight, list):
            raise ValueError(
                "class_weight must be a dict or 'balanced' for single-output "
                "targets; a list of dicts is for multi-output targets."
            )
        try:
            weights = compute_class_weight(class_weight, classes=self.classes_, y=y)
        except ValueError as exc:
            # scikit-learn lists the classes without a weight, not the label
            # that has a weight but is not a class
            unknown = _unknown_labels(class_weight, self.classes_)
            if not unknown:
                raise
            raise ValueError(
                f"class_weight has weights for {unknown}, which are not among the "
                f"classes, {self.classes_.tolist()}."
            ) from exc
        return weights[np.searchsorted(self.classes_, y)]


class HeadTargets:
    """Several categorical outputs, one softmax head per column of ``y``."""

    loss = "log_loss"

    def __init__(self, classes):
        self.classes_ = [np.asarray(c) for c in classes]
        sizes = [len(c) for c in self.classes_]
        self.segments = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @classmethod
    def fit(cls, y):
        return cls([np.unique(y[:, j]) for j in range(y.shape[1])])

    def same_classes(self, classes):
        return len(classes) == len(self.classes_) and all(
            set(np.asarray(a).tolist()) == set(b.tolist())
            for a, b in zip(classes, self.classes_)
        )

    def encode(self, y):
        if y.ndim != 2 or y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y must have {len(self.classes_)} columns (one per output), got "
                f"shape {y.shape}."
            )
        Y = np.zeros((y.shape[0], int(self.segments[-1])))
        rows = np.arange(y.shape[0])
        for j, classes in enumerate(self.classes_):
            _check_known(np.unique(y[:, j]), classes, f"Column {j} of `y`")
            Y[rows, self.segments[j] + np.searchsorted(classes, y[:, j])] = 1.0
        return Y

    def _heads(self, output):
        return [output[:, a:b] for a, b in zip(self.segments[:-1], self.segments[1:])]

    def decode(self, output):
        return np.asarray(
            [c[np.argmax(p, axis=1)] for c, p in zip(self.classes_, self._heads(output))]
        ).T

    def proba(self, output):
        return [np.array(p) for p in self._heads(output)]

    def score(self, output, y, sample_weight):
        # subset accuracy, as MultiOutputClassifier.score
        correct = np.all(self.decode(output) == np.asarray(y), axis=1)
        return float(np.average(correct, weights=sample_weight))

    def class_sample_weight(self, class_weight, y):
        return compute_sample_weight(class_weight, y)


def targets_for(y):
    """The encoder for targets ``y`` of a classification task."""
    if type_of_target(y) == "multiclass-multioutput":
        return HeadTargets.fit(y)
    return LabelTargets.fit(y)


def targets_from_classes(classes, y):
    """The encoder for ``partial_fit``'s ``classes`` (and the first batch)."""
    kind = type_of_target(y)
    if kind.startswith("multilabel"):
        return LabelTargets.fit(y)
    if kind == "multiclass-multioutput":
        if not isinstance(classes, (list, tuple)) or len(classes) != y.shape[1]:
            raise ValueError(
                "For multi-output targets, classes must be a list with the classes "
                f"of each of the {y.shape[1]} outputs."
            )
        return HeadTargets([np.unique(c) for c in classes])
    binarizer = LabelBinarizer().fit(unique_labels(classes))
    return LabelTargets(binarizer)
