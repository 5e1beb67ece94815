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
  products), with its eigenvalues' absolute values floored by an adaptive
  damping where it is not positive definite, so that steps never head for
  a saddle point;
- ``'coordinate'``: block coordinate descent over the layers, L-BFGS-B on
  one layer's weights and biases at a time.
"""

import warnings

import numpy as np
import scipy.linalg
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


def _lbfgs(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
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


def _cg(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="CG", jac=True, callback=callback,
        options={"maxiter": max_iter, "gtol": tol, "disp": bool(verbose)},
    )


class _Memo:
    """``fun`` and ``jac`` of an evaluator that returns both, evaluated once
    per point (scipy's line search asks for them separately)."""

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.x = None

    def _at(self, x):
        if self.x is None or not np.array_equal(x, self.x):
            self.x = np.array(x, dtype=np.float64)
            self.value = self.evaluate(self.x)
        return self.value

    def fun(self, x):
        return self._at(x)[0]

    def jac(self, x):
        return self._at(x)[1]


_LOST_PRECISION = "Desired error not necessarily achieved due to precision loss."


def _result(x, fval, g, k, status, message, verbose):
    """scipy's ``OptimizeResult`` (and its ``disp`` report) for the solvers
    written here."""
    if verbose:
        print(f"{message}\n         Current function value: {fval:f}\n"
              f"         Iterations: {k:d}")
    return scipy.optimize.OptimizeResult(
        x=x, fun=fval, jac=g, nit=k, status=status, success=status == 0, message=message,
    )


def bfgs_update(H, s, y):
    """The BFGS update of the inverse-Hessian estimate ``H`` (Fortran order,
    upper triangle significant), in place: ``(I - rho s y') H (I - rho y s')
    + rho s s'`` with ``rho = 1 / y's``, written as the rank-2 and rank-1
    updates ``H - rho (s Hy' + Hy s') + (rho^2 y'Hy + rho) s s'``."""
    blas = scipy.linalg.blas
    rho = 1.0 / float(y @ s)
    Hy = blas.dsymv(1.0, H, y)
    H = blas.dsyr2(-rho, Hy, s, a=H, overwrite_a=True)
    return blas.dsyr(rho * rho * float(y @ Hy) + rho, s, a=H, overwrite_a=True)


def _bfgs(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
    """BFGS with a dense inverse-Hessian estimate updated in O(n^2).

    scipy's ``method='BFGS'`` forms the update as two dense n x n matrix
    products, O(n^3) per iteration; here
    it is the equivalent symmetric rank-2 update (BLAS ``syr2``/``syr`` on one
    triangle). As scipy does, steps come from a Wolfe line search
    (``scipy.optimize.line_search``) and the run stops when the gradient's
    largest entry is at most ``tol``. Unlike scipy, the initial estimate is
    rescaled by ``y's / y'y`` before the first update (Nocedal & Wright,
    eq. 6.20), which spares the first iterations steps of the wrong size; a
    failed line search restarts from that scaled identity once before giving
    up, and an update whose curvature ``y's`` is not positive is skipped, so
    the estimate stays positive definite.
    """
    memo = _Memo(evaluate)
    n = x0.shape[0]
    symv = scipy.linalg.blas.dsymv
    H = np.asfortranarray(np.eye(n))
    x = np.array(x0, dtype=np.float64)
    fval, g = memo.fun(x), memo.jac(x)
    previous = fval + np.linalg.norm(g) / 2  # first trial step of length ~1
    k, status, message, fresh = 0, 0, "Optimization terminated successfully.", True
    while np.max(np.abs(g)) > tol and k < max_iter:
        p = -symv(1.0, H, g)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failed searches: handled below
            step, _, _, new_fval, previous, new_g = scipy.optimize.line_search(
                memo.fun, memo.jac, x, p, g, fval, previous
            )
        if step is None or not np.isfinite(new_fval):
            if fresh:
                status, message = 2, _LOST_PRECISION
                break
            H = np.asfortranarray(np.eye(n))  # restart from the steepest descent
            fresh = True
            # a failed search hands back ``fval`` as the previous value, which
            # would make the next search start at a step of 0
            previous = fval + np.linalg.norm(g) / 2
            continue
        s = step * p
        x = x + s
        if new_g is None:
            new_g = memo.jac(x)
        y = new_g - g
        fval, g = new_fval, new_g
        k += 1
        try:
            callback(scipy.optimize.OptimizeResult(x=x, fun=fval))
        except StopIteration:
            break
        sy = float(y @ s)
        if sy <= 1e-10 * np.linalg.norm(y) * np.linalg.norm(s):
            continue
        if fresh:
            H *= sy / float(y @ y)
            fresh = False
        H = bfgs_update(H, s, y)
    else:
        if k >= max_iter:
            status, message = 1, "Maximum number of iterations has been exceeded."
    return _result(x, fval, g, k, status, message, verbose)


def _newton_cg(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
    return scipy.optimize.minimize(
        evaluate, x0, method="Newton-CG", jac=True, hessp=evaluate.hessp,
        callback=callback,
        options={"maxiter": max_iter, "xtol": max(tol, 1e-12), "disp": bool(verbose)},
    )


def _newton(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
    """Newton's method on the exact Hessian, damped so that it never heads
    for a saddle point or a maximum.

    Each iteration assembles the Hessian. Where it is positive definite (its
    Cholesky factorisation succeeds, with a reciprocal condition estimate
    above 1e-10) the step is Newton's, ``-H^-1 g``, from the factor. Where it
    is not (a network far from a minimum, or with redundant units, as a
    softmax output's biases always are), its eigendecomposition is taken
    (about five times the factorisation's cost; the factorisation is tried
    again only after an eigendecomposition found the Hessian positive
    definite) and every
    eigenvalue is replaced by its absolute value, floored at ``floor`` times
    the largest: along negative curvature the step then goes downhill, by as
    much as the curvature's size warrants ("saddle-free" Newton, Dauphin et
    al., 2014), and the floor is the Levenberg-Marquardt damping of the flat
    directions. A Wolfe line search (``scipy.optimize.line_search``, first
    trying the full step) sets the step's length; the floor shrinks tenfold
    after a full step and grows tenfold after a shorter one. After a failed
    search the step is retried damped, whatever the Hessian: from the
    eigendecomposition (taken then if the step came from the factor), with
    every curvature floored, the floor raised tenfold and at least to ten
    times the smallest curvature (relative to the largest), so that the
    retried step differs from the failed one. The run stops when the
    gradient's largest entry is at most ``tol``, or when the search fails
    with the floor at its largest (then the step is plain gradient descent).
    """
    memo = _Memo(evaluate)
    x = np.array(x0, dtype=np.float64)
    fval, g = memo.fun(x), memo.jac(x)
    floor, factor, eigen, try_cholesky, damped = 1e-2, None, None, True, False
    k, status, message = 0, 0, "Optimization terminated successfully."
    while np.max(np.abs(g)) > tol and k < max_iter:
        if factor is None and eigen is None:
            H = evaluate.hess(x)
            factor = _well_conditioned_cholesky(H) if try_cholesky else None
            if factor is None:
                eigen = np.linalg.eigh(H)
                # try the factorisation again once the Hessian is positive definite
                try_cholesky = eigen[0].min() > 1e-10 * np.abs(eigen[0]).max()
        if factor is not None:
            p = -scipy.linalg.cho_solve(factor, g, check_finite=False)
        else:
            w, V = eigen
            size = np.abs(w)
            largest = max(size.max(), np.finfo(np.float64).tiny)
            positive_definite = w.min() > 1e-10 * largest
            curvature = w if positive_definite and not damped else np.maximum(size, floor * largest)
            p = -V @ ((V.T @ g) / curvature)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failed searches: handled below
            step, _, _, new_fval, _, new_g = scipy.optimize.line_search(
                memo.fun, memo.jac, x, p, g, fval, None
            )
        if step is None or not np.isfinite(new_fval):
            if floor >= 1.0:
                status, message = 2, _LOST_PRECISION
                break
            if eigen is None:  # the step came from the factor
                eigen = np.linalg.eigh(H)
                factor = None
            size = np.abs(eigen[0])
            smallest = size.min() / max(size.max(), np.finfo(np.float64).tiny)
            floor = min(1.0, max(10 * floor, 10 * smallest))
            damped = True
            continue
        damped = False
        floor = max(1e-12, floor / 10) if step >= 0.99 else min(1.0, 10 * floor)
        x = x + step * p
        fval, g = new_fval, new_g if new_g is not None else memo.jac(x)
        factor, eigen = None, None
        k += 1
        try:
            callback(scipy.optimize.OptimizeResult(x=x, fun=fval))
        except StopIteration:
            break
    else:
        if k >= max_iter:
            status, message = 1, "Maximum number of iterations has been exceeded."
    return _result(x, fval, g, k, status, message, verbose)


def _well_conditioned_cholesky(H, rcond=1e-10):
    """``scipy.linalg.cho_factor(H)`` when ``H`` is positive definite with a
    reciprocal condition number (LAPACK's 1-norm estimate) above ``rcond``,
    else None."""
    try:
        factor = scipy.linalg.cho_factor(H, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    estimate, info = scipy.linalg.lapack.dpocon(factor[0], np.abs(H).sum(axis=0).max(), uplo="L")
    return factor if info == 0 and estimate > rcond else None


#: iterations of L-BFGS-B on one block per cycle of ``'coordinate'``: few,
#: so that the layers progress together over cycles (with 20 the first cycle
#: fitted digits' training rows layer by layer, and the test accuracy was a
#: point below Adam's; see docs/optimization.md)
BLOCK_ITERATIONS = 5

#: relative decrease of a cycle below which ``'coordinate'`` stops: a few
#: units of rounding (the cycle made no progress)
NO_PROGRESS = 4 * np.finfo(np.float64).eps


def _projected_gradient(x, g, lower):
    """The gradient with the components that push a variable at its lower
    bound further down set to zero (L-BFGS-B's projected gradient, for the
    bounds ``(lower, None)`` the L1 split uses)."""
    if lower is None:
        return g
    return np.where((x <= lower) & (g > 0), 0.0, g)


def _coordinate(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds=None, blocks=None):
    """Block coordinate descent: each iteration (a cycle) minimises the
    objective over one block of ``x`` at a time, the others fixed, from the
    last block to the first (for a network: from the output layer, whose
    problem is convex, to the first layer).

    Each block's problem gets ``BLOCK_ITERATIONS`` iterations of L-BFGS-B
    (scipy, ``gtol=tol``, the remaining evaluations of ``max_fun``), started
    from the block's current values; its result is kept only if it lowers
    the objective, so the objective never increases from one cycle to the
    next. The run stops when the full (projected) gradient's largest entry
    is at most ``tol``, as L-BFGS-B's ``gtol``, when a cycle no longer
    lowered the objective (by more than rounding, ``NO_PROGRESS`` relative
    to its size), or after ``max_iter`` cycles.
    """
    x = np.array(x0, dtype=np.float64)
    n = x.shape[0]
    blocks = [np.arange(n)] if blocks is None else [np.asarray(b) for b in blocks]
    lower = None
    if bounds is not None:
        lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    evaluations = [0]

    def full(point):
        evaluations[0] += 1
        return evaluate(point)

    fval, g = full(x)
    k, status, message = 0, 1, "Maximum number of iterations has been exceeded."
    trial = x.copy()
    while k < max_iter:
        if np.max(np.abs(_projected_gradient(x, g, lower))) <= tol:
            status, message = 0, "Optimization terminated successfully."
            break
        previous = fval
        for block in reversed(blocks):
            np.copyto(trial, x)

            def on_block(z, block=block):
                trial[block] = z
                value, grad = full(trial)
                return value, grad[block]

            block_bounds = None if bounds is None else [bounds[i] for i in block]
            found = scipy.optimize.minimize(
                on_block, x[block], method="L-BFGS-B", jac=True, bounds=block_bounds,
                options={
                    "maxiter": BLOCK_ITERATIONS, "gtol": tol,
                    "maxfun": max(1, max_fun - evaluations[0]),
                    **_get_additional_lbfgs_options_dict("iprint", -1),
                },
            )
            if np.isfinite(found.fun) and found.fun < fval:
                x[block] = found.x
                fval = float(found.fun)
        fval, g = full(x)  # the full gradient, for the stopping test
        k += 1
        if verbose:
            print(f"Cycle {k}: objective {fval:.8f}, {evaluations[0]} evaluations")
        try:
            callback(scipy.optimize.OptimizeResult(x=x, fun=fval))
        except StopIteration:
            status, message = 0, "Stopped by the callback."
            break
        if previous - fval <= NO_PROGRESS * max(abs(previous), 1.0):
            status, message = 2, _LOST_PRECISION
            break
    return _result(x, fval, g, k, status, message, verbose)


#: solver name -> function(evaluate, x0, *, max_iter, max_fun, tol, verbose, callback, bounds, blocks);
#: ``blocks`` (index arrays into ``x``) are used by ``'coordinate'`` only
FULL_BATCH = {
    "lbfgs": _lbfgs,
    "cg": _cg,
    "bfgs": _bfgs,
    "newton-cg": _newton_cg,
    "newton": _newton,
    "coordinate": _coordinate,
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


def _blocks_in_subspace(blocks, free):
    """``blocks`` (index arrays into ``theta``) as index arrays into
    ``theta[free]``, without the frozen parameters (and empty blocks)."""
    if blocks is None:
        return None
    kept = [np.searchsorted(free, b[np.isin(b, free)]) for b in blocks]
    return [b for b in kept if b.shape[0]]


def _split_blocks(blocks, n_weights):
    """``blocks`` (index arrays into ``theta``) as index arrays into the L1
    split's ``x = (w_plus, w_minus, other parameters)``: each weight twice."""
    if blocks is None:
        return None
    nw = n_weights
    return [np.concatenate([b[b < nw], nw + b[b < nw], nw + b[b >= nw]]) for b in blocks]


def minimize(
    solver, objective, theta, *, max_iter, max_fun, tol, verbose, callback,
    l1=0.0, n_weights=0, free=None, blocks=None,
):
    """Minimise ``objective`` (plus ``l1 * ||w||_1`` on the first
    ``n_weights`` parameters) from ``theta``, which is updated in place.

    ``free``, when given, is the sorted index array of the parameters to
    optimise (the others are frozen); the weights among them must come first,
    as they do in the flat layout. ``blocks``, index arrays into ``theta``
    (each layer's weights and biases), are the blocks of ``'coordinate'``. ``callback(loss)`` is called after every
    iteration; it may raise ``StopIteration`` to stop the solver cleanly.
    ``max_fun`` bounds the objective's evaluations: natively for ``'lbfgs'``,
    checked after each iteration for the others, which then stop with
    ``success=False`` and a message saying so. Returns scipy's
    ``OptimizeResult``; ``theta`` holds the solution. A ``KeyboardInterrupt``
    stops the solver at the last iteration ``callback`` returned from: the
    result then has ``interrupted=True`` and that iteration's ``x``, ``fun``
    and ``nit`` (the interrupt propagates if there is none).
    """
    if free is not None:
        n_weights = int(np.searchsorted(free, n_weights))
        sub = _Subspace(objective, theta, free)
        x = theta[free].copy()
        result = minimize(
            solver, sub, x, max_iter=max_iter, max_fun=max_fun, tol=tol,
            verbose=verbose, callback=callback, l1=l1, n_weights=n_weights,
            blocks=_blocks_in_subspace(blocks, free),
        )
        theta[free] = x
        return result
    check_size(solver, theta.shape[0])
    if l1 > 0:
        evaluate = _SplitL1Evaluator(objective, theta, n_weights, l1)
        x0 = evaluate.start(theta)
        bounds = evaluate.bounds(theta.shape[0])
        to_theta = evaluate.to_theta
        blocks = _split_blocks(blocks, n_weights)
    else:
        evaluate = _Evaluator(objective, theta)
        x0 = theta.astype(np.float64)
        bounds = None

        def to_theta(x, out):
            out[...] = x
            return out

    out_of_evaluations = []
    # the last iteration the callback returned from: a KeyboardInterrupt
    # (in the objective, a line search or the callback) goes back to it
    completed = {"nit": 0}

    def on_iteration(intermediate_result):
        to_theta(intermediate_result.x, theta)
        done = {
            "x": intermediate_result.x.copy(), "fun": intermediate_result.fun,
            "nit": completed["nit"] + 1,
        }
        try:
            callback(intermediate_result.fun)
        except StopIteration:
            completed.update(done)
            raise
        completed.update(done)
        if solver != "lbfgs" and objective.n_evaluations >= max_fun:
            out_of_evaluations.append(True)
            raise StopIteration

    try:
        result = FULL_BATCH[solver](
            evaluate, x0, max_iter=max_iter, max_fun=max_fun, tol=tol, verbose=verbose,
            callback=on_iteration, bounds=bounds, blocks=blocks,
        )
    except KeyboardInterrupt:
        if not completed["nit"]:
            raise
        result = scipy.optimize.OptimizeResult(
            **completed, success=False, interrupted=True,
            message="Interrupted by the user (KeyboardInterrupt).",
        )
    if out_of_evaluations:
        result.success = False
        result.message = f"Maximum number of function evaluations (max_fun={max_fun}) reached."
    to_theta(result.x, theta)
    return result
