"""Transfer learning on handwritten digits: from digits 0-4 to digits 5-9.
=======================================================================

A network pretrained on all the rows of digits 0-4 is reused for digits 5-9,
of which only a few rows per class are labelled, in four ways:

- from scratch: a new network trained on the labelled rows alone;
- fine-tuned: ``init=pretrained``; the classes differ, so the hidden layer is
  copied and the output layer drawn afresh;
- fine-tuned with the old head: ``init=(coefs_, intercepts_)``, a bare pair,
  copies the output layer too (what ``init`` did for any head of the right
  shape), so "0" starts as "5";
- features + logistic regression: ``FeatureExtractor(pretrained,
  prefit=True)``'s hidden activations feed a ``LogisticRegression``.

Left: accuracy on the unlabelled rows of 5-9 against the number of labelled
rows per class (mean over seeds); right: each seed at 4 rows per class.

Run: ``python examples/transfer_digits.py`` (about 30 s); ``--output DIR``
saves the figure in DIR instead of showing it.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skdeep import FeatureExtractor, MLPClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)

def _scores(pretrained, X, y, per_class, seed):
    """Accuracy of each approach on the new classes' unlabelled rows."""
    rng = np.random.default_rng(seed)
    new = np.flatnonzero(y >= 5)
    labelled = np.concatenate(
        [rng.choice(new[y[new] == c], per_class, replace=False) for c in range(5, 10)]
    )
    rest = np.setdiff1d(new, labelled)
    params = dict(hidden_layer_sizes=(64,), max_iter=200, random_state=seed)
    models = {
        "from scratch": MLPClassifier(**params),
        "fine-tuned (head redrawn)": MLPClassifier(init=pretrained, **params),
        "fine-tuned, old head copied": MLPClassifier(
            init=(pretrained.coefs_, pretrained.intercepts_), **params
        ),
        "features + logistic regression": make_pipeline(
            FeatureExtractor(pretrained, prefit=True), LogisticRegression(max_iter=1000)
        ),
    }
    return {
        name: model.fit(X[labelled], y[labelled]).score(X[rest], y[rest])
        for name, model in models.items()
    }


def main(quick=False, output=None):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    pretrained = MLPClassifier((64,), max_iter=200, random_state=0).fit(X[y < 5], y[y < 5])
    sizes = [2, 4, 8] if quick else [2, 4, 8, 16, 32]
    seeds = range(2 if quick else 5)
    results = {n: [_scores(pretrained, X, y, n, seed) for seed in seeds] for n in sizes}
    names = list(results[sizes[0]][0])

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name in names:
        means = [np.mean([r[name] for r in results[n]]) for n in sizes]
        left.plot([5 * n for n in sizes], means, "o-", label=name)
    left.set_xscale("log")
    left.set_xticks([5 * n for n in sizes], [str(5 * n) for n in sizes])
    left.set_xlabel("labelled rows of digits 5-9")
    left.set_ylabel("accuracy on the other rows of 5-9")
    left.set_title("Pretrained on digits 0-4")
    left.legend(fontsize=8)
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        right.bar(
            np.arange(len(seeds)) + k * width, [r[name] for r in results[4]], width, label=name
        )
    right.set_xticks(np.arange(len(seeds)) + 0.4 - width / 2, [f"seed {s}" for s in seeds])
    right.set_ylim(0.5, 1.0)
    right.set_ylabel("accuracy")
    right.set_title("20 labelled rows, per seed")
    fig.tight_layout()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        path = output / "transfer_digits.png"
        fig.savefig(path, dpi=90)
    for n in sizes:
        line = ", ".join(f"{name} {np.mean([r[name] for r in results[n]]):.3f}" for name in names)
        print(f"{5 * n:3d} labelled rows: {line}")
    if output is None:
        return fig
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer sizes and seeds, for tests")
    parser.add_argument("--output", type=Path, help="save the figure in this directory instead of showing it")
    args = parser.parse_args()
    main(quick=args.quick, output=args.output)
    if args.output is None:
        plt.show()
