"""The full-batch objective: loss, gradient, Hessian-vector products and the
exact Hessian of a network over a whole data set, for the solvers of
``_full_batch``.

Buffers are allocated once per fit and reused by every call; the data reach
the kernels as one ``records.Block``. The exact Hessian's rows are shared
among the engine's threads (``_threads.run_each``), each with its own
buffers and single-threaded BLAS.
"""

import os

import numpy as np

from .._kernels._jit import option
from .._kernels.hessian import full_hvp, hessian_rows
from .._kernels.network import full_loss_grad
from .._kernels.records import HessianJob, Hidden, HvpOut, RBuffers
from .._kernels.regularizers import weight_penalty
from .._network import CHUNK_ROWS, contractive_record, tangent_record
from .._threads import engine_workers, run_each, single_threaded_blas

#: the full Hessian stacks the first layer's ``R{D_0}`` of up to
#: ``HESSIAN_GROUP`` directions for one product with the inputs, in at most
#: ``HESSIAN_STACK`` values (16 MB in float64)
HESSIAN_GROUP = 64
HESSIAN_STACK = 2**21


class WeightPenalty:
    """The smooth weight penalties of the full-batch objective (``alpha``'s
    L2 and the prior's pull), divided by the weight sum as the data term
    (``scale`` is its inverse); the biases are never penalised."""

    def __init__(self, network, reg, scale, dtype):
        self.n_weights = network.n_weights
        prior_alpha = reg.prior_alpha if reg.prior is not None else 0.0
        self.l2 = reg.l2 * scale
        self.prior = reg.prior if reg.prior is not None else np.zeros(0, dtype=dtype)
        self.prior_coef = prior_alpha * scale
        #: the penalties' constant curvature, on the diagonal of the weights
        self.curvature = (reg.l2 + prior_alpha) * scale

    def add(self, theta, loss, grad):
        """``loss`` plus the penalties at ``theta``, whose gradient is added
        into ``grad``."""
        if self.l2 > 0 or self.prior_coef > 0:
            loss += weight_penalty(
                theta, grad, self.n_weights, self.l2, self.prior_coef, self.prior
            )
        return loss

    def add_curvature(self, v, hv):
        """``hv`` plus the penalties' Hessian times ``v``; returns ``hv``."""
        if self.curvature > 0:
            hv[: self.n_weights] += self.curvature * v[: self.n_weights]
        return hv


