"""The network: layer sizes, one flat parameter vector and per-layer views.

``Network`` knows the layout of ``theta`` (every weight matrix in C order, then
every bias; see ``_kernels.network``), hands per-layer views to the estimator
(``coefs_[i]`` is a view of ``theta`` with shape ``(n_in, n_out)``), and owns the
entry points into the compiled engine that do not depend on an optimizer:
prediction and the full-batch loss and gradient.

The engine never sees scikit-learn objects: data reach it as ``Inputs``
(validated arrays, handed over as a ``records.Block``) and the network as
the ``records.Layout`` from ``Network.layout``.
"""


import numpy as np
import scipy.sparse as sp

from ._kernels._jit import kernel_code, option
from ._kernels.activations import ACTIVATIONS
from ._kernels.batchnorm import EPSILON as BATCH_NORM_EPSILON
from ._kernels.losses import LOSSES, loss_value, output_activation, row_losses
from ._kernels.network import (
    hidden_forward,
    hidden_zero_counts,
    predict_output,
    predict_sampled,
)
from ._kernels.records import (
    Block,
    Contractive,
    Layout,
    Sampling,
    Tangent,
    Work,
)

#: rows per block when a whole data set goes through the network (prediction,
#: full-batch solvers): bounds the activation buffers and keeps them in cache.
CHUNK_ROWS = 4096



class _SharedMemory:
    """Read-only memory offered to numpy as writeable: numpy makes an array
    of it from ``__array_interface__``, and the array's base, this object,
    keeps ``array`` (the memory's owner) alive."""

    def __init__(self, array):
        self.array = array
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def kernel_view(array):
    """``array``, or a writeable view of it when it is read-only, for the
    kernels.

    numba types a read-only array as a type of its own, so memory-mapped data
    or a model loaded by ``joblib.load(..., mmap_mode="r")`` would compile
    every kernel again. The kernels never write to the input rows or, when
    predicting, to the parameters, so they may read the memory through a
    writeable view (a copy would cost the data's size on every call)."""
    if array.flags.writeable:
        return array
    return np.asarray(_SharedMemory(array))


def _converted(X, dtype):
    """``X`` as a C-contiguous array, or a CSR matrix, of ``dtype``; the
    caller's arrays when they already are."""
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=dtype)  # may share the caller's arrays
    return np.ascontiguousarray(X, dtype=dtype)


def _check_in_range(values, dtype):
    """Raise if ``values``, just cast to ``dtype``, overflowed (validated
    input is finite, so an infinity here is a value out of ``dtype``'s range)."""
    if not np.isfinite(values).all():
        raise ValueError(
            f"X has values beyond the range of {dtype} (largest magnitude "
            f"{np.finfo(dtype).max:.3g}), the precision this model was fitted in: "
            "scale X, or fit the model on float64 data."
        )


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
        narrowed = X.dtype.itemsize > self.dtype.itemsize  # float64 X, float32 model
        with np.errstate(over="ignore"):  # checked below
            X = _converted(X, self.dtype)
        if narrowed:
            _check_in_range(X.data if self.sparse else X, self.dtype)
        if self.sparse:
            if not X.has_canonical_format:
                # never write to the caller's matrix (it may be read-only, or
                # shared with other threads): canonicalise a copy
                X = X.copy()
                X.sum_duplicates()
            index_dtype = np.int32 if X.nnz < np.iinfo(np.int32).max else np.int64
            self.dense = np.zeros((1, 1), dtype=self.dtype)
            self.csr = (
                kernel_view(np.ascontiguousarray(X.data, dtype=self.dtype)),
                kernel_view(np.ascontiguousarray(X.indices, dtype=index_dtype)),
                kernel_view(np.ascontiguousarray(X.indptr, dtype=index_dtype)),
            )
        else:
            self.dense = kernel_view(X)
            self.csr = no_csr(self.dtype)
        self.matrix = X

    def take(self, rows):
        """The rows ``rows`` as a new ``Inputs`` (for train/validation splits)."""
        return Inputs(self.matrix[rows], self.dtype)

    def block(self, Y=None, sample_weight=None, scale=0.0):
        """Every row as the kernels' ``Block``, with targets ``Y`` and
        weights ``sample_weight`` (empty placeholders for prediction)."""
        if Y is None:
            Y = np.empty((0, 1), dtype=self.dtype)
            sample_weight = np.empty(0, dtype=self.dtype)
        rows = np.arange(self.n_samples, dtype=np.int64)
        return Block(self.dense, self.csr, self.sparse, rows, self.n_samples, Y, sample_weight, scale)


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

    def work(self, acts=None, deltas=None):
        """The kernels' ``Work`` record of these buffers (or of ``acts`` and
        ``deltas`` laid out alike)."""
        return Work(
            self.acts if acts is None else acts, self.deltas if deltas is None else deltas, self.a_off
        )


