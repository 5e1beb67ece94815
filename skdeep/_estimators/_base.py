"""The scikit-learn face shared by MLPClassifier and MLPRegressor.

The estimator classes are thin: they validate, encode the targets, build the
network and hand over to the training loop (``skdeep._training``). Subclasses
supply the target-specific pieces (``_encode_targets``, ``_validation_score``
and the public methods whose signatures differ).

Every ``fit``/``partial_fit`` is a transaction: training runs on copies of the
parameters and of the optimizer state, and if anything raises, the estimator's
attributes are restored as they were before the call.
"""

import copy
import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.callback import CallbackSupportMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._initializers import initialize
from .._kernels.activations import ACTIVATIONS
from .._network import FullBatchObjective, Inputs, Network
from .._training import (
    Progress,
    StochasticLoop,
    TrainSet,
    ValidationSet,
    run_full_batch,
)
from ..optim import FIRST_ORDER, FULL_BATCH
from ..schedules import SCHEDULES, Schedule, resolve_schedule

#: attributes owned by scikit-learn's callback machinery, left alone on rollback
_CALLBACK_KEYS = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@contextmanager
def _rollback_on_error(estimator):
    """Restore the estimator's attributes if the block raises.

    A shallow snapshot is enough because training never changes an array the
    estimator already holds: it works on copies and assigns them at the end.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        kept = {k: estimator.__dict__[k] for k in _CALLBACK_KEYS if k in estimator.__dict__}
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        estimator.__dict__.update(kept)
        raise


def _generator(random_state):
    """One ``numpy.random.Generator`` per fit, seeded from ``random_state``."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


class _SklearnCallbacks:
    """Bridges the training loop's events to scikit-learn's callback protocol
    (``sklearn.callback``): one subtask per epoch (or solver iteration)."""

    def __init__(self, estimator, context, X, y, metadata, reconstruct):
        self.estimator = estimator
        self.context = context
        self.X, self.y, self.metadata = X, y, metadata
        self.reconstruct = reconstruct
        self.current = None

    def _hook_arguments(self):
        return dict(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata,
            reconstruction_attributes=self.reconstruct,
        )

    def begin_fit(self):
        self.context.call_on_fit_task_begin(**self._hook_arguments())

    def end_fit(self):
        self.context.call_on_fit_task_end(**self._hook_arguments())

    def on_epoch_begin(self, loop):
        self.current = self.context.subcontext(task_name="epoch")
        self.current.call_on_fit_task_begin(**self._hook_arguments())

    def on_epoch_end(self, loop, record):
        if self.current is None:  # full-batch solvers only announce the end
            self.on_epoch_begin(loop)
        stop = self.current.call_on_fit_task_end(**self._hook_arguments())
        self.current = None
        return stop


