"""Autoencoders on handwritten digits: reconstructions and anomaly scores.

Digits scaled to [0, 1]; the digit 9 is held out of training. Five models
with a 16-number code are compared:

- PCA with 16 components (the best linear code);
- a plain autoencoder ``MLPAutoencoder((64, 16), activation="tanh")``;
- a denoising one (``input_noise=0.3``: trained to reconstruct clean rows
  from noisy ones);
- a sparse one (``activity_l1`` with ReLU units: an L1 penalty on the
  hidden activations, which sets a share of them exactly to zero);
- a contractive one (``MLPAutoencoder((16,), contractive=...)``, one layer,
  logistic units).

Top: test digits, their noisy versions and each model's reconstruction of
the noisy ones. Bottom left: reconstruction error of clean and of noisy test
rows per model. Bottom right: the plain autoencoder's ``score_samples`` on
test rows of the training digits and on the held-out 9s (an anomaly
detector; the ROC AUC is printed).

Run: ``python examples/autoencoders_digits.py`` (about 30 s); the figure is
saved to ``docs/images/autoencoders_digits.png``.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skdeep import MLPAutoencoder  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images"
HELD_OUT = 9


def errors(model, X_in, X_clean):
    """Each row's squared reconstruction error of ``X_in`` against ``X_clean``."""
    reconstruction = model.inverse_transform(model.transform(X_in))
    return np.sum((X_clean - reconstruction) ** 2, axis=1)


def main(quick=False, output=OUTPUT):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    known = X[y != HELD_OUT]
    X_new = X[y == HELD_OUT]
    n_train = int(0.75 * len(known))
    X_train, X_test = known[:n_train], known[n_train:]
    noisy = X_test + np.random.default_rng(1).normal(scale=0.3, size=X_test.shape)

    epochs = 40 if quick else 200
    deep = dict(activation="tanh", learning_rate_init=0.003, batch_size=32, max_iter=epochs, random_state=0)
    models = {
        "PCA(16)": PCA(16),
        "autoencoder": MLPAutoencoder((64, 16), **deep),
        "denoising": MLPAutoencoder((64, 16), input_noise=0.3, **deep),
        "sparse": MLPAutoencoder(
            (64, 16), activation="relu", activity_l1=0.01, learning_rate_init=0.003,
            batch_size=32, max_iter=epochs, random_state=0,
        ),
        "contractive": MLPAutoencoder(
            (16,), activation="logistic", contractive=0.01, learning_rate_init=0.01,
            batch_size=32, max_iter=epochs, random_state=0,
        ),
    }
    clean_errors, noisy_errors = {}, {}
    for name, model in models.items():
        model.fit(X_train)
        clean_errors[name] = errors(model, X_test, X_test).mean()
        noisy_errors[name] = errors(model, noisy, X_test).mean()
        extra = ""
        if name == "sparse":
            zero = np.mean(model.transform(X_test) == 0)
            extra = f", {zero:.0%} of the code is exactly zero"
        print(f"{name:>12}: reconstruction error {clean_errors[name]:.3f} (clean), "
              f"{noisy_errors[name]:.3f} (noisy input){extra}")
    ae = models["autoencoder"]
    scores = np.r_[ae.score_samples(X_test), ae.score_samples(X_new)]
    is_new = np.r_[np.zeros(len(X_test)), np.ones(len(X_new))]
    auc = roc_auc_score(is_new, -scores)
    print(f"score_samples: ROC AUC {auc:.3f} for the held-out digit {HELD_OUT} against "
          "test rows of the training digits")

    fig = plt.figure(figsize=(13, 8))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.2, 1])
    shown = 8
    rows = [("clean", X_test[:shown]), ("noisy", noisy[:shown])]
    rows += [(name, m.inverse_transform(m.transform(noisy[:shown]))) for name, m in models.items()]
    top = grid[0].subgridspec(len(rows), shown, hspace=0.05, wspace=0.05)
    for r, (name, images) in enumerate(rows):
        for c in range(shown):
            ax = fig.add_subplot(top[r, c])
            ax.imshow(np.clip(images[c], 0, 1).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    bottom = grid[1].subgridspec(1, 2, wspace=0.3)
    ax = fig.add_subplot(bottom[0])
    names = list(models)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [clean_errors[n] for n in names], 0.4, label="clean input")
    ax.bar(x + 0.2, [noisy_errors[n] for n in names], 0.4, label="noisy input")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("squared error per row (vs clean)")
    ax.legend()
    ax.set_title("reconstruction of test digits")
    ax = fig.add_subplot(bottom[1])
    bins = np.linspace(scores.min(), scores.max(), 40)
    ax.hist(ae.score_samples(X_test), bins=bins, alpha=0.6, density=True, label="training digits (test rows)")
    ax.hist(ae.score_samples(X_new), bins=bins, alpha=0.6, density=True, label=f"held-out digit {HELD_OUT}")
    ax.set_xlabel("score_samples (minus reconstruction error)")
    ax.set_title(f"anomaly scores, ROC AUC {auc:.3f}")
    ax.legend()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "autoencoders_digits.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    main(quick=parser.parse_args().quick)
