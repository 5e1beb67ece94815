"""Optimizers: first-order updates (compiled) and full-batch solvers (scipy).

The first-order optimizers are objects with ``get_params``; pass one as an
estimator's ``solver`` to set hyper-parameters the estimator has no flat
parameter for (``solver=RMSProp(rho=0.95)``), and tune them with
``GridSearchCV`` (``solver__rho``).

``__all__`` lists the public names: the optimizer classes and the solver
names. The engine's own helpers (``minimize``, ``OptimizerState``,
``resolve_optimizer``, ``check_size``) are importable from here for the
library's modules but are not part of the public interface.
"""

from ._first_order import (
    FIRST_ORDER,
    LAMB,
    SGD,
    AdaDelta,
    AdaGrad,
    AdaHessian,
    Adam,
    AdamW,
    Lookahead,
    Optimizer,
    RAdam,
    RMSProp,
)

# "x as x": the engine's helpers, re-exported for the library's modules (not in __all__)
from ._first_order import OptimizerState as OptimizerState
from ._first_order import resolve_optimizer as resolve_optimizer
from ._full_batch import FULL_BATCH, SECOND_ORDER
from ._full_batch import check_size as check_size
from ._full_batch import minimize as minimize

__all__ = [
    "FIRST_ORDER",
    "FULL_BATCH",
    "SECOND_ORDER",
    "LAMB",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "AdaHessian",
    "Adam",
    "AdamW",
    "Lookahead",
    "Optimizer",
    "RAdam",
    "RMSProp",
]
