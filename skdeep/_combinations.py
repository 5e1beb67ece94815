"""Which options go together: one table, and the check that raises on it.

``COMBINATIONS`` lists, per option in use, what it needs (a kind of solver,
another option, or something of the call) and why, as the message of the
``ValueError`` raised when a configuration lacks it. Options that fail for the
same reason are named together in one message, in the table's order; the
reasons are checked in the order they first appear in the table.

The table reads a ``FitConfig`` (``skdeep._config``) and nothing else. Checks
that need the data (the size of the network for ``'bfgs'`` and ``'newton'``,
the shapes of ``coef_prior``, ``init`` and ``tangents``) stay where the data
is known.
"""

from dataclasses import dataclass

import numpy as np

from .schedules import SKLEARN_SCHEDULES, Schedule


@dataclass(frozen=True)
class Why:
    """A message, formatted with ``used`` (the options that fail for it,
    joined by ``join``), ``s`` (a verb's ending: ``'s'`` for one option),
    ``solver`` (the solver's name) and ``c`` (the configuration)."""

    text: str
    join: str = ", "

    def message(self, used, config):
        return self.text.format(
            used=self.join.join(used), s="s" if len(used) == 1 else "",
            solver=config.solver_name, c=config,
        )


_PARTIAL_FIT = Why("partial_fit does not support early_stopping=True")
_X_VAL_SOLVER = Why(
    "X_val and y_val are used for early stopping, which needs a stochastic solver; "
    "got solver={solver!r}."
)
_X_VAL_EARLY_STOPPING = Why(
    "X_val and y_val are passed to fit while early_stopping is False. Set "
    "early_stopping=True to use them."
)
_PRIOR = Why("prior_alpha > 0 needs coef_prior, the network to share with.")
_RANDOM = Why(
    "{used} make{s} the training objective random, but solver={solver!r} minimises a "
    "fixed function of the whole data set; use a stochastic solver ('sgd', 'adam', ...)."
)
_MAX_NORM = Why(
    "max_norm is enforced by projecting the weights after every update of a stochastic "
    "solver; solver={solver!r} has no such step. Use 'sgd' or 'adam'."
)
_L1 = Why(
    "penalty='l1'/'elasticnet' needs proximal updates (stochastic solvers) or bound "
    "constraints ('lbfgs', 'coordinate'); solver={solver!r} would only oscillate around zero."
)
_TANGENT_RANDOM = Why(
    "tangent_prop cannot be combined with dropout, dropconnect or weight_noise: the "
    "penalty is the derivative of the network actually trained, which these make random."
)
_SCHEDULE = Why(
    "learning_rate={c.learning_rate!r} is a schedule for the stochastic solvers; "
    "solver={solver!r} sets its own step lengths (by line search). Use a stochastic "
    "solver, or leave learning_rate at 'constant'."
)
_MINI_BATCHES = Why(
    "{used} need{s} the mini-batches of a stochastic solver; solver={solver!r} works on "
    "the whole data set. Use 'sgd', 'adam', ...",
    join=" and ",
)
_HESSIAN = Why(
    "solver={solver!r} uses exact Hessian-vector products, which skdeep computes for "
    "the data term and the weight penalties only, not for {used}. Use another solver, "
    "or drop {used}."
)
_TANGENT_BATCH_NORM = Why(
    "tangent_prop cannot be combined with batch_norm: in training, batch statistics "
    "make each output depend on the whole batch, not on its own input alone."
)
_FREEZE_ALL = Why(
    "freeze_layers={c.freeze_layers} would freeze every layer of a network with "
    "{c.n_layers}: nothing would be trained."
)
_SNAPSHOTS = Why(
    "A snapshot ensemble (schedule with snapshots > 0) and early_stopping both choose "
    "the weights the model predicts with; use one of them."
)
_CURRICULUM_SOLVER = Why(
    "curriculum chooses the rows of each epoch of a stochastic solver; "
    "solver={solver!r} minimises the loss of every row at once. Use 'sgd', 'adam', ..."
)
_CURRICULUM_PARTIAL_FIT = Why(
    "curriculum ranks every training row before an epoch, but partial_fit sees one "
    "chunk of rows per call; use fit, or leave curriculum at None."
)
_PSEUDO_LABEL = Why(
    "semi_supervised='pseudo_label' re-chooses each unlabelled row's target at every "
    "update, so its objective is piecewise and moves under a line search; "
    "solver={solver!r} minimises a fixed function of the whole data set. Use a "
    "stochastic solver ('sgd', 'adam', ...), or semi_supervised='entropy', which is "
    "smooth."
)
_NO_SHORTCUT = Why(
    "residual=True adds identity shortcuts around hidden layers whose input is a "
    "hidden layer of the same width (the first hidden layer's input is the data, never "
    "a shortcut's), but hidden_layer_sizes={c.hidden_layer_sizes} has no two "
    "consecutive hidden layers of equal width, e.g. (64, 64)."
)
_TANGENT_RESIDUAL = Why(
    "tangent_prop cannot be combined with residual: its forward-mode derivatives do "
    "not follow the identity shortcuts."
)
_CONTRACTIVE_BATCH_NORM = Why(
    "contractive cannot be combined with batch_norm: in training, batch statistics "
    "make each code depend on the whole batch, so the penalty would not be the "
    "Jacobian of the encoder that is kept."
)
_CONTRACTIVE_DEPTH = Why(
    "contractive is implemented exactly for a one-layer encoder (Rifai et al., 2011): "
    "give hidden_layer_sizes=(n_code,), got {c.hidden_layer_sizes[0]} units and "
    "more layers. For a deep contractive encoder, pretrain it greedily, one "
    "contractive layer at a time (see docs/autoencoders.md)."
)
_CURRICULUM_UNLABELED = Why(
    "curriculum ranks the rows by their difficulty under their labels; unlabelled rows "
    "(semi_supervised) have none. Use one of them."
)
_ON_DASK = Why(
    "{used} is not supported on Dask input (data-parallel training averages the "
    "partitions' parameters); fit in memory, or leave it at its default.",
    join=" / ",
)
_NO_TANGENTS = Why(
    "tangent_prop > 0 needs tangent vectors: pass them to fit(..., tangents=T) with T "
    "of shape (n_samples, n_tangents, n_features)."
)


def _dropout(c):
    return bool(np.any(np.asarray(c.dropout, dtype=np.float64) > 0))


def _set(value):
    return value not in (None, False)


def _snapshots(c):
    return isinstance(c.learning_rate, Schedule) and bool(getattr(c.learning_rate, "snapshots", 0))


#: when an option counts as in use (every other option: when it is > 0)
IN_USE = {
    "early_stopping": lambda c: bool(c.early_stopping),
    "X_val": lambda c: c.with_validation_data,
    "dropout": _dropout,
    "augment": lambda c: c.augment is not None,
    "max_norm": lambda c: c.max_norm is not None,
    "penalty": lambda c: c.l1 > 0,  # the L1 part of 'l1' or 'elasticnet'
    "learning_rate": lambda c: isinstance(c.learning_rate, Schedule)
    or c.learning_rate not in SKLEARN_SCHEDULES,
    "clip_grad_norm": lambda c: _set(c.clip_grad_norm),
    "average": lambda c: _set(c.average),
    "dask_sync_every": lambda c: c.dask_sync_every is not None,
    "batch_norm": lambda c: _set(c.batch_norm),
    "residual": lambda c: _set(c.residual),
    "snapshots": _snapshots,
    "semi_supervised": lambda c: c.semi_supervised is not None,
    "curriculum": lambda c: c.curriculum is not None,
}

#: what an option can need, each a predicate of the configuration
NEEDS = {
    "a stochastic solver": lambda c: c.stochastic,
    "a stochastic solver, 'lbfgs' or 'coordinate'": lambda c: c.stochastic
    or c.solver in ("lbfgs", "coordinate"),
    "a solver without Hessian-vector products": lambda c: not c.hessian,
    "no per-batch Hessian pass (AdaHessian)": lambda c: not (c.stochastic and c.hessian),
    "no dropout, dropconnect or weight_noise": lambda c: not (
        _dropout(c) or c.dropconnect > 0 or c.weight_noise > 0
    ),
    "no semi_supervised": lambda c: c.semi_supervised is None,
    "no batch_norm": lambda c: not _set(c.batch_norm),
    "early_stopping": lambda c: bool(c.early_stopping),
    "no early_stopping": lambda c: not c.early_stopping,
    "coef_prior": lambda c: c.coef_prior is not None,
    "fit, not partial_fit": lambda c: not c.incremental,
    "tangents passed to fit": lambda c: c.with_tangents,
    "data in memory": lambda c: not c.on_dask,
    "a layer that is not frozen": lambda c: c.freeze_layers < c.n_layers,
    "a stochastic solver or a smooth unlabelled term": lambda c: c.stochastic
    or c.semi_supervised != "pseudo_label",
    "two consecutive hidden layers of equal width": lambda c: any(
        a == b for a, b in zip(c.hidden_layer_sizes[:-1], c.hidden_layer_sizes[1:])
    ),
    "no residual": lambda c: not c.residual,
    "a one-layer encoder": lambda c: len(c.hidden_layer_sizes) == 1,
}

#: (option in use, what it needs, why): one row per rule
COMBINATIONS = (
    ("early_stopping", "fit, not partial_fit", _PARTIAL_FIT),
    ("X_val", "a stochastic solver", _X_VAL_SOLVER),
    ("X_val", "early_stopping", _X_VAL_EARLY_STOPPING),
    ("prior_alpha", "coef_prior", _PRIOR),
    # a full-batch solver's line search needs a fixed objective
    ("dropout", "a stochastic solver", _RANDOM),
    ("input_dropout", "a stochastic solver", _RANDOM),
    ("input_noise", "a stochastic solver", _RANDOM),
    ("weight_noise", "a stochastic solver", _RANDOM),
    ("dropconnect", "a stochastic solver", _RANDOM),
    ("adversarial_eps", "a stochastic solver", _RANDOM),
    ("augment", "a stochastic solver", _RANDOM),
    ("max_norm", "a stochastic solver", _MAX_NORM),
    ("penalty", "a stochastic solver, 'lbfgs' or 'coordinate'", _L1),
    ("tangent_prop", "no dropout, dropconnect or weight_noise", _TANGENT_RANDOM),
    ("learning_rate", "a stochastic solver", _SCHEDULE),
    ("clip_grad_norm", "a stochastic solver", _MINI_BATCHES),
    ("average", "a stochastic solver", _MINI_BATCHES),
    ("dask_sync_every", "a stochastic solver", _MINI_BATCHES),
    ("batch_norm", "a stochastic solver", _MINI_BATCHES),
    # the Hessian-vector products cover the data term and the weight penalties
    ("activity_l1", "a solver without Hessian-vector products", _HESSIAN),
    ("tangent_prop", "a solver without Hessian-vector products", _HESSIAN),
    ("adversarial_eps", "no per-batch Hessian pass (AdaHessian)", _HESSIAN),
    ("dropout", "no per-batch Hessian pass (AdaHessian)", _HESSIAN),
    ("dropconnect", "no per-batch Hessian pass (AdaHessian)", _HESSIAN),
    ("batch_norm", "a solver without Hessian-vector products", _HESSIAN),
    ("contractive", "a solver without Hessian-vector products", _HESSIAN),
    ("contractive", "no batch_norm", _CONTRACTIVE_BATCH_NORM),
    ("contractive", "a one-layer encoder", _CONTRACTIVE_DEPTH),
    ("tangent_prop", "no batch_norm", _TANGENT_BATCH_NORM),
    ("freeze_layers", "a layer that is not frozen", _FREEZE_ALL),
    ("snapshots", "no early_stopping", _SNAPSHOTS),
    ("tangent_prop", "tangents passed to fit", _NO_TANGENTS),
    # what data-parallel training on Dask partitions does not do
    ("augment", "data in memory", _ON_DASK),
    ("average", "data in memory", _ON_DASK),
    ("tangent_prop", "data in memory", _ON_DASK),
    ("semi_supervised", "data in memory", _ON_DASK),
    ("curriculum", "data in memory", _ON_DASK),
    ("semi_supervised", "a stochastic solver or a smooth unlabelled term", _PSEUDO_LABEL),
    ("semi_supervised", "a solver without Hessian-vector products", _HESSIAN),
    ("residual", "two consecutive hidden layers of equal width", _NO_SHORTCUT),
    ("tangent_prop", "no residual", _TANGENT_RESIDUAL),
    ("curriculum", "a stochastic solver", _CURRICULUM_SOLVER),
    ("curriculum", "fit, not partial_fit", _CURRICULUM_PARTIAL_FIT),
    ("curriculum", "no semi_supervised", _CURRICULUM_UNLABELED),
)


def combinations_of(option):
    """The rows of ``COMBINATIONS`` about ``option``: ``(needs, why)``."""
    return [(needs, why) for name, needs, why in COMBINATIONS if name == option]


def in_use(option, config):
    """Whether ``option`` is switched on in ``config``."""
    test = IN_USE.get(option)
    return test(config) if test is not None else getattr(config, option) > 0


def check_combinations(config):
    """Raise the ``ValueError`` of the first reason in ``COMBINATIONS`` that
    some option in use fails, naming every option that fails it."""
    failed = {}
    for option, needs, why in COMBINATIONS:
        if in_use(option, config) and not NEEDS[needs](config):
            failed.setdefault(why, []).append(option)
    for why in dict.fromkeys(why for _, _, why in COMBINATIONS):
        if why in failed:
            raise ValueError(why.message(failed[why], config))
