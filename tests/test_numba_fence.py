"""The fence around numba's internals (``skdeep._kernels._jit``): the tested
range is what ``pyproject.toml`` admits, every imported package is declared,
the kernels fall back to plain numba (with one warning) when the hooks cannot
be installed, and ``NUMBA_DISABLE_JIT=1`` runs them as Python. Each fallback
is checked in a fresh process against this process's fits."""

import ast
import json
import os
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest
from packaging.requirements import Requirement
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier
from skdeep._kernels import _jit

from .conftest import RTOL

ROOT = Path(__file__).resolve().parents[1]
#: import name -> distribution name, where they differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}
#: the extras whose packages skdeep's optional modules import
_OPTIONAL_EXTRAS = ("onnx", "persist", "plot", "dask")


def _dependencies(extras=()):
    """The core requirements, and those of the named extras, by name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {Requirement(r).name: Requirement(r).specifier for r in requirements}


def test_pyproject_admits_the_tested_numba_range():
    """``numba`` and ``llvmlite`` are bounded by the versions the hooks were
    tested with (``_jit.TESTED_NUMBA``), and this process's numba is one."""
    numba_spec = _dependencies()["numba"]
    (low_major, low_minor), (high_major, high_minor) = _jit.TESTED_NUMBA
    assert f"{low_major}.{low_minor}.0" in numba_spec
    assert f"{high_major}.{high_minor}.99" in numba_spec
    assert f"{low_major}.{low_minor - 1}.99" not in numba_spec
    assert f"{high_major}.{high_minor + 1}.0" not in numba_spec
    assert "llvmlite" in _dependencies()
    assert numba.__version__ in numba_spec


def test_every_imported_package_is_declared():
    """Each third-party package that ``skdeep`` imports is a dependency."""
    imported = set()
    for path in (ROOT / "skdeep").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {_DISTRIBUTIONS.get(m, m) for m in imported - set(sys.stdlib_module_names)}
    # the optional modules (skdeep.onnx, skdeep.persistence, skdeep.plot,
    # the Dask road of fit and predict) import their extra's packages when used (test_onnx checks that
    # ``import skdeep`` imports none of them)
    assert third_party - {"skdeep"} <= set(_dependencies(_OPTIONAL_EXTRAS))


def test_the_hooks_are_installed_in_the_test_suite():
    """The suite tests the hooks: they are installed in its process."""
    if _jit.PLAIN_NUMBA or not _jit.compiles():
        pytest.skip("plain numba or no compilation asked for")
    assert _jit._HOOKS is not None
    assert isinstance(_jit._InnerKernel, type)


#: fits of iris in a child process, printed as JSON with the warnings that
#: were emitted (with ``CHECKS``, a dict of expressions to evaluate there)
_CHILD = """
import json, sys, warnings
import numpy as np
{prelude}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from skdeep import MLPClassifier
    from skdeep._kernels import _jit, training
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::{step}]
    y = y[::{step}]
    thetas = {{}}
    for solver, dtype, params in {fits!r}:
        est = MLPClassifier(random_state=0, solver=solver, **params)
        thetas[f"{{solver}} {{dtype}}"] = est.fit(X.astype(dtype), y)._theta.tolist()
checks = {{name: eval(expression) for name, expression in {checks!r}.items()}}
fallback = [str(w.message) for w in caught if issubclass(w.category, _jit.NumbaFallbackWarning)]
print(json.dumps(dict(thetas=thetas, fallback=fallback, checks=checks)))
"""


def _run_child(env, fits, prelude="", checks=None, step=1):
    code = _CHILD.format(prelude=prelude, fits=fits, checks=checks or {}, step=step)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **env}, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _fit_here(fits, step=1):
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::step]
    thetas = {}
    for solver, dtype, params in fits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(random_state=0, solver=solver, **params)
            thetas[f"{solver} {dtype}"] = est.fit(X.astype(dtype), y[::step])._theta
    return thetas


def _assert_close(child, here):
    assert set(child) == set(here)
    for key, theta in here.items():
        dtype = theta.dtype.type
        np.testing.assert_allclose(np.array(child[key], dtype=dtype), theta, rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * np.abs(theta).max(), err_msg=key)


_FITS = [
    (solver, dtype, dict(hidden_layer_sizes=(8,), max_iter=30))
    for solver in ["adam", "lbfgs"] for dtype in ["float32", "float64"]
]
#: the children of the fallback share a cache of their own (the plain
#: kernels are cached under names of their own too, see ``kernel_decorator``)
_PLAIN_CHECKS = {
    "hooks": "_jit._HOOKS is None",
    "plain": "type(training.worker_epoch) is numba.core.registry.CPUDispatcher",
}


