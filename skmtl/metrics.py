"""Scorers for multi-output estimators, for ``scoring=`` in model selection.

The per-task scorers score any estimator whose ``predict`` returns one column
per task (and, for probabilities, whose ``predict_proba`` returns one array
per task): :class:`~skmtl.MultiTaskClassifier`,
:class:`~skmtl.MultiTaskRegressor`, :class:`~skmtl.MultiTaskEstimator`,
:class:`~sklearn.multioutput.MultiOutputClassifier`,
:class:`~sklearn.multioutput.MultiOutputRegressor`, or a pipeline ending in
one, so that multi-task and single-task models are compared with the same
scorers on the same folds; by default each task by its kind's metric,
accuracy or R^2. :data:`subset_accuracy_scorer` scores every model
whose ``predict`` returns one column per task, natively multi-output ones too
(:class:`~sklearn.ensemble.RandomForestClassifier`,
:class:`~sklearn.neighbors.KNeighborsClassifier`), which scikit-learn's
``"accuracy"`` refuses on multiclass-multioutput targets.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_regressor
from sklearn.metrics import accuracy_score, check_scoring, make_scorer, r2_score
from sklearn.utils import _safe_indexing, check_consistent_length
from sklearn.utils.validation import _check_sample_weight

from ._targets import missing_mask

__all__ = [
    "mean_task_scorer",
    "subset_accuracy_score",
    "subset_accuracy_scorer",
    "task_score",
    "task_scorer",
]

# The score of each kind of task, when a scorer is not given one.
_KIND_SCORING = {"classification": "accuracy", "regression": "r2"}


def subset_accuracy_score(Y_true, Y_pred, *, sample_weight=None, missing_label=None):
    """Subset accuracy: the fraction of rows with every labelled task right.

    The score of :meth:`skmtl.MultiTaskClassifier.score` and of
    :class:`~sklearn.multioutput.MultiOutputClassifier`, as a metric: with no
    missing label, scikit-learn's :func:`~sklearn.metrics.accuracy_score` on
    multilabel data, for multiclass labels of any type too.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_tasks) or (n_samples,)
        True labels, one column per task; a 1-D array is a single task.

    Y_pred : array-like of shape (n_samples, n_tasks) or (n_samples,)
        Predicted labels, as ``Y_true``.

    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows.

    missing_label : scalar, default=None
        The marker of a missing label in ``Y_true`` (``-1``, ``""``,
        ``np.nan``, which also matches None and pandas' NA): a row counts as
        right when its labelled tasks are, and rows with no label are left out.

    Returns
    -------
    score : float
        The weighted fraction of the rows with a label whose labelled tasks
        are all predicted right.

    See Also
    --------
    subset_accuracy_scorer : This score as a scorer, for ``scoring=``.
    task_scorer : The score of one task.

    Examples
    --------
    >>> from skmtl.metrics import subset_accuracy_score
    >>> Y_true = [[0, "a"], [1, "b"], [2, "b"]]
    >>> Y_pred = [[0, "a"], [1, "a"], [2, "b"]]
    >>> round(subset_accuracy_score(Y_true, Y_pred), 3)
    0.667
    >>> Y_true = [[0, "a"], [1, ""], [2, "b"]]
    >>> subset_accuracy_score(Y_true, Y_pred, missing_label="")
    1.0
    """
    Y_true = _as_columns(Y_true, "Y_true")
    Y_pred = _as_columns(Y_pred, "Y_pred")
    check_consistent_length(Y_true, Y_pred)
    if Y_true.shape[1] != Y_pred.shape[1]:
        raise ValueError(
            f"Y_true has {Y_true.shape[1]} tasks (columns) but Y_pred has "
            f"{Y_pred.shape[1]}."
        )
    present = ~np.column_stack(
        [missing_mask(column, missing_label) for column in Y_true.T]
    )
    right = np.ones(Y_true.shape, dtype=bool)
    right[present] = Y_true[present] == Y_pred[present]
    rows = present.any(axis=1)
    weights = _check_sample_weight(sample_weight, Y_true, ensure_non_negative=True)
    if not weights[rows].sum() > 0:
        raise ValueError(
            "Subset accuracy needs a row with a label and a positive weight; "
            "every label is missing or every weight is 0."
        )
    return float(np.average(right[rows].all(axis=1), weights=weights[rows]))


subset_accuracy_scorer = make_scorer(subset_accuracy_score)
"""Scorer of :func:`subset_accuracy_score`, for ``scoring=``.

``scorer(estimator, X, Y)`` scores any classifier whose ``predict`` returns one
column per task: :class:`~skmtl.MultiTaskClassifier`,
:class:`~sklearn.multioutput.MultiOutputClassifier`, natively multi-output
estimators such as :class:`~sklearn.ensemble.RandomForestClassifier`, and
pipelines ending in them. With missing labels, make one with
``make_scorer(subset_accuracy_score, missing_label=np.nan)``.
"""


def task_score(kind, y_true, y_pred, *, sample_weight=None, missing_label=None):
    """One task's score by its kind: accuracy, or R^2 for a regression.

    Parameters
    ----------
    kind : {"classification", "regression"}
        The task's kind.

    y_true : array-like of shape (n_samples,)
        The task's true labels or targets.

    y_pred : array-like of shape (n_samples,)
        Its predictions.

    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows.

    missing_label : scalar, default=None
        The marker of a missing label in ``y_true``: those rows are left out.

    Returns
    -------
    score : float
        :func:`~sklearn.metrics.accuracy_score` or
        :func:`~sklearn.metrics.r2_score` over the labelled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.metrics import task_score
    >>> task_score("regression", [1.0, np.nan, 3.0], [1.0, 5.0, 2.0],
    ...            missing_label=np.nan)
    0.5
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows = ~missing_mask(y_true, missing_label)
    weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
    y_true, y_pred = y_true[rows], y_pred[rows]
    if kind == "regression":
        return float(
            r2_score(y_true.astype(float), y_pred.astype(float), sample_weight=weights)
        )
    if y_true.dtype == object:
        y_true = np.array(y_true.tolist())  # ints or strings, as the classes
    if y_pred.dtype == object:
        y_pred = np.array(y_pred.tolist())
    return float(accuracy_score(y_true, y_pred, sample_weight=weights))


def task_scorer(task, scoring=None, *, missing_label=None):
    """A scorer of one task of a multi-output estimator.

    Parameters
    ----------
    task : int or str
        The task's column index, or its name: a column of a DataFrame ``y``,
        looked up in the estimator's ``task_names_`` when it has them.

    scoring : str, callable or None, default=None
        Any single-output scorer of scikit-learn, by name (``"accuracy"``,
        ``"balanced_accuracy"``, ``"neg_log_loss"``, ``"f1_macro"``, ``"r2"``,
        ``"neg_mean_absolute_error"``, ...) or made with
        :func:`~sklearn.metrics.make_scorer`. Scorers that need
        probabilities get that task's ``predict_proba`` array. ``None``
        scores the task by its kind: accuracy for a classification, R^2 for
        a regression (the kind of the estimator's ``tasks_``, or of a
        scikit-learn regressor such as
        :class:`~sklearn.multioutput.MultiOutputRegressor`).

    missing_label : scalar, default=None
        The marker of a missing label, as the estimator's ``missing_label``:
        rows whose label for the task is missing are left out of its score.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` for ``cross_validate``, ``GridSearchCV``
        and friends, alone or in a ``scoring=`` dict.

    See Also
    --------
    mean_task_scorer : The mean of a score over all tasks.

    Examples
    --------
    >>> from skmtl.metrics import task_scorer
    >>> scoring = {"item": task_scorer(0), "group": task_scorer("group")}
    >>> log_loss = task_scorer(1, "neg_log_loss")
    """
    return _TaskScorer(task, _scorer(scoring), missing_label)


def mean_task_scorer(scoring=None, *, missing_label=None):
    """A scorer giving the mean over tasks of a per-task score.

    Parameters
    ----------
    scoring : str, callable or None, default=None
        The per-task score, as in :func:`task_scorer`: ``None`` scores each
        task by its kind.

    missing_label : scalar, default=None
        The marker of a missing label: each task is scored on its labelled rows.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``: the unweighted mean of the task scores.

    See Also
    --------
    task_scorer : The score of one task.

    Examples
    --------
    >>> from skmtl.metrics import mean_task_scorer
    >>> scoring = {"mean_accuracy": mean_task_scorer()}
    """
    return _MeanTaskScorer(_scorer(scoring), missing_label)


def _scorer(scoring):
    """A scorer for ``scoring``; ``None`` stays, for the task's kind's."""
    return None if scoring is None else check_scoring(None, scoring=scoring)


def _task_kind(estimator, task):
    """The kind of a task of an estimator, or of a pipeline ending in one."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    tasks = getattr(final, "tasks_", None)
    if tasks is not None:
        return tasks[task].kind
    return "regression" if is_regressor(final) else "classification"


class _TaskScorer:
    def __init__(self, task, scorer, missing_label):
        self.task = task
        self.scorer = scorer
        self.missing_label = missing_label

    def __call__(self, estimator, X, y, **kwargs):
        t = _task_index(self.task, estimator, y)
        return _score_task(self.scorer, estimator, t, X, y, self.missing_label, kwargs)

    def __repr__(self):
        return f"task_scorer({self.task!r}, {self.scorer!r})"


class _MeanTaskScorer:
    def __init__(self, scorer, missing_label):
        self.scorer = scorer
        self.missing_label = missing_label

    def __call__(self, estimator, X, y, **kwargs):
        n_tasks = _label_columns(y).shape[1]
        scores = [
            _score_task(self.scorer, estimator, t, X, y, self.missing_label, kwargs)
            for t in range(n_tasks)
        ]
        return float(np.mean(scores))

    def __repr__(self):
        return f"mean_task_scorer({self.scorer!r})"


def _score_task(scorer, estimator, task, X, y, missing_label, kwargs):
    """Score one task on the rows labelled for it; with no scorer, by its kind."""
    kind = _task_kind(estimator, task)
    if scorer is None:
        scorer = check_scoring(None, scoring=_KIND_SCORING[kind])
    labels = _label_columns(y)[:, task]
    rows = np.flatnonzero(~missing_mask(labels, missing_label))
    if len(rows) < len(labels):
        X = _safe_indexing(X, rows)
        kwargs = {
            key: _safe_indexing(value, rows) if key == "sample_weight" else value
            for key, value in kwargs.items()
        }
    labels = labels[rows]
    if labels.dtype == object:
        labels = np.array(labels.tolist())  # ints or strings, as the classes
    view = _RegressionTaskView if kind == "regression" else _TaskView
    return scorer(view(estimator, task), X, labels, **kwargs)


class _TaskView(ClassifierMixin, BaseEstimator):
    """One task of a fitted multi-output classifier, seen as a classifier."""

    def __init__(self, estimator, task):
        self.estimator = estimator
        self.task = task

    @property
    def classes_(self):
        classes = self.estimator.classes_
        # A one-task classifier's classes_ is its task's array, not a list.
        return (
            classes
            if not isinstance(classes, list) and self.task == 0
            else classes[self.task]
        )

    def predict(self, X):
        pred = _task_column(self.estimator.predict(X), self.task)
        if pred.dtype == object:
            # A column of a mixed-type prediction: ints or strings, as the classes.
            pred = np.array(pred.tolist())
        return pred

    def predict_proba(self, X):
        proba = self.estimator.predict_proba(X)
        # A one-task classifier's probabilities are its task's array.
        return (
            proba
            if not isinstance(proba, list) and self.task == 0
            else proba[self.task]
        )


class _RegressionTaskView(RegressorMixin, BaseEstimator):
    """One task of a fitted multi-output regressor, seen as a regressor."""

    def __init__(self, estimator, task):
        self.estimator = estimator
        self.task = task

    def predict(self, X):
        return _task_column(self.estimator.predict(X), self.task).astype(np.float64)


def _task_column(pred, task):
    """A task's column of predictions; a one-task estimator's are 1-D (it was
    fitted on a one-column ``y``, which scikit-learn takes as 1-D)."""
    return pred if pred.ndim == 1 and task == 0 else pred[:, task]


def _as_columns(Y, name):
    """Labels as a 2-D array, one column per task, of any label type."""
    Y = np.asarray(Y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_tasks) or (n_samples,); got "
            f"shape {Y.shape}."
        )
    return Y


def _label_columns(y):
    Y = np.asarray(y)
    if Y.ndim != 2:
        raise ValueError(
            "Task scorers need y of shape (n_samples, n_tasks); got shape "
            f"{Y.shape}. For a single-output classifier use a plain scorer."
        )
    return Y


def _task_index(task, estimator, y):
    n_tasks = _label_columns(y).shape[1]
    if isinstance(task, (int, np.integer)):
        if not 0 <= task < n_tasks:
            raise ValueError(f"Task index {task} is out of range for {n_tasks} tasks.")
        return int(task)
    if hasattr(y, "columns"):
        names = [str(c) for c in y.columns]
    else:
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        names = getattr(final, "task_names_", None)
    if names is None or task not in names:
        raise ValueError(
            f"Unknown task {task!r}; known task names: {names}. Name tasks with "
            "DataFrame columns, or select them by index."
        )
    return names.index(task)
