"""The fitted estimator's internal objects as plain data, for persistence.

``BaseMLP.__getstate__`` replaces the objects a fit leaves behind (the
``Network``, the training ``Progress`` with its ``OptimizerState`` and the
target encoder) with dicts of numbers, strings, lists and numpy arrays, and
``__setstate__`` rebuilds them. Pickle and joblib go through the same two
methods, and skops, which rebuilds only the types a user trusts, then needs
to trust skdeep's estimator classes and nothing internal: the list is
``skdeep.persistence.trusted_types()``. (The random generator and the
``LabelBinarizer`` are numpy's and scikit-learn's; skops trusts them.)

States written before this module existed hold the objects themselves;
``restore`` leaves those as they are.
"""

import dataclasses

import numpy as np

from .._kernels.records import Hyper
from .._network import Network
from .._training import Progress
from ..optim import OptimizerState
from ._targets import HeadTargets, LabelTargets


def _network_state(network):
    return {
        "sizes": network.sizes, "activation": network.activation, "loss": network.loss,
        "segments": network.segments, "batch_norm": network.batch_norm,
        "residual": network.residual,
    }


def _network(state):
    return Network(
        np.array(state["sizes"]), state["activation"], state["loss"],
        np.array(state["segments"]), batch_norm=state["batch_norm"],
        residual=state.get("residual", False),  # saved before shortcuts existed: none
    )


def _progress_state(progress):
    state = {f.name: getattr(progress, f.name) for f in dataclasses.fields(progress)}
    optimizer = progress.optimizer
    if optimizer is not None:  # every field, so that a new one cannot be left out
        fields = {f.name: getattr(optimizer, f.name) for f in dataclasses.fields(optimizer)}
        fields["code"] = int(fields["code"])
        fields["hyper"] = dict(fields["hyper"]._asdict())
        fields["needs_hessian"] = bool(fields["needs_hessian"])
        fields["layerwise"] = bool(fields["layerwise"])
        if fields["lookahead"] is not None:
            fields["lookahead"] = [int(fields["lookahead"][0]), float(fields["lookahead"][1])]
        state["optimizer"] = fields
    return state


def _progress(state):
    state = dict(state)
    optimizer = state["optimizer"]
    if optimizer is not None:
        fields = dict(optimizer)
        fields["state"] = np.array(fields["state"])
        fields["hyper"] = Hyper(**fields["hyper"])
        fields["counters"] = np.array(fields["counters"])
        if fields.get("lookahead") is not None:
            fields["lookahead"] = tuple(fields["lookahead"])
        if fields.get("slow") is not None:
            fields["slow"] = np.array(fields["slow"])
        state["optimizer"] = OptimizerState(**fields)
    return Progress(**state)


def _targets_state(targets):
    if isinstance(targets, HeadTargets):
        return {"heads": targets.classes_}
    return {"binarizer": targets.binarizer}


def _targets(state):
    if "heads" in state:
        return HeadTargets(state["heads"])
    return LabelTargets(state["binarizer"])


#: attribute -> (object -> plain data, plain data -> object)
PLAIN_ATTRIBUTES = {
    "_network": (_network_state, _network),
    "_progress": (_progress_state, _progress),
    "_targets": (_targets_state, _targets),
}


def plain(state):
    """``state`` (an estimator's ``__dict__`` copy), its internal objects
    replaced by plain data; changed in place and returned."""
    for name, (to_plain, _) in PLAIN_ATTRIBUTES.items():
        if name in state and not isinstance(state[name], dict):
            state[name] = to_plain(state[name])
    return state


def restore(state):
    """The inverse of ``plain``, in place; objects pass unchanged."""
    for name, (_, from_plain) in PLAIN_ATTRIBUTES.items():
        if isinstance(state.get(name), dict):
            state[name] = from_plain(state[name])
    return state
