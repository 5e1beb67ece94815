"""Weight penalties and max-norm on handwritten digits.
====================================================

What each penalty does to the weights of a network trained on scikit-learn's
8x8 digits:

- top row: for each input pixel, the norm of its outgoing weights in the first
  layer, drawn as an 8x8 image. L2 shrinks every weight a little; L1 sets most
  weights exactly to zero and drops the border pixels altogether (they are in
  ``unused_features_``); max-norm bounds each unit's incoming norm.
- bottom left: how many input pixels each penalty keeps as ``alpha`` grows.
- bottom right: validation accuracy per epoch (``history_``) without and with
  each penalty.

Run: ``python examples/regularization_penalties.py`` (about 30 s); ``--output DIR``
saves the figure in DIR instead of showing it.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier
from skdeep.plot import TrainingHistoryDisplay

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def main(quick=False, output=None):
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    epochs = 15 if quick else 60
    base = dict(
        hidden_layer_sizes=(64,), learning_rate_init=0.005, max_iter=epochs,
        early_stopping=True, n_iter_no_change=epochs, random_state=0,
    )
    settings = {
        "no penalty": dict(penalty=None),
        "L2 (alpha=1)": dict(penalty="l2", alpha=1.0),
        "L1 (alpha=1)": dict(penalty="l1", alpha=1.0),
        "max-norm 1": dict(penalty=None, max_norm=1.0),
    }
    models = {
        name: MLPClassifier(**base, **params).fit(X_train, y_train, X_val=X_val, y_val=y_val)
        for name, params in settings.items()
    }

    alphas = [0.01, 0.1, 0.3, 1.0, 3.0] if not quick else [0.1, 1.0]
    kept = {"l1": [], "l2": []}
    for alpha in alphas:
        for penalty in kept:
            clf = MLPClassifier(
                hidden_layer_sizes=(64,), penalty=penalty, alpha=alpha,
                learning_rate_init=0.005, max_iter=epochs, random_state=0,
            ).fit(X_train, y_train)
            kept[penalty].append(X.shape[1] - len(clf.unused_features_))

    fig = plt.figure(figsize=(12, 7.5))
    for i, (name, clf) in enumerate(models.items()):
        ax = fig.add_subplot(2, 4, i + 1)
        norms = np.linalg.norm(clf.coefs_[0], axis=1).reshape(8, 8)
        cmap = matplotlib.colormaps["viridis"].copy()
        cmap.set_bad("white")  # pixels whose outgoing weights are all zero
        image = ax.imshow(np.ma.masked_equal(norms, 0), cmap=cmap)
        # each penalty has its own scale of norms: a colour bar per panel
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="weight norm")
        zeros = np.mean(clf.coefs_[0] == 0)
        ax.set_title(f"{name}\n{100 * zeros:.0f}% zero weights, {64 - len(clf.unused_features_)} pixels used", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(2, 2, 3)
    for penalty, counts in kept.items():
        ax.plot(alphas, counts, "o-", label=penalty.upper())
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("input pixels with a non-zero weight")
    ax.set_title("L1 selects features, L2 does not")
    ax.legend()
    ax = fig.add_subplot(2, 2, 4)
    for name, clf in models.items():
        TrainingHistoryDisplay.from_estimator(
            clf, metrics=["val_score"], ax=ax, label=f"{name} (best {clf.best_validation_score_:.3f})"
        )
    ax.set_ylabel("validation accuracy")
    ax.set_title("Validation curves")
    ax.legend(fontsize=8)
    fig.suptitle(
        "Weight penalties on digits: first-layer weight norm per input pixel "
        "(white: pixel unused)", fontsize=11,
    )
    fig.tight_layout()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        path = output / "regularization_penalties.png"
        fig.savefig(path, dpi=90)
    for name, clf in models.items():
        print(f"{name:14s} validation accuracy {clf.best_validation_score_:.3f}, "
              f"zero weights {100 * np.mean(clf.coefs_[0] == 0):5.1f}%, "
              f"max unit norm {max(np.linalg.norm(W, axis=0).max() for W in clf.coefs_):.2f}")
    if output is None:
        return fig
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer epochs, for tests")
    parser.add_argument("--output", type=Path, help="save the figure in this directory instead of showing it")
    args = parser.parse_args()
    main(quick=args.quick, output=args.output)
    if args.output is None:
        plt.show()
