"""Compiling for the codes in use: ``Constant``, records and ``switch``
(``skdeep._kernels._jit``), and a fit that compiles only its own activation
and optimizer."""

import json
import os
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
from numba.core import types
from numba.core.errors import TypingError
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier
from skdeep._kernels import _jit, activations, updates
from skdeep._kernels._jit import Constant, switch
from skdeep._kernels.records import Layout
from skdeep.optim import Adam, Lookahead

ONE = Constant(1)


def _fresh_switch():
    first = numba.njit(lambda x: x + 1.0)
    second = numba.njit(lambda x: x * 2.0)
    return first, second, switch("pick", {Constant(0): first, ONE: second})


def test_a_constant_code_compiles_only_the_kernel_it_selects():
    first, second, pick = _fresh_switch()

    @numba.njit
    def with_constant(x):
        return pick(ONE, x)

    assert with_constant(3.0) == 6.0
    assert second.signatures and not first.signatures
    assert pick.compiled == {1}


def test_an_integer_code_chooses_at_run_time():
    first, second, pick = _fresh_switch()

    @numba.njit
    def with_variable(code, x):
        return pick(code, x)

    assert with_variable(0, 3.0) == 4.0
    assert with_variable(1, 3.0) == 6.0
    assert first.signatures and second.signatures
    assert pick.compiled == {None}
    assert pick(0, 3.0) == 4.0  # from Python
    assert pick(ONE, 3.0) == 6.0


def test_an_unknown_code_raises_instead_of_running_a_kernel():
    _, _, pick = _fresh_switch()

    @numba.njit
    def with_variable(code, x):
        return pick(code, x)

    @numba.njit
    def with_literal(x):
        return pick(7, x)

    for call in (lambda: with_variable(5, 3.0), lambda: with_literal(3.0)):
        with pytest.raises(ValueError, match="pick: unknown code"):
            call()
    with pytest.raises(KeyError):
        pick(5, 3.0)


def test_a_switch_rejects_a_code_that_is_not_an_integer():
    _, _, pick = _fresh_switch()

    @numba.njit
    def with_float(x):
        return pick(1.5, x)

    with pytest.raises(TypingError, match="pick: the code must be an integer"):
        with_float(3.0)


def test_a_switch_needs_kernels_of_one_arity():
    with pytest.raises(TypeError, match="different numbers of arguments"):
        switch("bad", {0: numba.njit(lambda x: x), 1: numba.njit(lambda x, y: x)})


def test_a_switch_refuses_an_inline_kernel():
    if _jit._HOOKS is None:
        pytest.skip("plain numba")
    inlined = numba.njit(inline="always")(lambda x: x)
    with pytest.raises(TypeError, match="inline_jit"):
        switch("inlined", {0: inlined, 1: numba.njit(lambda x: x)})


@pytest.mark.parametrize("absent, expected", [
    (lambda x, y: y, ("arg", 1)),
    (lambda x, y: None, ("const", None)),
    (lambda x, y: False, ("const", False)),
    (lambda x, y: 2.0, None),  # only None and bools
    (lambda x, y: y * 2.0, None),
])
def test_trivial_reads_what_an_absent_returns(absent, expected):
    assert _jit._trivial(absent) == expected


def _absent_returns_y(x, y):
    """A docstring is not code."""
    return y


def _absent_doubles_y(x, y):
    return y * 2.0


def _present_adds(x, y):
    return x[0] + y


def test_by_presence_calls_the_chosen_kernel_and_compiles_nothing_for_a_trivial_absent():
    if not _jit.compiles():
        pytest.skip("NUMBA_DISABLE_JIT")
    trivial = _jit.by_presence(_absent_returns_y, _present_adds)
    other = _jit.by_presence(_absent_doubles_y, _present_adds)

    @numba.njit
    def call(kernel_code, x, y):
        return trivial(x, y) if kernel_code == 0 else other(x, y)

    assert call(0, None, 2.0) == 2.0 and call(1, None, 2.0) == 4.0
    assert trivial.absent is None  # no kernel to compile
    assert other.absent.signatures and trivial.present.signatures == []
    assert call(0, np.ones(2), 2.0) == 3.0 and call(1, np.ones(2), 2.0) == 3.0
    assert trivial(None, 2.0) == 2.0 and other(np.ones(2), 2.0) == 3.0  # from Python


