"""Every solver on the same network and data: loss against epochs and seconds.
===========================================================================

A one-hidden-layer network (16 tanh units, 1 210 parameters, small enough for
the full Newton solver) is trained on 1 347 standardised digits by each of
skdeep's solvers. The left panel shows the training loss (log-loss plus the
L2 term) per epoch for the first-order solvers and per iteration for the
full-batch ones; the right panel shows the same curves against the wall-clock
time of the fit.

What the figure shows (the printed table has the figures):

- Among the first-order solvers (100 epochs of 64-row batches, each with a
  step found by a coarse search), the adaptive ones pull ahead of SGD:
  RMSProp ends lowest (5e-4), then AdaHessian, Adam and AdamW (3-5e-3);
  AdaGrad is fastest for the first epochs and then slows as its accumulated
  squares shrink its steps; Nesterov momentum halves plain SGD's final loss.
  An AdaHessian epoch costs about 1.5 Adam epochs (one more Hessian-vector
  product per step).
- Of the newer first-order solvers, AdaDelta (its own rate 1, no tuning)
  ends about where Adam does; RAdam's first five steps are momentum steps
  and its rectification then warms the adaptive rate up, so it takes a
  higher rate than Adam; LAMB's steps are relative to each layer's norm
  (a smaller rate suits it: 0.01 grows the weights and the loss rises
  again); Lookahead around Adam follows Adam's curve, smoothed.
- The full-batch solvers reach losses the stochastic ones do not approach in
  this budget (about 3e-5, the L2 term's floor): each iteration sees the
  whole data and uses curvature. L-BFGS is the best all-rounder in seconds;
  Newton-CG needs about 25 iterations, a sixth of L-BFGS's; Newton (the exact
  Hessian, damped) needs as few but each iteration assembles the Hessian
  (one R-pass per parameter) and takes its eigendecomposition, about half a
  second here, which is why it is only offered for small networks. BFGS spends its iterations
  building a dense inverse-Hessian estimate of 1 210 x 1 210 and is still
  behind L-BFGS after 150; CG needs several evaluations per iteration.
  Block coordinate descent (``'coordinate'``: a cycle is up to 5 L-BFGS-B
  iterations on the output layer, then on the hidden layer) ends about as
  low as L-BFGS (2.6e-5 after 118 cycles, when the 1 500 evaluations of
  ``max_fun`` run out, against L-BFGS's 2.7e-5 after 150 iterations): each
  cycle costs about 13 evaluations, and its curve per cycle falls steeply,
  but per second it trails L-BFGS, which needed a tenth of the evaluations.
- Test accuracy is 0.91-0.97 for all: on this problem the optimizer changes
  how fast the training loss falls far more than where the model ends up.

Run: ``python examples/optimization_solvers.py`` (about 20 s, most of it
Newton's); ``--output DIR`` saves the figure in DIR instead of showing it.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier
from skdeep.optim import Adam, Lookahead
from skdeep.plot import TrainingHistoryDisplay

warnings.filterwarnings("ignore", category=ConvergenceWarning)
#: solver name -> its parameters (steps chosen by a coarse search per solver)
FIRST_ORDER = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "sgd + Nesterov": dict(solver="sgd", momentum=0.9, learning_rate_init=0.02),
    "adagrad": dict(solver="adagrad", learning_rate_init=0.05),
    "rmsprop": dict(solver="rmsprop", learning_rate_init=0.003),
    "adam": dict(solver="adam", learning_rate_init=0.005),
    "adamw": dict(solver="adamw", learning_rate_init=0.005),
    "adahessian": dict(solver="adahessian", learning_rate_init=0.05),
    "adadelta": dict(solver="adadelta"),  # its own rate, AdaDelta(lr=1.0)
    "radam": dict(solver="radam", learning_rate_init=0.02),
    # LAMB's steps are relative to each layer's norm: without decay a large
    # rate grows the weights, and the steps with them (0.01 ends at 0.13)
    "lamb": dict(solver="lamb", learning_rate_init=0.003),
    "lookahead(adam)": dict(solver=Lookahead(Adam(), k=5, alpha=0.5), learning_rate_init=0.01),
}
FULL_BATCH = {
    "lbfgs": dict(solver="lbfgs"),
    "cg": dict(solver="cg"),
    "bfgs": dict(solver="bfgs"),
    "newton-cg": dict(solver="newton-cg"),
    "newton": dict(solver="newton"),
    "coordinate": dict(solver="coordinate"),
}


def main(quick=False, output=None):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    base = dict(hidden_layer_sizes=(16,), activation="tanh", tol=0.0, random_state=0)
    epochs = 8 if quick else 100
    iterations = {"newton": 2 if quick else 30}

    for params in FIRST_ORDER.values():  # load the kernels before timing
        MLPClassifier(**base, **params, max_iter=1, batch_size=64).fit(X_train, y_train)
    MLPClassifier(**base, solver="lbfgs", max_iter=1).fit(X_train, y_train)
    results = {}
    for name, params in FIRST_ORDER.items():
        results[name] = MLPClassifier(
            **base, **params, max_iter=epochs, n_iter_no_change=epochs + 1, batch_size=64
        ).fit(X_train, y_train)
    for name, params in FULL_BATCH.items():
        max_iter = iterations.get(name, 8 if quick else 150)
        results[name] = MLPClassifier(
            **base, **params, max_iter=max_iter, max_fun=10 * max_iter
        ).fit(X_train, y_train)

    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    # colour, marker and line style together tell the 17 curves apart
    styles = {name: "-" for name in FIRST_ORDER} | {name: "--" for name in FULL_BATCH}
    colors = dict(zip(results, plt.cm.tab20(np.linspace(0, 1, len(results)))))
    markers = dict(zip(results, "osD^vP*X<>hpd8H12", strict=True))
    for name, clf in results.items():
        style = dict(
            linestyle=styles[name], color=colors[name], marker=markers[name], markevery=0.12,
            markersize=5, markerfacecolor="none" if name in FULL_BATCH else colors[name],
        )
        for ax, x in ((by_epoch, "epoch"), (by_time, "seconds")):
            TrainingHistoryDisplay.from_estimator(clf, metrics=["loss"], x=x, ax=ax, label=name, line_kw=style)
    by_epoch.get_legend().remove()  # one legend, on the right
    by_epoch.set_xlabel("epoch (solid: first-order) / iteration (dashed: full-batch)")
    by_epoch.set_ylabel("training loss (log-loss + L2 term)")
    by_epoch.set_xscale("log")
    by_time.set_xlabel("seconds")
    by_time.set_ylabel("")
    by_time.set_xscale("log")
    for ax in (by_epoch, by_time):
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    by_time.legend(fontsize=8, ncol=2)
    fig.suptitle("skdeep's solvers on digits, one hidden layer of 16 tanh units (1 210 parameters)")
    fig.tight_layout()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        path = output / "optimization_solvers.png"
        fig.savefig(path, dpi=90)

    print(f"{'solver':16s} {'loss':>9s} {'test acc':>8s} {'n_iter':>6s} {'evals':>6s} {'seconds':>8s}")
    for name, clf in results.items():
        evaluations = getattr(clf, "n_evaluations_", clf.n_iter_)
        seconds = sum(r["seconds"] for r in clf.history_)
        print(f"{name:16s} {clf.loss_:9.2e} {clf.score(X_test, y_test):8.3f} "
              f"{clf.n_iter_:6d} {evaluations:6d} {seconds:8.2f}")
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