class FullBatchObjective:
    """``theta -> (loss, grad)`` over a whole data set, for full-batch solvers.

    The objective is scikit-learn's, with skdeep's smooth penalties: ``(sum_i
    sw_i loss_i + activity, tangent and contractive penalties + l2/2 ||W||^2 + prior/2
    ||W - W_prior||^2) / sum_i sw_i``. (An L1 term is added by the solver,
    which handles it with bound constraints.) Buffers are allocated once here
    and reused by every call.

    ``weight_sum`` replaces ``sum_i sw_i`` when the rows are one part of a
    larger data set (a Dask partition, ``skdeep._distributed``): the parts'
    objectives then add up to the whole one's, given a ``reg`` without the
    weight penalties, which the whole adds once.
    """

    def __init__(self, network, inputs, Y, sample_weight, reg, tangents=None, weight_sum=None):
        if network.batch_norm:
            raise ValueError("Batch normalisation needs mini-batches: no full-batch objective.")
        self.network = network
        self.inputs = inputs
        self.Y = Y
        self.sample_weight = sample_weight
        self.reg = reg
        dtype = Y.dtype
        n = self.n_samples = inputs.n_samples
        self.chunk = min(n, CHUNK_ROWS)
        self.ws = network.workspace(self.chunk, dtype)
        self.grad = np.empty(network.n_params, dtype=dtype)
        self.grad_chunk = np.empty(network.n_params, dtype=dtype)
        if weight_sum is None:
            weight_sum = np.sum(sample_weight, dtype=np.float64)
        self.scale = 1.0 / float(weight_sum)
        self.layout = network.layout()
        self.data = inputs.block(Y, sample_weight, self.scale)
        self.tangent = None  # None: the kernels' specialisation without it
        if tangents is not None and reg.tangent_prop > 0:
            n_t = tangents.shape[1]
            Tb = tangents.reshape(n * n_t, tangents.shape[2])  # a view: rows of tangents
            self.tangent = tangent_record(network, reg.tangent_prop, Tb, self.chunk, n_t)
        self.activity = option(float(reg.activity_l1), reg.activity_l1 > 0)
        self.unlabeled = option(int(reg.unlabeled), reg.unlabeled > 0)
        self.contractive = contractive_record(network, reg.contractive, self.chunk, dtype)
        self.penalty = WeightPenalty(network, reg, self.scale, dtype)
        self.n_evaluations = 0
        self.n_hvp = 0  # Hessian-vector products

    def __call__(self, theta):
        """Loss and gradient at ``theta``; the gradient is ``self.grad``
        (overwritten by the next call)."""
        self.n_evaluations += 1
        work = self.ws.work()
        total = full_loss_grad(
            theta, self.grad, self.grad_chunk, self.layout, self.data, work, self.chunk, self.tangent,
            Hidden(None, work.acts, np.uint64(0), self.activity, self.unlabeled, self.contractive),
        )
        return self.penalty.add(theta, total * self.scale, self.grad), self.grad

    def _rbuffers(self, acts):
        """Fresh R-operator buffers laid out like ``acts``."""
        dtype = self.grad.dtype
        return RBuffers(
            np.empty_like(acts), np.empty_like(acts), np.empty_like(acts),
            np.empty(self.chunk * self.ws.max_units, dtype=dtype),
            np.empty(self.network.largest_weight_matrix, dtype=dtype),
        )

    def _hvp_buffers(self):
        """``full_hvp``'s outputs and R-buffers, allocated on first use."""
        if not hasattr(self, "_hvp_state"):
            P, dtype = self.network.n_params, self.grad.dtype
            out = HvpOut(*(np.empty(P, dtype=dtype) for _ in range(4)))
            self._hvp_state = (out, self._rbuffers(self.ws.acts))
        return self._hvp_state

    def _hessian_job(self, worker, n_workers, acts):
        """Worker ``worker``'s share of ``hessian_rows`` (rows ``worker,
        worker + n_workers, ...``), with fresh buffers."""
        dtype, sizes = self.grad.dtype, self.network.sizes
        width = int(sizes[1])
        group = max(1, min(HESSIAN_GROUP, HESSIAN_STACK // (self.chunk * width)))
        return HessianJob(
            first=worker, step=n_workers, curv=np.empty_like(acts),
            hv=np.empty(self.network.n_params, dtype=dtype), group=group,
            stack=np.empty(self.chunk * group * width, dtype=dtype),
            products=np.empty(int(sizes[0]) * group * width, dtype=dtype),
        )

    def hvp(self, theta, v):
        """The exact Hessian-vector product ``H v`` of the objective at
        ``theta`` (a buffer, overwritten by the next call)."""
        self.n_hvp += 1
        out, rbuf = self._hvp_buffers()
        v = np.ascontiguousarray(v, dtype=self.grad.dtype)
        full_hvp(theta, v, out, self.layout, self.data, self.ws.work(), rbuf, self.chunk)
        return self.penalty.add_curvature(v, out.hv)

    def hessian(self, theta):
        """The exact Hessian of the objective at ``theta``, float64 and
        symmetrised (it is symmetric up to rounding): row ``j`` is ``H e_j``
        (``hessian_rows``: one forward and backward pass per chunk of rows
        serves every direction), the rows shared among the cores (each thread
        with its own buffers and single-threaded BLAS)."""
        P, nw = self.network.n_params, self.network.n_weights
        H = np.zeros((P, P))  # hessian_rows adds each block of rows into it
        n_workers = engine_workers(min(P, os.cpu_count() or 1))
        works = [self.ws.work()] + [
            self.ws.work(np.empty_like(self.ws.acts), np.empty_like(self.ws.deltas))
            for _ in range(n_workers - 1)
        ]

        def rows(worker):
            work = works[worker]
            hessian_rows(
                theta, H, self.layout, self.data, work, self._rbuffers(work.acts),
                self._hessian_job(worker, n_workers, work.acts), self.chunk,
            )

        with single_threaded_blas(n_workers > 1):
            run_each(rows, n_workers)
        self.n_hvp += P
        H[np.arange(nw), np.arange(nw)] += self.penalty.curvature
        return 0.5 * (H + H.T)
