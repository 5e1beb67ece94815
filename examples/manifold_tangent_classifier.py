"""The manifold tangent classifier (Rifai et al., 2011) on handwritten digits.

Three steps, all skdeep:

1. a contractive autoencoder (``MLPAutoencoder(contractive=...)``) learns a
   code of the digits without labels; the contraction keeps the code
   sensitive only along the directions the data vary in;
2. ``MLPAutoencoder.tangents(X, n_tangents)``: the leading right singular
   vectors of the encoder's Jacobian at each row are the learned tangents of
   the data manifold;
3. ``MLPClassifier(tangent_prop=...)`` fitted with those tangents: tangent
   propagation makes the classifier's output insensitive along them.

The same classifier without tangent propagation is the baseline. The figure
shows two test digits and their learned tangents as images (top) and,
against ``tangent_prop``, the test accuracy and the mean sensitivity of the
predicted probabilities along the learned tangents, ``||J_f(x) t||^2``
(bottom; mean and spread over seeds).

Run: ``python examples/manifold_tangent_classifier.py`` (about 30 s); the
figure is saved to ``docs/images/manifold_tangent_classifier.png``.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skdeep import MLPAutoencoder, MLPClassifier  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def sensitivity(clf, X, T, h=1e-4):
    """Mean over rows and tangents of ``||J_f(x) t||^2``, ``f`` the predicted
    probabilities, by central differences."""
    total = 0.0
    for k in range(T.shape[1]):
        step = h * T[:, k]
        diff = (clf.predict_proba(X + step) - clf.predict_proba(X - step)) / (2 * h)
        total += np.mean(np.sum(diff**2, axis=1))
    return total / T.shape[1]


def main(quick=False, output=OUTPUT):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=500, random_state=0)
    n_tangents = 2
    cae = MLPAutoencoder(
        (64,), activation="logistic", contractive=0.05, learning_rate_init=0.01,
        max_iter=20 if quick else 200, random_state=0,
    ).fit(X_train)
    T_train = cae.tangents(X_train, n_tangents)
    T_test = cae.tangents(X_test, n_tangents)
    print(
        "contractive autoencoder: mean ||J||_F^2 on the test rows "
        f"{np.mean(np.sum(cae.encoder_jacobian(X_test) ** 2, axis=(1, 2))):.3f}"
    )

    strengths = [0.0, 0.03] if quick else [0.0, 0.003, 0.01, 0.03, 0.1]
    seeds = range(1 if quick else 5)
    params = dict(hidden_layer_sizes=(64,), activation="tanh", max_iter=30 if quick else 200)
    results = {}
    for strength in strengths:
        rows = []
        for seed in seeds:
            clf = MLPClassifier(tangent_prop=strength, random_state=seed, **params)
            clf.fit(X_train, y_train, tangents=T_train if strength > 0 else None)
            rows.append((clf.score(X_test, y_test), sensitivity(clf, X_test, T_test)))
        results[strength] = np.array(rows)
        acc, sens = results[strength].T
        name = "MLP (no tangent_prop)" if strength == 0 else f"MTC, tangent_prop={strength:g}"
        print(f"{name:>26}: accuracy {acc.mean():.3f} +- {acc.std():.3f}, "
              f"sensitivity along the tangents {sens.mean():.4f}")

    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(2, 4)
    for k, (i, title) in enumerate([(0, f"test digit ({y_test[0]})"), (1, f"test digit ({y_test[1]})")]):
        ax = fig.add_subplot(grid[0, 2 * k])
        ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
        ax.set_title(title)
        ax.axis("off")
        ax = fig.add_subplot(grid[0, 2 * k + 1])
        limit = np.abs(T_test[i]).max()
        ax.imshow(np.hstack(list(T_test[i].reshape(-1, 8, 8))), cmap="RdBu", vmin=-limit, vmax=limit)
        ax.set_title("its learned tangents")
        ax.axis("off")
    x = np.arange(len(strengths))
    labels = [f"{s:g}" for s in strengths]
    for col, (index, label) in enumerate([(0, "test accuracy"), (1, "sensitivity ||J_f t||^2 along the tangents")]):
        ax = fig.add_subplot(grid[1, 2 * col : 2 * col + 2])
        values = [results[s][:, index] for s in strengths]
        ax.bar(x, [v.mean() for v in values], yerr=[v.std() for v in values],
               color=["tab:blue"] + ["tab:orange"] * (len(strengths) - 1))
        ax.set_xticks(x, labels)
        ax.set_xlabel("tangent_prop (0: plain MLP)")
        ax.set_title(label)
        if index == 0:
            ax.set_ylim(min(v.min() for v in values) - 0.03, 1.0)
    fig.suptitle("Manifold tangent classifier: contractive AE -> tangents -> tangent propagation")
    fig.tight_layout()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "manifold_tangent_classifier.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and seeds")
    main(quick=parser.parse_args().quick)
