"""The scikit-learn face shared by MLPClassifier and MLPRegressor.

The estimator classes are thin: they validate, turn their parameters into the
fit's configuration (``FitConfig``, which also checks which options go
together), encode the targets, build the network and hand the configuration
over to the training runs (``_runs``); nothing below reads the estimator. Subclasses supply the
target-specific pieces (``_encode_targets``, ``_validation_score`` and the
public methods whose signatures differ).

Every ``fit``/``partial_fit`` is a transaction: training runs on copies of the
parameters and of the optimizer state, and if anything raises, the estimator's
attributes are restored as they were before the call.
"""

import copy
import operator
import warnings
from abc import ABCMeta, abstractmethod
from itertools import chain
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.callback import CallbackSupportMixin
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_consistent_length,
    check_is_fitted,
    check_non_negative,
    column_or_1d,
    validate_data,
)

from .._config import FitConfig, is_stochastic, solver_name
from .._curriculum import check_difficulty
from .._initializers import INITIALIZERS, initialize
from .._kernels.activations import ACTIVATIONS
from .._network import Inputs, Network, kernel_view
from .._training import Progress, ValidationSet
from ..optim import FIRST_ORDER, FULL_BATCH, Optimizer, check_size
from ..optim._objective import FullBatchObjective
from ..regularization import PENALTIES, Regularization, check_tangents, unused_inputs
from ..schedules import SCHEDULES, Schedule
from ._dask import dask_fit, is_dask_input
from ._predict_input import prediction_input
from ._runs import split_validation, train_full_batch, train_stochastic
from ._state import plain, restore
from ._support import SklearnCallbacks, generator, naming, rollback_on_error
from ._transfer import same_task


