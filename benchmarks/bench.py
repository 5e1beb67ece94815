"""skdeep against scikit-learn's MLP and a hand-written PyTorch CPU loop.

Run from the repository root (PyTorch comes with the ``bench`` extra):

    python benchmarks/bench.py                  # everything, ~3 minutes
    python benchmarks/bench.py --only W1 W2     # some workloads
    python benchmarks/bench.py --skip-extras    # workloads (and prediction) only
    python benchmarks/bench.py --prediction     # the prediction table only
    python benchmarks/bench.py --neighbors-only # tangent distance against k-NN

Every measurement runs in a fresh process, one library at a time, so that no
library's threads (BLAS pools that keep spinning after a call) slow the next
one down. Figures are printed as tables and written to
``benchmarks/output/results.json`` and ``results.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from prediction import render_prediction  # noqa: E402
from workloads import WORKLOADS, gemm_flops  # noqa: E402

OUTPUT = HERE / "output"


def child(args):
    """Run one measurement in this process and print it as JSON."""
    kind = args.child[0]
    if kind == "run":
        library, name, dtype = args.child[1:]
        dtype = np.dtype(dtype).type
        from runners import run_estimator, run_torch

        if library == "torch":
            result = run_torch(name, dtype, args.repeat)
        else:
            result = run_estimator(library, name, dtype, args.repeat)
    elif kind == "option":
        from runners import run_estimator

        name, params = args.child[1], json.loads(args.child[2])
        result = run_estimator("skdeep", name, np.float32, args.repeat, extra=params)
    elif kind == "solver":
        from runners import run_estimator

        library, params = args.child[1], json.loads(args.child[2])
        result = run_estimator(library, "W4s", np.float64, args.repeat, extra=params)
    elif kind == "peak":
        from gemm import gemm_peak

        result = {"peak_float32": gemm_peak(np.float32), "peak_float64": gemm_peak(np.float64)}
    elif kind == "gemm":
        from gemm import workload_gemm_seconds

        sizes, n_rows, batch, dtype = json.loads(args.child[1])
        result = {"seconds": workload_gemm_seconds(sizes, n_rows, batch, np.dtype(dtype).type)}
    elif kind == "neighbors":
        from runners import run_neighbors

        setting, n_train = (int(v) for v in args.child[1:])
        result = run_neighbors(setting, n_train, args.repeat)
    elif kind == "memory":
        result = _memory()
    elif kind == "predict":
        from prediction import prediction

        result = prediction()
    else:
        raise ValueError(kind)
    print("RESULT " + json.dumps(result))


def _memory():
    """Traced memory of a W1-sized fit: peak above the data, for 1 and 4 epochs."""
    import tracemalloc
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from workloads import load

    import skdeep

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, _, y, _ = load("W1", np.float32)
    params = dict(hidden_layer_sizes=(256, 256), batch_size=256, tol=0.0, n_iter_no_change=10**9, random_state=0)
    skdeep.MLPClassifier(max_iter=1, **params).fit(X[:512], y[:512])  # compile first
    out = {"data_bytes": X.nbytes + y.nbytes}
    for epochs in (1, 4):
        tracemalloc.start()
        est = skdeep.MLPClassifier(max_iter=epochs, **params).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[f"peak_bytes_{epochs}_epochs"] = peak
    out["parameter_bytes"] = est._theta.nbytes
    return out


def spawn(*child_args, repeat=2, env=None):
    command = [sys.executable, str(HERE / "bench.py"), "--repeat", str(repeat), "--child", *child_args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{' '.join(child_args)} failed:\n{done.stderr[-3000:]}")


def timed_command(code, env=None, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


IRIS_FIT = (
    "import warnings; warnings.simplefilter('ignore');"
    "from sklearn.datasets import load_iris; X, y = load_iris(return_X_y=True);"
    "{imp}; MLPClassifier(random_state=0).fit(X, y)"
)


def startup():
    """Fresh process: import + fit on iris, warm numba cache, vs scikit-learn;
    plain numba for reference (scikit-learn's script plus importing numba and
    calling the smallest kernel from numba's own cache); and skdeep with an
    empty cache (what the first run compiles).

    skdeep's modules are byte-compiled first, as an installed package's are
    (an editable install under ``PYTHONDONTWRITEBYTECODE`` would otherwise
    recompile them from source in every process, as scikit-learn's are not).
    """
    import compileall

    compileall.compile_dir(str(HERE.parent / "skdeep"), quiet=1)
    ours = IRIS_FIT.format(imp="from skdeep import MLPClassifier")
    theirs = IRIS_FIT.format(imp="from sklearn.neural_network import MLPClassifier")
    floor = (
        f"import sys; sys.path.insert(0, {str(HERE)!r});" + theirs
        + "; import numpy, numba_floor; numba_floor.smallest(numpy.ones(3))"
    )
    timed_command(ours, repeat=1)  # make sure the caches are warm
    timed_command(floor, repeat=1)
    result = {"skdeep_s": timed_command(ours, repeat=5), "sklearn_s": timed_command(theirs, repeat=5),
              "numba_floor_s": timed_command(floor, repeat=5)}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        result["skdeep_cold_s"] = timed_command(ours, env=env, repeat=1)
    result["compile_s"] = result["skdeep_cold_s"] - result["skdeep_s"]
    return result


def parse():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS), help="workloads to run")
    parser.add_argument("--repeat", type=int, default=2, help="timed fits per run (best kept)")
    parser.add_argument("--skip-extras", action="store_true", help="no start-up, memory or scaling runs")
    parser.add_argument("--prediction", action="store_true", help="the prediction table only")
    parser.add_argument("--neighbors-only", action="store_true",
                        help="only the tangent-distance classifier against KNeighborsClassifier")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse()
    if args.child:
        return child(args)
    OUTPUT.mkdir(exist_ok=True)
    from skdeep._kernels._jit import remove_stale_caches

    if remove_stale_caches():  # else an edited kernel could run as it was
        print("kernel sources changed since the last compilation: caches removed")
    if args.prediction:
        args.only, args.skip_extras = [], True
    if args.neighbors_only:
        results = {"machine": _machine(), "neighbors": neighbors(args.repeat)}
        (OUTPUT / "neighbors.json").write_text(json.dumps(results, indent=2))
        report = render_neighbors(results["neighbors"])
        (OUTPUT / "neighbors.md").write_text(report)
        print()
        print(report)
        return None
    plan = []
    for name in args.only:
        w = WORKLOADS[name]
        plan.append((name, "float32", ["skdeep", "sklearn"] + ([] if w.solver == "lbfgs" else ["torch"])))
        if name == "W1":
            plan.append((name, "float64", ["skdeep", "sklearn"]))

    runs = {}
    for name, dtype, libraries in plan:
        for library in libraries:
            print(f"running {name} {dtype} {library} ...", flush=True)
            runs[(name, dtype, library)] = spawn("run", library, name, dtype, repeat=args.repeat)

    print("measuring GEMM peak and the workloads' matrix products ...", flush=True)
    gemm = spawn("peak")
    for name, dtype, _ in plan:  # each shape in its own process
        w, r = WORKLOADS[name], runs[(name, dtype, "skdeep")]
        sizes = [r["n_features"], *w.hidden, r["n_outputs"]]
        batch = r["n_train"] if w.batch_size == "full" else w.batch_size
        key = f"{sizes}|{r['n_train']}|{batch}|{dtype}"
        gemm[key] = spawn("gemm", json.dumps([sizes, r["n_train"], batch, dtype]))["seconds"]

    results = {"machine": _machine(), "gemm_peak_gflops": {"float32": gemm["peak_float32"], "float64": gemm["peak_float64"]}, "workloads": []}
    print("prediction ...", flush=True)
    results["prediction"] = spawn("predict")
    for name, dtype, libraries in plan:
        w, ours = WORKLOADS[name], runs[(name, dtype, "skdeep")]
        sizes = [ours["n_features"], *w.hidden, ours["n_outputs"]]
        batch = ours["n_train"] if w.batch_size == "full" else w.batch_size
        flops = gemm_flops(sizes, ours["n_train"])
        if w.solver == "lbfgs":  # per iteration: evaluations x one pass
            flops *= ours["evaluations"] / ours["epochs"]
        limit = gemm[f"{sizes}|{ours['n_train']}|{batch}|{dtype}"]
        if w.solver == "lbfgs":
            limit *= ours["evaluations"] / ours["epochs"]
        peak = gemm[f"peak_{dtype}"]
        entry = {"workload": name, "dtype": dtype, "description": w.description, "gemm_flops": flops,
                 "blas_limit_ms": 1e3 * limit, "libraries": {}}
        for library in libraries:
            r = runs[(name, dtype, library)]
            seconds = r["ms_per_epoch"] / 1e3
            r["gflops"] = flops / seconds / 1e9
            r["fraction_of_peak"] = r["gflops"] / peak
            r["fraction_of_blas_limit"] = limit / seconds
            entry["libraries"][library] = r
        results["workloads"].append(entry)

    if not args.skip_extras:
        print("start-up and compile time ...", flush=True)
        results["startup"] = startup()
        print("memory ...", flush=True)
        results["memory"] = spawn("memory")
        print("scaling sweep ...", flush=True)
        results["scaling"] = scaling(args.repeat)
        print("regularisers, solvers and strategies ...", flush=True)
        results["options"] = options(args.repeat)
        print("full-batch solvers ...", flush=True)
        results["full_batch"] = full_batch(args.repeat)
        print("tangent distance against k-NN ...", flush=True)
        results["neighbors"] = neighbors(args.repeat)

    (OUTPUT / "results.json").write_text(json.dumps(results, indent=2))
    report = render(results)
    (OUTPUT / "results.md").write_text(report)
    print()
    print(report)


def scaling(repeat):
    """ms per epoch against rows and against the number of weights."""
    out = []
    for rows, width in [(10000, 256), (20000, 256), (40000, 256), (80000, 256), (40000, 64), (40000, 128), (40000, 512)]:
        name = f"S{rows}x{width}"
        r = spawn("run", "skdeep", name, "float32", repeat=repeat)
        weights = 100 * width + width * width + width * 10
        out.append({"rows": r["n_train"], "width": width, "weights": weights, "ms_per_epoch": r["ms_per_epoch"],
                    "ns_per_row_and_weight": 1e6 * r["ms_per_epoch"] / (r["n_train"] * weights)})
    return out


#: each regulariser, first-order solver and strategy on W1 (float32), to
#: compare with the plain run (Adam, constant rate)
OPTIONS = {
    "none": {},
    "activation='tanh'": {"activation": "tanh"},
    "activation='logistic'": {"activation": "logistic"},
    "activation='elu'": {"activation": "elu"},
    "activation='softplus'": {"activation": "softplus"},
    "penalty='l1'": {"penalty": "l1"},
    "penalty='elasticnet'": {"penalty": "elasticnet"},
    "max_norm=3": {"max_norm": 3.0},
    "dropout=0.5": {"dropout": 0.5},
    "input_dropout=0.2": {"input_dropout": 0.2},
    "input_noise=0.1": {"input_noise": 0.1},
    "weight_noise=0.01": {"weight_noise": 0.01},
    "dropconnect=0.5": {"dropconnect": 0.5},
    "label_smoothing=0.1": {"label_smoothing": 0.1},
    "activity_l1=1e-4": {"activity_l1": 1e-4},
    "adversarial_eps=0.1 (FGSM)": {"adversarial_eps": 0.1},
    "adversarial_eps=0.1, 3 PGD steps": {"adversarial_eps": 0.1, "adversarial_steps": 3},
    "coef_prior (prior_alpha=1)": {"coef_prior": "self", "prior_alpha": 1.0},
    "solver='sgd' (Nesterov)": {"solver": "sgd", "learning_rate_init": 0.01},
    "solver='sgd', momentum=0": {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 0.01},
    "solver='adagrad'": {"solver": "adagrad", "learning_rate_init": 0.01},
    "solver='rmsprop'": {"solver": "rmsprop"},
    "solver='adamw'": {"solver": "adamw"},
    "solver='adahessian'": {"solver": "adahessian", "learning_rate_init": 0.01},
    "solver='adadelta'": {"solver": "adadelta"},
    "solver='radam'": {"solver": "radam"},
    "solver='lamb'": {"solver": "lamb"},
    "solver=Lookahead(Adam())": {"solver": "lookahead"},
    # the curriculum at 99.9% of the rows, so that ms/epoch compares with
    # 'none': the cost of choosing the rows (self-paced: a pass over every
    # row and a sort, each epoch; a callable: once per fit)
    "curriculum='self_paced'": {
        "curriculum": "self_paced", "curriculum_start": 0.999, "curriculum_epochs": 1000,
    },
    "curriculum=callable": {
        "curriculum": "row_norm", "curriculum_start": 0.999, "curriculum_epochs": 1000,
    },
    "learning_rate='cosine'": {"learning_rate": "cosine"},
    "batch_norm=True": {"batch_norm": True},
    # W1's hidden layers are (256, 256): one shortcut, around the second
    "residual=True": {"residual": True},
    "clip_grad_norm=1": {"clip_grad_norm": 1.0},
    "average=True": {"average": True},
}


def options(repeat):
    """ms per epoch of W1 with each option on (skdeep, float32)."""
    out = []
    for label, params in OPTIONS.items():
        r = spawn("option", "W1", json.dumps(params), repeat=repeat)
        out.append({"option": label, "ms_per_epoch": r["ms_per_epoch"], "score": r["score"]})
    return out


#: the full-batch solvers on W4's data with a 64-16-10 network (float64):
#: (library, solver, iterations); scikit-learn's L-BFGS for reference
FULL_BATCH = [
    ("sklearn", "lbfgs", 100), ("skdeep", "lbfgs", 100), ("skdeep", "cg", 100),
    ("skdeep", "bfgs", 100), ("skdeep", "newton-cg", 30), ("skdeep", "newton", 5),
    ("skdeep", "coordinate", 10),
]


def full_batch(repeat):
    """ms per iteration of each full-batch solver, the training loss it
    reaches and its test score."""
    out = []
    for library, solver, iterations in FULL_BATCH:
        r = spawn("solver", library, json.dumps({"solver": solver, "max_iter": iterations}), repeat=repeat)
        out.append({"library": library, "solver": solver, "iterations": r["epochs"],
                    "ms_per_iteration": r["ms_per_epoch"], "loss": r["loss"], "score": r["score"]})
    return out


#: training rows of the nearest-neighbour runs (digits; the other rows query)
NEIGHBOR_TRAIN_ROWS = (300, 1347)


def neighbors(repeat):
    """Time per query and accuracy of 1-NN on digits: scikit-learn's
    KNeighborsClassifier (Euclidean) and skdeep's TangentDistanceClassifier."""
    from runners import NEIGHBORS

    out = []
    for n_train in NEIGHBOR_TRAIN_ROWS:
        for setting, (library, label, _) in enumerate(NEIGHBORS):
            r = spawn("neighbors", str(setting), str(n_train), repeat=max(repeat, 3))
            out.append({"library": library, "setting": label, **r})
    return out


def render_neighbors(rows):
    lines = ["1-NN on digits (raw pixels), queried with the rows not trained on:", "",
             "| training rows | library | setting | us/query | fit (s) | accuracy |",
             "|---:|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n_train']} | {r['library']} | {r['setting']} | {r['us_per_query']:.1f} | "
                     f"{r['fit_s']:.3f} | {r['accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def _machine():
    import numba
    import sklearn
    import threadpoolctl

    info = {"python": platform.python_version(), "cpu_count": os.cpu_count(), "numpy": np.__version__,
            "numba": numba.__version__, "scikit-learn": sklearn.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    info["blas"] = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpoolctl.threadpool_info()]
    return info


def render(results):
    lines = [f"GEMM peak (4096^3, all cores): float32 {results['gemm_peak_gflops']['float32']:.0f} GFLOP/s, "
             f"float64 {results['gemm_peak_gflops']['float64']:.0f} GFLOP/s", ""]
    if results["workloads"]:
        lines.append("| workload | dtype | library | ms/epoch | vs skdeep | test score | GFLOP/s | of peak | of BLAS limit | first call |")
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for entry in results["workloads"]:
            ours = entry["libraries"]["skdeep"]["ms_per_epoch"]
            unit = "ms/iter" if entry["workload"] == "W4" else ""
            for library, r in entry["libraries"].items():
                lines.append(
                    f"| {entry['workload']} | {entry['dtype']} | {library} | {r['ms_per_epoch']:.1f}{' ' + unit if unit else ''} | "
                    f"{r['ms_per_epoch'] / ours:.2f}x | {r['score']:.4f} | {r['gflops']:.0f} | {100 * r['fraction_of_peak']:.0f}% | "
                    f"{100 * r['fraction_of_blas_limit']:.0f}% | {r['first_call_s']:.2f} s |"
                )
        lines.append("")
        lines.append("'vs skdeep': how many times longer than skdeep an epoch takes. 'BLAS limit': the time of the "
                     "workload's matrix products alone, on the same BLAS, measured in the same run "
                     + ", ".join(f"({e['workload']} {e['dtype']}: {e['blas_limit_ms']:.1f} ms)" for e in results["workloads"]) + ".")
    if "prediction" in results:
        lines += ["", *render_prediction(results["prediction"])]
    if "startup" in results:
        s = results["startup"]
        lines += ["", f"Start-up, fresh process, import + fit on iris (warm numba cache, byte-compiled modules): "
                      f"skdeep {s['skdeep_s']:.2f} s, scikit-learn {s['sklearn_s']:.2f} s, difference "
                      f"{s['skdeep_s'] - s['sklearn_s']:+.2f} s. For reference, scikit-learn's script plus importing "
                      f"numba and calling the smallest cached numba kernel, loaded by numba's own cache (which "
                      f"refreshes numba's context; skdeep's loader does not): {s['numba_floor_s']:.2f} s "
                      f"({s['numba_floor_s'] - s['sklearn_s']:+.2f} s). "
                      f"Empty cache: {s['skdeep_cold_s']:.1f} s, so the first run compiles for {s['compile_s']:.1f} s."]
    if "memory" in results:
        m = results["memory"]
        mb = 2**20
        lines += ["", f"Memory of a W1 fit above its data ({m['data_bytes'] / mb:.1f} MB): peak {m['peak_bytes_1_epochs'] / mb:.1f} MB "
                      f"for 1 epoch, {m['peak_bytes_4_epochs'] / mb:.1f} MB for 4 epochs; the parameters are {m['parameter_bytes'] / mb:.2f} MB."]
    if "scaling" in results:
        lines += ["", "| rows | hidden width | weights | ms/epoch | ns per (row x weight) |", "|---:|---:|---:|---:|---:|"]
        for r in results["scaling"]:
            lines.append(f"| {r['rows']} | {r['width']} | {r['weights']} | {r['ms_per_epoch']:.1f} | {r['ns_per_row_and_weight']:.3f} |")
    if "options" in results:
        base = results["options"][0]["ms_per_epoch"]
        lines += ["", "W1 (float32) with each regulariser, solver and strategy, skdeep:", "",
                  "| option | ms/epoch | overhead | test score |", "|---|---:|---:|---:|"]
        for r in results["options"]:
            lines.append(f"| {r['option']} | {r['ms_per_epoch']:.1f} | "
                         f"{100 * (r['ms_per_epoch'] / base - 1):+.0f}% | {r['score']:.4f} |")
    if "full_batch" in results:
        base = results["full_batch"][1]["ms_per_iteration"]  # skdeep's L-BFGS
        lines += ["", "Full-batch solvers, W4's data with hidden (16,) (1210 parameters, float64):", "",
                  "| library | solver | iterations | ms/iteration | vs skdeep L-BFGS | training loss | test score |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in results["full_batch"]:
            lines.append(f"| {r['library']} | {r['solver']} | {r['iterations']} | {r['ms_per_iteration']:.1f} | "
                         f"{r['ms_per_iteration'] / base:.1f}x | {r['loss']:.4g} | {r['score']:.4f} |")
        lines += ["", "An iteration of 'coordinate' is a cycle over the layers (up to 20 L-BFGS-B iterations each)."]
    if "neighbors" in results:
        lines += ["", render_neighbors(results["neighbors"]).rstrip("\n")]
    m = results["machine"]
    lines += ["", f"Machine: {m['cpu_count']} cores, Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}, "
                  f"scikit-learn {m['scikit-learn']}, torch {m['torch']}; BLAS {m['blas']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
