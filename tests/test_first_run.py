"""What a first run on a machine meets: the message on the first compile of
a process, the ahead-of-time command (``skdeep.precompile``) and processes
that need the same kernel at once (``_jit._Dispatcher``'s lock).

The processes here start on an empty cache of their own, with the
specialisation on (the default outside the suite) and ``NUMBA_OPT=0`` (the
same kernels, compiled faster)."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skdeep import MLPClassifier, MLPRegressor
from skdeep._kernels import _jit
from skdeep.precompile import main, precompile

MESSAGE = "skdeep: compiling the engine"

#: a child that compiles ``CONFIG`` ahead of time (``PRECOMPILE``) or fits
#: and predicts with it on iris, and prints the kernels (skdeep's, by name
#: and signature) it compiled
_CHILD = """
import json, warnings
from numba.core import event
from skdeep._kernels import _jit
compiled = []

class Listener(event.Listener):
    def on_start(self, e):
        if isinstance(e.data["dispatcher"], _jit._Dispatcher):
            compiled.append([e.data["dispatcher"].py_func.__qualname__, str(e.data["args"])])

    def on_end(self, e):
        pass

event.register("numba:compile", Listener())
warnings.simplefilter("ignore")
from sklearn.datasets import load_iris
from skdeep import MLPClassifier
from skdeep.precompile import precompile
if PRECOMPILE:
    precompile(MLPClassifier(**CONFIG))
else:
    X, y = load_iris(return_X_y=True)
    MLPClassifier(max_iter=3, random_state=0, **CONFIG).fit(X, y).predict_proba(X)
print(json.dumps(compiled))
"""
CONFIG = {"activation": "tanh", "solver": "sgd"}


def _start(cache, precompile):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "SKDEEP_SPECIALISE": "1",
           "SKDEEP_COMPILE_MESSAGE": "1"}
    code = f"CONFIG = {CONFIG!r}\nPRECOMPILE = {precompile}\n{_CHILD}"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(child):
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err
    return {tuple(k) for k in json.loads(out.splitlines()[-1])}, err


pytestmark = pytest.mark.skipif(not _jit.compiles() or _jit._HOOKS is None,
                                reason="the compiled engine with skdeep's hooks")


def test_processes_share_the_cache_and_compile_each_kernel_once(tmp_path):
    """Two processes that compile the same configuration ahead of time at
    once, on an empty cache, never compile the same kernel and signature
    both (one waits for the other's lock, then loads what it cached), and
    each says so at most once; a later process then fits and predicts with
    that configuration without compiling any of skdeep's kernels, and says
    nothing."""
    results = [_finish(child) for child in [_start(tmp_path, True), _start(tmp_path, True)]]
    (first, first_err), (second, second_err) = results
    assert not first & second
    assert {"worker_epoch", "predict_output", "tanh_forward"} <= {name for name, _ in first | second}
    assert first_err.count(MESSAGE) == (1 if first else 0)
    assert second_err.count(MESSAGE) == (1 if second else 0)

    later, err = _finish(_start(tmp_path, False))
    assert later == set()
    assert MESSAGE not in err


def test_the_message_is_printed_once_per_process(monkeypatch, capsys):
    monkeypatch.setattr(_jit, "_announced", False)
    monkeypatch.setattr(_jit, "COMPILE_MESSAGE", True)
    _jit._announce_compilation()
    _jit._announce_compilation()
    assert capsys.readouterr().err.count(MESSAGE) == 1
    monkeypatch.setattr(_jit, "_announced", False)
    monkeypatch.setattr(_jit, "COMPILE_MESSAGE", False)  # SKDEEP_COMPILE_MESSAGE=0
    _jit._announce_compilation()
    assert capsys.readouterr().err == ""


def test_a_lock_file_that_cannot_be_made_does_not_stop_the_compile(tmp_path):
    """A cache directory that is not writable (numba then does not save
    either): the compile goes on without the lock."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = types.SimpleNamespace(lock_file=lambda *args: str(blocker / "locks" / "k"))
    with _jit._file_lock(cache.lock_file, ()):
        entered = True
    assert entered


def test_the_lock_excludes_another_holder(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    path = tmp_path / "locks" / "k"
    cache = types.SimpleNamespace(lock_file=lambda *args: str(path))
    with _jit._file_lock(cache.lock_file, ()):
        with open(path) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(path) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released


def test_precompile_compiles_every_combination_of_the_grid():
    timings = precompile(
        MLPClassifier(hidden_layer_sizes=(3,)), MLPRegressor(hidden_layer_sizes=(3,)),
        param_grid={"activation": ["relu", "tanh"]}, dtypes=["float32", "float64"],
    )
    assert len(timings) == 8
    assert {(t["estimator"], t["params"]["activation"], t["dtype"]) for t in timings} == {
        (e, a, d) for e in ("MLPClassifier", "MLPRegressor") for a in ("relu", "tanh")
        for d in ("float32", "float64")
    }
    assert all(t["params"]["hidden_layer_sizes"] == (3,) for t in timings)
    assert all(t["seconds"] >= 0 and not t["sparse"] for t in timings)
    sparse = precompile(MLPClassifier(hidden_layer_sizes=(3,)), sparse=True)
    assert [t["sparse"] for t in sparse] == [False, True]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: precompile(LogisticRegression()), TypeError, "MLPRegressor or MLPAutoencoder.*LogisticRegression"),
        (lambda: precompile(MLPClassifier(), dtypes=["int64"]), ValueError, "dtypes must be float32 or float64"),
        (lambda: precompile(MLPClassifier(), param_grid={"activation": ["nope"]}), ValueError, "activation"),
    ],
)
def test_precompile_rejects_what_it_cannot_compile(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_command_line_compiles_the_options_given(capsys):
    main(["--estimator", "regressor", "--activation", "identity", "--dtype", "float32"])
    out = capsys.readouterr().out
    assert "MLPRegressor {'activation': 'identity'} float32" in out
    assert "1 configurations ready" in out
    with pytest.raises(SystemExit):
        main(["--solver", "not-a-solver"])
    assert "invalid choice" in capsys.readouterr().err


def test_precompile_fits_what_a_real_fit_would():
    """The synthetic data give the estimator a real fit: classes, and a
    finite loss (so the compiled code is the code a real fit runs)."""
    from skdeep.precompile import _data

    X, y = _data(True, np.float32, False)
    est = MLPClassifier(max_iter=300, early_stopping=True, random_state=0).fit(X, y)
    assert est.classes_.tolist() == [0, 1, 2] and np.isfinite(est.loss_)
