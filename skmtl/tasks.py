"""Task kinds: what a column of ``Y`` is, and everything that follows from it.

A task kind is its encoding (labels to the numbers the net trains on), the
width of its head's output, its loss, the score its history records, and how
its outputs become predictions. :class:`Classification` and
:class:`Regression` are the kinds; :class:`~skmtl.MultiTaskEstimator` takes
one per column of ``Y`` (``tasks=["classification", "regression"]``, or task
objects with their own settings), and the estimators never branch on kinds.

A task object holds its settings as parameters, as an estimator does; ``fit``
clones it and the clone learns what the task's labels say (``classes_``, or a
regression target's ``mean_`` and ``scale_``), kept in the estimator's
``tasks_``.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone

from ._targets import class_weights, encode_classes

__all__ = ["Classification", "Regression", "Task"]

# The losses of a regression task: each maps outputs and targets of the same
# shape to one loss per element.
_REGRESSION_LOSSES = {
    "squared_error": lambda z, y, delta: torch.square(z - y),
    "absolute_error": lambda z, y, delta: torch.abs(z - y),
    "huber": lambda z, y, delta: torch.nn.functional.huber_loss(
        z, y, reduction="none", delta=delta
    ),
}


class Task(BaseEstimator):
    """Base class of the task kinds.

    Attributes
    ----------
    kind : str
        The kind's name, as ``tasks=`` takes it.

    score_name : str
        The short name of the task's score in the history, as in
        ``valid_<score_name>_<task>``.
    """

    kind = None
    score_name = None

    def encode(self, labels, missing, name, fitted=None, sample_weight=None):
        """Learn what the task's labels say, and encode them.

        Parameters
        ----------
        labels : ndarray of shape (n_samples,)
            The task's column of ``Y``.

        missing : ndarray of shape (n_samples,), dtype=bool
            Where its label is missing.

        name : str
            The task's name, for the error messages.

        fitted : Task, default=None
            The task as fitted before, for a warm fit: its encoding (classes,
            target scaling) is kept, with this task's other settings.

        sample_weight : ndarray of shape (n_samples,), default=None
            Each row's weight: what the encoding learns weighs rows so, and a
            row of weight 2 counts as two rows.

        Returns
        -------
        task : Task
            A fitted clone of this task.

        values : ndarray of shape (n_samples,)
            What the net trains on: int64 class indices, -1 where the label is
            missing, or float64 scaled targets, 0 where missing.
        """
        raise NotImplementedError

    def row_weights(self, values, missing, sample_weight, name):
        """The weight of each row's label in the task's loss: 0 where missing.

        Parameters
        ----------
        values : ndarray of shape (n_samples,)
            The encoded labels.

        missing : ndarray of shape (n_samples,), dtype=bool
            Where the label is missing.

        sample_weight : ndarray of shape (n_samples,)
            Each row's weight, scaled to at most 1.

        name : str
            The task's name, for the error messages.

        Returns
        -------
        weights : ndarray of shape (n_samples,), dtype=float64
        """
        return np.where(missing, 0.0, sample_weight)

    def n_outputs(self):
        """The width of the fitted task's head output."""
        raise NotImplementedError

    def decode(self, outputs):
        """The fitted task's predictions from its head's outputs.

        Parameters
        ----------
        outputs : torch.Tensor of shape (n_samples, n_outputs)
            The head's outputs, on the CPU.

        Returns
        -------
        predictions : ndarray of shape (n_samples,)
        """
        raise NotImplementedError

    @staticmethod
    def group_losses(net, tasks, outputs, targets):
        """Each row's loss for a group of tasks of this kind.

        Parameters
        ----------
        net : skmtl.MultiTaskNet
            The net, whose ``criterion_`` a kind may use.

        tasks : list of Task
            The group's tasks.

        outputs : torch.Tensor of shape (n, n_tasks_in_group, n_outputs)
            Their head outputs.

        targets : torch.Tensor of shape (n, n_tasks_in_group)
            Their encoded labels, as :meth:`encode` gives them.

        Returns
        -------
        losses : torch.Tensor of shape (n, n_tasks_in_group)
        """
        raise NotImplementedError

    @staticmethod
    def labelled(targets, weights):
        """Where a batch has a label of the group's tasks: a bool tensor of
        the shape of ``targets``."""
        raise NotImplementedError

    @staticmethod
    def group_sums(outputs, targets, labelled):
        """The sums over a batch's labelled rows that give each task's score.

        Returns
        -------
        sums : torch.Tensor of shape (n_sums, n_tasks_in_group)
            Summed over the pass, they give the score (see :meth:`score_of`):
            one row for a classification, three for a regression.
        """
        raise NotImplementedError

    @staticmethod
    def score_of(sums, count):
        """The task's score over rows from their :meth:`group_sums`."""
        raise NotImplementedError