def _absent_returns_y_again(x, y):
    return y


def test_a_trivial_absent_returns_the_value_of_an_integer_constant():
    if not _jit.compiles():
        pytest.skip("NUMBA_DISABLE_JIT")
    kernel = _jit.by_presence(_absent_returns_y_again, _present_adds)

    @numba.njit
    def call():
        return kernel(None, 3) + kernel(None, 4)

    assert call() == 7  # 3 + 4: each call its own constant
    assert next(iter(call.overloads.values())).signature.return_type == types.int64


def test_optional_returns_none_or_the_kernel_result():
    if not _jit.compiles():
        pytest.skip("NUMBA_DISABLE_JIT")
    added = _jit.optional(_present_adds)

    @numba.njit
    def call(x, y):
        return added(x, y)

    assert call(None, 2.0) is None
    assert call(np.ones(2), 2.0) == 3.0


def test_an_integer_kernel_compiles_once_for_every_integer_constant():
    if _jit._HOOKS is None:
        pytest.skip("plain numba")
    from numba.core.caching import NullCache

    def shift(x, k):
        return x + k

    options = {"nogil": True, "error_model": "numpy", **_jit._INNER_OPTIONS}
    kernels = {kind: _jit._dispatcher(shift, options, kind)
               for kind in (_jit._IntegerKernel, _jit._InnerKernel)}
    for kernel in kernels.values():
        kernel._cache = NullCache()

    def caller(kernel):
        return numba.njit(lambda x: kernel(x, 1) + kernel(x, 2) + kernel(x, 3))

    for kind, kernel in kernels.items():
        assert caller(kernel)(1.0) == 9.0
        assert len(kernel.overloads) == (1 if kind is _jit._IntegerKernel else 3)


def test_a_record_types_its_constants_as_literals():
    a = np.zeros(3)
    r = Layout(a, a, a, Constant(3), 1, a)
    typ = numba.typeof(r)
    assert isinstance(typ, types.NamedTuple) and typ.types[3] == types.IntegerLiteral(3)
    assert typ.types[4] == types.int64
    assert numba.typeof(Layout(np.ones(3), a, a, Constant(3), 2, a)) is typ  # from the cache
    assert numba.typeof(Layout(a, a, a, Constant(4), 1, a)).types[3] == types.IntegerLiteral(4)
    assert numba.typeof(Layout(a.astype(np.float32), a, a, Constant(3), 1, a)).types[0].dtype == types.float32
    # a Constant's place is part of the key: same fingerprint, other types
    assert numba.typeof(Layout(a, a, a, Constant(1), 2, a)) != numba.typeof(Layout(a, a, a, 1, Constant(2), a))

    @numba.njit
    def code_plus_loss(net):
        return net.activation + net.loss

    assert code_plus_loss(r) == 4
    assert code_plus_loss.signatures[0][0].types[3] == types.IntegerLiteral(3)


def test_kernel_arguments_follow_the_specialise_setting(monkeypatch):
    from skdeep._network import Network

    net = Network([3, 4, 2], "relu", "log_loss")
    monkeypatch.setattr(_jit, "SPECIALISE", True)
    assert type(net.layout().activation) is Constant
    # the identity shortcuts: None without them (their code pruned)
    assert net.layout().residual is None
    np.testing.assert_array_equal(Network([3, 4, 4, 2], "relu", "log_loss", residual=True).layout().residual, [0, 1, 0])
    assert type(_jit.kernel_code(3)) is Constant
    monkeypatch.setattr(_jit, "SPECIALISE", False)
    off = net.layout()
    assert type(off.activation) is int and off.activation == activations.RELU
    np.testing.assert_array_equal(off.residual, [0, 0])  # zeros: no shortcut at run time
    assert type(_jit.kernel_code(activations.RELU)) is int
    # a cheap option that is off: its zeros at run time, else None
    assert _jit.option(0.0, False) == 0.0 and _jit.option(0.5, True) == 0.5
    monkeypatch.setattr(_jit, "SPECIALISE", True)
    assert _jit.option(0.0, False) is None and _jit.option(0.5, True) == 0.5