def tangent_record(network, strength, Tb, rows, n_tangents, copies=None):
    """The kernels' ``Tangent`` for blocks of ``rows`` rows with tangents
    ``Tb`` (``n_tangents`` rows per sample), with fresh scratch buffers;
    with ``copies``, each buffer has that many copies along a leading axis
    (one per shard)."""
    units = network.sizes[1:]
    size = int(units.sum()) * rows
    widest = int(units.max())
    lead = () if copies is None else (copies,)
    t = n_tangents
    dtype = Tb.dtype

    def buffer(length):
        return np.empty(lead + (length,), dtype=dtype)

    return Tangent(
        strength=strength, Tb=Tb, n_tangents=t,
        S=buffer(size * t), U=buffer(size * t),
        dU=buffer(rows * t * widest), dU_next=buffer(rows * t * widest),
        F=buffer(rows * widest), F2=buffer(rows * widest),
        extra=buffer(size), gt=buffer(network.n_params),
    )


def contractive_record(network, strength, rows, dtype, copies=None):
    """The kernels' ``Contractive`` for blocks of ``rows`` rows, or None when
    ``strength`` is 0; with ``copies``, each buffer has that many copies
    along a leading axis (one per shard)."""
    if not strength > 0:
        return None
    lead = () if copies is None else (copies,)
    size = rows * int(network.sizes[1])
    return Contractive(
        strength=float(strength), F=np.empty(lead + (size,), dtype=dtype),
        F2=np.empty(lead + (size,), dtype=dtype),
    )


def no_csr(dtype):
    """The CSR arrays of dense input: None (the kernels are compiled without
    the sparse code), or placeholders when ``_jit.SPECIALISE`` is off."""
    return option((np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int32)), False)


def no_tangents(n_samples, dtype):
    """The tangent array of a fit without tangent propagation."""
    return np.empty((n_samples, 0, 1), dtype=dtype)


