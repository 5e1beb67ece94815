"""Parameter and attribute documentation, written once for both estimators.

Each entry is one numpydoc item. ``compose`` puts the items of a class in order
under their section headers; the classes' docstrings are built from it at
definition time.
"""

from textwrap import indent

from .._kernels.activations import ACTIVATIONS
from ..regularization import PENALTIES

_ACTIVATION_LINES = "\n".join(
    f"    - ``'{name}'``: {a.formula}" for name, a in ACTIVATIONS.items()
)

PARAMETERS = {
    "loss": """\
loss : {'squared_error', 'poisson'}, default='squared_error'
    The loss minimised: half the squared error, or half the Poisson deviance
    with a log link (exponential output, requires ``y >= 0``). With several
    outputs the loss is the *sum* over outputs, so that the reported loss and
    the gradient the solvers use agree (scikit-learn reports the mean over
    outputs while following the gradient of the sum).""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
    The ith element is the number of units in the ith hidden layer. An empty
    tuple gives a network without hidden layer (a linear model).""",
    "activation": f"""\
activation : {{{", ".join(repr(a) for a in ACTIVATIONS)}}}, default='relu'
    Activation of the hidden layers.

{_ACTIVATION_LINES}""",
    "solver": """\
solver : str or Optimizer, default='adam'
    The solver for weight optimisation. Stochastic (mini-batch, first-order):

    - ``'sgd'``: stochastic gradient descent, plain (``momentum=0``), with
      momentum, or with Nesterov's momentum (``nesterovs_momentum``).
    - ``'adagrad'``: AdaGrad (Duchi et al., 2011), with ``epsilon``.
    - ``'rmsprop'``: RMSProp (Tieleman & Hinton, 2012), with ``epsilon``.
    - ``'adam'``: Adam (Kingma & Ba, 2014), with ``beta_1``, ``beta_2``,
      ``epsilon``.
    - ``'adamw'``: Adam with decoupled weight decay 0.01 (Loshchilov &
      Hutter, 2019).
    - ``'adahessian'``: Adam whose second moment is that of the Hessian's
      diagonal, estimated by Hutchinson's method from exact Hessian-vector
      products (Yao et al., 2021); about twice the cost of an Adam step.
    - ``'adadelta'``: AdaDelta (Zeiler, 2012): steps
      ``sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g`` from running averages
      (decay 0.9, ``eps`` 1e-6) of the squared updates and gradients, times
      AdaDelta's own rate 1.0, which takes the place of
      ``learning_rate_init`` (``AdaDelta(lr=...)`` sets it).
    - ``'radam'``: Rectified Adam (Liu et al., 2020), with ``beta_1``,
      ``beta_2``, ``epsilon``: momentum steps while the variance of the
      adaptive rate is not tractable (``rho_t <= 5``: the first five steps
      with ``beta_2=0.999``), then Adam's step times the rectification term.
    - ``'lamb'``: LAMB (You et al., 2020), with ``beta_1``, ``beta_2``,
      ``epsilon``: Adam's direction scaled per layer by the trust ratio
      ``||w|| / ||direction||`` over the layer's weights and biases (1 when
      either is 0); ``LAMB(weight_decay=...)`` adds a decoupled decay.

    Full batch (deterministic, on the whole training set, on the flat
    parameter vector; ``max_iter`` bounds the iterations, ``max_fun`` the
    evaluations of the loss; they stop when the gradient's largest entry is
    at most ``tol``, ``'newton-cg'`` when its steps are below ``tol``
    relative to the weights, scipy's ``xtol``):

    - ``'lbfgs'``: L-BFGS-B (:func:`scipy.optimize.minimize`), scikit-learn's
      quasi-Newton solver.
    - ``'cg'``: nonlinear conjugate gradient (Polak-Ribiere, scipy's).
    - ``'bfgs'``: BFGS with a dense inverse-Hessian estimate updated in
      O(n_params^2) per iteration, with scipy's Wolfe line search (networks
      of at most 4000 parameters).
    - ``'newton-cg'``: truncated Newton (scipy's): each step solves the Newton
      system by conjugate gradient with exact Hessian-vector products.
    - ``'newton'``: Newton with the full Hessian (networks of at most 2000
      parameters; each iteration computes the exact Hessian, about as costly
      as one Hessian-vector product per parameter, and factorises it).
      Where the Hessian is not positive definite its eigenvalues are replaced
      by their absolute values, floored by an adaptive damping, so that a
      step never heads for a saddle point; a line search sets its length.
    - ``'coordinate'``: block coordinate descent over the layers. An
      iteration is a cycle over the layers, from the output layer (whose
      problem is convex) to the first: each minimises the objective over
      that layer's weights and biases, the others fixed, with at most 20
      iterations of L-BFGS-B (its result kept only if it lowers the
      objective, so the objective never rises from one cycle to the next).
      It stops when the gradient's largest entry is at most ``tol``, when a
      cycle no longer lowers the objective beyond rounding, or after
      ``max_iter`` cycles; ``n_iter_`` counts cycles, ``loss_curve_`` has one
      entry per cycle. L1 through bound constraints, as ``'lbfgs'``.

    An optimizer object from :mod:`skdeep.optim` (``SGD``, ``Adam``,
    ``AdamW``, ``AdaGrad``, ``RMSProp``, ``AdaHessian``, ``AdaDelta``,
    ``RAdam``, ``LAMB``) sets hyper-parameters the names cannot
    (``RMSProp(rho=0.95)``, ``AdamW(weight_decay=0.1)``,
    ``AdaDelta(rho=0.95)``) and exposes them to ``GridSearchCV``
    (``solver__rho``). ``Lookahead(optimizer, k=5, alpha=0.5)`` wraps any of
    them (Zhang et al., 2019): every ``k`` steps the slow weights move
    ``alpha`` of the way to the fast ones, which restart from them
    (``solver__optimizer__beta_1``, ``solver__k``). ``'adam'`` works well on data sets with thousands of
    samples or more; the full-batch solvers often converge faster and better
    on small ones.""",
    "alpha": """\
alpha : float, default=0.0001
    Strength of the L2 penalty on the weights (never on the biases). As in
    scikit-learn, the penalty ``alpha / 2 * ||W||^2`` is divided by the number
    of rows (the sum of their sample weights) of the batch it is added to:
    with a stochastic solver that is the mini-batch, with a full-batch one the
    whole training set, so the same ``alpha`` regularises harder with small
    mini-batches than with the full-batch solver.""",
    "batch_size": """\
batch_size : int, default='auto'
    Size of the mini-batches of the stochastic solvers; ``'auto'`` means
    ``min(200, n_samples)``. Values larger than the number of samples are
    clipped with a warning. Not used by the full-batch solvers (``'lbfgs'``,
    ``'cg'``, ``'bfgs'``, ``'newton-cg'``, ``'newton'``, ``'coordinate'``), which use every row
    at each iteration.""",
    "learning_rate": """\
learning_rate : str or Schedule, default='constant'
    Learning-rate schedule of the stochastic solvers, changed once per epoch
    (the rate of every epoch is in ``history_``). scikit-learn's three:

    - ``'constant'``: ``learning_rate_init`` throughout.
    - ``'invscaling'``: ``learning_rate_init / (t + 1) ** power_t`` with ``t``
      the number of samples seen before the epoch.
    - ``'adaptive'``: constant while training improves; each time
      ``n_iter_no_change`` consecutive epochs fail to improve the training loss
      (or the validation score with early stopping) by ``tol``, the rate is
      divided by 5, and training stops once it is below 1e-6.

    As in scikit-learn, these three are only followed by ``solver='sgd'``
    (the others keep a constant rate). The rest apply to every first-order
    solver, with the defaults of their class in :mod:`skdeep.schedules`:
    ``'step'`` (halved every 10 epochs), ``'exponential'`` (times 0.95 per
    epoch), ``'polynomial'`` (linear decay to 0 over ``max_iter`` epochs),
    ``'cosine'`` (cosine annealing to 0 over ``max_iter`` epochs),
    ``'cyclic'`` (triangular cycles between 1e-4 and ``learning_rate_init``,
    Smith 2017) and ``'warm_restarts'`` (cosine annealing restarted every 10
    epochs, Loshchilov & Hutter 2017). A schedule object sets their
    parameters and exposes them to ``GridSearchCV``
    (``learning_rate__gamma``); ``Cyclic`` and ``WarmRestarts`` can keep
    snapshots of the weights at the end of their cycles, and the model then
    predicts with the mean of the snapshots' outputs (a snapshot ensemble,
    Huang et al., 2017). The full-batch solvers choose their own steps and
    accept only ``'constant'`` (or scikit-learn's names, which they
    ignore).""",
    "learning_rate_init": """\
learning_rate_init : float, default=0.001
    Initial learning rate of the stochastic solvers (except ``'adadelta'``,
    whose rate is ``AdaDelta``'s ``lr``, 1.0).""",
    "power_t": """\
power_t : float, default=0.5
    Exponent of the ``'invscaling'`` schedule.""",
    "max_iter": """\
max_iter : int, default=200
    Maximum number of iterations: epochs (passes over the training data) for
    the stochastic solvers, solver iterations for the full-batch ones.""",
    "shuffle": """\
shuffle : bool, default=True
    Whether to shuffle the samples at each epoch (stochastic solvers).""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the weight initialisation, the validation split of early stopping
    and the batch order. An int gives bit-identical models across calls. See
    scikit-learn's glossary, ``random_state``.""",
    "tol": """\
tol : float, default=1e-4
    Tolerance: training stops when the loss (or the validation score with
    early stopping) has not improved by at least ``tol`` for
    ``n_iter_no_change`` consecutive epochs, unless the schedule lowers the
    learning rate instead. For the full-batch solvers it is the gradient-norm
    tolerance (``gtol``; for ``'newton-cg'`` the step tolerance ``xtol``).""",
    "verbose": """\
verbose : bool, default=False
    Whether to print progress messages to stdout.""",
    "warm_start": """\
warm_start : bool, default=False
    Reuse the solution of the previous call to ``fit`` as initialisation
    (with a fresh optimizer state), otherwise start again. See
    scikit-learn's glossary, ``warm_start``.""",
    "momentum": """\
momentum : float, default=0.9
    Momentum of ``'sgd'``, in [0, 1].""",
    "nesterovs_momentum": """\
nesterovs_momentum : bool, default=True
    Whether ``'sgd'`` uses Nesterov's momentum (when ``momentum > 0``).""",
    "early_stopping": """\
early_stopping : bool, default=False
    Stop when the validation score has not improved by ``tol`` for
    ``n_iter_no_change`` epochs, and restore the weights of the best epoch.
    The validation set is ``validation_fraction`` of the training data
    (stratified for single-output classification) or the ``X_val``, ``y_val``
    passed to :meth:`fit`. Stochastic solvers only.""",
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Fraction of the training data held out for early stopping, in [0, 1).""",
    "beta_1": """\
beta_1 : float, default=0.9
    Decay of the first-moment estimate of ``'adam'``, ``'adamw'`` and
    ``'adahessian'``, in [0, 1).""",
    "beta_2": """\
beta_2 : float, default=0.999
    Decay of the second-moment estimate of ``'adam'``, ``'adamw'`` and
    ``'adahessian'``, in [0, 1).""",
    "epsilon": """\
epsilon : float, default=1e-8
    Numerical-stability constant of ``'adam'``, ``'adamw'``, ``'adagrad'`` and
    ``'rmsprop'`` (``'adahessian'`` uses 1e-4, its authors' default; set
    another with ``solver=AdaHessian(epsilon=...)``).""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=10
    Number of epochs without a ``tol`` improvement before stopping (or
    lowering the learning rate).""",
    "max_fun": """\
max_fun : int, default=15000
    Full-batch solvers only: maximum number of loss-function evaluations
    (enforced by L-BFGS-B itself, and checked after each iteration by the
    others, which then stop with a ``ConvergenceWarning``).""",
    "class_weight": """\
class_weight : dict, list of dict, 'balanced' or None, default=None
    Weights of the classes, multiplied into the sample weights: a dict
    ``{label: weight}`` (a list of them for multi-output targets), or
    ``'balanced'`` for ``n_samples / (n_classes * np.bincount(y))``. Not
    available with ``'balanced'`` in :meth:`partial_fit`, where the class
    frequencies are unknown.""",
    "penalty": f"""\
penalty : {{{", ".join(repr(p) for p in PENALTIES)}}} or None, default='l2'
    The weight penalty, with strength ``alpha`` (as ``SGDClassifier``):
    ``'l2'`` is ``alpha/2 ||W||^2``, ``'l1'`` is ``alpha ||W||_1`` and
    ``'elasticnet'`` mixes them with ``l1_ratio``. Biases are never penalised.
    L1 is applied by proximal (soft-thresholding) steps, so it sets weights
    exactly to zero; inputs whose outgoing weights all vanish are listed in
    ``unused_features_``. With ``solver='lbfgs'`` or ``'coordinate'`` the L1
    term is handled with bound constraints (each weight split into positive
    and negative parts).""",
    "l1_ratio": """\
l1_ratio : float, default=0.15
    The L1 share of ``'elasticnet'``: ``alpha * (l1_ratio ||W||_1 +
    (1 - l1_ratio)/2 ||W||^2)``.""",
    "max_norm": """\
max_norm : float or None, default=None
    Bound on the L2 norm of each unit's incoming weight vector (a column of
    ``coefs_[i]``), in every layer. After every update the weights are
    projected back onto the bound, so it holds at all times (Srivastava et
    al., 2014). Stochastic solvers only.""",
    "dropout": """\
