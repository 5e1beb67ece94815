"""The network: layer sizes, one flat parameter vector and per-layer views.

``Network`` knows the layout of ``theta`` (every weight matrix in C order, then
every bias; see ``_kernels.network``), hands per-layer views to the estimator
(``coefs_[i]`` is a view of ``theta`` with shape ``(n_in, n_out)``), and owns the
entry points into the compiled engine that do not depend on an optimizer:
prediction and the full-batch loss and gradient.

The engine never sees scikit-learn objects: data reach it as ``Inputs``
(validated arrays) and the network as the tuple from ``Network.spec``.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from ._kernels._jit import kernel_tuple, option
from ._kernels.activations import ACTIVATIONS
from ._kernels.batchnorm import EPSILON as BATCH_NORM_EPSILON
from ._kernels.hessian import full_hvp, hessian_rows
from ._kernels.losses import LOSSES, loss_value, output_activation
from ._kernels.network import (
    forward_raw,
    full_loss_grad,
    predict_dropout_raw,
    predict_raw,
)
from ._kernels.regularizers import weight_penalty
from ._threads import engine_workers, single_threaded_blas

#: rows per block when a whole data set goes through the network (prediction,
#: full-batch solvers): bounds the activation buffers and keeps them in cache.
CHUNK_ROWS = 4096

#: the full Hessian stacks the first layer's ``R{D_0}`` of up to
#: ``HESSIAN_GROUP`` directions for one product with the inputs, in at most
#: ``HESSIAN_STACK`` values (16 MB in float64)
HESSIAN_GROUP = 64
HESSIAN_STACK = 2**21


class Inputs:
    """Validated input rows in the form the kernels take.

    Dense input is a C-contiguous 2-D array; sparse input is CSR, given to the
    kernels as ``(data, indices, indptr)`` with a placeholder dense array.
    Dense input gets None for the CSR arrays, so that its kernels are
    compiled without the sparse code, or placeholder arrays when
    ``_jit.SPECIALISE`` is off, so that one compiled function serves both.
    """

    def __init__(self, X, dtype):
        self.dtype = np.dtype(dtype)
        self.n_samples, self.n_features = X.shape
        self.sparse = sp.issparse(X)
        if self.sparse:
            X = sp.csr_matrix(X, dtype=self.dtype)
            X.sum_duplicates()
            index_dtype = np.int32 if X.nnz < np.iinfo(np.int32).max else np.int64
            self.dense = np.zeros((1, 1), dtype=self.dtype)
            self.csr = (
                np.ascontiguousarray(X.data, dtype=self.dtype),
                np.ascontiguousarray(X.indices, dtype=index_dtype),
                np.ascontiguousarray(X.indptr, dtype=index_dtype),
            )
        else:
            self.dense = np.ascontiguousarray(X, dtype=self.dtype)
            self.csr = no_csr(self.dtype)
        self.matrix = X

    def take(self, rows):
        """The rows ``rows`` as a new ``Inputs`` (for train/validation splits)."""
        return Inputs(self.matrix[rows], self.dtype)


class Workspace:
    """Per-layer activation and delta buffers for up to ``batch_size`` rows."""

    def __init__(self, sizes, batch_size, dtype):
        units = np.asarray(sizes[1:], dtype=np.int64)
        self.batch_size = int(batch_size)
        self.a_off = np.concatenate([[0], np.cumsum(units * self.batch_size)[:-1]])
        self.a_off = self.a_off.astype(np.int64)
        self.size = int(units.sum()) * self.batch_size
        self.max_units = int(units.max())
        self.acts = np.empty(self.size, dtype=dtype)
        self.deltas = np.empty(self.size, dtype=dtype)


def tangent_buffers(network, rows, n_tangents, dtype, copies=None):
    """The scratch buffers of tangent propagation for ``rows`` rows, in the
    order of the kernels' tangent tuple after the tangents themselves: ``(S, U,
    dU, dU_next, F, F2, extra, gt)``; with ``copies``, each has that many
    copies along a leading axis."""
    units = network.sizes[1:]
    size = int(units.sum()) * rows
    widest = int(units.max())
    lead = () if copies is None else (copies,)
    t = n_tangents
    return (
        np.empty(lead + (size * t,), dtype=dtype),
        np.empty(lead + (size * t,), dtype=dtype),
        np.empty(lead + (rows * t * widest,), dtype=dtype),
        np.empty(lead + (rows * t * widest,), dtype=dtype),
        np.empty(lead + (rows * widest,), dtype=dtype),
        np.empty(lead + (rows * widest,), dtype=dtype),
        np.empty(lead + (size,), dtype=dtype),
        np.empty(lead + (network.n_params,), dtype=dtype),
    )


def no_csr(dtype):
    """The CSR arrays of dense input: None (the kernels are compiled without
    the sparse code), or placeholders when ``_jit.SPECIALISE`` is off."""
    return option((np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int32)), False)


def no_tangents(n_samples, dtype):
    """The tangent array of a fit without tangent propagation."""
    return np.empty((n_samples, 0, 1), dtype=dtype)


class Network:
    """Layer sizes and the layout of the flat parameter vector.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_features, hidden_1, ..., n_outputs]``.
    activation : str
        Hidden activation, a key of ``ACTIVATIONS``.
    loss : str
        A key of ``LOSSES``; it fixes the output activation.
    segments : sequence of int, default=None
        Softmax head boundaries of the output units (``log_loss`` only); by
        default one head over all outputs.
    batch_norm : bool, default=False
        Batch normalisation of the hidden layers: their biases go unused and
        ``theta`` ends with the scales, shifts, running means and running
        variances of the ``n_hidden_units`` hidden units (see
        ``_kernels.batchnorm``).
    """

    def __init__(self, sizes, activation, loss, segments=None, batch_norm=False):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.activation = activation
        self.loss = loss
        self.batch_norm = bool(batch_norm) and len(self.sizes) > 2
        n_out = int(self.sizes[-1])
        if segments is None:
            segments = [0, n_out]
        self.segments = np.asarray(segments, dtype=np.int64)
        fan = self.sizes[:-1] * self.sizes[1:]
        self.n_weights = int(fan.sum())
        self.largest_weight_matrix = int(fan.max())  # scratch size of the R-passes
        self.w_off = np.concatenate([[0], np.cumsum(fan)[:-1]]).astype(np.int64)
        b_off = self.n_weights + np.concatenate([[0], np.cumsum(self.sizes[1:])[:-1]])
        self.b_off = b_off.astype(np.int64)
        n_plain = self.n_weights + int(self.sizes[1:].sum())
        hidden = self.sizes[1:-1]
        self.n_hidden_units = int(hidden.sum())
        if self.batch_norm:
            self.bn_off = (n_plain + np.concatenate([[0], np.cumsum(hidden)])).astype(np.int64)
            self.n_params = n_plain + 4 * self.n_hidden_units
        else:
            self.bn_off = np.zeros(0, dtype=np.int64)
            self.n_params = n_plain

    @property
    def n_layers(self):
        """Number of weight layers (scikit-learn's ``n_layers_ - 1``)."""
        return len(self.sizes) - 1

    @property
    def out_activation(self):
        return LOSSES[self.loss].out_activation

    def spec(self):
        """The tuple that describes the network to the kernels (its
        activation code is a compile-time constant with ``_jit.SPECIALISE``;
        the loss is chosen at run time)."""
        return kernel_tuple((
            self.sizes,
            self.w_off,
            self.b_off,
            ACTIVATIONS[self.activation].code,
            LOSSES[self.loss].code,  # chosen at run time, see engine.md
            self.segments,
        ))

    # -------------------------------------------------------------- views

    def coefs(self, theta):
        """Per-layer weight matrices, as views of ``theta``."""
        return [
            theta[o : o + a * b].reshape(a, b)
            for o, a, b in zip(self.w_off, self.sizes[:-1], self.sizes[1:])
        ]

    def intercepts(self, theta):
        """Per-layer bias vectors, as views of ``theta``."""
        return [theta[o : o + b] for o, b in zip(self.b_off, self.sizes[1:])]

    def batch_norm_views(self, theta):
        """``(scales, shifts, running_means, running_vars)``, each a list of
        per-hidden-layer views of ``theta`` (empty lists without batch
        normalisation)."""
        if not self.batch_norm:
            return [], [], [], []
        H = self.n_hidden_units
        starts = self.bn_off[:-1]
        ends = self.bn_off[1:]
        return tuple(
            [theta[a + k * H : b + k * H] for a, b in zip(starts, ends)] for k in range(4)
        )

    def plain(self):
        """The same network without batch normalisation (what ``fold``'s
        parameters are laid out for)."""
        return Network(self.sizes, self.activation, self.loss, self.segments)

    def fold(self, theta):
        """Parameters of ``plain()`` that compute what this network computes at
        prediction time: each normalised layer is the affine map
        ``y = gamma * (z - mean) / sqrt(var + eps) + beta`` of ``z = a W``,
        merged into ``W`` and the bias. Without batch normalisation, ``theta``."""
        if not self.batch_norm:
            return theta
        plain = self.plain()
        folded = np.empty(plain.n_params, dtype=theta.dtype)
        folded[:] = theta[: plain.n_params]
        coefs, intercepts = plain.coefs(folded), plain.intercepts(folded)
        for layer, (gamma, beta, mean, var) in enumerate(zip(*self.batch_norm_views(theta))):
            a = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
            coefs[layer] *= a
            intercepts[layer][:] = beta - a * mean
        return folded

    def frozen_ranges(self, n_frozen):
        """The parameter intervals the optimizer must not step, as sorted
        ``(start, stop)`` rows: the first ``n_frozen`` layers' weights, biases
        (and normalisation scales and shifts), and the running statistics."""
        k = int(n_frozen)
        ranges = []
        if k:
            ranges += [(0, self.w_off[k]), (self.n_weights, self.b_off[k])]
        if self.batch_norm:
            H, start = self.n_hidden_units, int(self.bn_off[0])
            hidden_frozen = int(self.bn_off[min(k, len(self.bn_off) - 1)]) - start
            if hidden_frozen:
                ranges += [(start, start + hidden_frozen), (start + H, start + H + hidden_frozen)]
            ranges.append((start + 2 * H, start + 4 * H))
        return np.array(ranges, dtype=np.int64).reshape(-1, 2)

    def pack(self, coefs, intercepts, dtype, base=None):
        """A new flat vector holding ``coefs`` and ``intercepts``; the rest
        (batch normalisation) from ``base`` when given, else zeros."""
        theta = np.zeros(self.n_params, dtype=dtype) if base is None else base.astype(dtype)
        for view, value in zip(self.coefs(theta), coefs):
            view[...] = value
        for view, value in zip(self.intercepts(theta), intercepts):
            view[...] = value
        return theta

    def is_view_of(self, theta, coefs, intercepts):
        """Whether ``coefs``/``intercepts`` are still this layout's views of
        ``theta`` (a user may have replaced them with new arrays)."""
        if len(coefs) != self.n_layers or len(intercepts) != self.n_layers:
            return False
        base = theta.__array_interface__["data"][0]
        step = theta.itemsize
        expected = [(w, o) for w, o in zip(coefs, self.w_off)]
        expected += [(b, o) for b, o in zip(intercepts, self.b_off)]
        for arr, off in expected:
            if not isinstance(arr, np.ndarray) or arr.dtype != theta.dtype:
                return False
            if arr.__array_interface__["data"][0] != base + int(off) * step:
                return False
        return [c.shape for c in coefs] == [
            (int(a), int(b)) for a, b in zip(self.sizes[:-1], self.sizes[1:])
        ]

    def workspace(self, batch_size, dtype):
        return Workspace(self.sizes, batch_size, dtype)

    # ---------------------------------------------------- engine entry points

    def predict_raw(self, theta, inputs):
        """Raw output (before the output activation) for every input row."""
        if self.batch_norm:
            return self.plain().predict_raw(self.fold(theta), inputs)
        n = inputs.n_samples
        chunk = min(n, CHUNK_ROWS)
        ws = self.workspace(chunk, theta.dtype)
        out = np.empty((n, int(self.sizes[-1])), dtype=theta.dtype)
        rows = np.arange(n, dtype=np.int64)
        predict_raw(
            theta, self.spec(), inputs.dense, inputs.csr, inputs.sparse, rows,
            chunk, ws.acts, ws.a_off, out,
        )
        return out

    def activate(self, raw):
        """Apply the output activation to raw outputs, in place; returns them."""
        output_activation(LOSSES[self.loss].code, raw, self.segments)
        return raw

    def predict(self, theta, inputs):
        """Network output after the output activation."""
        return self.activate(self.predict_raw(theta, inputs))

    def hidden_activations(self, theta, inputs):
        """The activations of every hidden layer for every input row."""
        n = inputs.n_samples
        out = [np.empty((n, int(u)), dtype=theta.dtype) for u in self.sizes[1:-1]]
        for start, stop, blocks in self._hidden_blocks(theta, inputs):
            for layer, block in enumerate(blocks):
                out[layer][start:stop] = block
        return out

    def hidden_zero_fractions(self, theta, inputs):
        """For every hidden layer, the fraction of its activations over the
        input rows that are exactly zero (counted block by block: the
        activations themselves are not kept)."""
        zeros = np.zeros(len(self.sizes) - 2)
        for _, _, blocks in self._hidden_blocks(theta, inputs):
            for layer, block in enumerate(blocks):
                zeros[layer] += block.size - np.count_nonzero(block)
        return zeros / (inputs.n_samples * self.sizes[1:-1])

    def _hidden_blocks(self, theta, inputs):
        """``(start, stop, [hidden activations of rows start:stop per
        layer])`` for consecutive blocks of rows; the arrays are views of a
        buffer the next block overwrites."""
        if self.batch_norm:
            yield from self.plain()._hidden_blocks(self.fold(theta), inputs)
            return
        n = inputs.n_samples
        chunk = min(n, CHUNK_ROWS)
        ws = self.workspace(chunk, theta.dtype)
        rows = np.arange(n, dtype=np.int64)
        units = [int(u) for u in self.sizes[1:-1]]
        spec = self.spec()
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            Xb = inputs.dense if inputs.sparse else inputs.dense[start:stop]
            forward_raw(
                theta, spec, Xb, inputs.csr, inputs.sparse, rows[start:stop],
                stop - start, ws.acts, ws.a_off,
            )
            blocks = []
            for layer, u in enumerate(units):
                offset = int(ws.a_off[layer])
                blocks.append(ws.acts[offset : offset + (stop - start) * u].reshape(stop - start, u))
            yield start, stop, blocks

    def predict_sampled(self, theta, inputs, dropout, input_dropout, seed, sample):
        """Output with freshly drawn dropout masks (Monte-Carlo dropout)."""
        if self.batch_norm:
            return self.plain().predict_sampled(
                self.fold(theta), inputs, dropout, input_dropout, seed, sample
            )
        n = inputs.n_samples
        chunk = min(n, CHUNK_ROWS)
        ws = self.workspace(chunk, theta.dtype)
        masks = np.empty_like(ws.acts)
        use_inputs = input_dropout > 0 and not inputs.sparse
        x_buf = np.empty((chunk if use_inputs else 0, inputs.n_features), dtype=theta.dtype)
        out = np.empty((n, int(self.sizes[-1])), dtype=theta.dtype)
        predict_dropout_raw(
            theta, self.spec(), inputs.dense, inputs.csr, inputs.sparse,
            np.arange(n, dtype=np.int64), chunk, ws.acts, ws.a_off,
            np.asarray(dropout, dtype=np.float64), float(input_dropout if use_inputs else 0.0),
            x_buf, masks, np.ones(chunk, dtype=theta.dtype), np.uint64(seed), sample, out,
        )
        return self.activate(out)

    def loss_value(self, raw, Y, sample_weight):
        """Weighted mean loss of raw outputs ``raw`` (data term only)."""
        total = loss_value(LOSSES[self.loss].code, raw, Y, sample_weight, self.segments)
        return total / float(np.sum(sample_weight, dtype=np.float64))


class FullBatchObjective:
    """``theta -> (loss, grad)`` over a whole data set, for full-batch solvers.

    The objective is scikit-learn's, with skdeep's smooth penalties: ``(sum_i
    sw_i loss_i + activity and tangent penalties + l2/2 ||W||^2 + prior/2
    ||W - W_prior||^2) / sum_i sw_i``. (An L1 term is added by the solver,
    which handles it with bound constraints.) Buffers are allocated once here
    and reused by every call.
    """

    def __init__(self, network, inputs, Y, sample_weight, reg, tangents=None):
        if network.batch_norm:
            raise ValueError("Batch normalisation needs mini-batches: no full-batch objective.")
        self.network = network
        self.inputs = inputs
        self.Y = Y
        self.sample_weight = sample_weight
        self.reg = reg
        dtype = Y.dtype
        n = inputs.n_samples
        self.chunk = min(n, CHUNK_ROWS)
        self.ws = network.workspace(self.chunk, dtype)
        self.rows = np.arange(n, dtype=np.int64)
        self.grad = np.empty(network.n_params, dtype=dtype)
        self.grad_chunk = np.empty(network.n_params, dtype=dtype)
        self.scale = 1.0 / float(np.sum(sample_weight, dtype=np.float64))
        self.spec = network.spec()
        self.tangent = None  # None: the kernels' specialisation without it
        if tangents is not None and reg.tangent_prop > 0:
            buffers = tangent_buffers(network, self.chunk, tangents.shape[1], dtype)
            self.tangent = (reg.tangent_prop, tangents, *buffers)
        self.activity = option(float(reg.activity_l1), reg.activity_l1 > 0)
        self.prior = reg.prior if reg.prior is not None else np.zeros(0, dtype=dtype)
        self.prior_coef = reg.prior_alpha if reg.prior is not None else 0.0
        self.n_evaluations = 0
        self.n_hvp = 0  # Hessian-vector products

    def __call__(self, theta):
        """Loss and gradient at ``theta``; the gradient is ``self.grad``
        (overwritten by the next call)."""
        self.n_evaluations += 1
        inp, ws = self.inputs, self.ws
        total = full_loss_grad(
            theta, self.grad, self.spec, inp.dense, inp.csr, inp.sparse, self.rows,
            self.Y, self.sample_weight, self.scale, self.chunk, ws.acts,
            ws.deltas, ws.a_off, self.grad_chunk, self.activity, self.tangent,
        )
        loss = total * self.scale
        if self.reg.l2 > 0 or self.prior_coef > 0:
            # the penalties are divided by the weight sum, as the data term
            loss += weight_penalty(
                theta, self.grad, self.network.n_weights, self.reg.l2 * self.scale,
                self.prior_coef * self.scale, self.prior,
            )
        return loss, self.grad

    def _hvp_arguments(self):
        """The arguments of ``full_hvp`` after ``theta`` and ``v``, with
        buffers allocated on first use (the data are shared)."""
        if not hasattr(self, "_hvp_buffers"):
            dtype, ws, P = self.grad.dtype, self.ws, self.network.n_params
            self._hvp_buffers = (
                np.empty(P, dtype=dtype), np.empty(P, dtype=dtype), self.spec, self.inputs.dense,
                self.inputs.csr, self.inputs.sparse, self.rows, self.Y,
                self.sample_weight, self.scale, self.chunk, ws.acts, ws.deltas, ws.a_off,
                *(np.empty_like(ws.acts) for _ in range(3)), *self._scratch(),
                np.empty(P, dtype=dtype), np.empty(P, dtype=dtype),
            )
            self._hv = self._hvp_buffers[1]
        return self._hvp_buffers

    def _scratch(self):
        """A block of the widest layer and a matrix of the largest weight
        matrix, the R-passes' scratch."""
        dtype = self.grad.dtype
        return (
            np.empty(self.chunk * self.ws.max_units, dtype=dtype),
            np.empty(self.network.largest_weight_matrix, dtype=dtype),
        )

    def _hessian_arguments(self, acts, deltas):
        """``hessian_rows``' arguments after ``theta``, ``first``, ``step``
        and ``H``, with fresh buffers (but the given activation and delta
        blocks); the data are shared."""
        dtype, sizes = self.grad.dtype, self.network.sizes
        width = int(sizes[1])
        group = max(1, min(HESSIAN_GROUP, HESSIAN_STACK // (self.chunk * width)))
        return (
            self.spec, self.inputs.dense, self.inputs.csr, self.inputs.sparse, self.rows,
            self.Y, self.sample_weight, self.scale, self.chunk, acts, deltas, self.ws.a_off,
            *(np.empty_like(acts) for _ in range(4)), *self._scratch(),
            np.empty(self.network.n_params, dtype=dtype), group,
            np.empty(self.chunk * group * width, dtype=dtype),
            np.empty(int(sizes[0]) * group * width, dtype=dtype),
        )

    def _penalty_curvature(self):
        """The constant curvature of the weight penalties."""
        return (self.reg.l2 + self.prior_coef) * self.scale

    def hvp(self, theta, v):
        """The exact Hessian-vector product ``H v`` of the objective at
        ``theta`` (a buffer, overwritten by the next call)."""
        self.n_hvp += 1
        arguments = self._hvp_arguments()
        v = np.ascontiguousarray(v, dtype=self.grad.dtype)
        full_hvp(theta, v, *arguments)
        nw = self.network.n_weights
        curvature = self._penalty_curvature()
        if curvature > 0:
            self._hv[:nw] += curvature * v[:nw]
        return self._hv

    def hessian(self, theta):
        """The exact Hessian of the objective at ``theta``, float64 and
        symmetrised (it is symmetric up to rounding): row ``j`` is ``H e_j``
        (``hessian_rows``: one forward and backward pass per chunk of rows
        serves every direction), the rows shared among the cores (each thread
        with its own buffers and single-threaded BLAS)."""
        P, nw = self.network.n_params, self.network.n_weights
        H = np.zeros((P, P))  # hessian_rows adds each block of rows into it
        n_workers = engine_workers(min(P, os.cpu_count() or 1))
        arguments = [self._hessian_arguments(self.ws.acts, self.ws.deltas)] + [
            self._hessian_arguments(np.empty_like(self.ws.acts), np.empty_like(self.ws.deltas))
            for _ in range(n_workers - 1)
        ]

        def rows(worker):
            hessian_rows(theta, worker, n_workers, H, *arguments[worker])

        if n_workers == 1:
            rows(0)
        else:
            with single_threaded_blas(), ThreadPoolExecutor(n_workers) as pool:
                list(pool.map(rows, range(n_workers)))
        self.n_hvp += P
        H[np.arange(nw), np.arange(nw)] += self._penalty_curvature()
        return 0.5 * (H + H.T)
