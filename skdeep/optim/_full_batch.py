"""Full-batch solvers: scipy.optimize working directly on the flat vector.

Every solver has scipy.optimize's shape: ``minimize(fun, x0, jac, callback,
**options)`` in, one ``OptimizeResult`` out, with a callback that can stop it
by raising ``StopIteration``.

- ``'lbfgs'``: L-BFGS-B (with bound constraints for an L1 penalty);
- ``'cg'``: nonlinear conjugate gradient (Polak-Ribiere);
- ``'bfgs'``: BFGS with a dense inverse-Hessian estimate (small networks);
- ``'newton-cg'``: Newton steps solved by conjugate gradient with exact
  Hessian-vector products;
- ``'newton'``: the full Hessian (assembled from exact Hessian-vector
  products) in a trust-region Newton method (``trust-exact``), whose steps
  never head for a saddle point: on an indefinite Hessian the trust region
  takes a descent step along negative curvature.
"""

import numpy as np
import scipy.optimize
from sklearn.utils.fixes import _get_additional_lbfgs_options_dict

#: largest network the solvers that store an n_params x n_params matrix accept
MAX_DENSE_PARAMS = {"bfgs": 4000, "newton": 2000}


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

    def hessp(self, x, p):
        self.theta[...] = x
        return np.array(self.objective.hvp(self.theta, p), dtype=np.float64)

    def hess(self, x):
        self.theta[...] = x
        return self.objective.hessian(self.theta)


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


def _lbfgs(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    iprint = 1 if verbose else -1
    return scipy.optimize.minimize(
        evaluate, x0, method="L-BFGS-B", jac=True, bounds=bounds, callback=callback,
        options={
            "maxfun": max_fun,
            "maxiter": max_iter,
            "gtol": tol,
            **_get_additional_lbfgs_options_dict("iprint", iprint),
        },
    )


def _cg(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="CG", jac=True, callback=callback,
        options={"maxiter": max_iter, "gtol": tol, "disp": bool(verbose)},
    )


def _bfgs(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="BFGS", jac=True, callback=callback,
        options={"maxiter": max_iter, "gtol": tol, "disp": bool(verbose)},
    )


def _newton_cg(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="Newton-CG", jac=True, hessp=evaluate.hessp,
        callback=callback,
        options={"maxiter": max_iter, "xtol": max(tol, 1e-12), "disp": bool(verbose)},
    )


def _newton(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="trust-exact", jac=True, hess=evaluate.hess,
        callback=callback,
        options={"maxiter": max_iter, "gtol": tol, "disp": bool(verbose)},
    )


#: solver name -> function(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds)
FULL_BATCH = {
    "lbfgs": _lbfgs,
    "cg": _cg,
    "bfgs": _bfgs,
    "newton-cg": _newton_cg,
    "newton": _newton,
}

#: solvers that use Hessian-vector products
SECOND_ORDER = ("newton-cg", "newton")


def check_size(solver, n_params):
    """Raise if ``solver`` would store a dense matrix too large for the network."""
    limit = MAX_DENSE_PARAMS.get(solver)
    if limit is not None and n_params > limit:
        megabytes = 8 * n_params**2 / 2**20
        raise ValueError(
            f"solver={solver!r} stores an n_params x n_params matrix; this network "
            f"has {n_params} parameters ({megabytes:,.0f} MB), more than the "
            f"{limit} it accepts. Use 'lbfgs' or 'newton-cg', which do not."
        )


class _Subspace:
    """The objective as a function of the free parameters ``theta[free]``
    alone (the others, frozen layers, stay as they are)."""

    def __init__(self, objective, theta, free):
        self.objective = objective
        self.theta = theta
        self.free = free
        self.v = np.zeros(theta.shape[0], dtype=theta.dtype)

    @property
    def n_evaluations(self):
        return self.objective.n_evaluations

    def __call__(self, x):
        self.theta[self.free] = x
        loss, grad = self.objective(self.theta)
        return loss, grad[self.free]

    def hvp(self, x, v):
        self.theta[self.free] = x
        self.v[self.free] = v
        return self.objective.hvp(self.theta, self.v)[self.free]

    def hessian(self, x):
        self.theta[self.free] = x
        return self.objective.hessian(self.theta)[np.ix_(self.free, self.free)]


def minimize(
    solver, objective, theta, *, max_iter, max_fun, tol, verbose, callback,
    l1=0.0, n_weights=0, free=None,
):
    """Minimise ``objective`` (plus ``l1 * ||w||_1`` on the first
    ``n_weights`` parameters) from ``theta``, which is updated in place.

    ``free``, when given, is the sorted index array of the parameters to
    optimise (the others are frozen); the weights among them must come first,
    as they do in the flat layout. ``callback(loss)`` is called after every
    iteration; it may raise ``StopIteration`` to stop the solver cleanly.
    ``max_fun`` bounds the objective's evaluations: natively for ``'lbfgs'``,
    checked after each iteration for the others, which then stop with
    ``success=False`` and a message saying so. Returns scipy's
    ``OptimizeResult``; ``theta`` holds the solution.
    """
    if free is not None:
        n_weights = int(np.searchsorted(free, n_weights))
        sub = _Subspace(objective, theta, free)
        x = theta[free].copy()
        result = minimize(
            solver, sub, x, max_iter=max_iter, max_fun=max_fun, tol=tol,
            verbose=verbose, callback=callback, l1=l1, n_weights=n_weights,
        )
        theta[free] = x
        return result
    check_size(solver, theta.shape[0])
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

    out_of_evaluations = []

    def on_iteration(intermediate_result):
        to_theta(intermediate_result.x, theta)
        callback(intermediate_result.fun)
        if solver != "lbfgs" and objective.n_evaluations >= max_fun:
            out_of_evaluations.append(True)
            raise StopIteration

    result = FULL_BATCH[solver](
        evaluate, x0, max_iter=max_iter, max_fun=max_fun, tol=tol, verbose=verbose,
        callback=on_iteration, bounds=bounds,
    )
    if out_of_evaluations:
        result.success = False
        result.message = f"Maximum number of function evaluations (max_fun={max_fun}) reached."
    to_theta(result.x, theta)
    return result