dropout : float or array-like of shape (n_hidden_layers,), default=0.0
    Probability of dropping each hidden unit during training, for all hidden
    layers or one per hidden layer, in [0, 1). Dropout is inverted (kept units
    are scaled by ``1 / (1 - rate)``), so prediction needs no rescaling and
    is deterministic; :meth:`predict_mc_dropout` keeps it on instead.
    Stochastic solvers only.""",
    "input_dropout": """\
input_dropout : float, default=0.0
    Probability of dropping each input feature during training, in [0, 1)
    (inverted, as ``dropout``).""",
    "input_noise": """\
input_noise : float, default=0.0
    Standard deviation of the Gaussian noise added to every training input at
    every step (noise injection; equivalent to a Tikhonov penalty for small
    noise, Bishop 1995).""",
    "weight_noise": """\
weight_noise : float, default=0.0
    Standard deviation of the Gaussian noise added to the weights for the
    forward and backward pass of every step; the gradient is applied to the
    noise-free weights (Graves, 2011). Stochastic solvers only.""",
    "dropconnect": """\
dropconnect : float, default=0.0
    Probability of dropping each weight during training, in [0, 1)
    (DropConnect, Wan et al., 2013): every mini-batch (every shard of it,
    when the engine splits a batch across threads) draws a fresh mask of the
    weights of every layer, frozen layers included; kept weights are scaled
    by ``1 / (1 - dropconnect)`` (inverted, as ``dropout``), and the biases
    are never dropped. Prediction uses the weights themselves;
    :meth:`predict_mc_dropout` draws one mask per sample instead.
    Stochastic solvers only (not ``'adahessian'``).""",
    "label_smoothing": """\
