"""Safe persistence with skops: the types a user must trust to load skdeep models.

``skops.io.load`` rebuilds only the types it is told to trust, so loading a
file never runs code the file names. skdeep's fitted estimators keep their
internal state as plain data (numbers, strings, lists, dicts and numpy
arrays: see ``BaseMLP.__getstate__``), so the only types of theirs that a
file holds are skdeep's public, parameter-only classes: the estimators, and
the optimizer and schedule objects a user may pass as ``solver`` or
``learning_rate``. Their names are :func:`trusted_types`::

    import skops.io as sio
    from skdeep.persistence import trusted_types

    sio.dump(model, "model.skops")
    model = sio.load("model.skops", trusted=trusted_types())

Check a file from elsewhere with ``skops.io.get_untrusted_types(file=...)``
first: a file naming any other type is refused by ``load`` with the list
above (skops raises ``UntrustedTypesFoundException``). What skops cannot
persist safely stays untrusted: a Python function given as ``augment``,
for instance, is reported by ``get_untrusted_types`` under its own name.

Pickle and joblib keep working as before (they load anything, so load
only files you trust with them). This module does not import skops.
"""

import inspect

from sklearn.base import BaseEstimator

__all__ = ["trusted_types"]


def trusted_types():
    """Names of the skdeep types a saved skdeep model may hold.

    The list to pass as ``trusted`` to ``skops.io.load`` / ``skops.io.loads``
    for files written by ``skops.io.dump`` from skdeep estimators. It holds
    skdeep's estimators and the optimizer and schedule objects (classes
    whose state is their constructor parameters); numpy's and
    scikit-learn's types in the file are those skops trusts by default.

    Returns
    -------
    types : list of str
        Fully qualified class names, in the form skops reports them
        (``module.ClassName``), sorted.

    Examples
    --------
    >>> from skdeep.persistence import trusted_types
    >>> "skdeep._estimators._classifier.MLPClassifier" in trusted_types()
    True
    """
    import skdeep
    from skdeep import optim, schedules

    names = set()
    for module in (skdeep, optim, schedules):
        for name in module.__all__:
            obj = getattr(module, name)
            if (
                inspect.isclass(obj) and issubclass(obj, BaseEstimator)
                and obj not in (optim.Optimizer, schedules.Schedule)  # base classes
            ):
                names.add(f"{obj.__module__}.{obj.__qualname__}")
    return sorted(names)
