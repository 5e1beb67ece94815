"""The configuration of one fit.

``fit`` and ``partial_fit`` turn the estimator's validated parameters into one
immutable ``FitConfig`` and pass it down; the layers below the estimators
(regularisation, optimizers, schedules, the training drivers) read it and
never the estimator. Building one also checks that its options go together
(``_combinations``).
"""

from dataclasses import dataclass, field, fields

from ._combinations import check_combinations
from .optim import FIRST_ORDER, SECOND_ORDER, Optimizer, resolve_optimizer
from .regularization import penalty_strengths


def is_stochastic(solver):
    """Whether ``solver`` (a name or an optimizer object) works on mini-batches."""
    return isinstance(solver, Optimizer) or solver in FIRST_ORDER


def solver_name(solver):
    """The solver as it appears in messages."""
    return solver if isinstance(solver, str) else type(solver).__name__


@dataclass(frozen=True, eq=False)
class FitConfig:
    """Everything one fit needs from the estimator, fixed for its duration.

    The fields are the estimator's parameters of the same names (scikit-learn's
    flat ones included: ``momentum``, ``beta_1``, ``power_t``, ``max_fun``),
    with ``hidden_layer_sizes`` checked into a tuple of ints; then what the
    call asks for. ``optimizer`` is the first-order optimizer object (built
    from the flat parameters for a solver given by name), None for a
    full-batch solver.
    """

    # the network
    hidden_layer_sizes: tuple
    activation: str
    batch_norm: bool
    residual: bool
    init: object
    # the solver and its schedule
    solver: object  # a name, or an Optimizer object
    learning_rate: object  # a name, or a Schedule object
    learning_rate_init: float
    power_t: float
    momentum: float
    nesterovs_momentum: bool
    beta_1: float
    beta_2: float
    epsilon: float
    batch_size: object  # 'auto' or an int
    shuffle: bool
    max_iter: int
    max_fun: int
    tol: float
    n_iter_no_change: object  # int or inf
    verbose: object
    early_stopping: bool
    validation_fraction: float
    # regularisation
    penalty: object  # a name of ``PENALTIES`` or None
    alpha: float
    l1_ratio: float
    max_norm: object
    dropout: object  # a float or one rate per hidden layer
    input_dropout: float
    input_noise: float
    weight_noise: float
    dropconnect: float
    activity_l1: float
    adversarial_eps: float
    adversarial_steps: int
    tangent_prop: float
    coef_prior: object
    prior_alpha: float
    augment: object
    # training strategies
    freeze_layers: int
    clip_grad_norm: object
    average: object
    n_init: int
    warm_start: bool
    dask_sync_every: object  # mini-batches between averages on Dask input, or None
    # semi-supervised classification (the classifier's parameters)
    semi_supervised: object = None  # None, or a name of ``UNLABELED_TERMS``
    unlabeled_weight: float = 1.0
    unlabeled_rampup: int = 10
    # curriculum learning (the MLPs' parameters)
    curriculum: object = None  # None, 'self_paced' or a callable (X, y) -> difficulty
    curriculum_start: float = 0.25
    curriculum_epochs: int = 10
    # the call
    incremental: bool = False  # partial_fit: one epoch, continuing
    with_validation_data: bool = False  # fit(..., X_val=, y_val=)
    with_tangents: bool = False  # fit(..., tangents=)
    on_dask: bool = False  # fit on Dask collections (``_estimators._dask``)
    # the autoencoder's contractive penalty (``hidden_layer_sizes`` is then
    # the whole mirrored network's, so one entry means a one-layer encoder)
    contractive: float = 0.0
    optimizer: Optimizer = field(init=False, default=None)

    def __post_init__(self):
        object.__setattr__(self, "optimizer", resolve_optimizer(self))

    @classmethod
    def from_params(cls, params, **call):
        """The configuration of the parameters ``params`` (a dict, as
        ``get_params(deep=False)`` returns; the entries that are not fields are
        left out) and of the call's fields ``call``. Validates the optimizer
        object and raises on options that do not go together."""
        names = {f.name for f in fields(cls) if f.init}
        config = cls(**{**{k: v for k, v in params.items() if k in names}, **call})
        if config.optimizer is not None:
            config.optimizer._validate_params()
        check_combinations(config)
        return config

    @property
    def stochastic(self):
        """Whether the solver works on mini-batches (a first-order optimizer)."""
        return self.optimizer is not None

    @property
    def hessian(self):
        """Whether the solver uses exact Hessian-vector products."""
        return self.solver in SECOND_ORDER or (self.stochastic and self.optimizer.needs_hessian)

    @property
    def solver_name(self):
        return solver_name(self.solver)

    @property
    def n_layers(self):
        """Layers of weights: one per hidden layer, and the output layer."""
        return len(self.hidden_layer_sizes) + 1

    @property
    def l1(self):
        """Strength of the L1 part of the penalty."""
        return penalty_strengths(self.penalty, self.alpha, self.l1_ratio)[0]

    @property
    def l2(self):
        """Strength of the L2 part of the penalty."""
        return penalty_strengths(self.penalty, self.alpha, self.l1_ratio)[1]
