"""The scikit-learn face of skmtl: validation, fit, predict and score, for
tasks of any kind.

:class:`MultiTaskEstimator` fits one task per column of ``Y``, each of its own
kind (:mod:`skmtl.tasks`); :class:`~skmtl.MultiTaskClassifier` and
:class:`~skmtl.MultiTaskRegressor` are it with every task of one kind. What
``fit`` does with its parameters lives beside it: routing in
:mod:`skmtl._routing`, building the net in :mod:`skmtl._build`, warm starts in
:mod:`skmtl._warm_start`, randomness in :mod:`skmtl._random`, persistence in
:mod:`skmtl._persistence`.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import LRScheduler
from skorch.dataset import unpack_data
from skorch.helper import predefined_split

from ._batching import RowDataset, n_rows, placement, split_validation, subset
from ._build import (
    AUGMENTATIONS,
    SCHEDULES,
    STOPPING,
    TRUNKS,
    build_net,
    check_batch_norm,
    check_callbacks,
    check_device,
    numpy_dtype,
    resolve_dtype,
    stops,
    validation_fraction,
)
from ._data import check_dataset, check_finite, feature_params, is_dataset
from ._docs import fill_doc
from ._persistence import PortableStateMixin
from ._random import data_order_generator, seeded_torch
from ._routing import RoutedParamsMixin
from ._targets import (
    MIN_VALIDATION_PER_CLASS,
    check_labels,
    check_missing_label,
    check_missing_marked,
    check_task_names,
    check_tasks_train,
    fit_targets,
    match_tasks,
    scarce_validation_classes,
    stack_columns,
    task_names,
)
from ._warm_start import check_structure, update_net
from .augmentation import ImageAugmentation
from .metrics import task_score
from .tasks import make_tasks
from .weighting import NAMES, LossWeighting

__all__ = ["MultiTaskEstimator"]


@fill_doc
class MultiTaskEstimator(
    TransformerMixin, PortableStateMixin, RoutedParamsMixin, BaseEstimator
):
    """A neural network with a shared trunk and one head per task, for tasks of
    any kind: classification, regression, or a mix.

    Every task's head reads the output of one trunk (hard parameter sharing;
    or soft sharing, each task its own representation, with a trunk of
    :mod:`skmtl.trunks` such as ``trunk="mmoe"``), and the network is trained
    on the tasks' losses (a classification's
    cross-entropy, a regression's squared error or the loss its task sets),
    summed with fixed weights or balanced by a strategy (``loss_weighting``).
    ``fit(X, Y)`` takes one task per column of ``Y``, of the kind ``tasks``
    gives it; labels may be missing. :class:`~skmtl.MultiTaskClassifier` and
    :class:`~skmtl.MultiTaskRegressor` are this estimator with every task of
    one kind.

    Training runs on a skorch net (:class:`~skmtl.MultiTaskNet`), kept as
    ``net_``; its history records, per epoch, the total and per-task losses
    and scores (``acc`` for a classification task, ``r2`` for a regression).

    Parameters
    ----------
    tasks : list of {"classification", "regression"} or Task, default=None
        The kind of each column of ``Y``, in order: ``"classification"``,
        ``"regression"``, or a task object with its own settings, such as
        ``skmtl.tasks.Regression(loss="huber")`` or
        ``skmtl.tasks.Classification(class_weight="balanced")`` (see
        :mod:`skmtl.tasks`). It must have one entry per column; ``None``
        makes ``fit`` raise a ``ValueError``.

    ${parameters}

    ${training_parameters}

    Attributes
    ----------
    classes_ : list of (ndarray or None)
        The classes of each task; ``None`` for a regression task.

    ${attributes}

    See Also
    --------
    MultiTaskClassifier : Every task a classification.
    MultiTaskRegressor : Every task a regression.
    skmtl.metrics.task_scorer : Score one task in model selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskEstimator
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([np.where(X[:, 0] > 0, "up", "down"), 3 * X[:, 1]])
    >>> est = MultiTaskEstimator(["classification", "regression"], random_state=0)
    >>> est.fit(X, Y).predict(X[:2])[:, 0]
    array(['up', 'down'], dtype=object)
    >>> [None if p is None else p.shape for p in est.predict_proba(X[:2])]
    [(2, 2), None]
    """

    # Whether the fitted tasks' names came with their labels (a DataFrame y),
    # so that warm fits and score match tasks by name; False for models saved
    # before it was recorded, which match them by position, as they did.
    _named_tasks = False

    _parameter_constraints = {
        "tasks": [list, None],
        "trunk": [StrOptions(set(TRUNKS)), callable],
        "task_weights": ["array-like", None],
        "loss_weighting": [StrOptions(set(NAMES)), LossWeighting, None],
        "missing_label": "no_validation",
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "early_stopping": ["boolean", StrOptions({"per_task"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "lr_schedule": [StrOptions(set(SCHEDULES)), LRScheduler, None],
        "augment": [StrOptions(set(AUGMENTATIONS)), ImageAugmentation, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "dtype": [
            StrOptions({"float32", "float64"}),
            Options(type, {np.float32, np.float64}),
            Options(torch.dtype, {torch.float32, torch.float64}),
        ],
        "mixed_precision": [StrOptions({"bf16", "fp16"}), None],
        "compile": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        tasks=None,
        trunk="mlp",
        *,
        task_weights=None,
        loss_weighting=None,
        missing_label=None,
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

    def _store_params(self, params):
        """Store an ``__init__``'s parameters as given, as scikit-learn's
        estimators do, and the routed ones of its ``**kwargs``; ``params`` is
        the ``__init__``'s ``locals()``, so that each estimator lists its
        parameters once, in its signature."""
        params = {k: v for k, v in params.items() if k not in ("self", "__class__")}
        routed = params.pop("kwargs")
        vars(self).update(params)
        self._set_routed(routed)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        # transform gives the trunk's features in the net's dtype.
        tags.transformer_tags.preserves_dtype = [numpy_dtype(self.dtype).name]
        return tags

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and one or more tasks' labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features. An ndarray of uint8, int8, int16, int32, int64, float16,
            float32 or float64 is never copied whole, so that a
            :class:`numpy.memmap` larger than memory trains: it is checked a
            chunk of rows at a time and read a batch of rows at a time. Each
            batch is cast to ``dtype`` on its way to the network, after its move
            to the device when its type is narrower: uint8 images move, and stay
            on a device, as uint8, a quarter of float32's bytes, and train
            exactly as ``X.astype("float32")`` would (cast, not scaled). Other
            input, such as lists and DataFrames, is converted to ``dtype``
            whole. A scipy.sparse matrix or array (CSR, CSC, ...; the output
            of a :class:`~sklearn.compose.ColumnTransformer` with a large
            one-hot block) stays sparse, in CSR form (other forms are converted
            to it once), its stored values checked, and is densified one batch
            at a time, never whole: it trains exactly as its dense array would.
            A map-style :class:`torch.utils.data.Dataset` whose items are rows
            of features (1-D tensors or arrays of ``n_features`` numbers; the
            labels are ``y``) is read a batch at a time through a
            :class:`~torch.utils.data.DataLoader` (through its
            ``__getitems__`` where it has one), each item checked when it is
            first read, and each batch for NaN and infinity. NaN and infinity
            are refused.

        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            One task per column: labels of any type for a classification task,
            numbers for a regression task. A DataFrame's column names
            become the task names; a warm fit or ``score`` on a DataFrame
            matches its columns to the fitted tasks by name. Labels equal to
            ``missing_label`` are missing. A column vector, of shape
            ``(n_samples, 1)``, is taken as a 1-D ``y`` with a
            :class:`~sklearn.exceptions.DataConversionWarning`, as
            scikit-learn's estimators do.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row's loss, in every task (and in the mean and
            scale of a regression target); ``None`` weighs rows equally.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        # A fit that raises leaves the estimator as it was: unfitted, or with
        # its previous network, which a warm start trains a copy of.
        state = dict(vars(self))
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            vars(self).clear()
            vars(self).update(state)
            raise

    def _fit(self, X, y, sample_weight):
        params = self.get_params(deep=False)
        check_device(self.device)
        check_missing_label(self.missing_label)
        continuing = self.warm_start and hasattr(self, "net_")
        if continuing:
            check_structure(params, self.fitted_params_)
        given = task_names(y)
        X, y = self._validate_X_y(X, y, reset=not continuing)
        Y = y.reshape(len(y), -1)
        if continuing:
            Y = match_tasks(Y, given, self.task_names_, self._named_tasks)
        names = self.task_names_ if continuing else given
        names = names or [f"task_{t}" for t in range(Y.shape[1])]
        check_task_names(names)
        holdout = validation_fraction(params)
        check_callbacks(self.callbacks, holdout)
        targets = fit_targets(
            Y,
            self._make_tasks(Y.shape[1]),
            names,
            self.missing_label,
            sample_weight,
            numpy_dtype(self.dtype),
            fitted=self.tasks_ if continuing else None,
        )
        weights = targets.weights
        # Rows without a weighted label would train nothing, yet would still sway
        # batch statistics: they are left out.
        rows = np.flatnonzero(weights.any(axis=1))
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        train, valid = split_validation(rows, holdout, seed)
        check_tasks_train(names, weights[train], holdout)
        if self.early_stopping == "per_task":
            self._check_validation_labels(names, weights[valid])
        if self.early_stopping:
            self._warn_scarce_validation(names, targets, valid)

        n_fits = self._n_fits if continuing else 0
        # Each warm fit draws new shuffles; the validation rows stay the same.
        fit_seed = seed + n_fits
        dtype = resolve_dtype(self.dtype)
        data = (
            X,
            targets.values,
            weights,
            placement(X, rows, self.device, dtype),
            dtype,
        )
        with seeded_torch(fit_seed):
            if continuing:
                net = copy.deepcopy(self.net_)
                update_net(net, params, self.fitted_params_, self.n_features_in_)
                # The tasks' settings that a warm fit may change: their losses
                # and class weights.
                net.tasks = list(targets.tasks)
            else:
                net = build_net(params, self.n_features_in_, targets.tasks, names)
            check_batch_norm(net, len(train), self.batch_size)
            net.train_split = (
                None if valid is None else predefined_split(subset(*data, valid))
            )
            # The order of the rows depends on the seed alone.
            vars(net).setdefault(
                "iterator_train__generator", data_order_generator(fit_seed)
            )
            epochs_before = len(net.history)
            try:
                net.partial_fit(subset(*data, train))
            finally:
                # The fitted estimator keeps no data, nor a generator of its fit.
                net.train_split = None
                if "iterator_train__generator" not in params:
                    del vars(net)["iterator_train__generator"]
        self.net_ = net
        self.fitted_params_ = copy.deepcopy(params)
        self._n_fits = n_fits + 1
        self.tasks_ = targets.tasks
        if not continuing:
            self.task_names_ = names
            self._named_tasks = given is not None
            self._one_task = y.ndim == 1
        self._set_convergence(net.history[epochs_before:])
        return self

    def _make_tasks(self, n_tasks):
        """The unfitted task objects of ``Y``'s ``n_tasks`` columns."""
        if self.tasks is None:
            raise ValueError(
                f"{type(self).__name__} needs tasks: one kind per column of y, "
                "such as tasks=['classification', 'regression']; or use "
                "MultiTaskClassifier or MultiTaskRegressor, whose tasks are all "
                "of one kind."
            )
        return make_tasks(self.tasks, n_tasks)

    @staticmethod
    def _check_validation_labels(names, weights):
        """Per-task selection needs each task's validation score."""
        for name, total in zip(names, weights.sum(axis=0)):
            if not total > 0:
                raise ValueError(
                    f"early_stopping='per_task' selects each task's epoch by its "
                    f"validation score, but task {name!r} has no labelled "
                    "validation row. Raise validation_fraction or label more rows."
                )

    def _warn_scarce_validation(self, names, targets, valid):
        """Warn when a classification task's validation rows hold few labels of
        a class: the accuracy that picks the stopping epoch is then mostly
        noise."""
        if valid is None:
            return
        kept = [t for t, task in enumerate(targets.tasks) if hasattr(task, "classes_")]
        scarce = scarce_validation_classes(
            [names[t] for t in kept],
            [targets.tasks[t].classes_ for t in kept],
            targets.values[np.ix_(valid, kept)].astype(np.int64),
        )
        if not scarce:
            return
        tasks = "; ".join(
            f"task {name!r} has {count} of class {label!r}"
            for name, label, count in scarce
        )
        warnings.warn(
            f"early_stopping={self.early_stopping!r} holds out {len(valid)} "
            "validation rows, which "
            f"leave few labelled rows per class: {tasks} (fewer than "
            f"{MIN_VALIDATION_PER_CLASS}). The validation accuracy that picks the "
            "stopping epoch is then noisy, and early stopping often costs "
            "accuracy on small data, as for MLPClassifier. Train a fixed number "
            "of epochs (early_stopping=False), or raise validation_fraction.",
            UserWarning,
            stacklevel=4,  # fit's caller
        )

    def _validate_X_y(self, X, y, reset):
        """``X`` as an ndarray (not copied when torch holds its type) or
        checked dataset rows, and ``y`` as a 1-D or 2-D array."""
        # NaN labels pass here, to be matched by missing_label per task.
        y_params = {"ensure_2d": False, "dtype": None, "ensure_all_finite": "allow-nan"}
        if y is not None:
            y = check_labels(y, estimator=self)
        if is_dataset(X):
            X = check_dataset(self, X, reset=reset)
            if y is None:
                raise ValueError(
                    f"This {type(self).__name__} estimator requires y to be "
                    "passed, but the target y is None."
                )
        else:
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                validate_separately=(
                    feature_params(X, numpy_dtype(self.dtype)),
                    y_params,
                ),
            )
            check_finite(self, X, numpy_dtype(self.dtype))
        check_consistent_length(X, y)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. "
                "Please change the shape of y to (n_samples,), for example "
                "using ravel().",
                DataConversionWarning,
                stacklevel=4,  # fit's caller
            )
            y = y[:, 0]
        return X, y

    def _validate_X(self, X):
        """``X`` at predict, as in :meth:`_validate_X_y`."""
        if is_dataset(X):
            return check_dataset(self, X, reset=False)
        X = validate_data(
            self, X, reset=False, **feature_params(X, numpy_dtype(self.dtype))
        )
        check_finite(self, X, numpy_dtype(self.dtype))
        return X

    def _set_convergence(self, epochs):
        """Set ``n_iter_`` and the best epoch and score of the fit that ran
        ``epochs``; warn if it used up ``max_epochs`` without converging."""
        stopping = dict(self.net_.callbacks_).get(STOPPING)
        self.n_iter_ = len(self.net_.history)
        monitor = "valid_score" if self.early_stopping else "train_objective"
        # An epoch interrupted in its validation pass has no validation score.
        scores = [(e["epoch"], e[monitor]) for e in epochs if monitor in e]
        if not scores:
            # Interrupted before any score: the model is as it was left.
            best, score = self.n_iter_, None
        elif self.early_stopping == "per_task":
            # Each task's own epoch, whose snapshot answers for it.
            best = np.array([stopping.best_epochs_[n] for n in self.task_names_])
            score = np.array([stopping.best_scores_[n] for n in self.task_names_])
        elif self.early_stopping:
            # The epoch whose weights the stopping callback restored.
            best = stopping.best_epoch_ or scores[-1][0]
            score = self.net_.history[best - 1, monitor]
        else:
            best, score = min(scores, key=lambda pair: pair[1])
        self.best_epoch_ = best if isinstance(best, np.ndarray) else int(best)
        self.best_validation_score_ = score if self.early_stopping else None
        self.best_loss_ = None if self.early_stopping else score
        stopped = stopping is not None and stopping.stopped_
        if (
            stops(self.get_params(deep=False))
            and len(epochs) == self.max_epochs
            and not stopped
        ):
            monitored = "training loss"
            if self.early_stopping:
                monitored = "validation score"
            warnings.warn(
                f"max_epochs={self.max_epochs} ran out before the {monitored} "
                f"stopped improving by tol={self.tol} for n_iter_no_change="
                f"{self.n_iter_no_change} epochs: training has not converged. "
                "Raise max_epochs, or set n_iter_no_change=None to train for "
                "exactly max_epochs.",
                ConvergenceWarning,
                stacklevel=4,  # fit's caller
            )

    def _has_classification(self):
        """Whether a task is a classification, as ``tasks`` says."""
        if hasattr(self, "tasks_"):
            return any(task.kind == "classification" for task in self.tasks_)
        return any(
            getattr(task, "kind", task) == "classification" for task in self.tasks or []
        )

    # Through the method, which the estimators of one kind override.
    @available_if(lambda self: self._has_classification())
    def predict_proba(self, X):
        """Class probabilities of each classification task.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them: no more than a batch of
            ``X`` is copied at a time.

        Returns
        -------
        proba : list of (ndarray of shape (n_samples, n_classes_t) or None)
            One entry per task: the probabilities of its classes, in the order
            of ``classes_[t]``, or ``None`` for a regression task.
        """
        check_is_fitted(self)
        return self._fill_per_task(
            X,
            [getattr(task, "probabilities", None) for task in self.tasks_],
        )

    def predict(self, X):
        """Each task's prediction: its most probable class, or its target.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them: no more than a batch of
            ``X`` is copied at a time.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_tasks) or (n_samples,)
            One column per task: the original labels of a classification
            task, floats of a regression (an object array when their types
            differ); 1-D when ``y`` was 1-D at fit.
        """
        check_is_fitted(self)
        columns = self._fill_per_task(X, [task.decode for task in self.tasks_])
        if self._one_task:
            return columns[0]
        # Classes and targets apart: an int class never becomes a float.
        mixed = len({task.kind for task in self.tasks_}) > 1
        return stack_columns(columns, as_objects=mixed)

    def score(self, X, y, sample_weight=None):
        """The mean over tasks of each task's score: accuracy, or R^2.

        Missing labels (``missing_label``) are left out of their task's score.
        :func:`skmtl.metrics.task_scorer` scores one task.

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
        """
        Y, Y_pred = self._true_and_predicted(X, y)
        return float(
            np.mean(
                [
                    task_score(
                        task.kind,
                        Y[:, t],
                        Y_pred[:, t],
                        sample_weight=sample_weight,
                        missing_label=self.missing_label,
                    )
                    for t, task in enumerate(self.tasks_)
                ]
            )
        )

    def _true_and_predicted(self, X, y):
        """``y`` and the predictions of ``X``, as 2-D arrays of the fitted tasks."""
        check_is_fitted(self)
        given = task_names(y)
        y = check_labels(y)
        Y_pred = self.predict(X)
        check_consistent_length(Y_pred, y)
        Y_pred = Y_pred.reshape(len(y), -1)
        Y = match_tasks(
            y.reshape(len(y), -1), given, self.task_names_, self._named_tasks
        )
        check_missing_marked(Y, self.task_names_, self.missing_label)
        return Y, Y_pred

    def transform(self, X):
        """The shared representation: the trunk's output, which every head reads.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
            Features, taken as ``fit`` takes them.

        Returns
        -------
        X_shared : ndarray of shape (n_samples, n_shared)
            The trunk's features, in ``dtype``, named by
            :meth:`get_feature_names_out`. A trunk that gives each task its
            own representation (:mod:`skmtl.trunks`) gives the tasks'
            side by side, task after task: ``n_tasks * width`` columns.
        """
        check_is_fitted(self)
        X = self._validate_X(X)
        trunk = self.net_.module_.trunk
        parts = []
        self.net_._set_training(False)
        for batch in self.net_.get_iterator(RowDataset(X), training=False):
            Xi, _ = unpack_data(batch)
            with torch.no_grad():
                features = trunk(Xi)
            parts.append(features.reshape(len(features), -1).cpu().numpy())
        return np.concatenate(parts)

    def get_feature_names_out(self, input_features=None):
        """The names of the shared features :meth:`transform` returns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Unused, as the shared features are not the input's.

        Returns
        -------
        feature_names_out : ndarray of str
            ``<estimator>0``, ``<estimator>1``, ..., as scikit-learn names the
            outputs of a transformer that makes new features; for a trunk of
            one representation per task, ``<estimator>_<task>0``, ...
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        width = self.net_.module_.heads.in_features
        if not self.net_.module_.per_task:
            return np.asarray([f"{prefix}{i}" for i in range(width)], dtype=object)
        return np.asarray(
            [f"{prefix}_{task}{i}" for task in self.task_names_ for i in range(width)],
            dtype=object,
        )

    @property
    def classes_(self):
        """The classes of each task; ``None`` for a regression task."""
        check_is_fitted(self, "tasks_")
        return self._task_classes

    @property
    def _task_classes(self):
        return [getattr(task, "classes_", None) for task in self.tasks_]

    def _fill_per_task(self, X, transforms):
        """One array per task (``None`` where its transform is): its transform
        of its outputs, batch by batch into arrays made once, so that no more
        than a batch of ``X`` is copied."""
        check_is_fitted(self)
        X = self._validate_X(X)
        out = [None] * len(transforms)
        for net, tasks in self._nets_by_task():
            own = [f if t in tasks else None for t, f in enumerate(transforms)]
            for t, array in enumerate(self._fill(X, own, net)):
                if t in tasks:
                    out[t] = array
        return out

    def _nets_by_task(self):
        """The nets that answer for the tasks, with the tasks each answers
        for: the fitted net for all of them, or with per-task selection one
        net per snapshot, its module loaded with the snapshot's weights."""
        stopping = dict(self.net_.callbacks_).get(STOPPING)
        snapshots = getattr(stopping, "snapshots_", None)
        if not snapshots or self.fitted_params_["early_stopping"] != "per_task":
            return [(self.net_, set(range(len(self.tasks_))))]
        nets = []
        for epoch, state in snapshots.items():
            tasks = {
                t
                for t, name in enumerate(self.task_names_)
                if stopping.best_epochs_[name] == epoch
            }
            # A shallow copy of the net with its own module: the fitted net is
            # left as it is, and predictions in threads do not meet. (Not
            # copy.copy, which goes through skorch's __getstate__, a deep copy.)
            net = object.__new__(type(self.net_))
            vars(net).update(vars(self.net_))
            module = copy.deepcopy(self.net_.module_)
            module.load_state_dict(state)
            vars(net)["module_"] = module
            nets.append((net, tasks))
        return nets

    def _fill(self, X, transforms, net):
        """:meth:`_fill_per_task` with one net."""
        out, start = None, 0
        # The net's iterator moves one batch at a time to the net's device,
        # which is the CPU for a model trained on a GPU and loaded where there
        # is none; forward_iter brings the outputs back to the host.
        for outputs in net.forward_iter(RowDataset(X)):
            parts = [
                None if transform is None else transform(z)
                for transform, z in zip(transforms, outputs)
            ]
            if out is None:
                out = [
                    None
                    if p is None
                    else np.empty((n_rows(X), *p.shape[1:]), dtype=p.dtype)
                    for p in parts
                ]
            stop = start + len(outputs[0])
            for array, part in zip(out, parts):
                if array is not None:
                    array[start:stop] = part
            start = stop
        return out
