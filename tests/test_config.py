"""The fit's configuration, the table of combinations, and the listeners of
both training drivers."""

import dataclasses

import numpy as np
import pytest

from skdeep import MLPClassifier
from skdeep._combinations import (
    COMBINATIONS,
    IN_USE,
    NEEDS,
    check_combinations,
    combinations_of,
)
from skdeep._config import FitConfig
from skdeep._listeners import Listener
from skdeep._network import Inputs, Network
from skdeep._training import Progress, StochasticLoop, TrainSet, run_full_batch
from skdeep.optim import SGD, Adam
from skdeep.optim._objective import FullBatchObjective
from skdeep.regularization import PENALTIES, Regularization
from skdeep.schedules import Constant


def _config(**params):
    return FitConfig.from_params(
        {**MLPClassifier(**params).get_params(deep=False), "hidden_layer_sizes": (5,)}
    )


def test_config_is_immutable_and_builds_the_optimizer_from_flat_parameters():
    config = _config(solver="sgd", momentum=0.5, nesterovs_momentum=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.solver = "adam"
    assert isinstance(config.optimizer, SGD) and config.stochastic
    assert config.optimizer.get_params() == {"momentum": 0.5, "nesterov": False}
    optimizer = Adam(beta_1=0.5)
    assert _config(solver=optimizer).optimizer is optimizer  # objects are used as given
    assert _config(solver="lbfgs").optimizer is None


@pytest.mark.parametrize("penalty", [None, *PENALTIES])
def test_penalties_split_alpha(penalty):
    config = _config(penalty=penalty, alpha=0.1, l1_ratio=0.25)
    expected = {None: (0.0, 0.0), "l2": (0.0, 0.1), "l1": (0.1, 0.0), "elasticnet": (0.1 * 0.25, 0.1 * 0.75)}
    assert (config.l1, config.l2) == pytest.approx(expected[penalty])


def test_the_table_is_consistent():
    for option, needs, _why in COMBINATIONS:
        assert needs in NEEDS
        assert option in IN_USE or option in {f.name for f in dataclasses.fields(FitConfig)}
    assert combinations_of("tangent_prop")
    # the default configuration passes every rule
    check_combinations(_config())


def test_options_failing_for_one_reason_are_named_together():
    with pytest.raises(ValueError, match="^input_noise, augment make the training objective random"):
        _config(solver="cg", input_noise=0.1, augment=lambda X, rng: X)
    with pytest.raises(ValueError, match="^clip_grad_norm and batch_norm need the mini-batches"):
        _config(solver="bfgs", clip_grad_norm=1.0, batch_norm=True)


class Recorder(Listener):
    def __init__(self):
        self.events = []

    def on_fit_begin(self, loop):
        self.events.append("fit_begin")

    def on_epoch_begin(self, loop):
        self.events.append("begin")

    def on_epoch_end(self, loop, record):
        self.events.append(("end", record["epoch"]))
        return record["epoch"] == 3

    def on_fit_end(self, loop):
        self.events.append("fit_end")


EXPECTED = ["fit_begin", *(e for k in (1, 2, 3) for e in ("begin", ("end", k))), "fit_end"]


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    Y = np.eye(2)[rng.integers(0, 2, 60)]
    network = Network([3, 4, 2], "tanh", "log_loss")
    theta = rng.normal(scale=0.3, size=network.n_params)
    reg = Regularization(l2=1e-3, dropout=np.zeros(1))
    return X, Y, network, theta, reg


def test_both_drivers_announce_the_same_events(problem):
    X, Y, network, theta, reg = problem
    recorder, progress = Recorder(), Progress(optimizer=Adam().start(network.n_params, theta.dtype))
    loop = StochasticLoop(
        network=network, theta=theta.copy(), train=TrainSet(Inputs(X, np.float64), Y, np.ones(60)),
        validation=None, progress=progress, schedule=Constant(), lr_init=0.01, reg=reg,
        batch_size=20, shuffle=True, rng=np.random.default_rng(0), tol=0.0,
        n_iter_no_change=100, verbose=False, listeners=[recorder],
    )
    assert loop.run(10, False) == 3  # the listener stopped it
    assert recorder.events == EXPECTED
    assert [r["epoch"] for r in progress.history] == [1, 2, 3] and len(progress.loss_curve) == 3

    recorder, progress = Recorder(), Progress()
    objective = FullBatchObjective(network, Inputs(X, np.float64), Y, np.ones(60), reg)
    result, stopped = run_full_batch(
        "lbfgs", objective, theta.copy(), max_iter=10, max_fun=100, tol=0.0, verbose=False,
        progress=progress, listeners=[recorder],
    )
    assert stopped and recorder.events == EXPECTED
    assert [r["epoch"] for r in progress.history] == [1, 2, 3] and len(progress.loss_curve) == 3
