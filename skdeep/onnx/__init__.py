"""ONNX export of skdeep's fitted networks, through skl2onnx.

Importing this module registers skdeep's converters with ``skl2onnx``
(``skl2onnx.update_registered_converter``), so that after
``import skdeep.onnx`` skl2onnx's own ``to_onnx`` / ``convert_sklearn``
convert pipelines that contain a skdeep ``MLPClassifier``, ``MLPRegressor``
or ``MLPAutoencoder`` (whose graph is its ``transform``: the codes)::

    import skdeep.onnx  # registers the converters
    from skl2onnx import to_onnx
    onx = to_onnx(make_pipeline(StandardScaler(), MLPClassifier()).fit(X, y), X[:1])

Requires the ``onnx`` extra (``pip install "skdeep[onnx]"``: onnx,
skl2onnx; onnxruntime to run the graphs); ``import skdeep`` does not import
this module.
"""

from .._estimators._base import BaseMLP
from ._convert import check_exportable, register

__all__ = ["check_exportable", "register", "to_onnx"]

register()


def to_onnx(estimator, X_sample, *, name=None, target_opset=None, options=None):
    """Convert a fitted skdeep estimator (or a pipeline holding one) to ONNX.

    The graph computes what ``predict`` and ``predict_proba`` compute: batch
    normalisation folded into the weights, a snapshot ensemble as the mean
    of its members, every hidden activation, in the model's precision
    (float32 or float64: a float64 model gives a graph of DOUBLE tensors).

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor, MLPAutoencoder or Pipeline
        A fitted estimator, or any fitted scikit-learn object that skl2onnx
        converts and that contains skdeep estimators.
    X_sample : ndarray of shape (n_samples, n_features)
        A few dense input rows: their dtype and number of columns give the
        graph's input type (float32 rows give a float input, float64 rows a
        double input). Its values are not used.
    name : str, default=None
        Name of the ONNX graph.
    target_opset : int or dict, default=None
        ONNX opset; by default skl2onnx's latest tested opset (the graph
        needs opset 11 or later).
    options : dict, default=None
        skl2onnx's converter options, e.g. ``{"zipmap": False}`` for a
        classifier's probabilities as one tensor instead of a list of
        dictionaries (skl2onnx's default, kept here).

    Returns
    -------
    onx : onnx.ModelProto
        A classifier's graph has the outputs ``label`` (``output_label``
        with ZipMap) and ``probabilities`` (``output_probability``), columns
        in the order of ``classes_``; with several categorical outputs,
        ``label`` of shape (n_samples, n_outputs) and ``probabilities`` a
        sequence of one tensor per output. A regressor's graph has
        ``variable`` of shape (n_samples, n_outputs).

    Raises
    ------
    ValueError
        If the estimator uses an option that cannot be exported (see
        :func:`check_exportable`).
    TypeError
        If ``X_sample`` is sparse.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skdeep import MLPClassifier
    >>> from skdeep.onnx import to_onnx
    >>> X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier((8,), max_iter=20, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> onx = to_onnx(clf, X[:1], options={"zipmap": False})  # doctest: +SKIP
    >>> session = ort.InferenceSession(onx.SerializeToString())  # doctest: +SKIP
    >>> label, proba = session.run(None, {"X": X})  # doctest: +SKIP
    """
    import scipy.sparse as sp
    from skl2onnx import to_onnx as skl2onnx_to_onnx

    if sp.issparse(X_sample):
        raise TypeError("X_sample must be dense: the ONNX graph takes dense rows.")
    if isinstance(estimator, BaseMLP):
        check_exportable(estimator)
    return skl2onnx_to_onnx(
        estimator, X_sample, name=name, target_opset=target_opset, options=options
    )
