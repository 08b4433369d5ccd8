"""Multi-task targets: task names, label checks and codes, missing labels, weights."""

from numbers import Number
from typing import NamedTuple

import numpy as np
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_array

__all__ = [
    "check_labels",
    "check_missing_label",
    "check_missing_marked",
    "check_task_names",
    "check_tasks_train",
    "class_weights",
    "per_task_class_weight",
    "fit_targets",
    "encode_classes",
    "Targets",
    "match_tasks",
    "missing_mask",
    "scarce_validation_classes",
    "stack_columns",
    "task_names",
]

# Fewer labelled validation rows than this in a class make the validation
# accuracy, which picks the stopping epoch, too noisy to trust.
MIN_VALIDATION_PER_CLASS = 5


def task_names(y):
    """Task names carried by a DataFrame's columns or a Series' name, else None.

    Parameters
    ----------
    y : array-like
        Targets; a DataFrame's columns or a Series' name give the task names,
        as strings.

    Returns
    -------
    names : list of str or None
        The task names, checked by :func:`check_task_names`; ``None`` when ``y``
        carries none.

    Raises
    ------
    ValueError
        If two columns give the same name (such as ``1`` and ``"1"``), or a
        name fails :func:`check_task_names`.
    """
    if hasattr(y, "columns"):
        names = [str(c) for c in y.columns]
        # Distinct columns may become the same string, such as 1 and "1".
        first = {}
        for column, name in zip(y.columns, names):
            if name in first:
                raise ValueError(
                    f"Columns {first[name]!r} and {column!r} of y both give the "
                    f"task name {name!r}; task names must be unique."
                )
            first[name] = column
    elif getattr(y, "name", None) is not None:
        names = [str(y.name)]
    else:
        return None
    check_task_names(names)
    return names


def check_labels(y, estimator=None):
    """``y`` as a 1-D or 2-D ndarray, each task's labels in their own type.

    scikit-learn's :func:`~sklearn.utils.check_array` makes any pandas
    nullable column (``Int64``, ``boolean``) float, and every other column
    with it, so that predictions would come back as floats. Here each column
    of a DataFrame, and a Series, keeps its own
    type: a nullable column without missing values becomes its numpy type
    (``Int64`` int64), one with missing values an object column of its labels
    and ``pd.NA``. Columns stack as :func:`stack_columns` does: numbers as
    numpy promotes them (an int column beside a float one becomes float, as
    in scikit-learn), other kinds that differ into an object array.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Labels, one task per column.

    estimator : estimator instance, default=None
        Named in the error messages.

    Returns
    -------
    y : ndarray of shape (n_samples,) or (n_samples, n_tasks)
        The labels. NaN is let through, to be matched by ``missing_label``
        (:func:`check_missing_marked`); infinity is refused.
    """
    if hasattr(y, "columns") and y.shape[1] > 0:
        y = stack_columns([_column_labels(y.iloc[:, j]) for j in range(y.shape[1])])
    elif hasattr(y, "dtype") and hasattr(y, "to_numpy"):
        y = _column_labels(y)
    return check_array(
        y,
        ensure_2d=False,
        dtype=None,
        ensure_all_finite="allow-nan",
        input_name="y",
        estimator=estimator,
    )


def _column_labels(series):
    """One pandas column of labels as an ndarray of its own label type."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        return series.to_numpy()
    # An extension type: nullable numbers and booleans, strings, categories.
    if not series.isna().any():
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        return series.to_numpy(dtype=numpy_dtype)
    return series.to_numpy(dtype=object)


def check_missing_marked(Y, names, missing_label):
    """Check that every NaN, None or pandas NA label is a marked missing label.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Labels, one task per column.

    names : list of str
        Task names, for the error message.

    missing_label : scalar or None
        The marker, checked by :func:`check_missing_label`.

    Raises
    ------
    ValueError
        If a task has NaN, None or pandas NA labels that ``missing_label``
        does not match, naming the task, its column and how to mark them.
    """
    if _is_na(missing_label):
        return
    for t, (name, column) in enumerate(zip(names, Y.T)):
        blank = missing_mask(column, np.nan)
        if not blank.any():
            continue
        found = sorted({_na_name(v) for v in column[blank]})
        if missing_label is None:
            because = "missing_label=None (the default) means that no label is missing"
        else:
            because = f"missing_label={missing_label!r} does not match them"
        raise ValueError(
            f"y has {blank.sum()} missing labels ({', '.join(found)}) in task "
            f"{name!r} (column {t} of y), but {because}. Set missing_label=np.nan "
            "to treat NaN, None and pd.NA labels as missing: a row then trains "
            "only the tasks it has labels for. Or drop those rows."
        )


def _is_na(value):
    """Whether a missing-label marker is NaN or pandas' NA, which match alike."""
    return is_scalar_nan(value) or is_pandas_na(value)


