"""The same estimator on a Dask cluster: training where the data live.

A classification problem of 40 000 rows is cut into 4 partitions of a Dask
array and trained on a ``distributed.LocalCluster`` of 2 workers; the same
code runs on a real cluster with ``Client("tcp://scheduler:8786")``.

What the figure shows (the printed table has the figures):

- Left, L-BFGS: the loss per iteration on the cluster lies on the in-memory
  curve. Each evaluation of the loss and gradient is a sum of the
  partitions' terms, computed on the workers, so the fit is the in-memory
  fit up to the order of floating-point sums.
- Right, Adam: every partition runs its mini-batch steps from the same
  weights, and the weights (and Adam's moments) are averaged after every
  ``dask_sync_every`` mini-batches. The average of 4 steps taken from the
  same point is about one step, so at the in-memory learning rate the cluster
  makes a quarter of the progress per epoch; with the rate scaled by the
  number of partitions (the linear scaling rule) it follows the in-memory
  curve and reaches the same test accuracy.

Run: ``python examples/dask_scaling.py`` (about 20 s); the figure is saved
to ``docs/images/dask_scaling.png``.
"""

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import dask.array as da  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skdeep import MLPClassifier  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main(quick=False, output=OUTPUT):
    n_rows = 8000 if quick else 40000
    X, y = make_classification(n_rows + 4000, 20, n_informative=10, random_state=1)
    X_test, y_test, X, y = X[n_rows:], y[n_rows:], X[:n_rows], y[:n_rows]
    X_dask = da.from_array(X, chunks=n_rows // 4)  # 4 partitions
    y_dask = da.from_array(y, chunks=n_rows // 4)
    epochs, iterations = (4, 15) if quick else (10, 60)

    fits = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, Client(cluster):
        lbfgs = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=iterations, random_state=0)
        fits["L-BFGS, in memory"] = MLPClassifier(**lbfgs).fit(X, y)
        fits["L-BFGS, on the cluster"] = MLPClassifier(**lbfgs).fit(X_dask, y_dask)
        adam = dict(hidden_layer_sizes=(16,), max_iter=epochs, random_state=0)
        fits["Adam, in memory"] = MLPClassifier(**adam).fit(X, y)
        fits["Adam, on the cluster"] = MLPClassifier(**adam, dask_sync_every=5).fit(X_dask, y_dask)
        fits["Adam, on the cluster, rate x 4"] = MLPClassifier(
            **adam, dask_sync_every=5, learning_rate_init=0.004
        ).fit(X_dask, y_dask)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, est in fits.items():
        ax = axes[0] if name.startswith("L-BFGS") else axes[1]
        style = "--" if "cluster" in name else "-"
        ax.plot(range(1, len(est.loss_curve_) + 1), est.loss_curve_, style, label=name, linewidth=2)
        print(f"{name:32s} loss {est.loss_:.4f}  test accuracy {est.score(X_test, y_test):.3f}")
    axes[0].set(title="L-BFGS: the same fit", xlabel="iteration", ylabel="training loss", yscale="log")
    axes[1].set(title="Adam: model averaging over 4 partitions", xlabel="epoch", ylabel="training loss")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "dask_scaling.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and epochs, for tests")
    main(quick=parser.parse_args().quick)
