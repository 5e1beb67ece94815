"""Full-batch solvers: scipy.optimize working directly on the flat vector."""

import numpy as np
import scipy.optimize
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict


class _Evaluator:
    """Adapts a float32/float64 objective to scipy's float64 interface.

    scipy keeps the gradient it is given, so each call returns a fresh float64
    copy: handing it the objective's reused buffer silently corrupts BFGS/CG
    line searches.
    """

    def __init__(self, objective, theta):
        self.objective = objective
        self.theta = theta  # the model's parameters, updated in place

    def __call__(self, x):
        self.theta[...] = x
        loss, grad = self.objective(self.theta)
        return float(loss), np.array(grad, dtype=np.float64)


def _lbfgs(fun, x0, *, max_iter, max_fun, tol, verbose, callback):
    iprint = 1 if verbose else -1
    return scipy.optimize.minimize(
        fun,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={
            "maxfun": max_fun,
            "maxiter": max_iter,
            "gtol": tol,
            **_get_additional_lbfgs_options_dict("iprint", iprint),
        },
    )


#: solver name -> function(fun, x0, *, max_iter, max_fun, tol, verbose, callback)
FULL_BATCH = {
    "lbfgs": _lbfgs,
}


def minimize(solver, objective, theta, *, max_iter, max_fun, tol, verbose, callback):
    """Minimise ``objective`` from ``theta`` (updated in place) with ``solver``.

    ``callback(theta)`` is called after every iteration with the current
    parameters; it may raise ``StopIteration`` to stop the solver cleanly.
    Returns scipy's ``OptimizeResult``; ``theta`` holds the solution.
    """
    evaluate = _Evaluator(objective, theta)

    def on_iteration(intermediate_result):
        theta[...] = intermediate_result.x
        callback(theta, intermediate_result.fun)

    result = FULL_BATCH[solver](
        evaluate,
        theta.astype(np.float64),
        max_iter=max_iter,
        max_fun=max_fun,
        tol=tol,
        verbose=verbose,
        callback=on_iteration,
    )
    theta[...] = result.x
    return result
