"""Dropout, noise injection and label smoothing against overfitting.

A network much larger than its data (256 x 256 hidden units, 300 training
digits) drives its training loss to zero: it memorises the training set. Each
panel of the figure shows the training and validation loss per epoch (from
``history_``, with the validation set passed as ``X_val``) of one technique
against no regularisation: every technique keeps the training loss away from
zero, and raises the best validation accuracy by about half a point to a
point and a half on this easy problem. (Label smoothing raises the log-loss on
the true labels by design: it trains towards 0.91, not 1.) The last panel
uses Monte-Carlo dropout (``predict_mc_dropout``): the spread of the predicted
class's probability over sampled masks is about four times larger for the
digits the model gets wrong, a usable measure of uncertainty. DropConnect
(dropped weights instead of units) gets a panel of each kind too: its
sampled networks (one mask of the weights per sample) measure uncertainty
the same way.

Run: ``python examples/regularization_dropout_noise.py`` (about 15 s); the
figure is saved to ``docs/images/regularization_dropout_noise.png``.
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
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdeep import MLPClassifier  # noqa: E402
from skdeep.plot import TrainingHistoryDisplay  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images"

TECHNIQUES = {
    "dropout 0.5": dict(dropout=0.5),
    "input noise 0.5": dict(input_noise=0.5),
    "weight noise 0.05": dict(weight_noise=0.05),
    "label smoothing 0.1": dict(label_smoothing=0.1),
    "input dropout 0.2 + dropout 0.5": dict(input_dropout=0.2, dropout=0.5),
    "dropconnect 0.2": dict(dropconnect=0.2),
}


def main(quick=False, output=OUTPUT):
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, train_size=300, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    epochs = 20 if quick else 150
    base = dict(
        hidden_layer_sizes=(256, 256), max_iter=epochs, early_stopping=True,
        n_iter_no_change=epochs, batch_size=50, random_state=0,
    )

    def fit(**params):
        return MLPClassifier(**base, **params).fit(X_train, y_train, X_val=X_val, y_val=y_val)

    plain = fit()
    models = {name: fit(**params) for name, params in TECHNIQUES.items()}

    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    for ax, (name, clf) in zip(axes.ravel(), models.items()):
        for model, label, color in ((plain, "none", "tab:gray"), (clf, name, "tab:blue")):
            TrainingHistoryDisplay.from_estimator(
                model, metrics=["loss", "val_loss"], ax=ax, label=label, line_kw={"color": color}
            )
        ax.set_title(f"{name}: validation accuracy {clf.best_validation_score_:.3f}\n"
                     f"(none: {plain.best_validation_score_:.3f})", fontsize=9)
        ax.set_ylabel("log-loss")
        ax.set_ylim(0, 1.5)
        ax.legend(fontsize=7)

    spreads = {}
    for ax, name in zip(axes.ravel()[-2:], ("dropout 0.5", "dropconnect 0.2")):
        spreads[name] = _mc_spread(ax, models[name], name, X_val, y_val, 10 if quick else 50)
    fig.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "regularization_dropout_noise.png"
    fig.savefig(path, dpi=90)
    print(f"{'none':32s} validation accuracy {plain.best_validation_score_:.3f}")
    for name, clf in models.items():
        print(f"{name:32s} validation accuracy {clf.best_validation_score_:.3f}")
    for name, (right, wrong) in spreads.items():
        print(f"MC {name} spread: right {right:.3f}, wrong {wrong:.3f}")
    print(f"saved {path}")
    return path


def _mc_spread(ax, model, name, X_val, y_val, n_samples):
    """Histogram of the predicted class's spread over sampled masks, for
    right and wrong predictions; returns the two mean spreads."""
    mean, std = model.predict_mc_dropout(X_val, n_samples=n_samples, random_state=0)
    predicted = mean.argmax(1)
    spread = std[np.arange(len(predicted)), predicted]
    right = model.classes_[predicted] == y_val
    bins = np.linspace(0, spread.max(), 30)
    ax.hist(spread[right], bins=bins, alpha=0.6, density=True, label=f"right ({right.sum()})")
    ax.hist(spread[~right], bins=bins, alpha=0.6, density=True, label=f"wrong ({(~right).sum()})")
    ax.set_xlabel("std of the predicted class's probability over masks")
    ax.set_title(f"Monte-Carlo sampling ({name}): uncertainty of\nright and wrong predictions", fontsize=9)
    ax.legend(fontsize=8)
    return spread[right].mean(), spread[~right].mean()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, for tests")
    main(quick=parser.parse_args().quick)
