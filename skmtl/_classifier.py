"""MultiTaskClassifier: the multi-task estimator with every task a classification."""

import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions

from ._docs import fill_doc
from ._estimator import MultiTaskEstimator
from ._targets import per_task_class_weight
from .metrics import subset_accuracy_score
from .tasks import Classification

__all__ = ["MultiTaskClassifier"]


@fill_doc
class MultiTaskClassifier(ClassifierMixin, MultiTaskEstimator):
    """A neural network with a shared trunk and one classification head per task.

    Hard parameter sharing: every task's head reads the output of one trunk,
    and the network is trained on the tasks' cross-entropies, summed with fixed
    weights or balanced by a strategy (``loss_weighting``). ``fit(X, Y)`` takes
    one task per column of ``Y``, labels may be missing; a 1-D
    ``y`` makes it an ordinary single-task classifier, so the same estimator
    gives the single-task baseline, alone or in
    :class:`~sklearn.multioutput.MultiOutputClassifier`. It is
    :class:`~skmtl.MultiTaskEstimator` with every task a
    :class:`~skmtl.tasks.Classification`.

    Training runs on a skorch net (:class:`~skmtl.MultiTaskNet`), kept as
    ``net_``; its history records, per epoch, the total and per-task losses
    and accuracies.

    Parameters
    ----------
    ${parameters}

    class_weight : "balanced", dict, list or None, default=None
        Weights of the classes in each task's loss, as in scikit-learn's
        classifiers: ``"balanced"`` (inversely proportional to the class
        frequencies, for every task), a dict ``{label: weight}`` for a single
        task, or a list with one such entry (or ``None``) per task.

    ${training_parameters}

    Attributes
    ----------
    classes_ : list of ndarray, or ndarray
        The labels of each task, or of the only task when ``y`` is 1-D.

    ${attributes}

    See Also
    --------
    sklearn.multioutput.MultiOutputClassifier : One independent classifier per
        task, the single-task baseline.
    MultiTaskEstimator : Tasks of several kinds.
    skmtl.metrics.task_scorer : Score one task in model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([X[:, 0] > 0, np.where(X[:, 1] > 0, "up", "down")])
    >>> clf = MultiTaskClassifier(random_state=0).fit(X, Y)
    >>> clf.classes_
    [array(['False', 'True'], dtype='<U5'), array(['down', 'up'], dtype='<U5')]
    >>> clf.predict(X[:2]).shape
    (2, 2)
    >>> [p.shape for p in clf.predict_proba(X[:2])]
    [(2, 2), (2, 2)]
    """

    _parameter_constraints = {
        **{
            k: v
            for k, v in MultiTaskEstimator._parameter_constraints.items()
            if k != "tasks"
        },
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
    }

    def __init__(
        self,
        trunk="mlp",
        *,
        task_weights=None,
        loss_weighting=None,
        missing_label=None,
        class_weight=None,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _make_tasks(self, n_tasks):
        return [
            Classification(class_weight=weight)
            for weight in per_task_class_weight(self.class_weight, n_tasks)
        ]

    def _has_classification(self):
        return True

    @property
    def classes_(self):
        classes = self._task_classes
        return classes[0] if self._one_task else classes

    def predict_proba(self, X):
        """Class probabilities of each task.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them: no more than a batch of
            ``X`` is copied at a time.

        Returns
        -------
        proba : list of ndarray of shape (n_samples, n_classes_t), or ndarray
            One array per task, columns in the order of ``classes_[t]``; a
            single array when ``y`` was 1-D at fit.
        """
        probas = super().predict_proba(X)
        return probas[0] if self._one_task else probas

    def score(self, X, y, sample_weight=None):
        """Subset accuracy: the fraction of rows with every task right.

        For a 2-D ``y`` this is the score of
        :class:`~sklearn.multioutput.MultiOutputClassifier`, so the default
        scores of a multi-task net and of independent single-task nets in
        ``cross_val_score`` or ``GridSearchCV`` compare directly. For a 1-D
        ``y`` it is plain accuracy. Missing labels (``missing_label``) are
        skipped: a row counts as right when its present labels are, and rows
        with no label are left out. Use :func:`skmtl.metrics.task_scorer` for
        one task's score.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them.

        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True labels; a DataFrame's columns are matched to the fitted tasks
            by name, in any order.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
            The weighted fraction of rows whose present labels are all
            predicted right.
        """
        Y, Y_pred = self._true_and_predicted(X, y)
        return subset_accuracy_score(
            Y, Y_pred, sample_weight=sample_weight, missing_label=self.missing_label
        )
