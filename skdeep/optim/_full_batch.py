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


class _SplitL1Evaluator:
    """L1 on the weights through bound constraints: the weights ``w`` become
    ``w_plus - w_minus`` with both parts non-negative, and the penalty the
    linear ``l1 * sum(w_plus + w_minus)``. L-BFGS-B's projection onto the bounds
    then produces exact zeros, which a subgradient never would."""

    def __init__(self, objective, theta, n_weights, l1):
        self.objective = objective
        self.theta = theta
        self.n_weights = n_weights
        self.l1 = l1

    def to_theta(self, x, out):
        nw = self.n_weights
        out[:nw] = x[:nw] - x[nw : 2 * nw]
        out[nw:] = x[2 * nw :]
        return out

    def start(self, theta):
        nw = self.n_weights
        w = theta[:nw].astype(np.float64)
        return np.concatenate([np.maximum(w, 0), np.maximum(-w, 0), theta[nw:]])

    def bounds(self, n_params):
        nw = self.n_weights
        return [(0, None)] * (2 * nw) + [(None, None)] * (n_params - nw)

    def __call__(self, x):
        nw = self.n_weights
        self.to_theta(x, self.theta)
        loss, grad = self.objective(self.theta)
        g = np.empty(x.shape[0], dtype=np.float64)
        g[:nw] = grad[:nw] + self.l1
        g[nw : 2 * nw] = self.l1 - grad[:nw]
        g[2 * nw :] = grad[nw:]
        return float(loss) + self.l1 * float(x[: 2 * nw].sum()), g


def _lbfgs(fun, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    iprint = 1 if verbose else -1
    return scipy.optimize.minimize(
        fun,
        x0,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        callback=callback,
        options={
            "maxfun": max_fun,
            "maxiter": max_iter,
            "gtol": tol,
            **_get_additional_lbfgs_options_dict("iprint", iprint),
        },
    )


#: solver name -> function(fun, x0, *, max_iter, max_fun, tol, verbose, callback, bounds)
FULL_BATCH = {
    "lbfgs": _lbfgs,
}


def minimize(
    solver, objective, theta, *, max_iter, max_fun, tol, verbose, callback,
    l1=0.0, n_weights=0,
):
    """Minimise ``objective`` (plus ``l1 * ||w||_1`` on the first
    ``n_weights`` parameters) from ``theta``, which is updated in place.

    ``callback(theta, loss)`` is called after every iteration with the current
    parameters; it may raise ``StopIteration`` to stop the solver cleanly.
    Returns scipy's ``OptimizeResult``; ``theta`` holds the solution.
    """
    if l1 > 0:
        evaluate = _SplitL1Evaluator(objective, theta, n_weights, l1)
        x0 = evaluate.start(theta)
        bounds = evaluate.bounds(theta.shape[0])
        to_theta = evaluate.to_theta
    else:
        evaluate = _Evaluator(objective, theta)
        x0 = theta.astype(np.float64)
        bounds = None

        def to_theta(x, out):
            out[...] = x
            return out

    def on_iteration(intermediate_result):
        to_theta(intermediate_result.x, theta)
        callback(theta, intermediate_result.fun)

    result = FULL_BATCH[solver](
        evaluate, x0, max_iter=max_iter, max_fun=max_fun, tol=tol, verbose=verbose,
        callback=on_iteration, bounds=bounds,
    )
    to_theta(result.x, theta)
    return result
