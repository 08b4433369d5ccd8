"""MultiTaskRegressor: the multi-task estimator with every task a regression."""

import torch
from sklearn.base import RegressorMixin

from ._docs import fill_doc
from ._estimator import MultiTaskEstimator
from .tasks import Regression

__all__ = ["MultiTaskRegressor"]


@fill_doc
class MultiTaskRegressor(RegressorMixin, MultiTaskEstimator):
    """A neural network with a shared trunk and one regression head per task.

    Hard parameter sharing: every task's head, a linear output, reads the
    output of one trunk, and the network is trained on the tasks' losses
    (squared error by default), summed with fixed weights or balanced by a
    strategy (``loss_weighting``). ``fit(X, Y)`` takes one target per column
    of ``Y``, which may be missing (``missing_label=np.nan``); a 1-D ``y``
    makes it an ordinary single-task regressor, as
    :class:`~sklearn.neural_network.MLPRegressor`, alone or in
    :class:`~sklearn.multioutput.MultiOutputRegressor`. It is
    :class:`~skmtl.MultiTaskEstimator` with every task a
    :class:`~skmtl.tasks.Regression`.

    Each target is standardised inside the estimator (``target_scaling``):
    the net trains on it minus the mean of its labelled rows, over their
    standard deviation, and ``predict`` undoes it. A target in thousands and
    one in thousandths then train alike, and their losses are comparable.

    Parameters
    ----------
    ${parameters}

    loss : {"squared_error", "absolute_error", "huber"} or list, default="squared_error"
        The loss of each task: one name for every task, or a list of one per
        task. ``"huber"`` is quadratic within one standard deviation of the
        target (with ``target_scaling``) and linear beyond; for another
        threshold, use :class:`~skmtl.MultiTaskEstimator` with
        ``skmtl.tasks.Regression(loss="huber", delta=...)`` tasks.

    target_scaling : bool, default=True
        Whether to train on standardised targets, as above; ``False`` trains
        on the targets as they are.

    ${training_parameters}

    Attributes
    ----------
    ${attributes}

    See Also
    --------
    sklearn.multioutput.MultiOutputRegressor : One independent regressor per
        task, the single-task baseline.
    MultiTaskEstimator : Tasks of several kinds.
    skmtl.metrics.task_scorer : Score one task in model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([X[:, 0] + X[:, 1], 1000 * X[:, 1]])
    >>> reg = MultiTaskRegressor(random_state=0).fit(X, Y)
    >>> reg.predict(X[:2]).shape
    (2, 2)
    >>> round(reg.score(X, Y), 2) > 0.9
    True
    """

    _parameter_constraints = {
        **{
            k: v
            for k, v in MultiTaskEstimator._parameter_constraints.items()
            if k != "tasks"
        },
        "loss": [str, list],
        "target_scaling": ["boolean"],
    }

    def __init__(
        self,
        trunk="mlp",
        *,
        task_weights=None,
        loss_weighting=None,
        missing_label=None,
        loss="squared_error",
        target_scaling=True,
        max_epochs=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        batch_size=200,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        lr_schedule=None,
        augment=None,
        validation_fraction=None,
        callbacks=None,
        device="cpu",
        dtype="float32",
        mixed_precision=None,
        compile=False,
        warm_start=False,
        verbose=0,
        random_state=None,
        **kwargs,
    ):
        self._store_params(locals())

    def _make_tasks(self, n_tasks):
        losses = self.loss if isinstance(self.loss, list) else [self.loss] * n_tasks
        if len(losses) != n_tasks:
            raise ValueError(
                f"loss has {len(losses)} entries for {n_tasks} tasks; give one "
                "loss, or one per column of y."
            )
        return [
            Regression(loss=loss, target_scaling=self.target_scaling) for loss in losses
        ]

    def _has_classification(self):
        return False

    @property
    def classes_(self):
        raise AttributeError("A regressor has no classes_.")

    def score(self, X, y, sample_weight=None):
        """R^2, the coefficient of determination, averaged over tasks.

        As scikit-learn scores multi-output regressors
        (:func:`~sklearn.metrics.r2_score` with ``"uniform_average"``), so
        that a multi-task net and independent single-task regressors compare
        directly; for a 1-D ``y``, plain R^2. Missing targets
        (``missing_label``) are left out of their task's R^2.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them.

        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True targets; a DataFrame's columns are matched to the fitted
            tasks by name, in any order.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
            The mean of the tasks' R^2.
        """
        return MultiTaskEstimator.score(self, X, y, sample_weight=sample_weight)