label_smoothing : float, default=0.0
    Replaces the one-hot training targets of each softmax head by
    ``(1 - eps) * y + eps / n_classes`` (and each logistic output's by
    ``(1 - eps) * y + eps / 2``), which caps the confidence the network is
    trained towards (Szegedy et al., 2016). Validation scores use the true
    labels.""",
    "activity_l1": """\
activity_l1 : float, default=0.0
    Strength of an L1 penalty on the hidden activations, which makes the
    representation sparse; the fraction of zero activations is reported in
    ``activation_sparsity_`` (and by :meth:`activation_sparsity`). Scaled by
    the batch like ``alpha``. With dropout it is taken on the activations
    after dropout (unbiased: the same in expectation).""",
    "contractive": """\
contractive : float, default=0.0
    Strength ``lambda`` of the contractive penalty (Rifai et al., 2011),
    ``lambda * ||J(x)||_F^2`` per row, the squared Frobenius norm of the
    Jacobian of the code with respect to the input, with its exact
    gradient; scaled by the batch like ``alpha``. Implemented for a
    one-layer encoder (``hidden_layer_sizes=(n_code,)``), where
    ``||J(x)||_F^2 = sum_j f'(a_j)^2 ||W_j||^2``; deeper encoders raise
    (pretrain them one contractive layer at a time). Not with
    ``batch_norm`` nor the Hessian-based solvers.""",
    "adversarial_eps": """\
