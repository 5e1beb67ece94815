"""Optimizers: first-order updates (compiled) and full-batch solvers (scipy)."""

from ._first_order import FIRST_ORDER, SGD, Adam, OptimizerState
from ._full_batch import FULL_BATCH, minimize

__all__ = ["FIRST_ORDER", "FULL_BATCH", "Adam", "OptimizerState", "SGD", "minimize"]
