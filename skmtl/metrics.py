"""Per-task scorers for multi-output classifiers, for ``scoring=`` in model selection.

They score any classifier whose ``predict`` returns one column per task and whose
``predict_proba`` returns one array per task: :class:`~skmtl.MultiTaskClassifier`,
:class:`~sklearn.multioutput.MultiOutputClassifier`, or a pipeline ending in
either, so that multi-task and single-task models are compared with the same
scorers on the same folds.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.utils import _safe_indexing

from ._targets import missing_mask

__all__ = ["task_scorer", "mean_task_scorer"]


def task_scorer(task, scoring="accuracy", *, missing_label=None):
    """A scorer of one task of a multi-output classifier.

    Parameters
    ----------
    task : int or str
        The task's column index, or its name: a column of a DataFrame ``y``,
        looked up in the estimator's ``task_names_`` when it has them.

    scoring : str or callable, default="accuracy"
        Any single-output scorer of scikit-learn, by name (``"accuracy"``,
        ``"balanced_accuracy"``, ``"neg_log_loss"``, ``"f1_macro"``, ...) or
        made with :func:`~sklearn.metrics.make_scorer`. Scorers that need
        probabilities get that task's ``predict_proba`` array.

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
    return _TaskScorer(task, check_scoring(None, scoring=scoring), missing_label)


def mean_task_scorer(scoring="accuracy", *, missing_label=None):
    """A scorer giving the mean over tasks of a per-task score.

    Parameters
    ----------
    scoring : str or callable, default="accuracy"
        The per-task score, as in :func:`task_scorer`.

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
    return _MeanTaskScorer(check_scoring(None, scoring=scoring), missing_label)


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
    """Score one task on the rows labelled for it."""
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
    return scorer(_TaskView(estimator, task), X, labels, **kwargs)


class _TaskView(ClassifierMixin, BaseEstimator):
    """One task of a fitted multi-output classifier, seen as a classifier."""

    def __init__(self, estimator, task):
        self.estimator = estimator
        self.task = task

    @property
    def classes_(self):
        return self.estimator.classes_[self.task]

    def predict(self, X):
        return self.estimator.predict(X)[:, self.task]

    def predict_proba(self, X):
        return self.estimator.predict_proba(X)[self.task]


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
