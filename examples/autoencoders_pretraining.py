"""Unsupervised pretraining: greedy layer-wise autoencoders, then fine-tuning.

Digits scaled to [0, 1]; 1300 training rows, of which only a few per class
carry labels. The encoder of a classifier ``MLPClassifier((64, 16))`` is
pretrained on all training rows, without labels, greedily:

1. ``MLPAutoencoder((64,), input_noise=0.2)`` learns the first layer (a
   denoising autoencoder: with as many units as inputs, a plain one could
   learn the identity);
2. ``MLPAutoencoder((64, 16), init=first, freeze_layers=1, input_noise=0.2)``
   starts from the first layer, keeps it fixed and learns the second (with
   a fresh decoder);
3. ``MLPClassifier((64, 16), init=second)`` copies both encoder layers and
   fine-tunes the whole network on the labelled rows (the output layer is
   new), with L-BFGS.

Compared with the same classifier from scratch and with the pretrained
encoder kept frozen (``freeze_layers=2``: only the output layer learns).
Accuracy on the test rows against the number of labelled rows (mean over
seeds).

Run: ``python examples/autoencoders_pretraining.py`` (about 30 s); the
figure is saved to ``docs/images/autoencoders_pretraining.png``.
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


def pretrain(X, epochs):
    """The greedy stack: a one-layer autoencoder, then a two-layer one whose
    first layer is the first's, kept fixed."""
    common = dict(
        activation="tanh", input_noise=0.2, learning_rate_init=0.003, batch_size=32,
        max_iter=epochs, random_state=0,
    )
    first = MLPAutoencoder((64,), **common).fit(X)
    second = MLPAutoencoder((64, 16), init=first, freeze_layers=1, **common).fit(X)
    return first, second


def main(quick=False, output=OUTPUT):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=1300, random_state=0)
    first, second = pretrain(X_train, 30 if quick else 100)
    assert np.array_equal(second.coefs_[0], first.coefs_[0])  # kept fixed
    print(f"greedy pretraining: reconstruction error {-first.score(X_test):.3f} (one layer), "
          f"{-second.score(X_test):.3f} (two layers, 16-unit code)")

    per_class = [2, 5] if quick else [2, 5, 10, 20, 50]
    seeds = range(2 if quick else 5)
    params = dict(hidden_layer_sizes=(64, 16), activation="tanh", solver="lbfgs", max_iter=300)
    approaches = {
        "from scratch": lambda seed: MLPClassifier(random_state=seed, **params),
        "pretrained, fine-tuned": lambda seed: MLPClassifier(init=second, random_state=seed, **params),
        "pretrained, encoder frozen": lambda seed: MLPClassifier(
            init=second, freeze_layers=2, random_state=seed, **params
        ),
    }
    results = {name: [] for name in approaches}
    for n in per_class:
        for name, make in approaches.items():
            scores = []
            for seed in seeds:
                rng = np.random.default_rng(seed)
                labelled = np.concatenate(
                    [rng.choice(np.flatnonzero(y_train == c), n, replace=False) for c in range(10)]
                )
                model = make(seed).fit(X_train[labelled], y_train[labelled])
                scores.append(model.score(X_test, y_test))
            results[name].append(np.mean(scores))
    for name, accs in results.items():
        print(f"{name:>27}: " + ", ".join(f"{a:.3f}" for a in accs)
              + f"  (labelled rows per class: {per_class})")

    fig, ax = plt.subplots(figsize=(9, 5))
    for name, accs in results.items():
        ax.plot([10 * n for n in per_class], accs, "o-", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training rows (10 classes)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Greedy layer-wise autoencoder pretraining on digits (1300 unlabelled rows)")
    ax.legend()
    ax.grid(alpha=0.3)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "autoencoders_pretraining.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, sizes and seeds")
    main(quick=parser.parse_args().quick)
