"""Plots of a fitted multi-task classifier, in scikit-learn's Display style.

matplotlib is imported when a display is drawn, not when this module is: importing
skmtl neither needs matplotlib nor changes its backend.
"""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._optional import import_optional

__all__ = ["TrainingHistoryDisplay"]

# The panels, one row each: (name, y label, ((history key template, style), ...)).
_TRAIN = {"color": "tab:blue", "label": "training"}
_VALID = {"color": "tab:orange", "label": "validation"}
_WEIGHT = {"color": "tab:green", "label": "task weight"}
_ROWS = (
    ("loss", "loss", (("train_loss_{}", _TRAIN), ("valid_loss_{}", _VALID))),
    # A task's score: a classification's accuracy, or a regression's R^2.
    (
        "accuracy",
        "accuracy",
        (
            ("train_acc_{}", _TRAIN),
            ("valid_acc_{}", _VALID),
            ("train_r2_{}", _TRAIN),
            ("valid_r2_{}", _VALID),
        ),
    ),
    ("weight", "task weight", (("loss_weight_{}", _WEIGHT),)),
)


class TrainingHistoryDisplay:
    """Training history of a multi-task classifier: per task and per epoch.

    One column of panels per task: its loss (cross-entropy, unweighted) and its
    accuracy, on the training rows and, where they were recorded, on the
    validation rows; and, when the loss weighting strategy changed them over
    the epochs (e.g. ``loss_weighting="dwa"`` or ``"uncertainty"``), the task
    weights. The best epoch, if known, is marked on every panel.

    Create it with :meth:`from_estimator`; the constructor takes the values
    themselves, for histories kept elsewhere (e.g. in a JSON file). All
    parameters are stored as attributes.

    Parameters
    ----------
    epochs : array-like of shape (n_epochs,)
        The epochs' numbers, the x axis.

    scores : dict of str to array-like of shape (n_epochs,)
        Per-epoch values keyed as in a :class:`~skmtl.MultiTaskClassifier`'s
        ``net_.history``: ``train_loss_<task>``, ``valid_loss_<task>``,
        ``train_acc_<task>``, ``valid_acc_<task>`` and ``loss_weight_<task>``;
        NaN where an epoch has no value. A missing key draws no line.

    task_names : list of str
        The tasks, one column of panels each.

    best_epoch : int, default=None
        The epoch to mark with a vertical line, such as the estimator's
        ``best_epoch_``; ``None`` marks none.

    estimator_name : str, default=None
        Name of the estimator, in the figure's title; ``None``: no title.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure holding the panels.

    axes_ : ndarray of matplotlib Axes of shape (n_rows, n_tasks)
        The panels: rows loss, accuracy, and task weight when drawn; one
        column per task.

    lines_ : dict of str to matplotlib Line2D
        The curves, keyed by the history key they show (e.g.
        ``"valid_acc_item"``).

    best_epoch_lines_ : ndarray of matplotlib Line2D of shape (n_rows, n_tasks) \
            or None
        The vertical lines marking ``best_epoch``; ``None`` without one.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against the training
        set size.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskClassifier
    >>> from skmtl.plotting import TrainingHistoryDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0])
    >>> clf = MultiTaskClassifier(
    ...     max_epochs=3, validation_fraction=0.2, random_state=0
    ... ).fit(X, Y)
    >>> display = TrainingHistoryDisplay.from_estimator(clf)  # doctest: +SKIP

    Or on axes of your own, here of a figure made without pyplot, to save:

    >>> from matplotlib.figure import Figure
    >>> axes = Figure(figsize=(8, 5)).subplots(2, 2, sharex=True)
    >>> display = TrainingHistoryDisplay.from_estimator(clf, ax=axes)
    >>> display.axes_.shape
    (2, 2)
    >>> display.lines_["valid_acc_task_1"].get_ydata().shape
    (3,)
    >>> display.figure_.savefig("history.png")  # doctest: +SKIP
    """

    def __init__(
        self, epochs, scores, task_names, *, best_epoch=None, estimator_name=None
    ):
        self.epochs = epochs
        self.scores = scores
        self.task_names = task_names
        self.best_epoch = best_epoch
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        tasks=None,
        mark_best=True,
        ax=None,
        line_kw=None,
        best_epoch_kw=None,
    ):
        """Plot the training history of a fitted estimator.

        Parameters
        ----------
        estimator : MultiTaskClassifier or Pipeline ending in one
            A fitted classifier, whose ``net_.history`` is drawn.

        tasks : list of str or int, default=None
            The tasks to draw, by name or index in ``task_names_`` (not a
            bool); ``None``: every task.

        mark_best : bool, default=True
            Whether to mark the estimator's ``best_epoch_``.

        ax : array-like of matplotlib Axes of shape (n_rows, n_tasks), \
                default=None
            See :meth:`plot`.

        line_kw : dict, default=None
            See :meth:`plot`.

        best_epoch_kw : dict, default=None
            See :meth:`plot`.

        Returns
        -------
        display : TrainingHistoryDisplay
            The drawn display.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        """
        if isinstance(estimator, Pipeline):
            estimator = estimator[-1]
        check_is_fitted(estimator)
        if not hasattr(estimator, "net_") or not hasattr(estimator, "task_names_"):
            raise TypeError(
                "TrainingHistoryDisplay.from_estimator needs a fitted "
                "MultiTaskClassifier (with net_ and task_names_); got "
                f"{type(estimator).__name__}."
            )
        history = estimator.net_.history
        names = list(estimator.task_names_)
        selected = names if tasks is None else [_task_name(t, names) for t in tasks]
        epochs = np.array([epoch["epoch"] for epoch in history])
        scores = {}
        for name in selected:
            for _, _, curves in _ROWS:
                for template, _ in curves:
                    key = template.format(name)
                    if any(key in epoch for epoch in history):
                        scores[key] = np.array(
                            [epoch.get(key, np.nan) for epoch in history], dtype=float
                        )
        best = getattr(estimator, "best_epoch_", None) if mark_best else None
        display = cls(
            epochs,
            scores,
            selected,
            best_epoch=best,
            estimator_name=type(estimator).__name__,
        )
        return display.plot(ax=ax, line_kw=line_kw, best_epoch_kw=best_epoch_kw)

    def plot(self, ax=None, *, line_kw=None, best_epoch_kw=None):
        """Draw the panels.

        Parameters
        ----------
        ax : array-like of matplotlib Axes of shape (n_rows, n_tasks), \
                default=None
            Where to draw: one row per quantity (loss, accuracy, and task
            weight when the weights change), one column per task; the shape is
            checked. ``None``: a new figure of that many panels (with
            ``matplotlib.pyplot``).

        line_kw : dict, default=None
            Keyword arguments of every curve's ``Axes.plot``.

        best_epoch_kw : dict, default=None
            Keyword arguments of the best epoch's ``Axes.axvline``.

        Returns
        -------
        display : TrainingHistoryDisplay
            ``self``, with ``figure_``, ``axes_``, ``lines_`` and
            ``best_epoch_lines_``.
        """
        epochs = np.asarray(self.epochs)
        scores = {k: np.asarray(v, dtype=float) for k, v in self.scores.items()}
        for key, values in scores.items():
            if values.shape != epochs.shape:
                raise ValueError(
                    f"scores[{key!r}] has shape {values.shape}, but there are "
                    f"{len(epochs)} epochs."
                )
        ticker = import_optional("matplotlib.ticker", "TrainingHistoryDisplay")
        rows = self._rows(scores)
        shape = (len(rows), len(self.task_names))
        if ax is None:
            plt = import_optional("matplotlib.pyplot", "TrainingHistoryDisplay")
            _, ax = plt.subplots(
                *shape,
                figsize=(3.6 * shape[1] + 0.6, 2.6 * shape[0] + 0.6),
                sharex=True,
                squeeze=False,
                layout="constrained",
            )
        axes = np.asarray(ax, dtype=object)
        if axes.ndim < 2 and axes.size == np.prod(shape):
            axes = axes.reshape(shape)
        if axes.shape != shape:
            raise ValueError(
                f"ax must hold {shape[0]} x {shape[1]} axes (rows: "
                f"{', '.join(r[0] for r in rows)}; one column per task); got "
                f"shape {axes.shape}."
            )

        self.lines_ = {}
        for (_, ylabel, curves), row_axes in zip(rows, axes):
            for name, panel in zip(self.task_names, row_axes):
                for template, style in curves:
                    key = template.format(name)
                    if key not in scores:
                        continue
                    style = {**style, **(line_kw or {})}
                    (self.lines_[key],) = panel.plot(epochs, scores[key], **style)
                regression = f"train_r2_{name}" in scores
                panel.set_ylabel(
                    "R²" if ylabel == "accuracy" and regression else ylabel
                )
                panel.grid(alpha=0.3)
        for name, panel in zip(self.task_names, axes[0]):
            panel.set_title(name)
        for panel in axes[-1]:
            panel.set_xlabel("epoch")
            panel.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        if rows[-1][0] == "weight":
            for panel in axes[-1]:
                panel.ticklabel_format(axis="y", useOffset=False)

        self.best_epoch_lines_ = None
        if self.best_epoch is not None:
            style = {
                "color": "grey",
                "linestyle": ":",
                "label": f"best epoch ({self.best_epoch})",
                **(best_epoch_kw or {}),
            }
            self.best_epoch_lines_ = np.empty(shape, dtype=object)
            for index, panel in np.ndenumerate(axes):
                self.best_epoch_lines_[index] = panel.axvline(self.best_epoch, **style)
        axes[0, 0].legend(fontsize="small")
        self.axes_ = axes
        self.figure_ = axes[0, 0].figure
        if self.estimator_name is not None:
            self.figure_.suptitle(f"Training history of {self.estimator_name}")
        return self

    def _rows(self, scores=None):
        """The rows of panels: loss, accuracy, and the task weights if some
        task's change over the epochs."""
        if scores is None:
            scores = {k: np.asarray(v, dtype=float) for k, v in self.scores.items()}
        changing = False
        for name in self.task_names:
            values = scores.get(f"loss_weight_{name}")
            if values is not None and np.isfinite(values).any():
                spread = np.nanmax(values) - np.nanmin(values)
                changing |= bool(spread > 1e-12 * np.nanmax(abs(values)))
        return [row for row in _ROWS if row[0] != "weight" or changing]


def _task_name(task, names):
    if isinstance(task, str):
        if task not in names:
            raise ValueError(f"Unknown task {task!r}; the tasks are {names}.")
        return task
    # A bool is an int to Python, but True is no task's index.
    if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)):
        raise TypeError(
            "tasks must hold task names (str) or indices (int); got "
            f"{task!r} of type {type(task).__name__}."
        )
    if -len(names) <= task < len(names):
        return names[task]
    raise ValueError(f"Unknown task {task!r}; the tasks are {names}.")