class Classification(Task):
    """A classification task: labels of any type, a softmax head, cross-entropy.

    Its score is the accuracy (``acc`` in the history); its head has one
    output per class; it predicts the most probable class.

    Parameters
    ----------
    class_weight : "balanced", dict or None, default=None
        Weights of the task's classes in its loss, as in scikit-learn's
        classifiers: ``"balanced"`` weighs them inversely to their (weighted)
        frequencies, a dict ``{label: weight}`` sets them.

    label_smoothing : float or None, default=None
        The task's label smoothing ``eps`` in ``[0, 1)``, as torch's
        :class:`~torch.nn.CrossEntropyLoss` takes it: the loss of a row is
        ``(1 - eps)`` times the cross-entropy of its label plus ``eps`` times
        the mean cross-entropy over the classes. ``None``: the net's
        criterion's (``criterion__label_smoothing``, 0 by default). A task
        with its own smoothing is scored with torch's cross-entropy, not
        with a criterion of your own.

    Attributes
    ----------
    classes_ : ndarray
        The task's classes, sorted, once fitted.

    Examples
    --------
    >>> from skmtl.tasks import Classification
    >>> Classification(class_weight="balanced", label_smoothing=0.1)
    Classification(class_weight='balanced', label_smoothing=0.1)
    """

    kind = "classification"
    score_name = "acc"

    def __init__(self, class_weight=None, label_smoothing=None):
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    def _check_params(self, name):
        smoothing = self.label_smoothing
        if smoothing is not None and not (
            isinstance(smoothing, (int, float, np.number))
            and not isinstance(smoothing, bool)
            and 0 <= smoothing < 1
        ):
            raise ValueError(
                f"Task {name!r}: label_smoothing must be a number in [0, 1) or "
                f"None; got {smoothing!r}."
            )

    def encode(self, labels, missing, name, fitted=None, sample_weight=None):
        self._check_params(name)
        task = clone(self)
        known = None if fitted is None else fitted.classes_
        task.classes_, codes = encode_classes(labels, missing, name, known)
        return task, codes

    def row_weights(self, values, missing, sample_weight, name):
        codes = values.astype(np.int64)
        (per_class,) = class_weights(
            self.class_weight, [self.classes_], codes[:, None], [name], sample_weight
        )
        return np.where(missing, 0.0, sample_weight * per_class[codes.clip(min=0)])

    def n_outputs(self):
        return len(self.classes_)

    def decode(self, outputs):
        return self.classes_[outputs.argmax(dim=1).numpy()]

    def probabilities(self, outputs):
        """The class probabilities from the head's outputs (logits)."""
        return torch.softmax(outputs.double(), dim=1).numpy()

    @staticmethod
    def group_losses(net, tasks, outputs, targets):
        n_rows, n_tasks, n_classes = outputs.shape
        labels = targets.long() if targets.is_floating_point() else targets
        logits, labels = outputs.reshape(-1, n_classes), labels.clamp(min=0).reshape(-1)
        smoothing = [task.label_smoothing for task in tasks]
        if all(eps is None for eps in smoothing):
            return net.criterion_(logits, labels).view(n_rows, n_tasks)
        # Each task its own smoothing: torch's formula, with one eps a column.
        default = getattr(net.criterion_, "label_smoothing", 0.0)
        eps = outputs.new_tensor([default if e is None else e for e in smoothing])
        log_p = torch.log_softmax(outputs, -1)
        own = -log_p.reshape(-1, n_classes).gather(1, labels[:, None])
        own = own.view(n_rows, n_tasks)
        return (1 - eps) * own - eps * log_p.mean(-1)

    @staticmethod
    def labelled(targets, weights):
        return targets >= 0

    @staticmethod
    def group_sums(outputs, targets, labelled):
        labels = targets.long() if targets.is_floating_point() else targets
        # A missing label, -1, is never the predicted class.
        return (outputs.argmax(-1) == labels).sum(0, dtype=outputs.dtype)[None]

    @staticmethod
    def score_of(sums, count):
        return sums[0] / count


