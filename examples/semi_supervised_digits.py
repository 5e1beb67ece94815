"""Semi-supervised learning on handwritten digits: a few labels, many rows.

Of the 1797 digits only a fraction keep their labels; the others are
labelled ``-1``. Four ways to learn from them:

- labelled rows only: the network trained on the labelled rows alone;
- pseudo-label: ``semi_supervised="pseudo_label"`` (Lee, 2013), the network
  trained on its own predictions for the unlabelled rows as well;
- entropy: ``semi_supervised="entropy"`` (Grandvalet & Bengio, 2005), the
  entropy of the predictions on the unlabelled rows minimised as well;
- self-training: scikit-learn's ``SelfTrainingClassifier`` around the
  labelled-only network (it refits on the rows predicted with probability
  above 0.9, ten rounds at most).

Every network is ``(64,)`` with dropout 0.3 (as in Lee's experiments).
Left: accuracy on the unlabelled rows against the fraction of labels kept
(mean over seeds); right: each seed at 6% of the labels.

Run: ``python examples/semi_supervised_digits.py`` (about a minute); the
figure is saved to ``docs/images/semi_supervised_digits.png``.
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
from sklearn.semi_supervised import SelfTrainingClassifier  # noqa: E402

from skdeep import MLPClassifier  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images"
NETWORK = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, dropout=0.3)


def _scores(X, y, fraction, seed, epochs):
    """Accuracy of each approach on the unlabelled rows."""
    y_semi = y.copy()
    y_semi[np.random.default_rng(seed).random(y.shape[0]) > fraction] = -1
    labelled = y_semi != -1
    params = dict(NETWORK, random_state=seed)
    semi = dict(params, max_iter=epochs, unlabeled_rampup=epochs * 3 // 10)
    models = {
        "labelled rows only": (MLPClassifier(max_iter=2 * epochs, **params), labelled),
        "pseudo-label": (MLPClassifier(semi_supervised="pseudo_label", **semi), slice(None)),
        "entropy": (MLPClassifier(semi_supervised="entropy", **semi), slice(None)),
        "self-training (scikit-learn)": (
            SelfTrainingClassifier(MLPClassifier(max_iter=2 * epochs, **params)), slice(None)
        ),
    }
    return {
        name: model.fit(X[rows], y_semi[rows]).score(X[~labelled], y[~labelled])
        for name, (model, rows) in models.items()
    }


def main(quick=False, output=OUTPUT):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    fractions = [0.06, 0.2] if quick else [0.03, 0.06, 0.1, 0.2]
    seeds = range(1 if quick else 3)
    epochs = 20 if quick else 100
    results = {f: [_scores(X, y, f, seed, epochs) for seed in seeds] for f in fractions}
    names = list(results[fractions[0]][0])

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name in names:
        means = [np.mean([r[name] for r in results[f]]) for f in fractions]
        left.plot([100 * f for f in fractions], means, "o-", label=name)
    left.set_xlabel("labels kept (%)")
    left.set_ylabel("accuracy on the unlabelled rows")
    left.set_title(f"Digits, mean over {len(seeds)} draw(s) of the labels")
    left.legend(fontsize=8)
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        right.bar(
            np.arange(len(seeds)) + k * width, [r[name] for r in results[0.06]], width,
            label=name,
        )
    right.set_xticks(np.arange(len(seeds)) + 0.4 - width / 2, [f"seed {s}" for s in seeds])
    right.set_ylim(0.7, 1.0)
    right.set_ylabel("accuracy")
    right.set_title("6% of the labels, per seed")
    fig.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "semi_supervised_digits.png"
    fig.savefig(path, dpi=90)
    for f in fractions:
        line = ", ".join(f"{name} {np.mean([r[name] for r in results[f]]):.3f}" for name in names)
        print(f"{100 * f:4.0f}% labelled: {line}")
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer fractions and seeds, for tests")
    main(quick=parser.parse_args().quick)