def shortcut_layers(sizes):
    """1 for each layer that gets an identity shortcut with ``residual``: a
    hidden layer whose input is a hidden layer of its own width (the first
    hidden layer, whose input is the data, never gets one), else 0."""
    sizes = np.asarray(sizes, dtype=np.int64)
    flags = np.zeros(len(sizes) - 1, dtype=np.int64)
    for layer in range(1, len(sizes) - 2):
        flags[layer] = int(sizes[layer] == sizes[layer + 1])
    return flags


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
    residual : bool, default=False
        Identity shortcuts around every hidden layer after the first whose
        input and output widths are equal (``shortcuts``).
    """

    def __init__(self, sizes, activation, loss, segments=None, batch_norm=False, residual=False):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.activation = activation
        self.loss = loss
        self.batch_norm = bool(batch_norm) and len(self.sizes) > 2
        self.residual = bool(residual)
        self.shortcuts = shortcut_layers(self.sizes) * int(self.residual)
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

    def __setstate__(self, state):
        # joblib.load(..., mmap_mode="r") maps these small index arrays
        # read-only, which numba would type apart (see ``kernel_view``)
        self.__dict__.update(
            {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
        )
        if "residual" not in state:  # pickled before shortcuts existed: none
            self.residual = False
            self.shortcuts = np.zeros(len(self.sizes) - 1, dtype=np.int64)

    @property
    def n_layers(self):
        """Number of weight layers (scikit-learn's ``n_layers_ - 1``)."""
        return len(self.sizes) - 1

    @property
    def out_activation(self):
        return LOSSES[self.loss].out_activation

    def layout(self):
        """The ``records.Layout`` that describes the network to the kernels
        (its activation code is a compile-time constant with
        ``_jit.SPECIALISE``; the loss is chosen at run time)."""
        return Layout(
            sizes=self.sizes,
            w_off=self.w_off,
            b_off=self.b_off,
            activation=kernel_code(ACTIVATIONS[self.activation].code),
            loss=LOSSES[self.loss].code,  # chosen at run time, see engine.md
            segments=self.segments,
            residual=option(self.shortcuts, self.residual),
        )

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
        return Network(self.sizes, self.activation, self.loss, self.segments, residual=self.residual)

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

    def layer_segments(self):
        """Each layer's parameters as ``(start, stop, layer)`` rows sorted by
        start: its weights, its biases and, for a hidden layer with batch
        normalisation, its scales and shifts (not the running statistics,
        which no optimizer steps). A layer-wise optimizer (LAMB) takes its
        norms over a layer's rows."""
        rows = [(o, o + a * b, k) for k, (o, a, b) in enumerate(zip(self.w_off, self.sizes[:-1], self.sizes[1:]))]
        rows += [(o, o + b, k) for k, (o, b) in enumerate(zip(self.b_off, self.sizes[1:]))]
        if self.batch_norm:
            H = self.n_hidden_units
            for part in (0, H):  # the scales, then the shifts
                rows += [
                    (a + part, b + part, k)
                    for k, (a, b) in enumerate(zip(self.bn_off[:-1], self.bn_off[1:]))
                ]
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

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

    def predict(self, theta, inputs, link=True):
        """The network's output for every input row, after the output
        activation (or raw, without ``link``): one compiled call."""
        if self.batch_norm:
            return self.plain().predict(self.fold(theta), inputs, link)
        out = np.empty((inputs.n_samples, int(self.sizes[-1])), dtype=theta.dtype)
        predict_output(
            theta, self.layout(), inputs.dense, inputs.csr, inputs.sparse, CHUNK_ROWS, link, out
        )
        return out

    def activate(self, raw):
        """Apply the output activation to raw outputs, in place; returns them."""
        output_activation(LOSSES[self.loss].code, raw, self.segments)
        return raw

    def hidden_activations(self, theta, inputs, layer=None):
        """The activations of every hidden layer for every input row, or only
        of hidden layer ``layer`` (an index into the hidden layers)."""
        n = inputs.n_samples
        wanted = range(len(self.sizes) - 2) if layer is None else [layer]
        out = {k: np.empty((n, int(self.sizes[1:-1][k])), dtype=theta.dtype) for k in wanted}
        for start, stop, blocks in self._hidden_blocks(theta, inputs):
            for k, array in out.items():
                array[start:stop] = blocks[k]
        return list(out.values()) if layer is None else out[layer]

    def hidden_zero_fractions(self, theta, inputs):
        """For every hidden layer, the fraction of its activations over the
        input rows that are exactly zero (one compiled call, which counts
        them chunk by chunk without keeping them)."""
        if self.batch_norm:
            return self.plain().hidden_zero_fractions(self.fold(theta), inputs)
        zeros = np.empty(len(self.sizes) - 2, dtype=np.int64)
        hidden_zero_counts(
            theta, self.layout(), inputs.dense, inputs.csr, inputs.sparse, inputs.n_samples,
            CHUNK_ROWS, zeros,
        )
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
        units = [int(u) for u in self.sizes[1:-1]]
        layout, data, work = self.layout(), inputs.block(), ws.work()
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            block = data._replace(
                X=inputs.dense if inputs.sparse else inputs.dense[start:stop],
                rows=data.rows[start:stop], n=stop - start,
            )
            hidden_forward(theta, layout, block, work)
            blocks = []
            for layer, u in enumerate(units):
                offset = int(ws.a_off[layer])
                blocks.append(ws.acts[offset : offset + (stop - start) * u].reshape(stop - start, u))
            yield start, stop, blocks

    def predict_sampled(self, theta, inputs, dropout, input_dropout, dropconnect, seed, n_samples):
        """Outputs with freshly drawn dropout masks (Monte-Carlo dropout), one
        per sample, shape ``(n_samples, n_rows, n_outputs)``: one compiled
        call. Input dropout applies to dense input only; DropConnect draws
        one mask of the weights per sample (of the folded weights, with
        batch normalisation)."""
        if self.batch_norm:
            return self.plain().predict_sampled(
                self.fold(theta), inputs, dropout, input_dropout, dropconnect, seed, n_samples
            )
        out = np.empty((n_samples, inputs.n_samples, int(self.sizes[-1])), dtype=theta.dtype)
        sampling = Sampling(
            np.array(dropout, dtype=np.float64),  # a copy: the model's may be read-only
            float(input_dropout if not inputs.sparse else 0.0), float(dropconnect),
            np.uint64(seed),
        )
        predict_sampled(
            theta, self.layout(), inputs.dense, inputs.csr, inputs.sparse, CHUNK_ROWS, sampling, out
        )
        return out

    def row_losses(self, raw, Y):
        """The unweighted data loss of each row of the raw outputs ``raw``
        (one compiled call)."""
        out = np.empty(raw.shape[0], dtype=np.float64)
        ones = np.ones(1, dtype=raw.dtype)
        row_losses(LOSSES[self.loss].code, raw, Y, self.segments, ones, out)
        return out

    def loss_value(self, raw, Y, sample_weight):
        """Weighted mean loss of raw outputs ``raw`` (data term only)."""
        total = loss_value(LOSSES[self.loss].code, raw, Y, sample_weight, self.segments)
        return total / float(np.sum(sample_weight, dtype=np.float64))
