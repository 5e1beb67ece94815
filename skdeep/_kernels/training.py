"""The compiled mini-batch loop: one call runs a whole epoch.

Compiling the loop over batches, not only the element-wise kernels, removes the
Python overhead per step, which dominates training with small batches. Nothing
is allocated per batch: rows are gathered into preallocated buffers (or sliced
when the order is not shuffled) and every per-layer array is a view.
"""

from ._jit import jit
from .linalg import gather, gather_rows, sum_float64
from .network import add_l2_penalty, forward_backward
from .updates import optimizer_step


@jit
def train_epoch(
    theta, grad, net, X, csr, sparse, Y, sw, order, shuffled, batch_size,
    Xb_buf, Yb_buf, swb_buf, acts, deltas, a_off, n_weights, alpha,
    opt_code, opt_state, opt_hyper, opt_counters, lr,
):
    """One pass over ``order``; returns scikit-learn's epoch loss.

    Each batch minimises ``(sum_i sw_i loss_i + alpha/2 ||W||^2) / sum_i sw_i``
    over its rows, as scikit-learn does; the epoch loss is the mean of the batch
    losses weighted by batch size.
    """
    n = order.shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        nb = stop - start
        rows = order[start:stop]
        if shuffled:
            if not sparse:
                gather_rows(X, rows, Xb_buf)
            gather_rows(Y, rows, Yb_buf)
            gather(sw, rows, swb_buf)
            Xb = Xb_buf[:nb]
            Yb = Yb_buf[:nb]
            swb = swb_buf[:nb]
        else:
            Xb = X[start:stop] if not sparse else Xb_buf[:nb]
            Yb = Y[start:stop]
            swb = sw[start:stop]
        sw_sum = sum_float64(swb)
        if sw_sum <= 0.0:
            continue  # only zero-weight rows: no gradient, no step
        scale = 1.0 / sw_sum
        loss = scale * forward_backward(
            theta, grad, net, Xb, csr, sparse, rows, nb, Yb, swb, scale, acts,
            deltas, a_off,
        )
        if alpha > 0.0:
            loss += add_l2_penalty(theta, grad, n_weights, alpha * scale)
        total += loss * nb
        optimizer_step(opt_code, theta, grad, opt_state, opt_hyper, opt_counters, lr)
    return total / n