def _na_name(value):
    return "None" if value is None else "pd.NA" if is_pandas_na(value) else "NaN"


def scarce_validation_classes(names, classes, codes):
    """The tasks whose validation rows leave a class with few labelled rows.

    Parameters
    ----------
    names : list of str
        Task names.

    classes : list of ndarray
        The classes of each task.

    codes : ndarray of shape (n_valid, n_tasks)
        The validation rows' class indices, -1 where missing.

    Returns
    -------
    scarce : list of (str, object, int)
        For each task with a class of fewer than ``MIN_VALIDATION_PER_CLASS``
        labelled validation rows: its name, its rarest class and that class's
        count.
    """
    scarce = []
    for name, task_classes, task_codes in zip(names, classes, codes.T):
        counts = np.bincount(task_codes[task_codes >= 0], minlength=len(task_classes))
        rarest = int(counts.argmin())
        if counts[rarest] < MIN_VALIDATION_PER_CLASS:
            label = task_classes[[rarest]].tolist()[0]  # a plain int or str
            scarce.append((name, label, int(counts[rarest])))
    return scarce


def check_task_names(names):
    """Check that task names can key the tasks and their scores in the history.

    Each task ``name`` has the history keys ``f"{prefix}_loss_{name}"`` and
    ``f"{prefix}_acc_{name}"``, and each score a ``f"{key}_best"`` flag; a
    task named ``"x_best"`` would thus take the flags of task ``"x"``, and one
    named ``"best"`` those of ``train_acc``, ``train_loss`` and their
    validation counterparts.

    Parameters
    ----------
    names : list of str
        The name of each task.

    Raises
    ------
    ValueError
        If a name is not a non-empty string, two names are equal, or a name is
        ``"best"`` or ends in ``"_best"``.
    """
    seen = {}
    for t, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Task names must be non-empty strings; task {t} is named {name!r}."
            )
        if name in seen:
            raise ValueError(
                f"Task names must be unique; tasks {seen[name]} and {t} are both "
                f"named {name!r}."
            )
        seen[name] = t
        if name == "best" or name.endswith("_best"):
            raise ValueError(
                f"Task {t} is named {name!r}; a task name must not be 'best' or end "
                "in '_best', which would clash with the '<score>_best' flags in the "
                "history."
            )


def check_missing_label(missing_label):
    """Check that the missing-label marker is a scalar.

    Parameters
    ----------
    missing_label : object
        The marker: ``None``, a number (NaN included), a string, or pandas' NA.

    Raises
    ------
    ValueError
        If ``missing_label`` is not a scalar, such as a list, a tuple, an array
        (0-d ones too, whose NaN would not be matched) or a dict.
    """
    scalar = (
        missing_label is None
        or isinstance(missing_label, (str, bytes, Number, np.generic))
        or is_pandas_na(missing_label)
    )
    if not scalar:
        raise ValueError(
            "missing_label must be a scalar such as -1, '' or np.nan; got "
            f"{missing_label!r}."
        )


def missing_mask(column, missing_label):
    """Where a column of labels holds the missing-label marker.

    ``None`` marks nothing; a NaN or pandas' NA marker matches NaN, None and
    pandas' NA (as scikit-learn's imputers take either for pandas' nullable
    types); any other marker matches the labels equal to it.

    Parameters
    ----------
    column : ndarray of shape (n_samples,)
        One task's labels.

    missing_label : scalar or None
        The marker, checked by :func:`check_missing_label`.

    Returns
    -------
    mask : ndarray of shape (n_samples,), dtype=bool
        True where the label is missing.
    """
    check_missing_label(missing_label)
    if missing_label is None:
        return np.zeros(len(column), dtype=bool)
    if _is_na(missing_label):
        if column.dtype.kind == "f":
            return np.isnan(column)
        if column.dtype == object:
            return np.array(
                [v is None or is_scalar_nan(v) or is_pandas_na(v) for v in column],
                dtype=bool,
            )
        return np.zeros(len(column), dtype=bool)
    return np.asarray(column == missing_label, dtype=bool)


def encode_classes(column, missing, name, classes=None):
    """One task's labels as class indices.

    Parameters
    ----------
    column : ndarray of shape (n_samples,)
        The task's labels.

    missing : ndarray of shape (n_samples,), dtype=bool
        Where they are missing.

    name : str
        The task's name, for the error messages.

    classes : ndarray, default=None
        The known classes (when training goes on); ``None`` takes the sorted
        unique labels.

    Returns
    -------
    classes : ndarray
        The task's classes.

    codes : ndarray of shape (n_samples,), dtype=int64
        Index of each label in ``classes``; -1 where it is missing.
    """
    labels = _natural_labels(column[~missing], name)
    if labels.size == 0:
        raise ValueError(
            f"Task {name!r} has no labels: all of its {len(column)} labels are "
            "the missing-label marker."
        )
    codes = np.full(len(column), -1, dtype=np.int64)
    if classes is None:
        classes, codes[~missing] = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"Task {name!r} has only one class ({classes[0]!r}); a "
                "classifier needs at least two classes."
            )
    else:
        unknown = np.setdiff1d(labels, classes)
        if unknown.size:
            raise ValueError(
                f"Task {name!r} has labels not seen in the first fit: "
                f"{unknown.tolist()}; warm_start needs the same classes."
            )
        codes[~missing] = np.searchsorted(classes, labels)
    return classes, codes


class Targets(NamedTuple):
    """A multi-task ``Y`` made ready for the net, in one trip.

    Attributes
    ----------
    tasks : list of skmtl.tasks.Task
        The fitted tasks, one per column.

    values : ndarray of shape (n_samples, n_tasks)
        What the net trains on: class indices (-1 where missing) as int64
        when every task is a classification; otherwise in the net's dtype,
        with the regression targets scaled (0 where missing).

    weights : ndarray of shape (n_samples, n_tasks)
        Each label's weight in its task's loss, 0 where missing, scaled per
        task to at most 1, in the net's dtype.
    """

    tasks: list
    values: np.ndarray
    weights: np.ndarray


def fit_targets(Y, tasks, names, missing_label, sample_weight, dtype, fitted=None):
    """Check and encode every task's labels, and weigh them.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Labels, one task per column.

    tasks : list of skmtl.tasks.Task
        The kind of each task, unfitted.

    names : list of str
        Task names, for the error messages.

    missing_label : scalar or None
        The marker of a missing label, see :func:`missing_mask`.

    sample_weight : array-like of shape (n_samples,) or None
        Weight of each row, in every task.

    dtype : numpy dtype
        The net's dtype, of the weights.

    fitted : list of skmtl.tasks.Task, default=None
        The tasks as fitted before (a warm fit): their encodings are kept.

    Returns
    -------
    targets : Targets
    """
    check_missing_label(missing_label)
    check_missing_marked(Y, names, missing_label)
    sample_weight = _check_sample_weight(
        sample_weight, Y, dtype=np.float64, ensure_non_negative=True
    )
    if sample_weight.max() > 0:
        # Only ratios matter, to the objective and to "balanced".
        sample_weight = sample_weight / sample_weight.max()
    fitted_tasks, values, weights = [], [], []
    for t, (task, name, column) in enumerate(zip(tasks, names, Y.T)):
        missing = missing_mask(column, missing_label)
        task, encoded = task.encode(
            column,
            missing,
            name,
            None if fitted is None else fitted[t],
            sample_weight=sample_weight,
        )
        with np.errstate(over="ignore"):
            weights.append(task.row_weights(encoded, missing, sample_weight, name))
        fitted_tasks.append(task)
        values.append(encoded)
    weights = np.column_stack(weights)
    if not np.isfinite(weights).all():
        raise ValueError(
            "sample_weight times class_weight overflows; scale the weights down."
        )
    # A task's objective is a weighted mean: scaling its weights changes
    # nothing but keeps their sums far from overflowing float32.
    top = weights.max(axis=0)
    for name, largest in zip(names, top):
        if largest <= 0:
            raise ValueError(
                f"Task {name!r} has no label with a positive weight: its "
                "head would not be trained. Check sample_weight and "
                "class_weight."
            )
    classification = all(v.dtype == np.int64 for v in values)
    # With a regression task, class indices and scaled targets in the net's
    # dtype, as the outputs they meet (indices are exact to 2**24 in float32).
    values = np.column_stack(values).astype(np.int64 if classification else dtype)
    return Targets(fitted_tasks, values, (weights / top).astype(dtype))


