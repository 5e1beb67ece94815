"""One shard's training step: input perturbations, adversarial examples, the
forward/backward pass.

Adversarial training (Goodfellow, Shlens & Szegedy, 2015) minimises
``(loss(x) + loss(x_adv)) / 2`` where ``x_adv`` maximises the loss within the
L-infinity ball of radius ``eps`` around ``x``: one signed-gradient step (FGSM)
when ``steps == 1``, otherwise projected gradient ascent (PGD, Madry et al.,
2018) from a random start with steps of ``2.5 * eps / steps``.
"""

from ._jit import jit, larger, optional, smaller
from .linalg import copy_matrix
from .network import train_pass
from .random import uniform
from .records import BatchNorm, Block


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
            a[j] = smaller(larger(v, x0[j] - eps), x0[j] + eps)


@jit
def _random_start(xa, x, eps, key):
    n, m = xa.shape
    for i in range(n):
        for j in range(m):
            xa[i, j] = x[i, j] + eps * (2.0 * uniform(key, i * m + j) - 1.0)


@optional
def _frozen_statistics(bn):
    """The batch-normalisation record with momentum 0: the pass uses the
    batch statistics but leaves the running ones as they are."""
    return BatchNorm(bn.offsets, bn.xhat, bn.inv, bn.target, 0.0, bn.stats)


@jit
def shard_step(theta, grad, net, block, work, hidden, adv, tangent, bn):
    """Returns the shard's ``sum_i sw_i loss_i`` (penalties of the pass
    included); ``grad <- scale * d/dtheta``. Input dropout and noise are
    already applied to ``block.X`` (by the caller, on its private copy);
    ``adv`` (``records.Adversarial`` of the shard), ``tangent`` and ``bn``
    (see ``network``) are None when their technique is off, which prunes
    their code from the specialisation; so may be the fields of ``hidden``
    (see ``network.forward_train``)."""
    if adv is None:
        return train_pass(
            theta, grad, net, block, work, hidden, work.acts[:0].reshape((0, 1)), tangent,
            True, bn,
        )
    eps = adv.eps
    steps = adv.steps
    n = block.n
    xb = block.X
    xa = adv.x_adv[:n]
    d = adv.dx[:n]
    adversarial_block = Block(
        xa, block.csr, block.sparse, block.rows, n, block.Y, block.sw, block.scale
    )
    quiet = _frozen_statistics(bn)  # PGD's inner passes leave them alone
    if steps <= 1:
        clean = train_pass(theta, grad, net, block, work, hidden, d, tangent, True, bn)
        copy_matrix(xb, xa)
        _signed_step(xa, xb, d, xb.dtype.type(eps), xb.dtype.type(eps))
    else:
        clean = train_pass(theta, grad, net, block, work, hidden, d[:0], tangent, True, bn)
        _random_start(xa, xb, eps, adv.key)
        step = xb.dtype.type(2.5 * eps / steps)
        for _ in range(steps):
            train_pass(theta, adv.grad, net, adversarial_block, work, hidden, d, None, False, quiet)
            _signed_step(xa, xb, d, step, xb.dtype.type(eps))
    adversarial = train_pass(
        theta, adv.grad, net, adversarial_block, work, hidden, d[:0], None, True, bn
    )
    half = grad.dtype.type(0.5)
    grad_adv = adv.grad
    for i in range(grad.shape[0]):
        grad[i] = half * (grad[i] + grad_adv[i])
    return 0.5 * (clean + adversarial)