class BaseMLP(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of skdeep's multilayer perceptrons. Use a subclass."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(FIRST_ORDER) | set(FULL_BATCH))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(SCHEDULES)), Schedule],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self, hidden_layer_sizes, activation, solver, alpha, batch_size,
        learning_rate, learning_rate_init, power_t, max_iter, loss, shuffle,
        random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
        early_stopping, validation_fraction, beta_1, beta_2, epsilon,
        n_iter_no_change, max_fun,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------ subclass hooks

    @abstractmethod
    def _prepare_targets(self, y, *, first_pass, incremental, classes):
        """Check ``y`` against the task and set up the target encoding (the
        classifier's ``classes_``); returns ``(loss_name, segments)``."""

    @abstractmethod
    def _encode_targets(self, y):
        """``y`` -> float array of shape (n_samples, n_output_units), with the
        encoding set up by ``_prepare_targets``; raises on unknown labels."""

    @abstractmethod
    def _validation_score(self, output, y, sample_weight):
        """Score (higher is better) of network outputs against targets ``y``."""

    def _target_sample_weight(self, y, incremental):
        """Factor multiplied into the sample weights (class weights)."""
        return None

    # ------------------------------------------------------------ fitting

    def _is_stochastic(self):
        return self.solver in FIRST_ORDER

    def _check_partial_fit(self):
        """``partial_fit`` exists only for the stochastic solvers."""
        if not self._is_stochastic():
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver!r} is not stochastic."
            )
        return True

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if any(
            isinstance(s, (bool, np.bool_)) or not isinstance(s, (Integral, np.integer))
            for s in sizes
        ):
            raise ValueError(f"hidden_layer_sizes must hold integers, got {sizes}.")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _fit(
        self, X, y, sample_weight=None, *, incremental, X_val=None, y_val=None,
        sample_weight_val=None, classes=None,
    ):
        with _rollback_on_error(self):
            return self._fit_transaction(
                X, y, sample_weight, incremental, X_val, y_val, sample_weight_val,
                classes,
            )

    def _fit_transaction(
        self, X, y, sample_weight, incremental, X_val, y_val, sample_weight_val,
        classes,
    ):
        hidden = self._hidden_sizes()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        X, y = validate_data(
            self, X, y, reset=first_pass, accept_sparse=["csr", "csc"],
            multi_output=True, y_numeric=not is_classifier(self),
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        dtype = X.dtype if first_pass else self._theta.dtype
        loss, segments = self._prepare_targets(
            y, first_pass=first_pass, incremental=incremental, classes=classes
        )
        Y = np.ascontiguousarray(self._encode_targets(y), dtype=dtype)
        sw = self._sample_weight(sample_weight, X, y, dtype, incremental)
        explicit_val = self._explicit_validation(X_val, y_val, sample_weight_val, dtype)

        network = Network([X.shape[1], *hidden, Y.shape[1]], self.activation, loss, segments)
        if first_pass:
            rng = _generator(self.random_state)
            theta = initialize(network, "auto", rng, dtype)
            progress = Progress()
        else:
            theta = self._continued_parameters(network)
            rng = copy.deepcopy(self._rng) if incremental else _generator(self.random_state)
            progress = self._progress.copy()

        # structure first: scikit-learn callbacks may rebuild a model mid-fit
        self._network = network
        self.n_layers_ = network.n_layers + 1
        self.n_outputs_ = int(Y.shape[1])
        self.out_activation_ = network.out_activation
        callbacks = self._sklearn_callbacks(X, y, sample_weight, theta)
        listeners = [callbacks] if callbacks is not None else []

        inputs = Inputs(X, dtype)
        if self._is_stochastic():
            n_iter, loss_value = self._fit_stochastic(
                network, theta, inputs, Y, y, sw, explicit_val, progress, rng,
                incremental, listeners,
            )
        else:
            n_iter, loss_value = self._fit_full_batch(
                network, theta, inputs, Y, sw, progress, listeners
            )
        if not np.isfinite(theta).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed."
            )
        self._commit(network, theta, progress, rng, n_iter, loss_value)
        if callbacks is not None:
            callbacks.end_fit()
        return self

    def _sample_weight(self, sample_weight, X, y, dtype, incremental):
        if sample_weight is None:
            sw = np.ones(X.shape[0], dtype=dtype)
        else:
            sw = _check_sample_weight(
                sample_weight, X, dtype=dtype, ensure_non_negative=True
            ).copy()
        factor = self._target_sample_weight(y, incremental)
        if factor is not None:
            sw *= factor.astype(dtype, copy=False)
        if not np.sum(sw, dtype=np.float64) > 0:
            raise ValueError("The sample weights sum to zero: nothing to fit.")
        return sw

    def _explicit_validation(self, X_val, y_val, sample_weight_val, dtype):
        """The validated ``(X_val, y_val, sample_weight_val)`` or None."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is given without X_val and y_val.")
            return None
        if y_val is None:
            raise ValueError("X_val is provided, but y_val was not provided.")
        if X_val is None:
            raise ValueError("y_val is provided, but X_val was not provided.")
        if not self._is_stochastic():
            raise ValueError(
                "X_val and y_val are used for early stopping, which needs a "
                f"stochastic solver; got solver={self.solver!r}."
            )
        if not self.early_stopping:
            raise ValueError(
                "X_val and y_val are passed to fit while early_stopping is False. "
                "Set early_stopping=True to use them."
            )
        X_val, y_val = validate_data(
            self, X_val, y_val, reset=False, accept_sparse=["csr", "csc"],
            multi_output=True, y_numeric=not is_classifier(self),
            dtype=(np.float64, np.float32),
        )
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val)
        check_consistent_length(X_val, y_val)
        if sample_weight_val is None:
            sw_val = np.ones(X_val.shape[0], dtype=dtype)
        else:
            sw_val = _check_sample_weight(
                sample_weight_val, X_val, dtype=dtype, ensure_non_negative=True
            )
        Y_val = np.ascontiguousarray(self._encode_targets(y_val), dtype=dtype)
        return Inputs(X_val, dtype), Y_val, y_val, sw_val

    def _continued_parameters(self, network):
        """A copy of the fitted parameters laid out for ``network``."""
        expected = [
            (int(a), int(b)) for a, b in zip(network.sizes[:-1], network.sizes[1:])
        ]
        found = [np.shape(c) for c in self.coefs_]
        if found != expected:
            raise ValueError(
                "The fitted network has layers of shapes "
                f"{found}, but the current parameters ask for {expected}. "
                "hidden_layer_sizes and the number of outputs cannot change "
                "with warm_start or partial_fit; fit a new model instead."
            )
        return network.pack(self.coefs_, self.intercepts_, self._theta.dtype)

    def _split_validation(self, inputs_X, Y, y, sw, rng):
        """Hold out ``validation_fraction`` of the rows (stratified for
        single-output classification when every class allows it)."""
        n = Y.shape[0]
        indices = np.arange(n)
        seed = int(rng.integers(np.iinfo(np.int32).max))
        stratify = y if is_classifier(self) and y.ndim == 1 else None
        split = dict(test_size=self.validation_fraction, random_state=seed)
        try:
            train_idx, val_idx = train_test_split(indices, stratify=stratify, **split)
        except ValueError:
            if stratify is None:
                raise
            train_idx, val_idx = train_test_split(indices, **split)
        if val_idx.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        train = (inputs_X.take(train_idx), Y[train_idx], sw[train_idx])
        val = (inputs_X.take(val_idx), Y[val_idx], y[val_idx], sw[val_idx])
        return train, val

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is "
                "going to be clipped",
                stacklevel=2,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_stochastic(
        self, network, theta, inputs, Y, y, sw, explicit_val, progress, rng,
        incremental, listeners,
    ):
        use_validation = explicit_val is not None or (
            self.early_stopping and not incremental
        )
        if use_validation and explicit_val is None:
            (inputs, Y, sw), explicit_val = self._split_validation(inputs, Y, y, sw, rng)
        validation = None
        if use_validation:
            val_inputs, Y_val, y_val, sw_val = explicit_val
            validation = ValidationSet(
                val_inputs, Y_val, sw_val,
                lambda out: self._validation_score(out, y_val, sw_val),
            )
            if progress.validation_scores is None:
                progress.validation_scores = []
            if progress.best_validation_score is None:
                progress.best_validation_score = -np.inf
            progress.best_loss = None
        elif progress.best_loss is None:
            progress.best_loss = np.inf

        optimizer = FIRST_ORDER[self.solver](self)
        state = progress.optimizer
        if not incremental or state is None or state.code != optimizer.code:
            progress.optimizer = optimizer.start(network.n_params, theta.dtype)
            progress.epoch = 0
            progress.lr = float(self.learning_rate_init)
        loop = StochasticLoop(
            network=network, theta=theta, train=TrainSet(inputs, Y, sw),
            validation=validation, progress=progress,
            schedule=resolve_schedule(self), lr_init=float(self.learning_rate_init),
            alpha=float(self.alpha), batch_size=self._batch_size(inputs.n_samples),
            shuffle=self.shuffle, rng=rng, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change, verbose=self.verbose,
            listeners=listeners,
        )
        n_iter = loop.run(self.max_iter, incremental)
        return n_iter, progress.loss_curve[-1] if progress.loss_curve else np.nan

    def _fit_full_batch(self, network, theta, inputs, Y, sw, progress, listeners):
        objective = FullBatchObjective(network, inputs, Y, sw, self.alpha)
        result, stopped = run_full_batch(
            self.solver, objective, theta, max_iter=self.max_iter,
            max_fun=self.max_fun, tol=self.tol, verbose=self.verbose,
            progress=progress, listeners=listeners,
        )
        if stopped:  # a callback asked to stop: not a convergence failure
            n_iter = int(result.nit)
        else:
            n_iter = _check_optimize_result(self.solver, result, self.max_iter)
        progress.t += inputs.n_samples * objective.n_evaluations
        progress.best_loss = min(progress.loss_curve, default=float(result.fun))
        progress.validation_scores = None
        progress.best_validation_score = None
        return n_iter, float(result.fun)

    def _sklearn_callbacks(self, X, y, sample_weight, theta):
        """The bridge to the callbacks set with ``set_callbacks``, if any."""
        if not getattr(self, "_skl_callbacks", None):
            return None
        context = self._init_callback_context(max_subtasks=self.max_iter)
        metadata = {"sample_weight": sample_weight} if sample_weight is not None else None

        def reconstruct():
            snapshot = theta.copy()
            return {
                "_theta": snapshot,
                "coefs_": self._network.coefs(snapshot),
                "intercepts_": self._network.intercepts(snapshot),
            }

        bridge = _SklearnCallbacks(self, context, X, y, metadata, reconstruct)
        bridge.begin_fit()
        return bridge

    def _commit(self, network, theta, progress, rng, n_iter, loss_value):
        self._network = network
        self._theta = theta
        self.coefs_ = network.coefs(theta)
        self.intercepts_ = network.intercepts(theta)
        self._progress = progress
        self._rng = rng
        self.n_iter_ = int(n_iter)
        self.t_ = int(progress.t)
        self.loss_ = float(loss_value)
        self.loss_curve_ = progress.loss_curve
        self.best_loss_ = progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        self.history_ = progress.history

    # --------------------------------------------------------- prediction

    def _parameters(self):
        """The flat parameters to predict with. They are ``_theta`` unless the
        user replaced ``coefs_``/``intercepts_`` by new arrays; never written."""
        theta = self._theta
        if not self._network.is_view_of(theta, self.coefs_, self.intercepts_):
            return self._network.pack(self.coefs_, self.intercepts_, theta.dtype)
        if not theta.flags.writeable:  # e.g. loaded by joblib with mmap_mode
            return theta.copy()
        return theta

    def _forward(self, X):
        """Validated ``X`` -> network output (after the output activation)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
            reset=False,
        )
        theta = self._parameters()
        return self._network.predict(theta, Inputs(X, theta.dtype))

    # ------------------------------------------------------------ pickling

    def __getstate__(self):
        # a copy: object.__getstate__ returns the live __dict__
        state = dict(super().__getstate__())
        if "_theta" in state:
            # coefs_/intercepts_ are views of _theta: store the flat vector once
            # (packing the arrays if the user replaced them) and rebuild the
            # views on load
            coefs, intercepts = state.pop("coefs_"), state.pop("intercepts_")
            if not self._network.is_view_of(self._theta, coefs, intercepts):
                state["_theta"] = self._network.pack(coefs, intercepts, self._theta.dtype)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_theta" in self.__dict__:
            self.coefs_ = self._network.coefs(self._theta)
            self.intercepts_ = self._network.intercepts(self._theta)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags
