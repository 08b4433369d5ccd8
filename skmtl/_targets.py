"""Multi-task targets: task names, label checks and codes, missing labels, weights."""

import numpy as np
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "class_weights",
    "encode_targets",
    "missing_mask",
    "task_names",
]


def task_names(y):
    """Task names carried by a DataFrame's columns or a Series' name, else None."""
    if hasattr(y, "columns"):
        return [str(c) for c in y.columns]
    if getattr(y, "name", None) is not None:
        return [str(y.name)]
    return None


def missing_mask(column, missing_label):
    """Where a column of labels holds the missing-label marker.

    ``None`` marks nothing; a NaN marker matches NaN, None and pandas' NA; any
    other marker matches the labels equal to it.
    """
    if missing_label is None:
        return np.zeros(len(column), dtype=bool)
    if is_scalar_nan(missing_label):
        if column.dtype.kind == "f":
            return np.isnan(column)
        if column.dtype == object:
            return np.array(
                [v is None or is_scalar_nan(v) or is_pandas_na(v) for v in column],
                dtype=bool,
            )
        return np.zeros(len(column), dtype=bool)
    return np.asarray(column == missing_label, dtype=bool)


def encode_targets(Y, names, missing_label=None, classes=None):
    """Check each task's labels and encode them as class indices.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Labels, one task per column.

    names : list of str
        Task names, for the error messages.

    missing_label : scalar, default=None
        Marker of a missing label, see :func:`missing_mask`.

    classes : list of ndarray, default=None
        Known classes of each task (when training goes on); labels outside them
        are an error. ``None`` takes each task's sorted unique labels.

    Returns
    -------
    classes : list of ndarray
        The classes of each task, without the marker.

    codes : ndarray of shape (n_samples, n_tasks), dtype=int64
        Index of each label in its task's classes; -1 where it is missing.
    """
    codes = np.full(Y.shape, -1, dtype=np.int64)
    found = []
    for t, (name, column) in enumerate(zip(names, Y.T)):
        missing = missing_mask(column, missing_label)
        labels = _natural_labels(column[~missing], name)
        if labels.size == 0:
            raise ValueError(
                f"Task {name!r} has no labels: all of its {len(column)} labels are "
                f"the missing-label marker {missing_label!r}."
            )
        if classes is None:
            task_classes, codes[~missing, t] = np.unique(labels, return_inverse=True)
            if len(task_classes) < 2:
                raise ValueError(
                    f"Task {name!r} has only one class ({task_classes[0]!r}); a "
                    "classifier needs at least two classes."
                )
        else:
            task_classes = classes[t]
            unknown = np.setdiff1d(labels, task_classes)
            if unknown.size:
                raise ValueError(
                    f"Task {name!r} has labels not seen in the first fit: "
                    f"{unknown.tolist()}; warm_start needs the same classes."
                )
            codes[~missing, t] = np.searchsorted(task_classes, labels)
        found.append(task_classes)
    return found, codes


def class_weights(class_weight, classes, codes, names):
    """The weight of each class of each task, as scikit-learn's ``class_weight``.

    Parameters
    ----------
    class_weight : None, "balanced", dict or list
        ``None`` or ``"balanced"`` for every task; a dict ``{label: weight}`` for
        a single task; a list of those, one per task.

    classes : list of ndarray
        The classes of each task.

    codes : ndarray of shape (n_samples, n_tasks)
        Encoded labels, -1 where missing; ``"balanced"`` counts the others.

    names : list of str
        Task names, for the error messages.

    Returns
    -------
    weights : list of ndarray
        One array per task, the weight of each of its classes.
    """
    n_tasks = len(classes)
    if isinstance(class_weight, list):
        if len(class_weight) != n_tasks:
            raise ValueError(
                f"class_weight has {len(class_weight)} entries for {n_tasks} tasks."
            )
        per_task = class_weight
    elif isinstance(class_weight, dict) and n_tasks > 1:
        raise ValueError(
            "class_weight is one dict but y has several tasks; give a list with "
            "one entry (None, 'balanced' or a dict) per task."
        )
    else:
        per_task = [class_weight] * n_tasks
    weights = []
    for t, (name, weight, task_classes) in enumerate(zip(names, per_task, classes)):
        labels = task_classes[codes[codes[:, t] >= 0, t]]
        try:
            weights.append(compute_class_weight(weight, classes=task_classes, y=labels))
        except ValueError as err:
            raise ValueError(f"class_weight of task {name!r}: {err}") from err
    return weights


def _natural_labels(labels, name):
    """One task's labels, checked to be classes, in their natural dtype."""
    if labels.dtype == object:
        # Columns of a mixed-type DataFrame come as objects; restore ints or strings.
        if len({isinstance(label, str) for label in labels}) > 1:
            raise ValueError(f"Task {name!r} mixes string and numeric labels.")
        labels = np.array(labels.tolist())
    if labels.size == 0:
        return labels
    kind = type_of_target(labels)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: task {name!r} has {kind} labels; a classifier "
            "needs discrete classes (integers or strings)."
        )
    return labels