@pytest.fixture(scope="module")
def plain_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("plain_numba_cache"))


def test_plain_numba_fits_match_the_hooks(plain_cache):
    """With ``SKDEEP_PLAIN_NUMBA=1`` a fresh process compiles plain numba
    dispatchers after exactly one ``NumbaFallbackWarning``, and its Adam and
    L-BFGS fits in float32 and float64 equal this process's within
    floating-point tolerance. (They may differ in the last bits: plain
    numba's compiling process runs the callees' own machine code, see
    ``_SelfContainedLibrary``.)"""
    env = {"SKDEEP_PLAIN_NUMBA": "1", "NUMBA_CACHE_DIR": plain_cache, "SKDEEP_SPECIALISE": "1"}
    child = _run_child(env, _FITS, prelude="import numba", checks=_PLAIN_CHECKS)
    assert len(child["fallback"]) == 1 and "SKDEEP_PLAIN_NUMBA" in child["fallback"][0]
    assert all(child["checks"].values()), child["checks"]
    _assert_close(child["thetas"], _fit_here(_FITS))


#: numba changed under the hooks, before skdeep is imported
_BREAKAGES = {
    # any exception while the hooks are built, not only ImportError
    "subclassing raises": """
from numba.core.registry import CPUDispatcher
def refuse(cls, **kwargs):
    raise RuntimeError("no subclasses")
CPUDispatcher.__init_subclass__ = classmethod(refuse)
""",
    # an override that numba no longer calls (the library's finalisation
    # does the same work without naming ``_optimize_final_module``)
    "override no longer called": """
from numba.core.codegen import CPUCodeLibrary
numba_finalize = CPUCodeLibrary.finalize
def finalize(self):
    return numba_finalize(self)
CPUCodeLibrary.finalize = finalize
""",
    # the lazy library's stub defines the environment globals by their names
    "environment globals named otherwise": """
from numba.core import funcdesc
numba_mangler = funcdesc.default_mangler
def renamed(name, argtypes, **kwargs):
    return numba_mangler(name.replace(".NumbaEnv.", ".NumbaEnvironment."), argtypes, **kwargs)
funcdesc.default_mangler = renamed
""",
    "numba outside the tested range": """
import numba
numba.__version__ = "0.99.0"
""",
}


@pytest.mark.parametrize("breakage", list(_BREAKAGES))
def test_a_broken_hook_falls_back_to_plain_numba(plain_cache, breakage):
    """When the hooks cannot be installed, importing skdeep warns once
    (naming the cause) instead of raising, and a fit runs on plain numba and
    equals this process's. (Not with numba's version changed: numba's cache
    would not load what the other children compiled, and the fallback is the
    same.)"""
    fits = [("adam", "float64", dict(hidden_layer_sizes=(8,), max_iter=30))]
    if breakage == "numba outside the tested range":
        fits = []
    env = {"NUMBA_CACHE_DIR": plain_cache, "SKDEEP_SPECIALISE": "1"}
    child = _run_child(env, fits, prelude="import numba\n" + _BREAKAGES[breakage], checks=_PLAIN_CHECKS)
    assert len(child["fallback"]) == 1, child["fallback"]
    assert "SKDEEP_PLAIN_NUMBA" not in child["fallback"][0]
    assert all(child["checks"].values()), child["checks"]
    _assert_close(child["thetas"], _fit_here(fits))


def test_numba_disable_jit_runs_the_kernels_as_python():
    """With ``NUMBA_DISABLE_JIT=1`` every kernel, switch, optional kernel and
    intrinsic is Python (numba's way to debug kernels), nothing warns, and
    tiny fits (first-order with dropout, batch normalisation, L-BFGS and
    Newton) equal the compiled ones within tolerance."""
    small = dict(hidden_layer_sizes=(3,), max_iter=2, batch_size=10)
    fits = [
        ("adam", "float64", small),
        ("sgd", "float32", dict(small, activation="tanh", dropout=0.2, batch_norm=True)),
        ("lbfgs", "float64", dict(small, activation="logistic")),
        ("newton", "float64", small),
    ]
    checks = {
        "python": "type(training.worker_epoch) is type(lambda: 0)",
        "hooks": "_jit._HOOKS is None",
    }
    child = _run_child({"NUMBA_DISABLE_JIT": "1"}, fits, checks=checks, step=5)
    assert child["fallback"] == []
    assert all(child["checks"].values()), child["checks"]
    _assert_close(child["thetas"], _fit_here(fits, step=5))
