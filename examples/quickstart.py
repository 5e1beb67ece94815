"""skdeep in one minute: swap the import, keep your scikit-learn code.
===================================================================

On three data sets that ship with scikit-learn, a ``Pipeline(StandardScaler,
MLP)`` is tuned with ``GridSearchCV``; then skdeep and scikit-learn's own MLP
are fitted with the chosen settings, side by side, and their test scores and
fit times are printed.

Run: ``python examples/quickstart.py``
"""

import time
import warnings

from sklearn import neural_network as sklearn_nn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import skdeep
from skdeep.precompile import precompile

# scikit-learn warns whenever max_iter ends training; both libraries would, so
# the table stays readable without them
warnings.filterwarnings("ignore", category=ConvergenceWarning)

CLASSIFIER_GRID = {"mlp__hidden_layer_sizes": [(64,), (128, 64)], "mlp__alpha": [1e-4, 1e-1]}
REGRESSOR_GRID = {"mlp__hidden_layer_sizes": [(16,), (64,)], "mlp__alpha": [1e-1, 10.0]}
TASKS = [
    ("digits", load_digits, "MLPClassifier", {}, CLASSIFIER_GRID),
    ("breast cancer", load_breast_cancer, "MLPClassifier", {}, CLASSIFIER_GRID),
    ("diabetes", load_diabetes, "MLPRegressor", {"max_iter": 1000}, REGRESSOR_GRID),
]


def pipeline(module, estimator, **params):
    """StandardScaler + the MLP of ``module`` (skdeep or sklearn.neural_network)."""
    mlp = getattr(module, estimator)(random_state=0, **params)
    return Pipeline([("scale", StandardScaler()), ("mlp", mlp)])


def timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def main():
    # The engine compiles its kernels on first use and caches them on disk;
    # compile the configurations of the searches below ahead of time (the
    # grids change only sizes and alpha, which compile nothing of their own).
    # The grid-search workers would also wait for one another's compiles.
    start = time.perf_counter()
    precompile(skdeep.MLPClassifier(), skdeep.MLPRegressor())
    print(f"engine ready in {time.perf_counter() - start:.1f} s (compiles on the first run only)\n")

    rows = []
    for name, load, estimator, params, grid in TASKS:
        X, y = load(return_X_y=True)
        if estimator == "MLPRegressor":
            y = y / y.std()
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

        search = GridSearchCV(
            pipeline(skdeep, estimator, **params), grid, cv=3, n_jobs=2
        )
        search_time = timed_fit(search, X_train, y_train)
        best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
        print(f"{name}: grid search ({len(search.cv_results_['params'])} settings x 3 folds)"
              f" took {search_time:.1f} s, best {best}")

        for label, module in (("skdeep", skdeep), ("scikit-learn", sklearn_nn)):
            model = pipeline(module, estimator, **params, **best)
            seconds = timed_fit(model, X_train, y_train)
            rows.append((name, label, model.score(X_test, y_test), seconds))

    print()
    print(f"{'data set':<14} {'library':<13} {'test score':>10} {'fit time':>9}")
    print("-" * 49)
    for name, label, score, seconds in rows:
        print(f"{name:<14} {label:<13} {score:>10.4f} {seconds:>8.3f}s")
    print("\nscores: accuracy (classifiers), R^2 (regressor); same settings, same epochs")


if __name__ == "__main__":
    main()