_CHILD = """
import json, warnings
from numba.core import event

compiled = set()


class Recorder(event.Listener):
    def on_start(self, ev):
        compiled.add(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass


event.register("numba:compile", Recorder())
from sklearn.datasets import load_iris
from skdeep import MLPClassifier
from skdeep._kernels import activations, updates

warnings.simplefilter("ignore")
X, y = load_iris(return_X_y=True)
est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, y)
proba = est.predict_proba(X).tolist()
plain = sorted(compiled)
with_options = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0, **OPTIONS).fit(X, y)
after_options = sorted(compiled)
full_batch = {
    solver: MLPClassifier(hidden_layer_sizes=(3,), solver=solver, max_iter=5, random_state=0)
    .fit(X, y).predict_proba(X).tolist()
    for solver in FULL_BATCH
}
switches = {
    "activation_forward": activations.activation_forward,
    "activation_backward": activations.activation_backward,
    "update_slice": updates._update_slice,
}
print(json.dumps({
    "compiled": plain,
    "with_options": after_options,
    "all": sorted(compiled),
    "full_batch": full_batch,
    "options_proba": with_options.predict_proba(X).tolist(),
    "codes": {name: sorted(map(str, s.compiled)) for name, s in switches.items()},
    "loss": est.loss_,
    "proba": proba,
}))
"""


#: cheap options that the second fit of ``_CHILD`` switches on
_OPTIONS = {"dropout": 0.2, "penalty": "l1", "max_norm": 3.0, "input_noise": 0.1, "average": True}
#: the kernels of the cheap options and of sparse input
_OPTION_KERNELS = {
    "dropout_forward", "dropout_backward", "add_normal", "adam_l1_proximal",
    "_absolute_sum", "max_norm_project", "average_update",
}
_SPARSE_KERNELS = {"csr_rows_dot", "csr_rows_t_dot", "dot_csr_rows", "_densify_rows"}
_UNUSED_KERNELS = {
    "activity_penalty", "activity_backward", "_pull_towards_prior", "unlabeled_row",
    "pseudo_label_softmax", "entropy_softmax", "pseudo_label_logistic", "entropy_logistic",
    "dropconnect_weights", "dropconnect_gradient", "subtract_matrix",  # dropconnect, residual
} | _SPARSE_KERNELS
#: full-batch solvers of ``_CHILD``: their kernels (the loss and gradient,
#: the Hessian-vector product, the Hessian's rows) get None for dense
#: input's CSR arrays and for the activity penalty
_FULL_BATCH = ["lbfgs", "newton-cg", "newton"]


