"""Plots of a training run, as scikit-learn Displays.

``TrainingHistoryDisplay`` draws what a fit recorded per epoch (the
training loss, the validation loss and score, the learning rate) from an
estimator's ``history_`` (or scikit-learn's ``loss_curve_`` and
``validation_scores_``) or from a history given directly. matplotlib is
imported when plotting, not with this module (``pip install
"skdeep[plot]"``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["TrainingHistoryDisplay"]

#: what the display draws, in order: history key -> (panel, legend text)
METRICS = {
    "loss": ("loss", "training loss"),
    "val_loss": ("loss", "validation loss"),
    "val_score": ("validation score", "validation score"),
    "learning_rate": ("learning rate", "learning rate"),
}
#: default line style of each metric (training and validation loss share a panel)
_STYLES = {"val_loss": "--"}
#: what the x axis may be: record key -> (how to read it, axis label)
_X = {"epoch": "epoch", "seconds": "seconds (cumulative)"}


class TrainingHistoryDisplay:
    """Training history visualization: loss, validation and learning rate per epoch.

    Build it with :meth:`from_estimator` or :meth:`from_history`; both draw
    it. One panel per quantity with its own scale: the losses (training and
    validation), the validation score, the learning rate, each when the
    history records it.

    Parameters
    ----------
    history : list of dict
        One record per epoch (or full-batch iteration), as an estimator's
        ``history_``: keys among ``"epoch"``, ``"loss"``, ``"val_loss"``,
        ``"val_score"``, ``"learning_rate"``, ``"seconds"``.
    estimator_name : str, default=None
        Name of the estimator, for the legend and the figure's title.

    Attributes
    ----------
    ax_ : matplotlib Axes or ndarray of Axes
        The axes drawn on: one Axes when there is one panel, else an array
        with one per panel (in the order loss, validation score, learning
        rate).
    figure_ : matplotlib Figure
        The figure holding the axes.
    lines_ : dict of str to matplotlib Line2D
        The line of each metric drawn, by history key.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : The display this one
        follows.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdeep import MLPClassifier
    >>> from skdeep.plot import TrainingHistoryDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((8,), early_stopping=True, max_iter=30).fit(X, y)  # doctest: +SKIP
    >>> display = TrainingHistoryDisplay.from_estimator(clf)  # doctest: +SKIP
    >>> display.lines_["val_score"].get_ydata()  # doctest: +SKIP
    """

    def __init__(self, history, *, estimator_name=None):
        self.history = history
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, metrics=None, x="epoch", ax=None, label=None, line_kw=None):
        """Plot the training history of a fitted estimator.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with a ``history_`` (skdeep's), or with
            ``loss_curve_`` and possibly ``validation_scores_``
            (scikit-learn's MLPs).
        metrics : sequence of str, default=None
            The history keys to draw, among ``"loss"``, ``"val_loss"``,
            ``"val_score"`` and ``"learning_rate"``; by default every one the
            history has.
        x : {"epoch", "seconds"}, default="epoch"
            The x axis: the epoch number, or the cumulative training time.
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw: one Axes for every metric, or one per panel.
            By default a new figure with one panel per quantity.
        label : str, default=None
            Legend text of the lines (followed by the metric's name when
            several metrics are drawn); by default the metrics' names.
        line_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for every line.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with its ``ax_``, ``figure_`` and ``lines_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If it recorded no training history.
        """
        check_is_fitted(estimator)
        display = cls(_history_of(estimator), estimator_name=type(estimator).__name__)
        return display.plot(ax=ax, metrics=metrics, x=x, label=label, line_kw=line_kw)

    @classmethod
    def from_history(cls, history, *, metrics=None, x="epoch", ax=None, label=None, line_kw=None, estimator_name=None):
        """Plot a training history.

        Parameters
        ----------
        history : list of dict
            One record per epoch, as an estimator's ``history_``.
        metrics : sequence of str, default=None
            The keys to draw; by default every one of ``"loss"``,
            ``"val_loss"``, ``"val_score"`` and ``"learning_rate"`` that the
            history has.
        x : {"epoch", "seconds"}, default="epoch"
            The x axis: the epoch number, or the cumulative training time.
        ax : matplotlib Axes or sequence of Axes, default=None
            Where to draw (see :meth:`plot`).
        label : str, default=None
            Legend text of the lines.
        line_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for every line.
        estimator_name : str, default=None
            Name of the estimator, for the figure's title.

        Returns
        -------
        display : TrainingHistoryDisplay
            The display, with its ``ax_``, ``figure_`` and ``lines_``.

        Raises
        ------
        ValueError
            If the history is empty, or lacks a requested metric.
        """
        display = cls(history, estimator_name=estimator_name)
        return display.plot(ax=ax, metrics=metrics, x=x, label=label, line_kw=line_kw)

    def plot(self, ax=None, *, metrics=None, x="epoch", label=None, line_kw=None):
        """Draw the history.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, default=None
            One Axes to draw every metric on, or one Axes per panel (the
            losses, the validation score, the learning rate: those drawn).
            By default a new figure with one panel each, side by side.
        metrics : sequence of str, default=None
            The history keys to draw; by default every one of ``"loss"``,
            ``"val_loss"``, ``"val_score"`` and ``"learning_rate"`` that the
            history has.
        x : {"epoch", "seconds"}, default="epoch"
            The x axis: the epoch number (the records' ``"epoch"``), or the
            cumulative sum of their ``"seconds"``.
        label : str, default=None
            Legend text of the lines; with several metrics each line's text
            is ``"{label}: {metric}"``. By default the metrics' names.
        line_kw : dict, default=None
            Keyword arguments of matplotlib's ``plot`` for every line (a
            metric's default line style gives way to ``linestyle`` here).

        Returns
        -------
        display : TrainingHistoryDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(
                "TrainingHistoryDisplay needs matplotlib: pip install \"skdeep[plot]\"."
            ) from exc
        history = _check_history(self.history)
        metrics = _check_metrics(history, metrics)
        steps = _x_values(history, x)
        panels = list(dict.fromkeys(METRICS[m][0] for m in metrics))
        if ax is None:
            fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
            axes = list(axes.ravel())
            if self.estimator_name:
                fig.suptitle(self.estimator_name)
        elif np.iterable(ax):
            axes = list(np.ravel(ax))
            if len(axes) != len(panels):
                raise ValueError(
                    f"ax has {len(axes)} axes, but the metrics {metrics} need {len(panels)} "
                    f"panels ({', '.join(panels)}): pass one Axes or one per panel."
                )
        else:
            axes = [ax] * len(panels)
        on = dict(zip(panels, axes))
        self.lines_ = {}
        for metric in metrics:
            panel, name = METRICS[metric]
            kept = [(s, r[metric]) for s, r in zip(steps, history) if r.get(metric) is not None]
            kwargs = {"linestyle": _STYLES.get(metric, "-")}
            kwargs.update(line_kw or {})
            text = name if label is None else (label if len(metrics) == 1 else f"{label}: {name}")
            (self.lines_[metric],) = on[panel].plot(
                [s for s, _ in kept], [v for _, v in kept], label=text, **kwargs
            )
        for panel, axis in on.items():
            axis.set_xlabel(_X[x])
            axis.set_ylabel(panel if len(set(axes)) == len(panels) else "value")
            if len(axis.get_lines()) > 1 or label is not None:
                axis.legend()
        unique = list(dict.fromkeys(axes))
        self.ax_ = unique[0] if len(unique) == 1 else np.array(unique, dtype=object)
        self.figure_ = unique[0].figure
        return self


def _history_of(estimator):
    """The estimator's per-epoch records: its ``history_``, or records made
    from scikit-learn's ``loss_curve_`` and ``validation_scores_``."""
    history = getattr(estimator, "history_", None)
    if history:
        return history
    losses = getattr(estimator, "loss_curve_", None)
    if not losses:
        raise ValueError(
            f"{type(estimator).__name__} has no training history to plot: it has "
            "neither history_ nor loss_curve_ (a full-batch solver of scikit-learn's "
            "records none)."
        )
    scores = getattr(estimator, "validation_scores_", None) or []
    records = [{"epoch": i + 1, "loss": float(v)} for i, v in enumerate(losses)]
    for record, score in zip(records, scores):
        record["val_score"] = float(score)
    return records


def _check_history(history):
    if not isinstance(history, (list, tuple)) or not history or not all(
        isinstance(r, dict) for r in history
    ):
        raise ValueError(
            "history must be a non-empty list of per-epoch dicts (an estimator's "
            f"history_), got {type(history).__name__} {history!r:.60}."
        )
    return list(history)


def _check_metrics(history, metrics):
    present = [m for m in METRICS if any(r.get(m) is not None for r in history)]
    if metrics is None:
        if not present:
            raise ValueError(f"The history records none of {list(METRICS)}.")
        return present
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f"Unknown metric {metric!r}: use some of {list(METRICS)}.")
        if metric not in present:
            raise ValueError(
                f"The history has no {metric!r} (was there a validation set? it records "
                f"{present})."
            )
    return metrics


def _x_values(history, x):
    if x not in _X:
        raise ValueError(f"x must be one of {list(_X)}, got {x!r}.")
    if x == "epoch":
        return [r.get("epoch", i + 1) for i, r in enumerate(history)]
    if not all("seconds" in r for r in history):
        raise ValueError("x='seconds' needs every record's 'seconds'; this history lacks some.")
    return list(np.cumsum([r["seconds"] for r in history]))