class BaseMLP(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of skdeep's multilayer perceptrons. Use a subclass."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(FIRST_ORDER) | set(FULL_BATCH)), Optimizer],
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
        "penalty": [StrOptions(set(PENALTIES)), None],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_norm": [Interval(Real, 0, None, closed="neither"), None],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "input_dropout": [Interval(Real, 0, 1, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "weight_noise": [Interval(Real, 0, None, closed="left")],
        "dropconnect": [Interval(Real, 0, 1, closed="left")],
        "activity_l1": [Interval(Real, 0, None, closed="left")],
        "adversarial_eps": [Interval(Real, 0, None, closed="left")],
        "adversarial_steps": [Interval(Integral, 1, None, closed="left")],
        "tangent_prop": [Interval(Real, 0, None, closed="left")],
        "coef_prior": "no_validation",  # checked against the network in fit
        "prior_alpha": [Interval(Real, 0, None, closed="left")],
        "augment": [callable, None],
        "init": "no_validation",  # a name or a fitted network, checked in fit
        "freeze_layers": [Interval(Integral, 0, None, closed="left")],
        "clip_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "average": [
            "boolean", Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "residual": ["boolean"],
        "dask_sync_every": [Interval(Integral, 1, None, closed="left"), None],
        "curriculum": [StrOptions({"self_paced"}), callable, None],
        "curriculum_start": [Interval(Real, 0, 1, closed="right")],
        "curriculum_epochs": [Interval(Integral, 1, None, closed="left")],
    }

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

    @abstractmethod
    def _validation_sums(self, output, y, sample_weight):
        """The sums over rows that ``_score_of_sums`` turns into the
        validation score: the sums of two sets of rows add up to those of
        their union (for validation rows spread over Dask partitions)."""

    @abstractmethod
    def _score_of_sums(self, sums):
        """``_validation_score`` of all the rows whose ``_validation_sums``
        add up to ``sums``."""

    def _target_sample_weight(self, y, incremental):
        """Factor multiplied into the sample weights (class weights)."""
        return None

    def _training_targets(self, Y):
        """The encoded targets the network is trained on (label smoothing)."""
        return Y

    #: whether the targets are the inputs (the autoencoder): kept 2-D
    _targets_are_inputs = False

    def _config_params(self):
        """The parameters the fit's configuration is made from."""
        return self.get_params(deep=False)

    # ------------------------------------------------------------ fitting

    def _is_stochastic(self):
        return is_stochastic(self.solver)

    def _check_partial_fit(self):
        """``partial_fit`` exists only for the stochastic solvers, and not
        with a curriculum (which ranks every training row before an epoch)."""
        if not self._is_stochastic():
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{solver_name(self.solver)!r} is not stochastic."
            )
        if self.curriculum is not None:
            raise AttributeError(
                "partial_fit is not available with a curriculum: it ranks every "
                "training row before an epoch, but partial_fit sees one chunk of rows "
                "per call. Use fit, or leave curriculum at None."
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

    def _check_init(self):
        init = self.init
        if isinstance(init, str) and init not in INITIALIZERS:
            raise ValueError(
                f"init={init!r} is not an initialiser; use one of {sorted(INITIALIZERS)} "
                "or a fitted MLP to start from."
            )

    def _fit(
        self, X, y, sample_weight=None, *, incremental, X_val=None, y_val=None,
        sample_weight_val=None, classes=None, tangents=None,
    ):
        with rollback_on_error(self):
            return self._fit_transaction(
                X, y, sample_weight, incremental, X_val, y_val, sample_weight_val,
                classes, tangents,
            )

    def _fit_transaction(
        self, X, y, sample_weight, incremental, X_val, y_val, sample_weight_val,
        classes, tangents,
    ):
        hidden = self._hidden_sizes()
        self._check_init()
        config = FitConfig.from_params(
            self._config_params(), hidden_layer_sizes=tuple(hidden),
            incremental=incremental,
            with_validation_data=X_val is not None and y_val is not None,
            with_tangents=tangents is not None,
            on_dask=is_dask_input(X, y),
        )
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        if config.on_dask:  # the data stay on the Dask workers (``_dask``)
            return dask_fit(
                self, config, first_pass, X, y, sample_weight,
                incremental=incremental, validation=(X_val, y_val, sample_weight_val),
            )
        X, y = validate_data(
            self, X, y, reset=first_pass, accept_sparse=["csr", "csc"],
            multi_output=True, y_numeric=not is_classifier(self),
            dtype=(np.float64, np.float32),
        )
        if y.ndim == 2 and y.shape[1] == 1 and not self._targets_are_inputs:
            y = column_or_1d(y, warn=True)
        dtype = X.dtype if first_pass else self._theta.dtype
        loss, segments = self._prepare_targets(
            y, first_pass=first_pass, incremental=incremental, classes=classes
        )
        Y = np.ascontiguousarray(
            self._training_targets(self._encode_targets(y).astype(dtype)), dtype=dtype
        )
        sw = self._sample_weight(sample_weight, X, y, dtype, incremental)
        explicit_val = self._explicit_validation(X_val, y_val, sample_weight_val, dtype)

        network, reg, theta, rng, progress = self._start(
            config, X.shape[1], Y.shape[1], dtype, loss, segments,
            first_pass=first_pass, incremental=incremental,
        )
        if tangents is not None:
            tangents = check_tangents(tangents, X.shape[0], X.shape[1], dtype)
        n_runs = config.n_init if first_pass and not incremental else 1
        callbacks = self._sklearn_callbacks(X, y, sample_weight, n_runs)

        inputs = Inputs(X, dtype)
        difficulty = None
        if callable(config.curriculum):  # on every row, before the validation split
            difficulty = check_difficulty(config.curriculum(X, y), X.shape[0])
        train, validation = (inputs, Y, sw, tangents, difficulty), None
        if config.stochastic and (explicit_val is not None or (config.early_stopping and not incremental)):
            if explicit_val is None:
                train, explicit_val = split_validation(
                    config, inputs, Y, y, sw, rng, tangents, is_classifier(self), difficulty
                )
            validation = self._validation_set(explicit_val)

        def train_run(run_theta, run_progress, run_rng, listeners):
            if config.stochastic:
                return train_stochastic(
                    config, network, run_theta, train, validation, run_progress,
                    run_rng, listeners, reg,
                )
            objective = FullBatchObjective(network, inputs, Y, sw, reg, tangents)
            return train_full_batch(
                config, network, run_theta, objective, run_progress, listeners, reg
            )

        return self._run_and_commit(
            config, network, reg, (theta, rng, progress, dtype), n_runs, callbacks, train_run,
            lambda theta: self._activation_sparsity(inputs, theta),
        )

    def _start(self, config, n_features, n_outputs, dtype, loss, segments, *, first_pass, incremental):
        """The network, its regularisation settings, and the parameters,
        generator and progress the runs start from (None parameters: each
        run initialises its own); the network's structure is set on the
        estimator (scikit-learn callbacks may rebuild a model mid-fit)."""
        network = Network(
            [n_features, *config.hidden_layer_sizes, n_outputs], config.activation, loss,
            segments, batch_norm=config.batch_norm, residual=config.residual,
        )
        reg = Regularization.from_config(config, network, dtype)
        if not config.stochastic:
            check_size(config.solver, network.n_params)
        if first_pass:
            rng = generator(self.random_state)
            theta, progress = None, Progress()
        else:
            theta = self._continued_parameters(network)
            rng = copy.deepcopy(self._rng) if incremental else generator(self.random_state)
            progress = self._progress.copy()
        self._network = network
        self.n_layers_ = network.n_layers + 1
        self.n_outputs_ = int(n_outputs)
        self.out_activation_ = network.out_activation
        return network, reg, theta, rng, progress

    def _validation_set(self, explicit_val):
        """The ``ValidationSet`` of validated ``(inputs, Y, y, sw)``."""
        val_inputs, Y_val, y_val, sw_val = explicit_val
        return ValidationSet(
            val_inputs, Y_val, sw_val,
            lambda out: self._validation_score(out, y_val, sw_val),
        )

    def _run_and_commit(self, config, network, reg, start, n_runs, callbacks, train_run, sparsity):
        """Run ``train_run(theta, progress, rng, listeners)`` once per restart
        from ``start = (theta, rng, progress, dtype)`` (None ``theta``: a
        fresh initialisation per run), keep the best run and commit it to the
        estimator; ``sparsity(theta)`` measures ``activation_sparsity_``."""
        theta, rng, progress, dtype = start
        listeners = [callbacks] if callbacks is not None else []
        runs = rng.spawn(n_runs) if n_runs > 1 else [rng]
        # a pretrained output layer only for the same classes (outputs)
        copy_head = isinstance(config.init, str) or same_task(config.init, self)
        best, summaries = None, []
        for run_rng in runs:
            run_theta = theta if theta is not None else initialize(
                network, config.init, run_rng, dtype, copy_head
            )
            run_progress = progress if n_runs == 1 else Progress()
            if callbacks is not None:
                callbacks.theta = run_theta
            try:
                run = train_run(run_theta, run_progress, run_rng, listeners)
            except KeyboardInterrupt:  # before this run completed an epoch
                if best is None:
                    raise
                _warn_interrupted()
                break
            # a run without a finite loss and weights is never kept
            finite = bool(np.isfinite(run_theta).all() and np.isfinite(run.loss))
            summary = {
                "loss": float(run.loss) if finite else np.nan,
                "validation_score": run_progress.best_validation_score,
                "n_iter": int(run.n_iter),
            }
            summaries.append(summary)
            if finite and (best is None or _better(summary, best[0])):
                best = (summary, run_theta, run_progress, run_rng, run.evaluations)
            if run.interrupted:  # the whole fit stops, no other restart runs
                if best is None:
                    raise KeyboardInterrupt
                _warn_interrupted()
                break
        if best is None:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may "
                "contain large values and need to be preprocessed."
            )
        summary, theta, progress, rng, evaluations = best
        self._commit(network, theta, progress, rng, summary["n_iter"], summary["loss"])
        self._set_optional("n_evaluations_", evaluations)
        self._set_optional("restarts_", summaries if n_runs > 1 else None)
        self._set_optional("best_restart_", summaries.index(summary) if n_runs > 1 else None)
        self.unused_features_ = unused_inputs(self.coefs_[0])
        self._dropout_rates = (reg.dropout, reg.input_dropout)  # for MC dropout
        self._dropconnect_rate = reg.dropconnect
        self._set_optional("activation_sparsity_", sparsity(theta) if reg.activity_l1 > 0 else None)
        if callbacks is not None:
            callbacks.end_fit()
        return self

    def _set_optional(self, name, value):
        """Set a fitted attribute that only some fits have (None: remove it)."""
        if value is not None:
            setattr(self, name, value)
        elif hasattr(self, name):
            delattr(self, name)

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
        # check_X_y's checks, one argument at a time, so that each message
        # names the argument at fault
        with naming("X_val"):
            X_val = validate_data(
                self, X_val, reset=False, accept_sparse=["csr", "csc"],
                dtype=(np.float64, np.float32),
            )
        with naming("y_val"):
            y_val = _check_y(
                y_val, multi_output=True, y_numeric=not is_classifier(self),
                estimator=self,
            )
            if y_val.ndim == 2 and y_val.shape[1] == 1:
                y_val = column_or_1d(y_val)
        with naming("X_val, y_val"):
            check_consistent_length(X_val, y_val)
        if sample_weight_val is None:
            sw_val = np.ones(X_val.shape[0], dtype=dtype)
        else:
            with naming("sample_weight_val"):
                sw_val = _check_sample_weight(sample_weight_val, X_val, dtype=dtype)
            check_non_negative(sw_val, "`sample_weight_val`")
        with naming("y_val"):
            Y_val = np.ascontiguousarray(self._encode_targets(y_val), dtype=dtype)
        return Inputs(X_val, dtype), Y_val, y_val, sw_val

    def _continued_parameters(self, network):
        """A copy of the parameters training continues from, laid out for
        ``network``: the fitted ones, or the raw weights behind a weight
        average (unless the user replaced ``coefs_``/``intercepts_``)."""
        expected = [
            (int(a), int(b)) for a, b in zip(network.sizes[:-1], network.sizes[1:])
        ]
        found = [np.shape(c) for c in self.coefs_]
        if network.batch_norm != self._network.batch_norm:
            raise ValueError(
                "batch_norm cannot change with warm_start or partial_fit: the fitted "
                f"network has batch_norm={self._network.batch_norm}; fit a new model instead."
            )
        if found != expected:
            raise ValueError(
                "The fitted network has layers of shapes "
                f"{found}, but the current parameters ask for {expected}. "
                "hidden_layer_sizes and the number of outputs cannot change "
                "with warm_start or partial_fit; fit a new model instead."
            )
        raw = self._progress.raw_theta
        if raw is not None and self._network.is_view_of(self._theta, self.coefs_, self.intercepts_):
            return raw.copy()
        return network.pack(self.coefs_, self.intercepts_, self._theta.dtype, base=self._theta)

    def _sklearn_callbacks(self, X, y, sample_weight, n_runs):
        """The bridge to the callbacks set with ``set_callbacks``, if any."""
        if not getattr(self, "_skl_callbacks", None):
            return None
        context = self._init_callback_context(max_subtasks=self.max_iter * n_runs)
        metadata = {"sample_weight": sample_weight} if sample_weight is not None else None

        def reconstruct():
            snapshot = bridge.theta.copy()
            return {
                "_theta": snapshot,
                "coefs_": self._network.coefs(snapshot),
                "intercepts_": self._network.intercepts(snapshot),
            }

        bridge = SklearnCallbacks(self, context, X, y, metadata, reconstruct)
        bridge.begin_fit()
        return bridge

    def _set_views(self, network, theta):
        """The fitted attributes that are views of the flat parameters."""
        self.coefs_ = network.coefs(theta)
        self.intercepts_ = network.intercepts(theta)
        # the views as made, to tell cheaply at prediction whether the user
        # replaced some (``_theta_is_current``)
        self._views = (*self.coefs_, *self.intercepts_)
        views = network.batch_norm_views(theta)
        for name, value in zip(_BATCH_NORM_ATTRIBUTES, views):
            self._set_optional(name, value if network.batch_norm else None)

    def _commit(self, network, theta, progress, rng, n_iter, loss_value):
        self._network = network
        self._theta = theta
        self._set_views(network, theta)
        self._progress = progress
        self._rng = rng
        self.n_iter_ = int(n_iter)
        self.t_ = int(progress.t)
        self.loss_ = float(loss_value)
        self.loss_curve_ = progress.loss_curve
        self.best_loss_ = progress.best_loss
        self.validation_scores_ = progress.validation_scores
        self.best_validation_score_ = progress.best_validation_score
        self.best_epoch_ = progress.best_epoch
        self.history_ = progress.history
        self._snapshots = list(progress.snapshots)

    @property
    def snapshots_(self):
        """The snapshot ensemble: ``(coefs, intercepts)`` of the weights kept at
        the ends of the schedule's cycles (empty without snapshots)."""
        check_is_fitted(self)
        return [
            (self._network.coefs(s), self._network.intercepts(s)) for s in self._snapshots
        ]

    # --------------------------------------------------------- prediction

    def __sklearn_is_fitted__(self):
        """Whether the estimator has flat parameters (what ``fit`` makes): for
        ``check_is_fitted``, cheaper than scikit-learn's default test, which
        scans every attribute's name."""
        return "_theta" in self.__dict__

    def _theta_is_current(self):
        """Whether ``coefs_``/``intercepts_`` are still views of ``_theta``:
        by identity with the views ``fit`` made (a test of a few
        microseconds less than ``Network.is_view_of``, which it falls back
        to when they are not, or not known)."""
        views = self.__dict__.get("_views")
        coefs, intercepts = self.coefs_, self.intercepts_
        if (
            views is not None
            and len(coefs) + len(intercepts) == len(views)
            and all(map(operator.is_, chain(coefs, intercepts), views))
        ):
            return True
        return self._network.is_view_of(self._theta, coefs, intercepts)

    def _parameters(self):
        """The flat parameters to predict with. They are ``_theta`` unless the
        user replaced ``coefs_``/``intercepts_`` by new arrays; never written."""
        theta = self._theta
        if not self._theta_is_current():
            return self._network.pack(self.coefs_, self.intercepts_, theta.dtype, base=theta)
        return kernel_view(theta)  # read-only when loaded by joblib with mmap_mode

    def _prediction_inputs(self, X):
        """``(inputs, theta)`` for a pass of the fitted network over ``X``,
        validated as at fit time (sparse or dense, in the model's dtype).
        The public methods have checked that the model is fitted."""
        X = prediction_input(self, X)
        theta = self._parameters()
        return Inputs(X, theta.dtype), theta

    def _forward(self, X):
        """Validated ``X`` -> network output (after the output activation)."""
        inputs, theta = self._prediction_inputs(X)
        members = self._ensemble_members(theta)
        if len(members) > 1:
            # a snapshot ensemble: the mean of its members' outputs
            return np.mean([self._network.predict(m, inputs) for m in members], axis=0)
        return self._network.predict(members[0], inputs)

    def _ensemble_members(self, theta=None):
        """The flat parameters whose outputs ``predict`` averages: the
        snapshots of a snapshot ensemble (unless the user replaced
        ``coefs_``/``intercepts_``), else the one model ``_parameters()``
        (``theta`` when the caller has it already). The ONNX export reads
        them too."""
        snapshots = getattr(self, "_snapshots", None)
        if snapshots and self._theta_is_current():
            return [kernel_view(s) for s in snapshots]
        return [self._parameters() if theta is None else theta]

    def _activation_sparsity(self, inputs, theta):
        """Fraction of exactly-zero activations of each hidden layer."""
        return self._network.hidden_zero_fractions(theta, inputs)

    def activation_sparsity(self, X):
        """Fraction of hidden units that output exactly zero on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        sparsity : ndarray of shape (n_hidden_layers,)
            For each hidden layer, the fraction of (sample, unit) pairs whose
            activation is exactly 0 (ReLU-like units that are off).
        """
        check_is_fitted(self)
        inputs, theta = self._prediction_inputs(X)
        return self._activation_sparsity(inputs, theta)

    def predict_mc_dropout(self, X, n_samples=50, random_state=None):
        """Predictions averaged over sampled dropout masks.

        Monte-Carlo dropout (Gal & Ghahramani, 2016): dropout stays on at
        prediction time, and the spread of the predictions over many masks
        measures the model's uncertainty. Needs a model trained with
        ``dropout``, ``input_dropout`` or ``dropconnect``; each sample draws
        the masks of every one the model was trained with (for DropConnect,
        one mask of the weights per sample).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.
        n_samples : int, default=50
            Number of sets of masks.
        random_state : int, RandomState instance or None, default=None
            Seeds the masks.

        Returns
        -------
        mean : ndarray or list of ndarray
            The mean over the masks of what :meth:`predict_proba` returns
            (classifier) or of :meth:`predict` (regressor).
        std : ndarray or list of ndarray
            Its standard deviation, of the same shape.
        """
        return self._summarise_samples(self._sampled_outputs(X, n_samples, random_state))

    def _sampled_outputs(self, X, n_samples, random_state):
        """Network outputs under ``n_samples`` sets of dropout masks, shape
        ``(n_samples, n_rows, n_outputs)``."""
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        inputs, theta = self._prediction_inputs(X)
        rates, input_rate = self._dropout_rates  # those the model was trained with
        dropconnect = getattr(self, "_dropconnect_rate", 0.0)  # a model saved before it existed
        if not rates.any() and not input_rate and not dropconnect:
            raise ValueError(
                "Monte-Carlo dropout needs a model trained with dropout, "
                "input_dropout or dropconnect > 0; this one has none of them."
            )
        seed = generator(random_state).integers(np.iinfo(np.int64).max)
        return self._network.predict_sampled(
            theta, inputs, rates, input_rate, dropconnect, seed, n_samples
        )

    # ------------------------------------------------------------ pickling

    def __getstate__(self):
        # a copy: object.__getstate__ returns the live __dict__
        state = dict(super().__getstate__())
        if "_theta" in state:
            # coefs_/intercepts_ are views of _theta: store the flat vector once
            # (packing the arrays if the user replaced them) and rebuild the
            # views on load
            coefs, intercepts = state.pop("coefs_"), state.pop("intercepts_")
            state.pop("_views", None)  # made again on load
            for name in _BATCH_NORM_ATTRIBUTES:
                state.pop(name, None)
            if not self._network.is_view_of(self._theta, coefs, intercepts):
                state["_theta"] = self._parameters()
        return plain(state)  # no internal types: skops loads it trusting ours only

    def __setstate__(self, state):
        super().__setstate__(restore(dict(state)))
        if "_theta" in self.__dict__:
            self._set_views(self._network, self._theta)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


#: the fitted attributes of batch normalisation, in ``batch_norm_views`` order
_BATCH_NORM_ATTRIBUTES = ("batch_norm_scales_", "batch_norm_shifts_", "running_means_", "running_vars_")


def _warn_interrupted():
    warnings.warn(
        "Training interrupted by user: the model of the last completed epoch "
        "(or solver iteration) is kept.",
        UserWarning,
        stacklevel=4,
    )


def _better(run, other):
    """Whether a restart beat another: by validation score when it has one,
    else by training loss."""
    if run["validation_score"] is not None:
        return run["validation_score"] > other["validation_score"]
    return run["loss"] < other["loss"]
