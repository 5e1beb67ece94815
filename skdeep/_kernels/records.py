"""The named records that carry data into the compiled code.

Every group of values that crosses from Python into a kernel, or from one
kernel to another, is one of these named tuples, defined once here: kernels
read ``net.sizes``, ``opt.hyper.beta_1`` or ``batch.sw``, never a slot
number. numba compiles a named tuple like a plain one (a field read is a
static offset, free at run time) and types it by its class and fields.

A field may hold a compile-time ``Constant`` (the activation and optimizer
codes, see ``_jit``); numba's C fingerprint cannot type such a record, so
its type is looked up in a cache keyed by the record with plain ints in
place of the Constants and by the Constants' values and places (numba's
fingerprint is one of ``_jit``'s hooks; without them, such a record is
typed at each call).

A technique that is off passes None in place of its record (or of a field),
and numba compiles a specialisation without its code: it prunes a branch
``if x is None`` only when ``x`` is an *argument* of the function, so a
kernel hands a field that may be None to a helper as an argument instead of
branching on it itself.
"""

from collections import namedtuple

import numpy as np
from numba.core import types
from numba.extending import typeof_impl

from . import _jit
from ._jit import Constant

_RECORD_TYPES = {}


def _record_type(cls, member_types):
    """numba's type of a ``cls`` record with these member types, keeping
    literal ones (``BaseTuple.from_types`` would make them plain ints)."""
    if any(isinstance(t, types.Literal) for t in member_types):
        return types.NamedTuple(member_types, cls)
    return types.BaseTuple.from_types(member_types, cls)


def _typeof_record(value, context):
    items = tuple(value)
    constants = tuple([(i, int(x)) for i, x in enumerate(items) if type(x) is Constant])
    key = None
    if _jit._HOOKS is not None:
        plain = tuple([int(x) if type(x) is Constant else x for x in items])
        try:
            key = (type(value), _jit._HOOKS.fingerprint(plain), constants)
        except (NotImplementedError, ValueError, TypeError):  # a value numba types in Python
            key = None
        found = _RECORD_TYPES.get(key) if key is not None else None
        if found is not None:
            return found
    found = _record_type(type(value), [typeof_impl(x, context) for x in items])
    if key is not None:
        _RECORD_TYPES[key] = found
    return found


def record(name, fields, doc, defaults=None):
    """A named-tuple class ``name`` with ``fields`` (a space-separated
    string) and ``defaults`` for the last ones, registered with numba's
    typing; ``doc`` says what each field holds."""
    cls = namedtuple(name, fields.split(), defaults=defaults)
    cls.__doc__ = doc
    cls.__module__ = __name__
    cls.__qualname__ = name
    typeof_impl.register(cls)(_typeof_record)
    return cls


# ------------------------------------------------------------- the network

Layout = record(
    "Layout", "sizes w_off b_off activation loss segments residual",
    """The network as the kernels see it (``Network.layout``).

    sizes : int64 array ``[n_in, h_1, ..., n_out]``
    w_off, b_off : int64 arrays, start of each layer's weights / bias in ``theta``
    activation : hidden activation code, a compile-time Constant unless
        ``_jit.SPECIALISE`` is off
    loss : loss code, chosen at run time (see ``losses``)
    segments : int64 array, softmax head boundaries of the output
    residual : int64 array, 1 for each layer with an identity shortcut
        around it (``h_{l+1} = h_l + f(h_l W_l + b_l)``), or None without
        shortcuts (zeros when ``_jit.SPECIALISE`` is off)
    """,
    defaults=(None,),
)

Block = record(
    "Block", "X csr sparse rows n Y sw scale",
    """``n`` rows of data as a pass sees them.

    X : dense C-contiguous rows (the block's own, or all rows for sparse input)
    csr : ``(data, indices, indptr)`` of sparse input, None for dense input
        (placeholder arrays when ``_jit.SPECIALISE`` is off)
    sparse : whether the rows come from ``csr``
    rows : the block's row numbers in ``csr``
    n : number of rows
    Y, sw : the rows' targets and sample weights
    scale : factor of the gradient (``1 / sum of the batch's weights``)
    """,
)

Work = record(
    "Work", "acts deltas a_off",
    """Per-layer buffers of a pass: activations and deltas, one flat array
    each, layer ``l``'s block starting at ``a_off[l]``.""",
)

Hidden = record(
    "Hidden", "drop masks key activity unlabeled contractive",
    """What a training pass does besides the plain data term: per-layer
    dropout rates ``drop`` (None when off), their ``masks`` (laid out like
    the activations), the dropout ``key``, the activity-L1 coefficient
    ``activity`` (None when off), the code of the unlabelled rows' term
    of semi-supervised classification (``unlabeled.UNLABELED_TERMS``; None
    when off, the default) and the contractive penalty of the first hidden
    layer (a ``Contractive``, None when off, the default).""",
    defaults=(None, None),
)