def test_a_fit_compiles_only_what_its_configuration_uses(iris, tmp_path, monkeypatch):
    """A fresh process with an empty cache and the specialisation on (the
    default outside the test suite) fits relu/Adam on dense input: the
    switches compiled only those codes, no other activation's or optimizer's
    kernel was compiled, nor those of the cheap options it leaves off or of
    sparse input; a second fit with some options on compiles theirs (and
    still not the others'), and full-batch fits compile no sparse code
    either. Every model is that of the run-time choice.
    (The loss is chosen at run time in both modes.)"""
    env = {**os.environ, "SKDEEP_SPECIALISE": "1", "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_OPT": "0"}
    done = subprocess.run(
        [sys.executable, "-c", f"OPTIONS = {_OPTIONS!r}\nFULL_BATCH = {_FULL_BATCH!r}\n{_CHILD}"],
        capture_output=True, text=True,
        env=env, check=True, timeout=600,
    )
    child = json.loads(done.stdout.splitlines()[-1])
    assert child["codes"] == {
        "activation_forward": [str(activations.RELU)],
        "activation_backward": [str(activations.RELU)],
        "update_slice": [str(updates.ADAM)],
    }
    compiled = set(child["compiled"])
    assert {"relu_forward", "relu_backward", "adam_update"} <= compiled
    others = {
        kernel.py_func.__qualname__
        for table in (activations.activation_forward.kernels, activations.activation_backward.kernels)
        for code, kernel in table.items() if code != activations.RELU
    } - {"identity_forward"}  # the output layer's bias, in every network
    adam = updates.UPDATE_RULES[updates.ADAM]
    others |= {  # (the update kernels are inlined: only the L1 steps could show)
        kernel.py_func.__qualname__
        for rule in updates.UPDATE_RULES.values()
        for kernel in (rule.update, rule.l1_proximal)
        if kernel not in (adam.update, adam.l1_proximal)
    }
    others |= {"sgd_update", "scaled_update", "adahessian_moments", "adahessian_step"}
    others |= {  # the other optimizers' kernels, LAMB's norms phase, Lookahead
        "adadelta_update", "radam_update", "radam_rectification", "lamb_update",
        "lamb_direction_norms", "layer_norms_range", "trust_ratio", "lookahead_sync",
    }
    assert not others & compiled
    assert not (_OPTION_KERNELS | _UNUSED_KERNELS) & compiled
    with_options = set(child["with_options"])
    assert _OPTION_KERNELS <= with_options
    assert not _UNUSED_KERNELS & with_options
    assert {"full_loss_grad", "full_hvp", "hessian_rows"} <= set(child["all"])
    assert not _SPARSE_KERNELS & set(child["all"])

    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    monkeypatch.setattr(_jit, "SPECIALISE", False)  # this process chooses at run time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(child["loss"], est.loss_, rtol=1e-10)
    np.testing.assert_allclose(child["proba"], est.predict_proba(X), rtol=1e-8, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0, **_OPTIONS).fit(X, y)
    np.testing.assert_allclose(child["options_proba"], est.predict_proba(X), rtol=1e-8, atol=1e-12)
    for solver in _FULL_BATCH:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(hidden_layer_sizes=(3,), solver=solver, max_iter=5, random_state=0).fit(X, y)
        np.testing.assert_allclose(child["full_batch"][solver], est.predict_proba(X), rtol=1e-8, atol=1e-12)


#: per cheap option of the epoch kernel's ``options`` tuple, the estimator
#: parameters that switch it on
_CHEAP = {
    "drop": {"dropout": 0.2},
    "activity": {"activity_l1": 1e-4},
    "input_dropout": {"input_dropout": 0.1},
    "input_noise": {"input_noise": 0.1},
    "l1": {"penalty": "l1"},
    "prior": {"prior_alpha": 1.0},
    "norms": {"max_norm": 3.0},
    "average": {"average": True},
    "lookahead": {"solver": Lookahead(Adam())},
    "unlabeled": {"semi_supervised": "entropy"},
    "dropconnect": {"dropconnect": 0.2},
}


@pytest.mark.parametrize("specialise", [True, False])
@pytest.mark.parametrize("on", [None, *_CHEAP])
def test_a_cheap_option_that_is_off_reaches_the_kernel_as_none(monkeypatch, iris, on, specialise):
    """With the specialisation on, each cheap option that is off, and the
    sparse-input arrays of dense input, reach the epoch kernel as None (the
    kernel's code for them is pruned, see the fresh-process test above); an
    option that is on gets its value. With it off, every one gets a value
    (zeros switch it off in the one compile for every configuration)."""
    from skdeep import _training

    monkeypatch.setattr(_jit, "SPECIALISE", specialise)
    calls = []

    def recording(*args):  # stands in for the kernel: nothing is compiled
        calls.append(args)
        return 1.0, 1

    monkeypatch.setattr(_training, "train_epoch", recording)
    X, y = iris
    params = dict(_CHEAP.get(on, {}))
    if on == "prior":
        params["coef_prior"] = MLPClassifier((3,), max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((3,), max_iter=1, **params).fit(X, y)
    call = calls[-1]
    options = call[7]
    epoch = call[3]
    assert list(options._fields) == list(_CHEAP)
    for name in _CHEAP:
        assert (getattr(options, name) is None) == (specialise and name != on), name
    assert (epoch.csr is None) == specialise  # dense input: no CSR arrays
    assert (call[5].layers is None) == specialise  # LAMB's layer norms: Adam has none
