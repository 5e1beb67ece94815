"""Every bad input: a clear error naming the problem, and a fitted estimator
left exactly as it was."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skdeep import MLPClassifier, MLPRegressor
from skdeep.optim import RMSProp
from skdeep.schedules import Cosine, Cyclic, Step

from .callbacks_for_tests import EpochCallback
from .conftest import _same, assert_unchanged, snapshot

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 4))
y = np.arange(40) % 3
y_reg = X[:, 0] + 0.1 * rng.normal(size=40)


def nan_X():
    bad = X.copy()
    bad[3, 1] = np.nan
    return bad


def inf_X():
    bad = X.copy()
    bad[0, 0] = np.inf
    return bad


def _fitted(cls=MLPClassifier, **params):
    params = {"hidden_layer_sizes": (5,), "max_iter": 3, "random_state": 0, **params}
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cls is MLPClassifier:
            return est.fit(X, y)
        return est.fit(X, y_reg)


# (id, estimator params, call, exception, message pattern)
CLASSIFIER_CASES = [
    ("nan in X", {}, lambda e: e.fit(nan_X(), y), ValueError, "Input X contains NaN"),
    ("inf in X", {}, lambda e: e.fit(inf_X(), y), ValueError, "Input X contains infinity"),
    ("1-d X", {}, lambda e: e.fit(X[:, 0], y), ValueError, "Expected 2D array, got 1D array"),
    ("length mismatch", {}, lambda e: e.fit(X, y[:-1]), ValueError, "inconsistent numbers of samples"),
    ("complex X", {}, lambda e: e.fit(X + 1j, y), ValueError, "Complex data not supported"),
    ("string X", {}, lambda e: e.fit(np.full(X.shape, "a"), y), ValueError, "could not convert"),
    ("continuous y", {}, lambda e: e.fit(X, y_reg), ValueError, "Unknown label type"),
    ("nan in y", {}, lambda e: e.fit(X, np.where(y == 1, np.nan, y)), ValueError, "Input y contains NaN"),
    ("negative sample_weight", {}, lambda e: e.fit(X, y, sample_weight=-np.ones(40)), ValueError, "Negative values in data passed to `sample_weight`"),
    ("sample_weight length", {}, lambda e: e.fit(X, y, sample_weight=np.ones(3)), ValueError, r"sample_weight.shape == \(3,\), expected \(40,\)"),
    ("nan sample_weight", {}, lambda e: e.fit(X, y, sample_weight=np.full(40, np.nan)), ValueError, "sample_weight contains NaN"),
    ("zero sample_weight", {}, lambda e: e.fit(X, y, sample_weight=np.zeros(40)), ValueError, "Sample weights must contain at least one non-zero number"),
    ("2-d sample_weight", {}, lambda e: e.fit(X, y, sample_weight=np.ones((40, 2))), ValueError, "1D array or scalar"),
    ("hidden size 0", {"hidden_layer_sizes": (4, 0)}, lambda e: e.fit(X, y), ValueError, r"hidden_layer_sizes must be > 0, got \[4, 0\]"),
    ("hidden size float", {"hidden_layer_sizes": (2.5,)}, lambda e: e.fit(X, y), ValueError, "hidden_layer_sizes must hold integers"),
    ("unknown activation", {"activation": "swish"}, lambda e: e.fit(X, y), ValueError, "'activation' parameter"),
    ("unknown solver", {"solver": "newton-raphson"}, lambda e: e.fit(X, y), ValueError, "'solver' parameter"),
    ("negative alpha", {"alpha": -1.0}, lambda e: e.fit(X, y), ValueError, "'alpha' parameter"),
    ("zero learning rate", {"learning_rate_init": 0.0}, lambda e: e.fit(X, y), ValueError, "'learning_rate_init' parameter"),
    ("momentum above 1", {"momentum": 1.5}, lambda e: e.fit(X, y), ValueError, "'momentum' parameter"),
    ("beta_1 of 1", {"beta_1": 1.0}, lambda e: e.fit(X, y), ValueError, "'beta_1' parameter"),
    ("validation_fraction 1", {"validation_fraction": 1.0}, lambda e: e.fit(X, y), ValueError, "'validation_fraction' parameter"),
    ("batch_size 0", {"batch_size": 0}, lambda e: e.fit(X, y), ValueError, "'batch_size' parameter"),
    ("max_iter 0", {"max_iter": 0}, lambda e: e.fit(X, y), ValueError, "'max_iter' parameter"),
    ("unknown schedule", {"learning_rate": "cosine-ish"}, lambda e: e.fit(X, y), ValueError, "'learning_rate' parameter"),
    ("bad class_weight type", {"class_weight": "even"}, lambda e: e.fit(X, y), ValueError, "'class_weight' parameter"),
    ("class_weight list, single output", {"class_weight": [{0: 1.0}]}, lambda e: e.fit(X, y), ValueError, "a list of dicts is for multi-output"),
    ("class_weight unknown label", {"class_weight": {7: 2.0}}, lambda e: e.fit(X, y), ValueError, r"class_weight has weights for \[7\], which are not among the classes, \[0, 1, 2\]"),
    ("class_weight unknown label, named", {"class_weight": {7: 2.0}}, lambda e: e.fit(X, y), ValueError, r"class_weight.*\b7\b"),
    ("class_weight nan", {"class_weight": {0: 1.0, 1: np.nan, 2: 1.0}}, lambda e: e.fit(X, y), ValueError, r"class_weight of class 1 must be finite and non-negative, got nan"),
    ("class_weight inf", {"class_weight": {0: np.inf}}, lambda e: e.fit(X, y), ValueError, r"class_weight of class 0 must be finite and non-negative, got inf"),
    ("class_weight negative", {"class_weight": {2: -1.0}}, lambda e: e.fit(X, y), ValueError, r"class_weight of class 2 must be finite and non-negative, got -1.0"),
    ("class_weight not a number", {"class_weight": {2: "heavy"}}, lambda e: e.fit(X, y), TypeError, r"class_weight of class 2 must be a number, got 'heavy'"),
    ("balanced in partial_fit", {"class_weight": "balanced"}, lambda e: e.partial_fit(X, y), ValueError, "'balanced' is not supported for partial_fit"),
    ("partial_fit with early stopping", {"early_stopping": True}, lambda e: e.partial_fit(X, y), ValueError, "partial_fit does not support early_stopping=True"),
    ("unknown class in partial_fit", {}, lambda e: e.partial_fit(X, y + 5), ValueError, "`y` has classes not in `self.classes_`"),
    ("other classes in partial_fit", {}, lambda e: e.partial_fit(X, y, classes=[0, 1, 2, 3]), ValueError, "is not the same as on last call to partial_fit"),
    ("wrong n_features in partial_fit", {}, lambda e: e.partial_fit(X[:, :3], y), ValueError, "X has 3 features, but MLPClassifier is expecting 4 features"),
    ("warm start, other classes", {"warm_start": True}, lambda e: e.fit(X, y % 2), ValueError, "warm_start can only be used where `y` has the same classes"),
    ("warm start, other layers", {"warm_start": True, "hidden_layer_sizes": (6,)}, lambda e: e.fit(X, y), ValueError, "cannot change with warm_start or partial_fit"),
    ("warm start, other n_features", {"warm_start": True}, lambda e: e.fit(X[:, :3], y), ValueError, "X has 3 features"),
    ("X_val without y_val", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X), ValueError, "y_val was not provided"),
    ("y_val without X_val", {"early_stopping": True}, lambda e: e.fit(X, y, y_val=y), ValueError, "X_val was not provided"),
    ("X_val, no early stopping", {}, lambda e: e.fit(X, y, X_val=X, y_val=y), ValueError, "early_stopping is False"),
    ("X_val with lbfgs", {"solver": "lbfgs", "early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y), ValueError, "needs a stochastic solver"),
    ("X_val wrong n_features", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X[:, :2], y_val=y), ValueError, "X has 2 features"),
    ("X_val with nan", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=nan_X(), y_val=y), ValueError, "contains NaN"),
    ("y_val unknown class", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y + 1), ValueError, "classes not in `self.classes_`"),
    ("y_val length", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y[:5]), ValueError, "inconsistent numbers of samples"),
    ("sample_weight_val alone", {"early_stopping": True}, lambda e: e.fit(X, y, sample_weight_val=np.ones(40)), ValueError, "sample_weight_val is given without X_val"),
    ("sample_weight_val negative", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y, sample_weight_val=-np.ones(40)), ValueError, "Negative values"),
    ("sample_weight_val negative, named", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y, sample_weight_val=-np.ones(40)), ValueError, "^Negative values in data passed to `sample_weight_val`"),
    ("sample_weight_val length", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X[:20], y_val=y[:20], sample_weight_val=np.ones(3)), ValueError, r"^sample_weight_val: sample_weight.shape == \(3,\), expected \(20,\)"),
    ("sample_weight_val with nan", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=y, sample_weight_val=np.where(np.arange(40) == 3, np.nan, 1.0)), ValueError, "^sample_weight_val: Input sample_weight contains NaN"),
    ("y_val with nan", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=X, y_val=np.where(y == 1, np.nan, y)), ValueError, "^y_val: Input y contains NaN"),
    ("X_val with nan, named", {"early_stopping": True}, lambda e: e.fit(X, y, X_val=nan_X(), y_val=y), ValueError, "^X_val: Input X contains NaN"),
    ("validation split too small", {"early_stopping": True, "validation_fraction": 0.01}, lambda e: e.fit(X, y), ValueError, "The validation set is too small"),
    ("diverging solver", {"solver": "sgd", "activation": "identity", "learning_rate_init": 1e6, "max_iter": 30, "n_iter_no_change": 100}, lambda e: e.fit(X * 1e4, y), ValueError, "Solver produced non-finite parameter weights"),
    ("predict, wrong n_features", {}, lambda e: e.predict(X[:, :3]), ValueError, "X has 3 features, but MLPClassifier is expecting 4 features"),
    # regularisation
    ("unknown penalty", {"penalty": "l3"}, lambda e: e.fit(X, y), ValueError, "'penalty' parameter"),
    ("l1_ratio above 1", {"l1_ratio": 1.5}, lambda e: e.fit(X, y), ValueError, "'l1_ratio' parameter"),
    ("negative max_norm", {"max_norm": -1.0}, lambda e: e.fit(X, y), ValueError, "'max_norm' parameter"),
    ("dropout of 1", {"dropout": 1.0}, lambda e: e.fit(X, y), ValueError, "'dropout' parameter"),
    ("negative dropout", {"dropout": -0.1}, lambda e: e.fit(X, y), ValueError, "'dropout' parameter"),
    ("dropout per layer, wrong length", {"dropout": (0.1, 0.2)}, lambda e: e.fit(X, y), ValueError, "dropout has 2 rates but the network has 1 hidden layers"),
    ("dropout per layer, rate of 1", {"dropout": [1.0]}, lambda e: e.fit(X, y), ValueError, r"dropout rates must be in \[0, 1\)"),
    ("dropout per layer, negative rate", {"hidden_layer_sizes": (5, 4), "dropout": [0.1, -0.2]}, lambda e: e.fit(X, y), ValueError, r"dropout rates must be in \[0, 1\), got \[.*0\.1.*-0\.2.*\]"),
    ("dropout per layer, nan rate", {"dropout": [np.nan]}, lambda e: e.fit(X, y), ValueError, r"dropout rates must be in \[0, 1\), got \[.*nan.*\]"),
    ("input_dropout of 1", {"input_dropout": 1.0}, lambda e: e.fit(X, y), ValueError, "'input_dropout' parameter"),
    ("negative input_noise", {"input_noise": -1.0}, lambda e: e.fit(X, y), ValueError, "'input_noise' parameter"),
    ("negative weight_noise", {"weight_noise": -1.0}, lambda e: e.fit(X, y), ValueError, "'weight_noise' parameter"),
    ("label_smoothing of 1", {"label_smoothing": 1.0}, lambda e: e.fit(X, y), ValueError, "'label_smoothing' parameter"),
    ("negative activity_l1", {"activity_l1": -1.0}, lambda e: e.fit(X, y), ValueError, "'activity_l1' parameter"),
    ("negative adversarial_eps", {"adversarial_eps": -0.1}, lambda e: e.fit(X, y), ValueError, "'adversarial_eps' parameter"),
    ("zero adversarial_steps", {"adversarial_steps": 0}, lambda e: e.fit(X, y), ValueError, "'adversarial_steps' parameter"),
    ("negative tangent_prop", {"tangent_prop": -1.0}, lambda e: e.fit(X, y), ValueError, "'tangent_prop' parameter"),
    ("tangent_prop without tangents", {"tangent_prop": 1.0}, lambda e: e.fit(X, y), ValueError, "tangent_prop > 0 needs tangent vectors"),
    ("tangents of the wrong shape", {"tangent_prop": 1.0}, lambda e: e.fit(X, y, tangents=np.ones((40, 2, 3))), ValueError, r"tangents must have shape \(n_samples, n_tangents, n_features\) = \(40, n_tangents, 4\)"),
    ("tangents for other rows", {"tangent_prop": 1.0}, lambda e: e.fit(X, y, tangents=np.ones((39, 1, 4))), ValueError, "tangents must have shape"),
    ("tangents with nan", {"tangent_prop": 1.0}, lambda e: e.fit(X, y, tangents=np.full((40, 1, 4), np.nan)), ValueError, "Input tangents contains NaN"),
    ("no tangent", {"tangent_prop": 1.0}, lambda e: e.fit(X, y, tangents=np.ones((40, 0, 4))), ValueError, r"tangents has no tangent vector \(n_tangents = 0\)"),
    ("tangents with inf", {"tangent_prop": 1.0}, lambda e: e.fit(X, y, tangents=np.where(np.arange(4) == 2, np.inf, np.ones((40, 1, 4)))), ValueError, "Input tangents contains infinity"),
    ("tangent_prop with dropout", {"tangent_prop": 1.0, "dropout": 0.5}, lambda e: e.fit(X, y, tangents=np.ones((40, 1, 4))), ValueError, "tangent_prop cannot be combined with dropout"),
    ("tangent_prop with weight_noise", {"tangent_prop": 1.0, "weight_noise": 0.1}, lambda e: e.fit(X, y, tangents=np.ones((40, 1, 4))), ValueError, "tangent_prop cannot be combined with dropout, dropconnect or weight_noise"),
    ("negative prior_alpha", {"prior_alpha": -1.0}, lambda e: e.fit(X, y), ValueError, "'prior_alpha' parameter"),
    ("prior_alpha without prior", {"prior_alpha": 1.0}, lambda e: e.fit(X, y), ValueError, "prior_alpha > 0 needs coef_prior"),
    ("unfitted coef_prior", {"coef_prior": MLPClassifier(), "prior_alpha": 1.0}, lambda e: e.fit(X, y), ValueError, "coef_prior is a MLPClassifier that is not fitted"),
    ("coef_prior of another shape", {"coef_prior": ([np.ones((4, 6)), np.ones((6, 3))], [np.ones(6), np.ones(3)]), "prior_alpha": 1.0}, lambda e: e.fit(X, y), ValueError, "the prior must have the same layer sizes"),
    ("coef_prior of a bad type", {"coef_prior": "network", "prior_alpha": 1.0}, lambda e: e.fit(X, y), TypeError, "coef_prior must be a fitted MLPClassifier"),
    ("coef_prior with nan", {"coef_prior": ([np.full((4, 5), np.nan), np.ones((5, 3))], [np.ones(5), np.ones(3)]), "prior_alpha": 1.0}, lambda e: e.fit(X, y), ValueError, "coef_prior contains NaN"),
    ("augment not callable", {"augment": 3}, lambda e: e.fit(X, y), ValueError, "'augment' parameter"),
    ("augment changes the shape", {"augment": lambda Xb, rng: Xb[:, :2]}, lambda e: e.fit(X, y), ValueError, "augment must return an array of the batch's shape"),
    ("augment returns nan", {"augment": lambda Xb, rng: Xb * np.nan}, lambda e: e.fit(X, y), ValueError, "augment returned NaN"),
    ("augment returns strings", {"augment": lambda Xb, rng: np.full(Xb.shape, "a")}, lambda e: e.fit(X, y), TypeError, "augment must return numbers"),
    ("augment raises", {"augment": lambda Xb, rng: 1 / 0}, lambda e: e.fit(X, y), ZeroDivisionError, "division"),
    ("dropout with lbfgs", {"solver": "lbfgs", "dropout": 0.5}, lambda e: e.fit(X, y), ValueError, r"dropout makes the training objective random, but solver='lbfgs'"),
    ("noise with lbfgs", {"solver": "lbfgs", "input_noise": 0.5, "weight_noise": 0.1}, lambda e: e.fit(X, y), ValueError, "input_noise, weight_noise make the training objective random"),
    ("adversarial with lbfgs", {"solver": "lbfgs", "adversarial_eps": 0.1}, lambda e: e.fit(X, y), ValueError, "adversarial_eps makes the training objective random"),
    ("augment with lbfgs", {"solver": "lbfgs", "augment": lambda Xb, rng: Xb}, lambda e: e.fit(X, y), ValueError, "augment makes the training objective random"),
    ("max_norm with lbfgs", {"solver": "lbfgs", "max_norm": 1.0}, lambda e: e.fit(X, y), ValueError, "max_norm is enforced by projecting"),
    *[
        (f"{penalty} with {solver}", {"solver": solver, "penalty": penalty}, lambda e: e.fit(X, y), ValueError,
         f"penalty='l1'/'elasticnet' needs proximal updates .*solver='{solver}'")
        for solver in ("cg", "bfgs", "newton", "newton-cg") for penalty in ("l1", "elasticnet")
    ],
    # optimization
    ("solver of a bad type", {"solver": 3}, lambda e: e.fit(X, y), ValueError, "'solver' parameter"),
    ("invalid optimizer object", {"solver": RMSProp(rho=1.5)}, lambda e: e.fit(X, y), ValueError, "'rho' parameter of RMSProp"),
    ("negative learning rate", {"learning_rate_init": -0.1}, lambda e: e.fit(X, y), ValueError, "'learning_rate_init' parameter"),
    ("schedule with negative rate", {"learning_rate": Cosine(eta_min=-1.0)}, lambda e: e.fit(X, y), ValueError, "'eta_min' parameter of Cosine"),
    ("schedule name with lbfgs", {"solver": "lbfgs", "learning_rate": "cosine"}, lambda e: e.fit(X, y), ValueError, "learning_rate='cosine' is a schedule for the stochastic solvers; solver='lbfgs'"),
    ("schedule object with cg", {"solver": "cg", "learning_rate": Step()}, lambda e: e.fit(X, y), ValueError, "is a schedule for the stochastic solvers; solver='cg'"),
    ("clip_grad_norm with lbfgs", {"solver": "lbfgs", "clip_grad_norm": 1.0}, lambda e: e.fit(X, y), ValueError, "clip_grad_norm needs the mini-batches of a stochastic solver; solver='lbfgs'"),
    ("average with newton-cg", {"solver": "newton-cg", "average": True}, lambda e: e.fit(X, y), ValueError, "average needs the mini-batches"),
    ("batch_norm with lbfgs", {"solver": "lbfgs", "batch_norm": True}, lambda e: e.fit(X, y), ValueError, "batch_norm needs the mini-batches of a stochastic solver"),
    ("batch_norm with adahessian", {"solver": "adahessian", "batch_norm": True}, lambda e: e.fit(X, y), ValueError, "exact Hessian-vector products.*batch_norm"),
    ("batch_norm with tangent_prop", {"batch_norm": True, "tangent_prop": 0.1}, lambda e: e.fit(X, y, tangents=np.ones((40, 1, 4))), ValueError, "tangent_prop cannot be combined with batch_norm"),
    ("batch_norm not a bool", {"batch_norm": "yes"}, lambda e: e.fit(X, y), ValueError, "'batch_norm' parameter"),
    ("warm start, batch_norm switched on", {"warm_start": True, "batch_norm": True}, lambda e: e.fit(X, y), ValueError, "batch_norm cannot change with warm_start"),
    ("newton on a large network", {"solver": "newton", "hidden_layer_sizes": (500,)}, lambda e: e.fit(X, y), ValueError, r"solver='newton' stores an n_params x n_params matrix; this network has 4003 parameters"),
    ("bfgs on a large network", {"solver": "bfgs", "hidden_layer_sizes": (1000,)}, lambda e: e.fit(X, y), ValueError, "solver='bfgs' stores an n_params x n_params matrix"),
    ("newton-cg with activity_l1", {"solver": "newton-cg", "activity_l1": 0.1}, lambda e: e.fit(X, y), ValueError, "exact Hessian-vector products.*activity_l1"),
    ("newton with tangent_prop", {"solver": "newton", "tangent_prop": 0.1}, lambda e: e.fit(X, y, tangents=np.ones((40, 1, 4))), ValueError, "exact Hessian-vector products.*tangent_prop"),
    ("adahessian with dropout", {"solver": "adahessian", "dropout": 0.2}, lambda e: e.fit(X, y), ValueError, "solver='adahessian' uses exact Hessian-vector products.*dropout"),
    ("adahessian with adversarial", {"solver": "adahessian", "adversarial_eps": 0.1}, lambda e: e.fit(X, y), ValueError, "exact Hessian-vector products.*adversarial_eps"),
    ("partial_fit with newton", {"solver": "newton"}, lambda e: e.partial_fit(X, y), AttributeError, "has no attribute 'partial_fit'"),
    ("unknown init", {"init": "xavier"}, lambda e: e.fit(X, y), ValueError, "init='xavier' is not an initialiser"),
    ("init not a network", {"init": 3}, lambda e: e.fit(X, y), TypeError, "init must be a fitted MLPClassifier"),
    ("unfitted init", {"init": MLPClassifier()}, lambda e: e.fit(X, y), ValueError, "init is a MLPClassifier that is not fitted"),
    ("init of another shape", {"init": ([np.ones((3, 5)), np.ones((5, 3))], [np.ones(5), np.ones(3)])}, lambda e: e.fit(X, y), ValueError, "init is a network of 3 input features, but X has 4 features"),
    ("init with nan", {"init": ([np.full((4, 5), np.nan), np.ones((5, 3))], [np.ones(5), np.ones(3)])}, lambda e: e.fit(X, y), ValueError, "init contains NaN or infinite values"),
    ("negative freeze_layers", {"freeze_layers": -1}, lambda e: e.fit(X, y), ValueError, "'freeze_layers' parameter"),
    ("freezing every layer", {"freeze_layers": 2}, lambda e: e.fit(X, y), ValueError, "freeze_layers=2 would freeze every layer"),
    ("negative clip_grad_norm", {"clip_grad_norm": -1.0}, lambda e: e.fit(X, y), ValueError, "'clip_grad_norm' parameter"),
    ("average of 1.5", {"average": 1.5}, lambda e: e.fit(X, y), ValueError, "'average' parameter"),
    ("average of 0.0", {"average": 0.0}, lambda e: e.fit(X, y), ValueError, "'average' parameter"),
    ("n_init of 0", {"n_init": 0}, lambda e: e.fit(X, y), ValueError, "'n_init' parameter"),
    ("snapshots with early stopping", {"learning_rate": Cyclic(snapshots=2), "early_stopping": True}, lambda e: e.fit(X, y), ValueError, "snapshot ensemble .* and early_stopping"),
    ("mc dropout without dropout", {}, lambda e: e.predict_mc_dropout(X), ValueError, "Monte-Carlo dropout needs a model trained with dropout"),
    ("mc dropout, bad n_samples", {}, lambda e: e.predict_mc_dropout(X, n_samples=0), ValueError, "n_samples must be a positive integer"),
    ("mc dropout, dropout set after fit", {"dropout": 0.5}, lambda e: e.predict_mc_dropout(X), ValueError, "needs a model trained with dropout"),
    ("predict_proba, nan", {}, lambda e: e.predict_proba(nan_X()), ValueError, "Input X contains NaN"),
    ("score, wrong length", {}, lambda e: e.score(X, y[:3]), ValueError, "inconsistent numbers of samples"),
]

REGRESSOR_CASES = [
    ("negative y with poisson", {"loss": "poisson"}, lambda e: e.fit(X, y_reg), ValueError, "negative which is not allowed for Poisson"),
    ("unknown loss", {"loss": "huber"}, lambda e: e.fit(X, y_reg), ValueError, "'loss' parameter"),
    ("string y", {}, lambda e: e.fit(X, np.full(40, "a")), ValueError, "could not convert"),
    ("inf in y", {}, lambda e: e.fit(X, np.where(y_reg > 0, np.inf, y_reg)), ValueError, "Input y contains infinity"),
    ("y_val with nan", {"early_stopping": True}, lambda e: e.fit(X, y_reg, X_val=X, y_val=np.where(y_reg > 0, np.nan, y_reg)), ValueError, "^y_val: Input y contains NaN"),
    ("warm start, other n_outputs", {"warm_start": True}, lambda e: e.fit(X, np.column_stack([y_reg, y_reg])), ValueError, "cannot change with warm_start or partial_fit"),
    ("partial_fit, other n_outputs", {}, lambda e: e.partial_fit(X, np.column_stack([y_reg, y_reg])), ValueError, "cannot change with warm_start or partial_fit"),
    ("predict, wrong n_features", {}, lambda e: e.predict(X[:, :1]), ValueError, "X has 1 features, but MLPRegressor is expecting 4 features"),
]


#: cases whose message does not name the problem yet (the library's bugs, for
#: its owner to fix; strict: a fix makes them fail until the mark goes)
KNOWN_BUGS = {}


def _cases(cases):
    return [
        pytest.param(*case[1:], id=case[0], marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case[0]])])
        if case[0] in KNOWN_BUGS else pytest.param(*case[1:], id=case[0])
        for case in cases
    ]


def _run_case(cls, params, call, exception, match):
    """A valid fit, then the parameters of the case, then the failing call."""
    est = _fitted(cls)
    est.set_params(**params)
    before = snapshot(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(exception, match=match):
            call(est)
    assert_unchanged(est, before)


@pytest.mark.parametrize("params, call, exception, match", _cases(CLASSIFIER_CASES))
def test_classifier_bad_input(params, call, exception, match):
    _run_case(MLPClassifier, params, call, exception, match)


@pytest.mark.parametrize("params, call, exception, match", _cases(REGRESSOR_CASES))
def test_regressor_bad_input(params, call, exception, match):
    _run_case(MLPRegressor, params, call, exception, match)


def test_first_partial_fit_needs_classes():
    est = MLPClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    assert not hasattr(est, "coefs_")


def test_failed_first_fit_leaves_an_unfitted_estimator():
    est = MLPClassifier()
    with pytest.raises(ValueError):
        est.fit(nan_X(), y)
    assert not hasattr(est, "n_features_in_") and not hasattr(est, "classes_")
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_multioutput_partial_fit_classes_must_be_per_output():
    Y = np.column_stack([y, (y + 1) % 3 + 10])
    est = MLPClassifier((4,))
    with pytest.raises(ValueError, match="classes must be a list with the classes of each"):
        est.partial_fit(X, Y, classes=[0, 1, 2])
    est.partial_fit(X, Y, classes=[[0, 1, 2], [10, 11, 12]])
    before = snapshot(est)
    with pytest.raises(ValueError, match="Column 1 of `y` has classes not in"):
        est.partial_fit(X, np.column_stack([y, y]))
    assert_unchanged(est, before)


def test_predict_before_fit():
    for est in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X)


def test_invalid_schedule_parameter_is_reported():
    from skdeep.schedules import InvScaling

    est = MLPClassifier(solver="sgd", learning_rate=InvScaling(power_t=-1.0))
    with pytest.raises(ValueError, match="'power_t' parameter of InvScaling"):
        est.fit(X, y)


# ------------------------------------- a failure in the middle of training


class _FailingAugment:
    """An ``augment`` that raises on its ``n``-th call (a mini-batch in the
    middle of an epoch)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, X_batch, rng):
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("augment failed")
        return X_batch


