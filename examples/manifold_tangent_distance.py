"""Tangent distance: nearest neighbours that ignore small shifts.
==============================================================

A digit, its two tangent vectors (the derivatives of the image along a
horizontal and a vertical shift, ``skdeep.tangents.shift_tangents``) and
the points of its tangent plane, then, for test digits that the Euclidean
1-NN gets wrong, their nearest training digit under each distance
(``TangentDistanceClassifier`` against scikit-learn's
``KNeighborsClassifier``), with 300 training digits.

Run: ``python examples/manifold_tangent_distance.py`` (a few seconds); ``--output DIR``
saves the figure in DIR instead of showing it.
"""

import argparse
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from skdeep import TangentDistanceClassifier
from skdeep.tangents import shift_tangents


def show(ax, image, title, cmap="gray_r", symmetric=False):
    limit = np.abs(image).max() or 1.0
    ax.imshow(image.reshape(8, 8), cmap=cmap, vmin=-limit if symmetric else 0,
              vmax=limit if symmetric else 16)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def main(quick=False, output=None):
    X, y = load_digits(return_X_y=True)
    n_train = 300
    X_train, y_train = X[:n_train], y[:n_train]
    X_test, y_test = X[n_train:], y[n_train:]
    if quick:
        X_test, y_test = X_test[:400], y_test[:400]

    shifts = partial(shift_tangents, image_shape=(8, 8))
    euclidean = KNeighborsClassifier(1).fit(X_train, y_train)
    tangent = TangentDistanceClassifier(tangents=shifts).fit(X_train, y_train)
    local = TangentDistanceClassifier(n_tangents=3).fit(X_train, y_train)
    scores = {
        "Euclidean 1-NN": euclidean.score(X_test, y_test),
        "tangent distance, shifts": tangent.score(X_test, y_test),
        "tangent distance, local PCA (3)": local.score(X_test, y_test),
    }

    euclidean_index = euclidean.kneighbors(X_test, return_distance=False)[:, 0]
    tangent_index = tangent.kneighbors(X_test, return_distance=False)[:, 0]
    rescued = np.flatnonzero((y_train[euclidean_index] != y_test) & (y_train[tangent_index] == y_test))

    n_cases = 4
    fig, axes = plt.subplots(1 + n_cases // 2, 6, figsize=(9, 1.8 * (1 + n_cases // 2) + 0.4))
    digit = X_test[rescued[0]] if len(rescued) else X_test[0]
    T = shifts(digit[None])[0]
    show(axes[0, 0], digit, "a test digit")
    show(axes[0, 1], T[0], "tangent: horizontal shift", cmap="RdBu", symmetric=True)
    show(axes[0, 2], T[1], "tangent: vertical shift", cmap="RdBu", symmetric=True)
    for ax, (a, b) in zip(axes[0, 3:], [(1.0, 0.0), (0.0, 1.0), (-1.0, -1.0)]):
        show(ax, np.clip(digit + a * T[0] + b * T[1], 0, 16), f"x {a:+g} t_h {b:+g} t_v")
    for row in axes[1:]:
        for ax in row:
            ax.axis("off")
    for case, i in enumerate(rescued[:n_cases]):
        row, col = 1 + case // 2, 3 * (case % 2)
        show(axes[row, col], X_test[i], f"query (a {y_test[i]})")
        show(axes[row, col + 1], X_train[euclidean_index[i]],
             f"Euclidean NN: {y_train[euclidean_index[i]]}")
        show(axes[row, col + 2], X_train[tangent_index[i]],
             f"tangent NN: {y_train[tangent_index[i]]}")
        for ax in axes[row, col:col + 3]:
            ax.axis("on")
    fig.suptitle(
        f"1-NN, {n_train} training digits: Euclidean {scores['Euclidean 1-NN']:.3f}, tangent distance "
        f"along shifts {scores['tangent distance, shifts']:.3f}", fontsize=10,
    )
    fig.tight_layout()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        path = output / "manifold_tangent_distance.png"
        fig.savefig(path, dpi=90)
    for name, score in scores.items():
        print(f"{name:34s} accuracy {score:.3f} on {len(y_test)} test digits")
    print(f"test digits the Euclidean 1-NN misclassifies and the tangent distance does not: {len(rescued)}")
    if output is None:
        return fig
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer test digits, for tests")
    parser.add_argument("--output", type=Path, help="save the figure in this directory instead of showing it")
    args = parser.parse_args()
    main(quick=args.quick, output=args.output)
    if args.output is None:
        plt.show()