adversarial_eps : float, default=0.0
    Radius (L-infinity, in the units of the inputs) of adversarial training:
    each step also trains on inputs perturbed to increase the loss, and the
    loss is the mean of the clean and the adversarial one (Goodfellow et al.,
    2015). Stochastic solvers only.""",
    "adversarial_steps": """\
adversarial_steps : int, default=1
    1 gives the fast gradient sign method (FGSM); more gives projected
    gradient descent (PGD, Madry et al., 2018) with that many steps of size
    ``2.5 * adversarial_eps / adversarial_steps`` from a random start.""",
    "tangent_prop": """\
tangent_prop : float, default=0.0
    Strength of tangent propagation (Simard et al., 1992): the penalty
    ``tangent_prop / 2 * sum ||J(x) t||^2`` on the directional derivatives of
    the network's raw output (before the output activation) along the tangent
    vectors ``t`` given to ``fit(..., tangents=T)``, computed exactly by
    forward-mode differentiation. Cannot be combined with ``dropout``,
    ``dropconnect``, ``weight_noise`` or ``residual``.""",
    "coef_prior": """\
coef_prior : estimator, tuple or None, default=None
    Soft parameter sharing: a fitted MLP (skdeep's or scikit-learn's) with the
    same layer sizes, or its ``(coefs, intercepts)``, whose weights this
    network's are pulled towards with strength ``prior_alpha``.""",
    "prior_alpha": """\
prior_alpha : float, default=0.0
    Strength of the pull towards ``coef_prior``: the penalty
    ``prior_alpha/2 ||W - W_prior||^2`` (weights only), scaled by the batch
    like ``alpha``.""",
    "init": """\
init : str or estimator, default='auto'
    Weight initialisation of a new fit:

    - ``'auto'``: scikit-learn's: weights and biases uniform in ``[-r, r]``,
      ``r = sqrt(6 / (fan_in + fan_out))`` (``sqrt(2 / ...)`` for logistic
      units).
    - ``'glorot_uniform'``, ``'glorot_normal'``: variance
      ``2 / (fan_in + fan_out)`` (Glorot & Bengio, 2010).
    - ``'he_uniform'``, ``'he_normal'``: variance ``2 / fan_in`` (He et al.,
      2015), for ReLU units.
    - ``'lecun_normal'``: variance ``1 / fan_in`` (LeCun et al., 1998).
    - ``'orthogonal'``: (semi-)orthogonal matrices (Saxe et al., 2014).
    - ``'normal'``: standard deviation 0.01; ``'uniform'``: in
      ``[-0.05, 0.05]``.
    - ``'zeros'``: all zero; allowed, with a warning: the hidden units of a
      layer then stay identical.

    Biases start at zero except with ``'auto'``. A fitted MLP (skdeep's or
    scikit-learn's) or its ``(coefs, intercepts)`` starts from its leading
    hidden layers of matching shapes (transfer learning; combine with
    ``freeze_layers`` to fine-tune). Its output layer is copied only when its
    outputs mean this network's: for classifiers the same ``classes_`` in the
    same order and output activation, for regressors the same number of
    outputs and output activation, for a pair whenever its shape matches.
    Otherwise, as for every layer not copied, it is drawn as with ``'auto'``
    from ``random_state``, silently: fine-tuning on new classes needs a new
    output layer. A fitted :class:`MLPAutoencoder` gives its encoder layers
    only (unsupervised pretraining): as many as match this network's leading
    hidden layers, never the decoder. Ignored when training continues
    (``warm_start``, :meth:`partial_fit`).""",
    "freeze_layers": """\
freeze_layers : int, default=0
    Number of leading layers (weights and biases) kept fixed while training,
    e.g. those copied from a pretrained network with ``init``. Must be less
    than the number of layers.""",
    "batch_norm": """\
batch_norm : bool, default=False
    Batch normalisation of every hidden layer's pre-activations (Ioffe &
    Szegedy, 2015): in training, normalised to zero mean and unit variance
    with the statistics of the mini-batch (weighted by the sample weights),
    then scaled and shifted by learned per-unit ``batch_norm_scales_`` and
    ``batch_norm_shifts_`` (which take the role of the hidden biases, left at
    0); at prediction time, normalised with running averages of the batch
    statistics (``running_means_``, ``running_vars_``, momentum 0.1,
    epsilon 1e-5). A batch is then processed by one thread (the statistics
    need all its rows). Stochastic solvers except ``'adahessian'``; not with
    ``tangent_prop``.""",
    "residual": """\
residual : bool, default=False
    Identity shortcuts (residual connections, He et al., 2016) around every
    hidden layer whose input and output widths are equal: such a layer
    computes ``h_{k+1} = h_k + f(h_k W_k + b_k)`` instead of ``f(h_k W_k +
    b_k)``. The first hidden layer's input is the data, never a shortcut's;
    so the shortcuts need two consecutive hidden layers of equal width
    (``hidden_layer_sizes=(32, 32, 32)`` gets two), and ``fit`` raises a
    ``ValueError`` when there are none. With ``batch_norm`` the shortcut adds
    after the normalised layer's activation (``h_k + f(BN(h_k W_k))``), with
    ``dropout`` after the branch's dropout. Prediction,
    :meth:`predict_mc_dropout`, :class:`FeatureExtractor` and
    :meth:`activation_sparsity` see the layers' outputs ``h_{k+1}``, shortcut
    included. Every solver; not with ``tangent_prop``.""",
    "clip_grad_norm": """\
clip_grad_norm : float or None, default=None
    If set, each mini-batch gradient (penalties excluded) whose L2 norm over
    all parameters exceeds this value is rescaled to this norm before the
    optimizer uses it. Stochastic solvers only.""",
    "average": """\
average : bool, int or float, default=False
    Weight averaging of the stochastic solvers; the model predicts with the
    average, training continues from the raw weights. ``True``: the uniform
    average of the weights after every step (Polyak & Juditsky, 1992); an int
    ``N``: the same, from the step at which ``N`` samples have been seen (as
    ``SGDClassifier``); a float in (0, 1): an exponential moving average with
    that decay (e.g. 0.999). Validation scores (early stopping) are those of
    the averaged weights.""",
    "n_init": """\
n_init : int, default=1
    Number of training runs from different random initialisations (and batch
    orders); the best is kept: the one with the best validation score with
    early stopping, else the lowest final training loss. Each run is reported
    in ``restarts_``. Used by fresh fits only (not when ``warm_start`` or
    :meth:`partial_fit` continues a model).""",
    "dask_sync_every": """\
dask_sync_every : int or None, default=None
    Data-parallel training on Dask input (``fit(dask_X, dask_y)``, see the
    "Scaling out" page): every partition runs the stochastic solver's
    mini-batch steps on its own rows from the same parameters and optimizer
    state, and the partitions' parameter vectors and optimizer states are
    averaged, weighted by the rows each trained on, after every
    ``dask_sync_every`` mini-batches of each partition; None averages once
    per epoch. Smaller values train closer to the in-memory fit and send the
    parameters over the network more often. Stochastic solvers only; on
    in-memory data there is one partition and nothing to average.""",
    "curriculum": """\
curriculum : {'self_paced'}, callable or None, default=None
    Curriculum learning: the first epochs train on the easiest rows only,
    then on more and more of them (Bengio et al., 2009). A callable
    ``curriculum(X, y)`` receives the training data as ``fit`` validated it
    (before the validation split of ``early_stopping``) and returns one
    difficulty per row (finite numbers; lower is easier), computed once per
    fit. ``'self_paced'`` (Kumar et al., 2010) takes as the difficulty the
    current loss of each row (its unweighted data term, from the network
    trained so far), evaluated on every training row at the start of each
    epoch (one more forward pass over the training rows per epoch, while
    the curriculum grows). Epoch ``e`` (from 0) of a fit trains on the
    ``ceil(f_e * n)`` easiest of the ``n`` training rows, ``f_e = min(1,
    curriculum_start + (1 - curriculum_start) * e / curriculum_epochs)``, in
    the epoch's shuffled order (ties: the first rows first); ``history_``
    records each epoch's ``curriculum_rows``. While the curriculum grows, the
    loss of an epoch is that of its rows, and the stopping rule (``tol``,
    ``n_iter_no_change``) does not count the epoch. Sample and class weights
    weight the rows chosen, not the choice. Each call to ``fit`` (also with
    ``warm_start``) starts its own curriculum; ``partial_fit`` is not
    available with one. Stochastic solvers only.""",
    "curriculum_start": """\
curriculum_start : float, default=0.25
    Fraction of the training rows (the easiest) of the curriculum's first
    epoch, in (0, 1]; 1 trains on every row from the start (no curriculum).
    Used when ``curriculum`` is set.""",
    "curriculum_epochs": """\
curriculum_epochs : int, default=10
    Number of epochs over which the curriculum's fraction of rows grows
    linearly from ``curriculum_start`` to 1: epoch ``curriculum_epochs``
    (from 0) and those after train on every row. Used when ``curriculum`` is
    set.""",
    "augment": """\
augment : callable or None, default=None
    Data augmentation: ``augment(X_batch, rng)`` receives every training
    mini-batch (dense, a copy) and the fit's ``numpy.random.Generator``, and
    returns the batch to train on, of the same shape. The targets of the rows
    are kept. Stochastic solvers only; it runs in Python once per batch.""",
    "semi_supervised": """semi_supervised : {'pseudo_label', 'entropy'} or None, default=None
    Semi-supervised learning: rows of ``y`` labelled ``-1`` (scikit-learn's
    convention, integer labels only) are unlabelled, and a term of their
    predictions joins the log-loss of the labelled rows. ``'pseudo_label'``
    (Lee, 2013): the cross-entropy against the class the network itself
    predicts, re-chosen at every update, ``-log max_k p_k``.
    ``'entropy'`` (Grandvalet & Bengio, 2005): the entropy of the predicted
    distribution, ``-sum_k p_k log p_k``. Single-output targets (binary or
    multiclass); ``classes_`` holds the labelled rows' classes; early
    stopping validates on labelled rows only. ``'pseudo_label'`` needs a
    stochastic solver, ``'entropy'`` works with ``'lbfgs'``, ``'cg'`` and
    ``'bfgs'`` too (at the full weight, without ramp); no solver with
    Hessian-vector products. With None (the default), ``-1`` is a class as
    in scikit-learn's classifiers, and a warning says how to use such rows
    as unlabelled. See ``docs/semi_supervised.md``.""",
    "unlabeled_weight": """unlabeled_weight : float, default=1.0
    Weight of the unlabelled rows' term relative to the labelled rows'
    log-loss: an unlabelled row weighs its sample weight times
    ``unlabeled_weight * S_L / S_U``, with ``S_L`` and ``S_U`` the total
    weights of the labelled and unlabelled rows of the call, so that 1.0
    gives both terms the same total weight (Lee's per-set means). Used with
    ``semi_supervised``.""",
    "unlabeled_rampup": """unlabeled_rampup : int, default=10
    Number of epochs over which the unlabelled term's weight rises linearly
    from 0 to ``unlabeled_weight`` (Lee's ``alpha(t)``): epoch ``t + 1``
    trains with ``unlabeled_weight * min(1, t / unlabeled_rampup)``, so the
    first epoch learns from the labelled rows alone; 0 switches the ramp
    off. ``partial_fit`` counts its calls as epochs. Stochastic solvers
    (full-batch solvers use the full weight).""",
}