# ---------------------------------------------------------- the techniques

Contractive = record(
    "Contractive", "strength F F2",
    """The contractive penalty of a one-layer encoder (``contractive``): its
    ``strength`` and scratch for ``f'`` and ``f''`` of a block's first
    hidden layer (``rows * n_code`` each). The stochastic loop keeps one per
    shard, stacked along a leading axis.""",
)

Tangent = record(
    "Tangent", "strength Tb n_tangents S U dU dU_next F F2 extra gt",
    """Tangent propagation over a block: its ``strength``, the tangents
    ``Tb`` (``n_tangents`` rows per sample, sample-major) and the scratch
    buffers of ``network.tangent_forward`` / ``tangent_reverse``. The
    stochastic loop keeps one per shard, stacked along a leading axis.""",
)

BatchNorm = record(
    "BatchNorm", "offsets xhat inv target momentum stats",
    """Batch normalisation of the hidden layers (see ``batchnorm``):
    ``offsets`` of each layer's units in the normalisation parameters
    (``Network.bn_off``), the normalised pre-activations ``xhat``, the
    inverse deviations ``inv``, the parameter vector ``target`` holding the
    running statistics, their update ``momentum`` (0 leaves them alone) and
    per-unit sums ``stats``.""",
)

Adversarial = record(
    "Adversarial", "eps steps key x_adv dx grad",
    """Adversarial training: the L-infinity radius ``eps``, ``steps`` (1:
    FGSM; more: PGD), the random key of PGD's start, and the buffers of the
    adversarial rows, the input gradient and the adversarial pass's
    parameter gradient (stacked per shard in the epoch's record).""",
)

Probe = record(
    "Probe", "z hz rz ra rd scratch gtmp",
    """AdaHessian's Hessian probe: the random signs ``z``, ``hz = H z`` per
    shard, and the R-passes' buffers (see ``hessian.hvp_pass``).""",
)

RBuffers = record(
    "RBuffers", "rz ra rd scratch gtmp",
    """The R-operator's buffers (``hessian``): ``R{Z}``, ``R{A}``, ``R{D}``
    laid out like the activations, a block of the widest layer and a
    matrix of the largest weight matrix.""",
)

HvpOut = record(
    "HvpOut", "grad hv grad_chunk hv_chunk",
    """Outputs of ``hessian.full_hvp``: the gradient and ``H v``, and the
    buffers a chunk's parts go to before they are added up.""",
)

HessianJob = record(
    "HessianJob", "first step curv hv group stack products",
    """One worker's share of ``hessian.hessian_rows``: the rows ``first,
    first + step, ...``, and its buffers: the curvature terms ``curv``
    (laid out like the activations), one ``H e_j`` in ``hv``, and the
    stacked first-layer deltas of ``group`` directions with their product
    with the inputs.""",
)

Sampling = record(
    "Sampling", "drop input_dropout dropconnect seed",
    """Monte-Carlo dropout's draws: the hidden layers' dropout rates, the
    input dropout rate (dense input), the DropConnect rate (0: none) and
    the seed of the masks.""",
)

WeightNoise = record(
    "WeightNoise", "std noisy",
    """Weight noise: its standard deviation and the noisy copy of the
    parameters each step's passes use (the trained ones never hold noise).""",
)

Techniques = record(
    "Techniques", "weight_noise adversarial tangent batch_norm contractive",
    """The costly techniques of an epoch, each its record or None when off
    (numba then compiles the epoch without its code). AdaHessian's
    ``Probe`` is an argument of the epoch kernel of its own.""",
)

# -------------------------------------------------------------- the epoch

Epoch = record(
    "Epoch", "X csr sparse Y sw T order shuffled batch_size",
    """The training rows of an epoch: inputs as in ``Block``, targets,
    weights, tangents ``T`` (``(n, n_tangents, n_features)``, empty
    without tangent propagation), the row ``order`` and whether it is
    ``shuffled`` (else rows are sliced, not gathered), and the batch size.""",
)

Shards = record(
    "Shards", "Xb Yb swb acts deltas a_off grads masks",
    """Per-shard buffers, each with a leading shard axis: gathered rows,
    targets and weights, activations and deltas (blocks at ``a_off``), the
    shard's gradient and its dropout masks.""",
)

Options = record(
    "Options",
    "drop activity input_dropout input_noise l1 prior norms average lookahead unlabeled dropconnect",
    """The cheap options, each None when off (unless ``_jit.SPECIALISE`` is
    off: then zeros switch them off at run time): hidden dropout rates, the
    activity-L1 coefficient, the input dropout rate and noise std, the L1
    coefficient, the prior network's parameters, max-norm's buffer of
    squared norms, the weight average, Lookahead's slow weights
    (``LookaheadWeights``), the code of semi-supervision's unlabelled
    term (``Hidden.unlabeled``), DropConnect's masks (``DropConnect``).""",
)

