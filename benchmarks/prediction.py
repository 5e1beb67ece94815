"""Prediction speed: skdeep against scikit-learn (or a NumPy reference), in one
process, interleaved.

Training runs one library per process; a prediction takes microseconds to
milliseconds, so here both libraries run in the same process, in alternating
rounds, and each keeps its best round: a slow moment of a shared machine then
slows both alike instead of one. The models are trained on the workloads'
data (W2's digits, W1's 10-class problem) for the workloads' epochs (W1: 2
epochs on 10 000 rows; the weights' values do not change the time of a
prediction).

``predict_mc_dropout`` and ``activation_sparsity`` have no scikit-learn
counterpart; they are compared with the same computation written in NumPy
(``_numpy_mc_dropout``, ``_numpy_zero_fractions``): the masked forward passes
and the counting of exactly-zero activations.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from workloads import load

warnings.simplefilter("ignore", ConvergenceWarning)

#: alternating rounds, and calls per round (a round keeps its fastest call)
ROUNDS = 7
MC_SAMPLES = 50


def _best_call(function, calls):
    best = np.inf
    for _ in range(calls):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def side_by_side(functions, calls):
    """Best time in ms of each of ``functions`` (a dict), over ``ROUNDS``
    rounds that call them in turn."""
    best = dict.fromkeys(functions, np.inf)
    for _ in range(ROUNDS):
        for name, function in functions.items():
            best[name] = min(best[name], _best_call(function, calls))
    return {name: 1e3 * seconds for name, seconds in best.items()}


def _hidden(coefs, intercepts, X):
    """NumPy reference of a ReLU network's hidden activations."""
    A, layers = X, []
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        A = np.maximum(A @ W + b, 0)
        layers.append(A)
    return layers


def _numpy_zero_fractions(est, X):
    return np.array([np.mean(A == 0) for A in _hidden(est.coefs_, est.intercepts_, X)])


def _numpy_mc_dropout(est, X, n_samples, rate, rng):
    """Monte-Carlo dropout in NumPy: inverted dropout masks on the hidden
    layer, softmax output; mean and standard deviation over the samples."""
    (W1, W2), (b1, b2) = est.coefs_, est.intercepts_
    outputs = []
    for _ in range(n_samples):
        A = np.maximum(X @ W1 + b1, 0)
        A *= (rng.random(A.shape) >= rate) / (1 - rate)
        Z = A @ W2 + b2
        Z = np.exp(Z - Z.max(axis=1, keepdims=True))
        outputs.append(Z / Z.sum(axis=1, keepdims=True))
    outputs = np.stack(outputs)
    return outputs.mean(axis=0), outputs.std(axis=0)


def prediction():
    """The prediction table: per case, the reference's and skdeep's ms and
    their ratio (how many times longer the reference takes)."""
    import sklearn.neural_network as sk

    import skdeep

    X2, X2_test, y2, _ = load("W2", np.float32)
    digits = np.concatenate([X2, X2_test])  # all 1 797 rows
    digits64 = digits.astype(np.float64)
    X1, X1_test, y1, _ = load("W1", np.float32)
    large = np.ascontiguousarray(X1_test[:10000])

    common = dict(alpha=1e-4, random_state=0, tol=0.0, n_iter_no_change=10**9)
    small = dict(hidden_layer_sizes=(100,), batch_size=32, max_iter=30, **common)
    wide = dict(hidden_layer_sizes=(256, 256), batch_size=256, max_iter=2, **common)
    ours = skdeep.MLPClassifier(**small).fit(X2, y2)
    theirs = sk.MLPClassifier(**small).fit(X2, y2)
    ours64 = skdeep.MLPClassifier(**small).fit(X2.astype(np.float64), y2)
    theirs64 = sk.MLPClassifier(**small).fit(X2.astype(np.float64), y2)
    ours_wide = skdeep.MLPClassifier(**wide).fit(X1[:10000], y1[:10000])
    theirs_wide = sk.MLPClassifier(**wide).fit(X1[:10000], y1[:10000])
    dropout = skdeep.MLPClassifier(dropout=0.2, **small).fit(X2, y2)
    one = digits[:1]
    for est, X in [(ours, one), (ours64, digits64), (ours_wide, large), (dropout, digits)]:
        est.predict_proba(X)  # compile or load the kernels
    dropout.predict_mc_dropout(digits, n_samples=2)
    ours.activation_sparsity(digits)

    cases = [
        ("predict_proba, 1 row (digits model, float32)", "scikit-learn", 2000,
         lambda: theirs.predict_proba(one), lambda: ours.predict_proba(one)),
        ("predict, 1 row (digits model, float32)", "scikit-learn", 2000,
         lambda: theirs.predict(one), lambda: ours.predict(one)),
        ("predict_proba, digits, 1 797 rows, float32", "scikit-learn", 100,
         lambda: theirs.predict_proba(digits), lambda: ours.predict_proba(digits)),
        ("predict_proba, digits, 1 797 rows, float64", "scikit-learn", 100,
         lambda: theirs64.predict_proba(digits64), lambda: ours64.predict_proba(digits64)),
        ("predict_proba, (256, 256), 10 000 x 100 rows, float32", "scikit-learn", 5,
         lambda: theirs_wide.predict_proba(large), lambda: ours_wide.predict_proba(large)),
        (f"predict_mc_dropout, {MC_SAMPLES} samples, digits (dropout 0.2)", "NumPy", 3,
         lambda: _numpy_mc_dropout(dropout, digits, MC_SAMPLES, 0.2, np.random.default_rng(0)),
         lambda: dropout.predict_mc_dropout(digits, n_samples=MC_SAMPLES, random_state=0)),
        ("activation_sparsity, digits", "NumPy", 50,
         lambda: _numpy_zero_fractions(ours, digits), lambda: ours.activation_sparsity(digits)),
    ]
    out = []
    for label, reference, calls, theirs_call, ours_call in cases:
        ms = side_by_side({"reference": theirs_call, "skdeep": ours_call}, calls)
        out.append({"case": label, "reference": reference, "reference_ms": ms["reference"],
                    "skdeep_ms": ms["skdeep"], "ratio": ms["reference"] / ms["skdeep"]})
    return out


def render_prediction(rows):
    lines = ["Prediction, in one process, each library's best of alternating rounds (ratio: how many "
             "times longer the reference takes than skdeep):", "",
             "| call | reference | reference ms | skdeep ms | ratio |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['reference']} | {r['reference_ms']:.3f} | {r['skdeep_ms']:.3f} | "
                     f"{r['ratio']:.2f}x |")
    return lines