#: the parameters of the training strategies, shared by both estimators
STRATEGIES = [
    "init", "freeze_layers", "batch_norm", "residual", "clip_grad_norm", "average", "n_init",
    "dask_sync_every", "curriculum", "curriculum_start", "curriculum_epochs",
]
#: their fitted attributes
STRATEGY_ATTRIBUTES = [
    "batch_norm_scales_", "batch_norm_shifts_", "running_means_", "running_vars_",
    "n_evaluations_", "restarts_", "best_restart_", "snapshots_",
]

ATTRIBUTES = {
    "batch_norm_scales_": """\
batch_norm_scales_ : list of ndarray
    With ``batch_norm``: the learned scale (gamma) of each hidden unit, one
    array per hidden layer (views of the flat parameters).""",
    "batch_norm_shifts_": """\
batch_norm_shifts_ : list of ndarray
    With ``batch_norm``: the learned shift (beta) of each hidden unit.""",
    "running_means_": """\
running_means_ : list of ndarray
    With ``batch_norm``: running averages of the batch means of each hidden
    layer's pre-activations, used at prediction time.""",
    "running_vars_": """\
running_vars_ : list of ndarray
    With ``batch_norm``: running averages of the batch variances.""",
    "n_evaluations_": """\
n_evaluations_ : int
    Full-batch solvers: number of loss-and-gradient evaluations of the last
    call (line-search trials included).""",
    "restarts_": """\
restarts_ : list of dict
    With ``n_init > 1``: one record per run, with its final training ``loss``,
    best ``validation_score`` (None without early stopping) and ``n_iter``.""",
    "best_restart_": """\
best_restart_ : int
    With ``n_init > 1``: the index in ``restarts_`` of the run kept.""",
    "snapshots_": """\
snapshots_ : list of tuple
    ``(coefs, intercepts)`` of the snapshot ensemble kept by a cyclic
    schedule with ``snapshots > 0`` (empty otherwise). The model predicts
    with the mean of their outputs; ``coefs_`` are the last weights.""",
    "classes_": """\
classes_ : ndarray of shape (n_classes,) or list of ndarray
    Class labels; one array per output for multi-output targets.""",
    "loss_": """\
loss_ : float
    Loss of the last epoch (or of the solution of a full-batch solver),
    penalty included.""",
    "best_loss_": """\
best_loss_ : float or None
    Lowest training loss reached; ``None`` with early stopping (see
    ``best_validation_score_``).""",
    "loss_curve_": """\
loss_curve_ : list of float
    Training loss at each epoch (each iteration for the full-batch solvers).""",
    "validation_scores_": """\
validation_scores_ : list of float or None
    Validation score at each epoch with early stopping (accuracy for the
    classifier, R² for the regressor), else ``None``.""",
    "best_validation_score_": """\
best_validation_score_ : float or None
    Best validation score with early stopping, else ``None``.""",
    "best_epoch_": """\
best_epoch_ : int or None
    With early stopping (or a validation set passed to ``fit``), the epoch
    whose weights were restored: the one with the best validation score,
    counted as ``history_[i]["epoch"]`` (1-based, across ``warm_start`` and
    :meth:`partial_fit` calls), so that ``history_[best_epoch_ - 1]`` is its
    record. ``None`` when the last call did not validate (early stopping
    off, :meth:`partial_fit`, the full-batch solvers): the weights are then
    those of the last epoch.""",
    "history_": """\
history_ : list of dict
    One record per epoch (per iteration for the full-batch solvers):
    ``epoch``, ``loss``, ``seconds`` and, for the stochastic solvers,
    ``learning_rate`` and, with validation, ``val_loss`` and ``val_score``
    (for the full-batch solvers, ``evaluations``, the running count of
    function evaluations). Continued by ``warm_start``
    and :meth:`partial_fit`.""",
    "t_": """\
t_ : int
    Number of training samples seen by the stochastic solver.""",
    "coefs_": """\
coefs_ : list of ndarray
    ``coefs_[i]`` is the weight matrix of layer ``i``, of shape
    ``(n_units_i, n_units_i+1)``: a view of the one flat parameter vector
    the engine trains.""",
    "intercepts_": """\
intercepts_ : list of ndarray
    ``intercepts_[i]`` is the bias vector of layer ``i + 1`` (a view).""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during ``fit``.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during ``fit``, when they are all strings.""",
    "n_iter_": """\
n_iter_ : int
    Number of iterations (epochs) run by the last call.""",
    "n_layers_": """\
n_layers_ : int
    Number of layers, input and output included.""",
    "n_outputs_": """\
n_outputs_ : int
    Number of output units.""",
    "unused_features_": """\
unused_features_ : ndarray of int
    Indices of the input features whose outgoing weights are all exactly zero
    (features an L1 penalty has removed).""",
    "activation_sparsity_": """\
activation_sparsity_ : ndarray of shape (n_hidden_layers,)
    With ``activity_l1 > 0``: the fraction of exactly-zero hidden activations
    of each layer on the training data.""",
    "out_activation_": """\
out_activation_ : str
    Output activation: ``'softmax'`` (per head), ``'logistic'``,
    ``'identity'`` or ``'exp'``.""",
}