DropConnect = record(
    "DropConnect", "rate masked factors",
    """DropConnect (Wan et al., 2013): the ``rate`` of dropped weights (0
    switches it off at run time), and per shard the masked copy of the
    parameters its pass uses (``masked``, ``(n_shards, n_params)``) and
    the mask's factors on the weights (``factors``, ``(n_shards,
    n_weights)``: 0 or ``1 / (1 - rate)``).""",
)

LookaheadWeights = record(
    "LookaheadWeights", "slow k alpha",
    """Lookahead (Zhang et al., 2019): the ``slow`` weights, and every ``k``
    optimizer steps ``slow += alpha * (theta - slow)``, ``theta <- slow``
    (``k`` 0 switches it off at run time).""",
)

Settings = record(
    "Settings",
    "l2 l1 prior_coef max_norm clip_norm perturbed averaging average_start "
    "average_decay frozen_layers frozen seed",
    """The scalar settings of an epoch: the L2 and L1 coefficients and the
    prior's strength, the max-norm bound, the gradient-norm bound, whether
    inputs are perturbed (input dropout, noise or adversarial), weight
    averaging (on, first averaged step, decay: 0 for Polyak's uniform
    average), the number of frozen layers and the parameter intervals the
    optimizer leaves alone (``frozen``, sorted ``(start, stop)`` rows), and
    the call's random ``seed``. 0 switches a technique off.""",
)

Shared = record(
    "Shared", "sync acc norm_parts",
    """What an epoch's workers share: the phase counters (``_sync``), each
    shard's share of the loss, each range's squared gradient norm.""",
)

# ------------------------------------------------------------ the optimizer

Hyper = record(
    "Hyper", "momentum nesterov beta_1 beta_2 epsilon weight_decay rho hessian_power",
    """Every first-order optimizer's hyper-parameters by name; an optimizer
    reads its own and leaves the others at their defaults (which switch
    nothing on: no momentum, no weight decay).""",
    defaults=(0.0, False, 0.9, 0.999, 1e-8, 0.0, 0.9, 1.0),
)

LayerNorms = record(
    "LayerNorms", "segments parts",
    """The per-layer norms of a layer-wise optimizer (LAMB's trust ratio).
    ``segments``: int64 ``(n_segments, 3)`` rows ``(start, stop, layer)``,
    sorted by start: each layer's weights, biases and normalisation scales
    and shifts (never the running statistics); ``parts``: float64
    ``(n_ranges, n_layers, 2)``, each parameter range's share of
    ``sum w^2`` and ``sum u^2`` (``u`` the step's direction) per layer,
    written by its range's worker and added in range order.""",
)

#: the layer norms of the optimizers that have none: no segments
NO_LAYER_NORMS = LayerNorms(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 0, 2)))

OptimizerStep = record(
    "OptimizerStep", "code state hyper lr n_weights first_step layers",
    """An epoch's optimizer: its code (a compile-time Constant unless
    ``_jit.SPECIALISE`` is off), its state ``(n_slots, n_params)``, its
    ``Hyper``, the learning rate, the number of weights (the penalties'
    range), the number of steps taken before the epoch and, for an
    optimizer whose step is scaled per layer (LAMB), its ``LayerNorms``
    (for the others None when ``_jit.SPECIALISE``, else ``NO_LAYER_NORMS``,
    the default, which a run-time choice among all the update kernels
    needs).""",
    defaults=(NO_LAYER_NORMS,),
)


Diagonal = record(
    "Diagonal", "z hz",
    """Hutchinson's probe of the Hessian's diagonal for a step: the random
    signs ``z`` and ``hz = H z`` summed over the shards (AdaHessian; empty
    arrays for the other optimizers).""",
)

Penalties = record(
    "Penalties", "l2 l1 prior_coef prior",
    """A step's weight penalties, scaled to the batch: L2, L1 (None when
    off), the prior's strength and parameters (None when off).""",
)

DirectionTerms = record(
    "DirectionTerms", "gs l2 decay pull",
    """The scalars of a slice's step direction besides the gradient (LAMB's
    norms phase): the gradient's clipping scale ``gs``, the slice's L2
    strength, its decoupled weight decay and the prior's pull.""",
)

# ------------------------------------------------------------ nearest neighbours

TangentPlanes = record(
    "TangentPlanes", "points tangents gram",
    """Points with their tangent planes, for the tangent distance: the
    points ``(n, n_features)``, their tangents ``(n, n_tangents,
    n_features)`` in the points' dtype and the tangents' Gram matrices
    ``(n, n_tangents, n_tangents)`` in float64.""",
)