def per_task_class_weight(class_weight, n_tasks):
    """The ``class_weight`` of each task, from the estimator's parameter.

    Parameters
    ----------
    class_weight : None, "balanced", dict or list
        ``None`` or ``"balanced"`` for every task; a dict for a single task; a
        list of those, one per task.

    n_tasks : int
        The number of tasks.

    Returns
    -------
    per_task : list
        One entry per task.
    """
    if isinstance(class_weight, list):
        if len(class_weight) != n_tasks:
            raise ValueError(
                f"class_weight has {len(class_weight)} entries for {n_tasks} tasks."
            )
        return class_weight
    if isinstance(class_weight, dict) and n_tasks > 1:
        raise ValueError(
            "class_weight is one dict but y has several tasks; give a list with "
            "one entry (None, 'balanced' or a dict) per task."
        )
    return [class_weight] * n_tasks


def class_weights(class_weight, classes, codes, names, sample_weight=None):
    """The weight of each class of each task, as scikit-learn's ``class_weight``.

    Parameters
    ----------
    class_weight : None, "balanced", dict or list
        ``None`` or ``"balanced"`` for every task; a dict ``{label: weight}`` for
        a single task; a list of those, one per task. The weights of a dict must
        be finite numbers >= 0.

    classes : list of ndarray
        The classes of each task.

    codes : ndarray of shape (n_samples, n_tasks)
        Encoded labels, -1 where missing; ``"balanced"`` counts the others.

    names : list of str
        Task names, for the error messages.

    sample_weight : ndarray of shape (n_samples,), default=None
        Weight of each row. With ``"balanced"``, a class's frequency is the
        total weight of the task's labelled rows of that class, as in
        :func:`sklearn.utils.class_weight.compute_class_weight`: a row of
        weight 2 counts as two rows. Unused otherwise. ``None`` weighs rows
        equally.

    Returns
    -------
    weights : list of ndarray
        One array per task, the weight of each of its classes, finite and >= 0.

    Raises
    ------
    ValueError
        If ``class_weight`` does not fit the tasks, gives a weight that is
        negative, NaN or infinite, or if with ``"balanced"`` a class's rows
        weigh 0 in all.
    """
    per_task = per_task_class_weight(class_weight, len(classes))
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (len(codes),):
            raise ValueError(
                f"sample_weight must have shape ({len(codes)},), one weight per "
                f"row; got shape {sample_weight.shape}."
            )
    weights = []
    for t, (name, weight, task_classes) in enumerate(zip(names, per_task, classes)):
        if weight is None:
            # Every class weighs 1, as compute_class_weight(None) gives: without
            # its per-call checks, which cost more than training with many tasks.
            weights.append(np.ones(len(task_classes)))
            continue
        labelled = codes[:, t] >= 0
        if isinstance(weight, dict):
            _check_class_weight_dict(weight, name)
        row_weight = None
        if sample_weight is not None and isinstance(weight, str):
            row_weight = sample_weight[labelled]
            _check_balanced_totals(task_classes, codes[labelled, t], row_weight, name)
        labels = task_classes[codes[labelled, t]]
        try:
            task_weights = compute_class_weight(
                weight, classes=task_classes, y=labels, sample_weight=row_weight
            )
        except ValueError as err:
            raise ValueError(f"class_weight of task {name!r}: {err}") from err
        task_weights = np.asarray(task_weights, dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(task_weights) & (task_weights >= 0)))
        if bad.size:
            label = task_classes[bad].tolist()[0]
            raise ValueError(
                f"class_weight of task {name!r} gives class {label!r} the weight "
                f"{task_weights[bad[0]]}; class weights must be finite and >= 0."
            )
        weights.append(task_weights)
    return weights