#: how ``fit`` and ``partial_fit`` end when they do not finish, in both
#: estimators' Notes
FIT_CONTRACT = """\
A ``fit`` or ``partial_fit`` that raises leaves the estimator as it was
before the call. A ``KeyboardInterrupt`` (Ctrl-C) during training is not an
error, as in scikit-learn's MLP: training stops, a ``UserWarning`` says so,
and the model is that of the last completed epoch (or solver iteration, for
the full-batch solvers), with every fitted attribute (``n_iter_``, ``t_``,
``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
``history_``, ...) describing those weights; with early stopping the best
epoch's weights up to it are restored. With ``n_init > 1`` no further
restart runs and the best run so far is kept. An interrupt before the first
epoch or iteration completed propagates, and the estimator is left as it
was.

``fit`` on Dask collections (``dask.array`` or ``dask.dataframe``, rows
partitioned, with the same partitions for ``X``, ``y`` and
``sample_weight``) trains on the partitions where they live: the full-batch
solvers minimise the same objective summed over partitions, the stochastic
ones average the partitions' models (``dask_sync_every``); ``predict`` and
its siblings on Dask input return Dask arrays computed lazily. See the
user guide's "Scaling out" page (docs/scaling.md)."""


def compose(summary, parameters, attributes, extra=""):
    """A numpydoc docstring from entries of ``PARAMETERS`` and ``ATTRIBUTES``."""

    def section(title, names, table):
        body = "\n\n".join(table[name] for name in names)
        return f"{title}\n{'-' * len(title)}\n{body}\n"

    text = f"{summary}\n\n"
    text += section("Parameters", parameters, PARAMETERS) + "\n"
    text += section("Attributes", attributes, ATTRIBUTES)
    if extra:
        text += "\n" + extra.strip("\n") + "\n"
    return indent(text, "    ").lstrip()
