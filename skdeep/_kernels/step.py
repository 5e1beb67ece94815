"""One shard's training step: input perturbations, adversarial examples, the
forward/backward pass.

Adversarial training (Goodfellow, Shlens & Szegedy, 2015) minimises
``(loss(x) + loss(x_adv)) / 2`` where ``x_adv`` maximises the loss within the
L-infinity ball of radius ``eps`` around ``x``: one signed-gradient step (FGSM)
when ``steps == 1``, otherwise projected gradient ascent (PGD, Madry et al.,
2018) from a random start with steps of ``2.5 * eps / steps``.
"""

from . import config
from ._jit import jit, optional
from .linalg import copy_matrix
from .network import train_pass
from .random import uniform


@jit
def _signed_step(xa, x, d, step, eps):
    """``xa <- clip(xa + step * sign(d), x - eps, x + eps)``."""
    n, m = xa.shape
    for i in range(n):
        a = xa[i]
        x0 = x[i]
        g = d[i]
        for j in range(m):
            v = a[j]
            if g[j] > 0:
                v += step
            elif g[j] < 0:
                v -= step
            a[j] = min(max(v, x0[j] - eps), x0[j] + eps)


@jit
def _random_start(xa, x, eps, key):
    n, m = xa.shape
    for i in range(n):
        for j in range(m):
            xa[i, j] = x[i, j] + eps * (2.0 * uniform(key, i * m + j) - 1.0)


@optional
def _frozen_statistics(bn):
    """The batch-normalisation tuple with momentum 0: the pass uses the batch
    statistics but leaves the running ones as they are."""
    return bn[:4] + (0.0,) + bn[5:]


@jit
def shard_step(
    theta, grad, net, xb, csr, sparse, rows, n, yb, wb, scale, acts, deltas,
    a_off, reg, drop, masks, activity, keys, adv, tangent, bn,
):
    """Returns the shard's ``sum_i sw_i loss_i`` (penalties of the pass
    included); ``grad <- scale * d/dtheta``. Input dropout and noise are
    already applied to ``xb`` (by the caller, on its private copy);
    ``keys = (hidden dropout, adversarial start)``; ``adv = (x_adv, dx,
    grad_adv)``, the tangent tuple and batch normalisation's tuple (see
    ``network``) are None when their technique is off, which prunes their
    code from the specialisation; so may be ``drop`` and ``activity`` (see
    ``network.forward_train``)."""
    if adv is None:
        return train_pass(
            theta, grad, net, xb, csr, sparse, rows, n, yb, wb, scale, acts, deltas,
            a_off, drop, masks, keys[0], activity, acts[:0].reshape((0, 1)), tangent,
            True, bn,
        )
    eps = reg[config.ADVERSARIAL_EPS]
    steps = int(reg[config.ADVERSARIAL_STEPS])
    x_adv, dx, grad_adv = adv
    xa = x_adv[:n]
    d = dx[:n]
    quiet = _frozen_statistics(bn)  # PGD's inner passes leave them alone
    if steps <= 1:
        clean = train_pass(
            theta, grad, net, xb, csr, sparse, rows, n, yb, wb, scale, acts, deltas,
            a_off, drop, masks, keys[0], activity, d, tangent, True, bn,
        )
        copy_matrix(xb, xa)
        _signed_step(xa, xb, d, xb.dtype.type(eps), xb.dtype.type(eps))
    else:
        clean = train_pass(
            theta, grad, net, xb, csr, sparse, rows, n, yb, wb, scale, acts, deltas,
            a_off, drop, masks, keys[0], activity, d[:0], tangent, True, bn,
        )
        _random_start(xa, xb, eps, keys[1])
        step = xb.dtype.type(2.5 * eps / steps)
        for _ in range(steps):
            train_pass(
                theta, grad_adv, net, xa, csr, sparse, rows, n, yb, wb, scale, acts,
                deltas, a_off, drop, masks, keys[0], activity, d, None, False, quiet,
            )
            _signed_step(xa, xb, d, step, xb.dtype.type(eps))
    adversarial = train_pass(
        theta, grad_adv, net, xa, csr, sparse, rows, n, yb, wb, scale, acts, deltas,
        a_off, drop, masks, keys[0], activity, d[:0], None, True, bn,
    )
    half = grad.dtype.type(0.5)
    for i in range(grad.shape[0]):
        grad[i] = half * (grad[i] + grad_adv[i])
    return 0.5 * (clean + adversarial)