def _check_class_weight_dict(weight, name):
    """Check the weights of one task's ``{label: weight}`` dict."""
    for label, value in weight.items():
        try:
            ok = np.isfinite(float(value)) and float(value) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"class_weight of task {name!r}: the weight of class {label!r} must "
                f"be a finite number >= 0; got {value!r}."
            )


def _check_balanced_totals(task_classes, task_codes, row_weight, name):
    """Check that no class present in a task has rows of total weight 0.

    Its "balanced" weight would be the total over 0, an infinite weight.
    """
    present = np.bincount(task_codes, minlength=len(task_classes)) > 0
    totals = np.bincount(task_codes, weights=row_weight, minlength=len(task_classes))
    empty = np.flatnonzero(present & (totals <= 0))
    if empty.size:
        label = task_classes[empty].tolist()[0]
        raise ValueError(
            f"class_weight='balanced' of task {name!r}: the rows of class {label!r} "
            "have a total sample_weight of 0, which would give the class an "
            "infinite weight; give some of them a positive weight, or set that "
            "task's class weights with a dict."
        )


def _natural_labels(labels, name):
    """One task's labels, checked to be classes, in their natural dtype."""
    if labels.dtype == object:
        # Columns of a mixed-type DataFrame come as objects; restore ints or strings.
        if len({isinstance(label, str) for label in labels}) > 1:
            raise ValueError(f"Task {name!r} mixes string and numeric labels.")
        labels = np.array(labels.tolist())
    if labels.size == 0 or labels.dtype.kind in "biuUS":
        # Integers, booleans and strings are classes: type_of_target's checks,
        # a few ms a task, are for floats (and objects, turned into one of these).
        return labels
    kind = type_of_target(labels)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: task {name!r} has {kind} labels; a classifier "
            "needs discrete classes (integers or strings). For real-valued "
            "targets, use MultiTaskRegressor, or make the task a 'regression' "
            "in MultiTaskEstimator(tasks=[...])."
        )
    return labels


def match_tasks(Y, names, fitted_names, fitted_named):
    """The columns of ``Y`` in the order of the fitted tasks.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Labels, one column per task.

    names : list of str or None
        The task names ``Y`` came with (a DataFrame's columns), if any.

    fitted_names : list of str
        The fitted tasks' names, ``task_names_``.

    fitted_named : bool
        Whether the fitted tasks' names came with their labels. Tasks are
        matched by name when both sides have names, else by position, as
        scikit-learn matches the features of ``X``.

    Returns
    -------
    Y : ndarray of shape (n_samples, len(fitted_names))

    Raises
    ------
    ValueError
        If the names are not the fitted ones, or the number of tasks differs.
    """
    if names is not None and fitted_named:
        missing = [n for n in fitted_names if n not in names]
        unknown = [n for n in names if n not in fitted_names]
        if missing or unknown:
            raise ValueError(
                f"y's tasks {names} are not the fitted tasks {fitted_names}: "
                f"missing {missing}, unknown {unknown}. Name y's columns as the "
                "tasks were named at fit (in any order)."
            )
        return Y[:, [names.index(n) for n in fitted_names]]
    if Y.shape[1] != len(fitted_names):
        raise ValueError(
            f"y has {Y.shape[1]} tasks, but the model was fitted on "
            f"{len(fitted_names)}: {fitted_names}."
        )
    return Y


def check_tasks_train(names, weights, validation_fraction):
    """Every task must keep a weighted label among the training rows."""
    for name, total in zip(names, weights.sum(axis=0)):
        if not total > 0:
            raise ValueError(
                f"Task {name!r} has no labelled row with a positive weight left "
                f"for training once validation_fraction={validation_fraction} of "
                "the rows is held out: its head would not be trained. Lower "
                "validation_fraction or label more rows."
            )


def stack_columns(columns, as_objects=False):
    """One 2-D array from per-task label columns: numbers (booleans, ints,
    floats) stack as numpy promotes them, other kinds that differ, or any
    with ``as_objects``, as objects."""
    kinds = {c.dtype.kind for c in columns}
    if not as_objects and (len(kinds) == 1 or kinds <= set("biuf")):
        return np.column_stack(columns)
    stacked = np.empty((len(columns[0]), len(columns)), dtype=object)
    for t, column in enumerate(columns):
        stacked[:, t] = column
    return stacked