class Regression(Task):
    """A regression task: real targets, a linear head of one output.

    Its score is the coefficient of determination R^2 (``r2`` in the history,
    computed exactly over each pass); it predicts the head's output, in the
    target's units.

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "huber"}, default="squared_error"
        The loss of a row: ``(f - y)^2``, ``|f - y|``, or Huber's, quadratic
        within ``delta`` of the target and linear beyond
        (:func:`torch.nn.functional.huber_loss`), on the scaled target.

    delta : float, default=1.0
        Where the Huber loss turns linear, in units of the scaled target (of
        standard deviations with ``target_scaling``).

    target_scaling : bool, default=True
        Whether to train on the target standardised: minus the mean of its
        labelled rows, over their standard deviation (1 where it is 0), the
        scaling undone at predict. Targets in thousands and in thousandths
        then train alike, and the task losses are comparable: a squared error
        of 1 is the variance of the target. ``False`` trains on the target as
        it is.

    Attributes
    ----------
    mean_ : float
        The mean of the labelled targets at fit; 0 without target scaling.

    scale_ : float
        Their standard deviation; 1 without target scaling.

    Examples
    --------
    >>> from skmtl.tasks import Regression
    >>> Regression(loss="huber")
    Regression(loss='huber')
    """

    kind = "regression"
    score_name = "r2"

    def __init__(self, loss="squared_error", delta=1.0, target_scaling=True):
        self.loss = loss
        self.delta = delta
        self.target_scaling = target_scaling

    def _check_params(self, name):
        if self.loss not in _REGRESSION_LOSSES:
            raise ValueError(
                f"Task {name!r}: loss must be one of {sorted(_REGRESSION_LOSSES)}; "
                f"got {self.loss!r}."
            )
        delta = self.delta
        if isinstance(delta, bool) or not (
            isinstance(delta, (int, float, np.number)) and 0 < delta < np.inf
        ):
            raise ValueError(
                f"Task {name!r}: delta must be a positive number; got {delta!r}."
            )

    def encode(self, labels, missing, name, fitted=None, sample_weight=None):
        self._check_params(name)
        present = labels[~missing]
        try:
            present = present.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Task {name!r} is a regression task, but its targets are not "
                f"numbers: {present[:3].tolist()} ..."
            ) from None
        if present.size == 0:
            raise ValueError(f"Task {name!r} has no targets: every one is missing.")
        if not np.isfinite(present).all():
            raise ValueError(
                f"Task {name!r} has infinite targets; a regression target must be "
                "finite (mark missing ones with missing_label=np.nan)."
            )
        task = clone(self)
        if fitted is not None:
            task.mean_, task.scale_ = fitted.mean_, fitted.scale_
        else:
            task.mean_, task.scale_ = 0.0, 1.0
            weights = None if sample_weight is None else sample_weight[~missing]
            if self.target_scaling and (weights is None or weights.sum() > 0):
                # Weighted as the loss weighs rows: a row of weight 2 is two rows.
                task.mean_ = float(np.average(present, weights=weights))
                variance = np.average((present - task.mean_) ** 2, weights=weights)
                scale = float(np.sqrt(variance))
                task.scale_ = scale if scale > 0 else 1.0
        values = np.zeros(len(labels))
        values[~missing] = (present - task.mean_) / task.scale_
        if not np.isfinite(values).all():
            raise ValueError(
                f"Task {name!r}: its targets overflow once scaled; scale them down."
            )
        return task, values

    def n_outputs(self):
        return 1

    def decode(self, outputs):
        return outputs[:, 0].double().numpy() * self.scale_ + self.mean_

    @staticmethod
    def group_losses(net, tasks, outputs, targets):
        outputs = outputs[..., 0]
        # A missing target, weighted 0, may be NaN: its loss must stay finite.
        targets = torch.nan_to_num(targets.to(outputs.dtype), nan=0.0)
        settings = [(task.loss, float(task.delta)) for task in tasks]
        if len(set(settings)) == 1:
            loss, delta = settings[0]
            return _REGRESSION_LOSSES[loss](outputs, targets, delta)
        columns = [
            _REGRESSION_LOSSES[loss](outputs[:, [i]], targets[:, [i]], delta)
            for i, (loss, delta) in enumerate(settings)
        ]
        return torch.cat(columns, 1)

    @staticmethod
    def labelled(targets, weights):
        return weights > 0

    @staticmethod
    def group_sums(outputs, targets, labelled):
        outputs = outputs[..., 0]
        targets = torch.where(labelled, targets.to(outputs.dtype), 0)
        errors = torch.where(labelled, outputs - targets, 0)
        dtype = outputs.dtype
        return torch.stack(
            [
                torch.square(errors).sum(0, dtype=dtype),
                targets.sum(0, dtype=dtype),
                torch.square(targets).sum(0, dtype=dtype),
            ]
        )

    @staticmethod
    def score_of(sums, count):
        # R^2 = 1 - SSE / SST; where the targets are constant, 1 if they are
        # predicted exactly and 0 otherwise, as scikit-learn's r2_score.
        sse, total, total_squares = sums
        sst = total_squares - total * total / count
        if sst <= 1e-12 * max(total_squares, 1e-300):
            return 1.0 if sse <= 0 else 0.0
        return 1.0 - sse / sst


KINDS = {"classification": Classification, "regression": Regression}


def make_tasks(tasks, n_tasks):
    """The task objects of a ``tasks`` parameter, one per column of ``Y``.

    Parameters
    ----------
    tasks : list of (str or Task)
        One entry per task: ``"classification"``, ``"regression"``, or a
        task object.

    n_tasks : int
        The number of columns of ``Y``.

    Returns
    -------
    tasks : list of Task
        Unfitted task objects.

    Raises
    ------
    ValueError
        If ``tasks`` does not have one entry per column, or an entry is not a
        kind.
    """
    if len(tasks) != n_tasks:
        raise ValueError(
            f"tasks has {len(tasks)} entries, but y has {n_tasks} tasks (columns); "
            "give one kind per column of y."
        )
    made = []
    for t, task in enumerate(tasks):
        if isinstance(task, str) and task in KINDS:
            task = KINDS[task]()
        if not isinstance(task, Task):
            raise ValueError(
                f"tasks[{t}] must be 'classification', 'regression' or a task "
                f"object such as skmtl.tasks.Regression(loss='huber'); got {task!r}."
            )
        made.append(task)
    return made