class _FailingCallback(EpochCallback):
    """A scikit-learn callback that raises at the end of its ``n``-th epoch."""

    def on_epoch_end(self, count):
        if count == self.n:
            raise RuntimeError("callback failed")
        return False


#: the user's objects, which count their calls: not the estimator's state
_USER_OBJECTS = ("augment", "_skl_callbacks")


def _state(est, timings=True):
    """A deep copy of the estimator's attributes, without the user's objects
    (and without the epochs' durations when ``timings`` is False)."""
    state = snapshot(est) | {k: None for k in _USER_OBJECTS}
    if not timings:
        untimed = [{k: v for k, v in r.items() if k != "seconds"} for r in state["history_"]]
        state["history_"] = state["_progress"].history = untimed
    return state


def _continued(params, mode):
    """A model fitted once (twice with partial_fit), ready to continue."""
    est = MLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if mode == "partial_fit":
            est.partial_fit(X, y, classes=[0, 1, 2])
            est.partial_fit(X, y)
        else:
            est.set_params(warm_start=True).fit(X, y)
    return est


def _continue(est, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.partial_fit(X, y) if mode == "partial_fit" else est.fit(X, y)


CONTINUATIONS = [
    ("partial_fit", "augment", {}),
    ("partial_fit", "callback", {}),
    ("partial_fit", "augment", {"solver": "sgd", "dropout": 0.2, "average": True}),
    ("partial_fit", "augment", {"batch_norm": True, "weight_noise": 0.01}),
    ("warm_start", "augment", {}),
    ("warm_start", "callback", {}),
    ("warm_start", "callback", {"early_stopping": True, "validation_fraction": 0.2}),
    ("warm_start", "augment", {"solver": "adahessian"}),
    ("warm_start", "callback", {"solver": "lbfgs"}),
]


@pytest.mark.parametrize("mode, failure, params", CONTINUATIONS, ids=[f"{m}-{f}-{p}" for m, f, p in CONTINUATIONS])
def test_a_failure_in_the_middle_of_continued_training_leaves_the_model_as_it_was(mode, failure, params):
    """An augment that raises on its 3rd batch, or a callback that raises at
    the end of an epoch, in warm-started fit or partial_fit: every attribute
    of the fitted model is as it was (weights, optimizer state, random
    generator, history), and continuing afterwards gives the model that
    continuing it without the failure gives."""
    params = {"hidden_layer_sizes": (5,), "max_iter": 5, "batch_size": 10, "random_state": 0, **params}
    est = _continued(params, mode)
    undisturbed = _continued(params, mode)
    if failure == "augment":
        est.set_params(augment=_FailingAugment(3))
    else:
        est.set_callbacks(_FailingCallback(1 if mode == "partial_fit" else 3))
    before = _state(est)
    with pytest.raises(RuntimeError, match=f"{failure} failed"):
        _continue(est, mode)
    _same(before, _state(est), "MLPClassifier")
    # nothing hidden moved either: the next continuation is the undisturbed one
    if failure == "augment":
        est.set_params(augment=None)
    else:
        est.set_callbacks()
    _continue(est, mode)
    _continue(undisturbed, mode)
    _same(_state(undisturbed, timings=False), _state(est, timings=False), "MLPClassifier")


# ------------------------------------------------ a KeyboardInterrupt (Ctrl-C)


class _InterruptingCallback(EpochCallback):
    """A scikit-learn callback that raises KeyboardInterrupt at the end of its
    ``n``-th epoch (or solver iteration), counted over every restart."""

    def on_epoch_end(self, count):
        if count == self.n:
            raise KeyboardInterrupt
        return False


def _interrupted_fit(est, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(*args, **kwargs)
    assert any("Training interrupted by user" in str(w.message) for w in caught)
    return est


def _comparable(est):
    """The estimator's state without the user's objects, timings and the
    parameter that differs between an interrupted fit and its reference."""
    state = _state(est, timings=False)
    state.pop("max_iter")
    return state


INTERRUPTED = [
    ("adam", {}),
    ("sgd-early-stopping", {"solver": "sgd", "early_stopping": True, "validation_fraction": 0.2}),
    ("adam-averaged", {"average": True, "dropout": 0.1}),
    ("lbfgs", {"solver": "lbfgs"}),
    ("newton-cg", {"solver": "newton-cg"}),
]


@pytest.mark.parametrize("params", [p for _, p in INTERRUPTED], ids=[i for i, _ in INTERRUPTED])
def test_an_interrupt_keeps_the_last_completed_epoch_with_consistent_attributes(params):
    """A KeyboardInterrupt at the end of the 4th epoch (solver iteration),
    before every listener heard it: the fit returns, with a warning, the
    model of 3 epochs, every attribute as a fit of ``max_iter=3`` has them."""
    params = {"hidden_layer_sizes": (5,), "batch_size": 10, "random_state": 0, **params}
    est = MLPClassifier(max_iter=20, **params)
    est.set_callbacks(_InterruptingCallback(4))
    _interrupted_fit(est, X, y)
    est.set_callbacks()
    assert est.n_iter_ == 3 and len(est.loss_curve_) == len(est.history_) == 3
    assert est.loss_ == est.loss_curve_[-1] and np.isfinite(est.loss_)
    reference = MLPClassifier(max_iter=3, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X, y)
    if params.get("solver") in ("lbfgs", "newton-cg"):
        # the solver stops at its 3rd iteration either way; its evaluation
        # count is the one at that iteration
        assert est.n_evaluations_ == est.history_[-1]["evaluations"]
        assert est.t_ == X.shape[0] * est.n_evaluations_
        np.testing.assert_array_equal(est._theta, reference._theta)
        assert est.loss_curve_ == reference.loss_curve_
    else:
        _same(_comparable(reference), _comparable(est), "MLPClassifier")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_an_interrupt_inside_the_engine_rewinds_to_the_last_completed_epoch(monkeypatch, solver):
    """Ctrl-C lands when the compiled code returns: after the 3rd epoch's
    kernel changed the weights (or in the 7th objective evaluation, inside
    a line search). The epoch or iteration it interrupted is undone."""
    from skdeep import _training
    from skdeep.optim import _objective

    params = {"hidden_layer_sizes": (5,), "batch_size": 10, "random_state": 0, "solver": solver}
    calls = []
    if solver == "adam":
        real = _training.train_epoch

        def interrupted(*args):
            result = real(*args)
            calls.append(1)
            if len(calls) == 3:  # one call per epoch
                raise KeyboardInterrupt
            return result

        monkeypatch.setattr(_training, "train_epoch", interrupted)
    else:
        real = _objective.FullBatchObjective.__call__

        def interrupted(self, theta):
            calls.append(1)
            if len(calls) == 7:
                raise KeyboardInterrupt
            return real(self, theta)

        monkeypatch.setattr(_objective.FullBatchObjective, "__call__", interrupted)
    est = _interrupted_fit(MLPClassifier(max_iter=20, **params), X, y)
    monkeypatch.undo()
    n = est.n_iter_
    assert n >= 1 and len(est.loss_curve_) == n and est.loss_ == est.loss_curve_[-1]
    if solver == "adam":
        assert n == 2 and est.t_ == 2 * X.shape[0]
    reference = MLPClassifier(max_iter=n, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X, y)
    np.testing.assert_array_equal(est._theta, reference._theta)
    assert est.loss_curve_ == reference.loss_curve_


def test_an_interrupt_stops_every_restart():
    """n_init=3, interrupted in the first restart's 3rd epoch: no other
    restart runs, and the interrupted one is kept at its 2nd epoch."""
    callback = _InterruptingCallback(3)
    est = MLPClassifier((5,), n_init=3, max_iter=20, random_state=0)
    est.set_callbacks(callback)
    _interrupted_fit(est, X, y)
    assert callback.ends == 3  # nothing ran after the interrupt
    assert len(est.restarts_) == 1 and est.best_restart_ == 0
    assert est.n_iter_ == 2 and np.isfinite(est.loss_) and est.loss_ == est.loss_curve_[-1]


def test_a_second_restart_interrupted_before_its_first_epoch_keeps_the_first():
    est = MLPClassifier((5,), n_init=3, max_iter=4, random_state=0)
    est.set_callbacks(_InterruptingCallback(5))  # the 1st epoch of the 2nd restart
    _interrupted_fit(est, X, y)
    assert len(est.restarts_) == 1 and est.n_iter_ == 4


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("mode", ["fit", "warm_start", "partial_fit"])
def test_an_interrupt_before_anything_was_learnt_propagates_and_changes_nothing(solver, mode):
    if mode == "partial_fit" and solver == "lbfgs":
        pytest.skip("partial_fit is for stochastic solvers")
    est = _fitted(solver=solver)
    before = snapshot(est)
    est.set_callbacks(_InterruptingCallback(1))
    with pytest.raises(KeyboardInterrupt):
        if mode == "partial_fit":
            est.partial_fit(X, y)
        else:
            est.set_params(warm_start=mode == "warm_start").fit(X, y)
    est.set_callbacks()
    est.set_params(warm_start=False)
    _same(before | {"_skl_callbacks": None}, snapshot(est) | {"_skl_callbacks": None}, "MLPClassifier")
