"""The two-sided tangent distance (Simard et al., 1993) of blocks of queries
to their candidate training rows: one kernel, one small least-squares
problem per pair.

For a query ``q`` with tangents ``Tq`` (rows) and a training row ``x`` with
tangents ``Tx``, ``r = q - x``, ``A = [Tq^T, Tx^T]`` and ``h = A^T r``:

    d^2 = min_c ||r - A c||^2 + lam ||c||^2 = ||r||^2 - h^T (A^T A + lam I)^{-1} h

(the sign of ``Tx``'s coefficients is absorbed into ``c``). The normal
equations are solved by a Cholesky factorisation in float64: ``A^T A``'s
diagonal blocks are the points' own Gram matrices, computed once per point
(``TangentPlanes.gram``), so a pair costs the cross block and ``h``,
``(1 + kq + kx + kq kx)`` dot products of length ``n_features``, and then
only ``||L^{-1} h||^2`` is needed (no back substitution). ``lam`` is
``regularization`` times the mean diagonal entry of ``A^T A``, so the
distance does not depend on the tangents' scale; it keeps the system
positive definite when the two planes share a direction (nearby points'
local tangents nearly do), where QR would need a rank decision per pair.
The value is the ridge problem's minimum, so it lies between the exact
tangent distance and the Euclidean one (``c = 0``), and is exactly zero
when ``q == x``.
"""

import math

from ._jit import entry_jit, larger


@entry_jit
def tangent_distances(queries, train, candidates, residual, system, out, regularization):
    """Squared tangent distances of each query to its candidates.

    ``queries`` and ``train`` are ``TangentPlanes`` records (``points`` of
    shape (n, d), ``tangents`` (n, k, d), ``gram`` (n, k, k) float64);
    ``candidates[i, j]`` is a row of ``train``; writes ``out[i, j]``, the
    squared (ridge-regularised) distance of query ``i`` to candidate ``j``.
    ``residual`` (d,) in the points' dtype and ``system`` (kq + kx,
    kq + kx + 1) float64 are workspaces.
    """
    Q, TQ, GQ = queries.points, queries.tangents, queries.gram
    X, TX, GX = train.points, train.tangents, train.gram
    n_features = Q.shape[1]
    kq = TQ.shape[1]
    k = kq + TX.shape[1]
    for i in range(Q.shape[0]):
        for j in range(candidates.shape[1]):
            c = candidates[i, j]
            squared = 0.0
            for f in range(n_features):
                v = Q[i, f] - X[c, f]
                residual[f] = v
                squared += v * v
            # the system [[Gq, C], [C^T, Gx]] c = h, lower triangle, rhs last
            trace = 0.0
            for a in range(k):
                Ta = TQ[i, a] if a < kq else TX[c, a - kq]
                s = 0.0
                for f in range(n_features):
                    s += Ta[f] * residual[f]
                system[a, k] = s
                for b in range(a + 1):
                    if a < kq:
                        system[a, b] = GQ[i, a, b]
                    elif b >= kq:
                        system[a, b] = GX[c, a - kq, b - kq]
                    else:
                        s = 0.0
                        Tb = TQ[i, b]
                        for f in range(n_features):
                            s += Ta[f] * Tb[f]
                        system[a, b] = s
                trace += system[a, a]
            lam = regularization * trace / larger(k, 1)
            # Cholesky in place, then L y = h; directions whose pivot
            # vanishes (zero tangents, or parallel ones without
            # regularisation) are dropped, as a pseudo-inverse would
            explained = 0.0
            for a in range(k):
                diagonal = system[a, a] + lam
                pivot = diagonal
                for t in range(a):
                    pivot -= system[a, t] * system[a, t]
                if pivot > 1e-10 * diagonal and pivot > 0.0:
                    root = math.sqrt(pivot)
                    system[a, a] = root
                    y = system[a, k]
                    for t in range(a):
                        y -= system[a, t] * system[t, k]
                    system[a, k] = y / root
                    for b in range(a + 1, k):
                        s = system[b, a]
                        for t in range(a):
                            s -= system[b, t] * system[a, t]
                        system[b, a] = s / root
                    explained += system[a, k] * system[a, k]
                else:
                    system[a, a] = 0.0
                    system[a, k] = 0.0
                    for b in range(a + 1, k):
                        system[b, a] = 0.0
            out[i, j] = larger(squared - explained, 0.0)
