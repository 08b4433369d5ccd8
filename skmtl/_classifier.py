"""The scikit-learn face of skmtl: validation, label encoding, predict and score."""

import copy
import inspect
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._missing import is_scalar_nan
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import Callback, LRScheduler
from skorch.helper import predefined_split

from ._batching import (
    RowDataset,
    TensorBatchIterator,
    keep_on_device,
    rows_to_device,
    storage_dtype,
)
from ._data import check_dataset, check_finite, feature_params, is_dataset
from ._net import MultiTaskNet
from ._persistence import PortableStateMixin, device_available
from ._targets import (
    check_missing_label,
    check_task_names,
    class_weights,
    encode_targets,
    task_names,
)
from .augmentation import ImageAugmentation
from .callbacks import FitLRScheduler, FitProgressBar, ToleranceStopping
from .metrics import subset_accuracy_score
from .modules import CNN, MLP, MultiTaskModule
from .weighting import NAMES, LossWeighting, make_loss_weighting

__all__ = ["MultiTaskClassifier"]

_TRUNKS = {"mlp": MLP, "cnn": CNN}
_MODULE_PREFIXES = ("trunk__", "head__")
_NET_PREFIXES = (
    "optimizer__",
    "iterator_train__",
    "iterator_valid__",
    "criterion__",
    "callbacks__",
    "compile__",
)
# Settings that a warm start applies to the trained net without rebuilding it.
_WARM_PREFIXES = ("optimizer__", "iterator_train__", "iterator_valid__", "criterion__")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# The name of the callback that stops training (tol, n_iter_no_change,
# early_stopping) among the net's callbacks.
_STOPPING = "stopping"
# The name of the learning rate schedule's callback (lr_schedule).
_LR_SCHEDULE = "lr_schedule"
# The schedules lr_schedule names, as torch policies of FitLRScheduler.
_SCHEDULES = {
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
}
# The augmentations that augment names.
_AUGMENTATIONS = {"shift": {}, "shift_flip": {"flip": True}}
# The name of the progress bar's callback (verbose=2).
_PROGRESS_BAR = "progress_bar"
# The callbacks that the classifier makes from its own parameters.
_OWN_CALLBACKS = (_STOPPING, _LR_SCHEDULE, _PROGRESS_BAR)


class MultiTaskClassifier(PortableStateMixin, ClassifierMixin, BaseEstimator):
    """A neural network with a shared trunk and one classification head per task.

    Hard parameter sharing: every task's head reads the output of one trunk,
    and the network is trained on the tasks' cross-entropies, summed with fixed
    weights or balanced by a strategy (``loss_weighting``). ``fit(X, Y)`` takes
    one task per column of ``Y``, labels may be missing; a 1-D
    ``y`` makes it an ordinary single-task classifier, so the same estimator
    gives the single-task baseline, alone or in
    :class:`~sklearn.multioutput.MultiOutputClassifier`.

    Training runs on a skorch net (:class:`~skmtl.MultiTaskNet`), kept as
    ``net_``; its history records, per epoch and per batch, the total and
    per-task losses and accuracies.

    Parameters
    ----------
    trunk : {"mlp", "cnn"}, torch.nn.Module class or instance, default="mlp"
        The shared part of the network. ``"mlp"`` is a
        :class:`~skmtl.modules.MLP`, ``"cnn"`` a :class:`~skmtl.modules.CNN`
        reading each row as an image; both get ``in_features`` from the data.
        A module class is instantiated with the ``trunk__*`` parameters, and
        ``in_features`` too when its ``__init__`` takes a parameter of that
        name; an instance is copied at fit. Any trunk must map ``(n, n_features)``
        float tensors to ``(n, width)``.

    task_weights : array-like of shape (n_tasks,), default=None
        Fixed weight of each task's loss in the total loss. ``None`` gives every
        task the weight ``1 / n_tasks``.

    loss_weighting : str, LossWeighting or None, default=None
        How the task losses become the update (see :mod:`skmtl.weighting`):
        ``None`` or ``"equal"`` for fixed ``task_weights``; ``"uncertainty"``,
        ``"dwa"``, ``"gradnorm"``, ``"random"`` for loss weighting; ``"upgrad"``,
        ``"pcgrad"``, ``"mgda"``, ``"cagrad"``, ``"dualproj"``, ``"imtlg"``,
        ``"aligned_mtl"``, ``"mean"`` for gradient aggregation on the trunk with
        torchjd (``pip install 'skmtl[jd]'``); or a strategy object such as
        ``GradNorm(alpha=0.5)``, whose parameters are searchable as
        ``loss_weighting__alpha``.

    missing_label : scalar, default=None
        The marker of a missing label in ``y``, such as ``-1``, ``""`` or
        ``np.nan`` (which also matches ``None`` and pandas' ``NA``). A row
        missing a task's label adds nothing to that task's loss, nor to its
        head's gradients, but trains the trunk through the tasks it has.
        ``None``: every label is required.

    class_weight : "balanced", dict, list or None, default=None
        Weights of the classes in each task's loss, as in scikit-learn's
        classifiers: ``"balanced"`` (inversely proportional to the class
        frequencies, for every task), a dict ``{label: weight}`` for a single
        task, or a list with one such entry (or ``None``) per task.

    max_epochs : int, default=200
        Most passes over the training data (epochs) of one ``fit``, as
        MLPClassifier's ``max_iter``. Training stops earlier once it converges
        (``tol``, ``n_iter_no_change``); if it has not by then, ``fit`` warns
        with a :class:`~sklearn.exceptions.ConvergenceWarning`.

    tol : float or None, default=1e-4
        Tolerance of convergence, as in MLPClassifier: an epoch improves when
        the training loss falls more than ``tol`` below the lowest so far (or,
        with ``early_stopping``, the validation accuracy rises more than
        ``tol`` above the highest so far). ``None`` never stops early.

    n_iter_no_change : int or None, default=10
        Training stops after more than ``n_iter_no_change`` epochs in a row
        without improvement, as in MLPClassifier. ``None`` (or ``tol=None``)
        never stops early: every ``fit`` then runs exactly ``max_epochs``
        epochs, without a ``ConvergenceWarning``.

    early_stopping : bool, default=False
        Whether to monitor the mean validation accuracy over tasks
        (``valid_acc``) on ``validation_fraction`` of the rows, instead of
        the training loss, and to end with the weights of the epoch of the
        best validation accuracy, as MLPClassifier does. With
        ``n_iter_no_change=None`` it trains ``max_epochs`` epochs and keeps
        the best one's weights.

    batch_size : int, default=200
        Number of rows per mini-batch, for training and prediction. As
        MLPClassifier's ``"auto"``: a data set of fewer rows is one batch.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Its other parameters are set with ``optimizer__*``, e.g.
        ``optimizer__betas=(0.5, 0.999)``. Weight decay as AdamW's:
        ``optimizer=torch.optim.AdamW, optimizer__weight_decay=0.01``.

    lr_schedule : {"cosine", "onecycle"}, skorch LRScheduler or None, default=None
        How the learning rate changes during each ``fit``. ``None`` keeps it at
        ``lr``. ``"cosine"`` anneals it from ``lr`` to 0 along a half cosine
        (:class:`~torch.optim.lr_scheduler.CosineAnnealingLR`), ``"onecycle"``
        raises it from ``lr / 25`` to ``lr`` and lowers it to about 0
        (:class:`~torch.optim.lr_scheduler.OneCycleLR` with ``max_lr=lr``, which
        also cycles the momentum, or Adam's first beta); both step after every
        training batch, over ``max_epochs`` epochs, so that early stopping
        ends them early (see :class:`~skmtl.FitLRScheduler`). A
        :class:`skorch.callbacks.LRScheduler` is copied and used as given. The
        callback is ``net_.callbacks_``'s ``"lr_schedule"``, and records the
        rate as ``event_lr`` in the history (per batch for the named
        schedules). Each warm fit runs a named schedule afresh from ``lr``.

    augment : {"shift", "shift_flip"}, ImageAugmentation or None, default=None
        Augmentation of the training batches of an image trunk, on their
        device: random shifts of up to 2 pixels (zero-padded), and with
        ``"shift_flip"`` random horizontal flips; or an
        :class:`~skmtl.augmentation.ImageAugmentation`, whose parameters are
        searchable as ``augment__shift``. Never applied to validation or
        prediction; drawn from the torch random state that ``random_state``
        seeds. The image shape comes from the augmentation's ``input_shape``,
        a :class:`~skmtl.modules.CNN` trunk's, or ``trunk__input_shape``;
        otherwise ``fit`` raises a ``ValueError``. ``None``: no augmentation.

    validation_fraction : float, default=None
        Fraction of the training rows held out to score each epoch; ``None``
        holds out none, or 0.1 with ``early_stopping=True``. They are
        drawn from ``random_state`` alone, whatever the targets, so that
        multi-task and single-task nets fitted on the same rows with the same
        ``random_state`` are validated on the same rows (rows without any
        weighted label are left out first). ``None`` trains on
        every row and records no validation scores; callbacks that monitor
        validation scores, such as ``EarlyStopping``, need it.

    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Added to skorch's default callbacks and copied at fit; the fitted ones
        are in ``net_.callbacks_``. Set their parameters with
        ``callbacks__<name>__<param>``.

    device : str or torch.device, default="cpu"
        Where to train and predict, e.g. ``"cuda"``. Training rows that take
        at most half of a CUDA device's free memory are copied there once, at
        the start of ``fit``; larger ones, and a torch ``Dataset``, stay on the
        host and move one batch at a time, from pinned memory, without
        blocking. Prediction moves one batch at a time. A model unpickled where
        that device is missing predicts on the CPU.

    dtype : {"float32", "float64"}, default="float32"
        Floating point type of the network and the data, which are cast to it
        one batch at a time (see ``fit``). ``"float32"`` is fast;
        ``"float64"`` makes results independent of how rows fall into batches
        up to 1e-15 instead of 1e-7, as scikit-learn's exactness checks want.

    mixed_precision : {"bf16", "fp16"} or None, default=None
        Run the network's forward pass in bfloat16 or float16 where torch's
        :func:`torch.autocast` deems it safe, which speeds up training and
        prediction on GPUs that have fast half-precision units; the weights,
        logits and losses stay in ``dtype``. ``"fp16"`` also scales the loss
        against underflow (:class:`torch.amp.GradScaler`) and needs a loss
        weighting strategy that backpropagates one total loss (not
        ``"gradnorm"`` nor the gradient aggregators). ``None``: full precision.

    compile : bool, default=False
        Whether to compile the network with :func:`torch.compile`, as skorch's
        ``compile``; ``compile__*`` parameters (e.g. ``compile__mode``) go to
        it. The first batches then take longer while it compiles.

    warm_start : bool, default=False
        Whether a new call to ``fit`` goes on training the fitted network
        instead of starting afresh. Labels must then be among ``classes_``.
        The settings changed since the last fit apply: ``max_epochs`` (the
        most epochs of this call), ``tol``, ``n_iter_no_change``,
        ``early_stopping`` (counting from this call's first epoch),
        ``batch_size``, ``lr``, ``optimizer`` and ``optimizer__*`` (a new
        optimizer class starts with a fresh state), ``lr_schedule`` (a named
        schedule restarts at each warm fit anyway), ``augment``,
        ``mixed_precision`` (which restarts the optimizer), ``iterator_*__*``,
        ``criterion__*``, ``verbose``, and ``loss_weighting``,
        ``task_weights``, ``callbacks`` and ``callbacks__*`` (which restart
        the callbacks and the strategy). The architecture and ``compile``
        cannot change. Each call draws new shuffles and dropout masks.

    verbose : int, default=0
        Progress reports, as in scikit-learn: ``0`` prints nothing; ``1``
        prints a row of scores after each epoch (epoch, training and
        validation loss, mean accuracy over tasks, and each task's accuracy
        with 2 or 3 tasks, seconds; see :class:`~skmtl.callbacks.TaskPrintLog`)
        and why training stopped; ``2`` also draws a progress bar over each
        epoch's batches with the time left in the epoch (tqdm, on stderr; see
        :class:`~skmtl.callbacks.FitProgressBar`). Every per-task score is in
        the history, and plotted by :class:`~skmtl.TrainingHistoryDisplay`.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. Torch's global random state is left as it was.

    **kwargs
        Prefix-routed parameters, as in skorch: ``trunk__*`` go to the trunk
        (e.g. ``trunk__hidden_units=(128, 64)``), ``head__*`` to each head (a
        :class:`~skmtl.modules.MultiTaskModule` argument such as
        ``head__hidden_units=(100,)``), and ``optimizer__*``,
        ``iterator_train__*`` (e.g. ``iterator_train__shuffle=False``,
        ``iterator_train__drop_last=True``), ``iterator_valid__*``,
        ``criterion__*`` (e.g. ``criterion__label_smoothing=0.1``),
        ``callbacks__*`` and ``compile__*`` to the skorch net.

    Attributes
    ----------
    classes_ : list of ndarray, or ndarray
        The labels of each task, or of the only task when ``y`` is 1-D.

    task_names_ : list of str
        The tasks' names: the columns of a DataFrame ``Y``, the name of a Series
        ``y``, or ``task_0``, ``task_1``, ...

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    net_ : MultiTaskNet
        The trained skorch net; ``net_.history`` holds the scores per epoch.
        Training stops through its callback named ``"stopping"``, a
        :class:`skmtl.ToleranceStopping`, unless stopping is disabled.

    n_iter_ : int
        Number of epochs run, over every ``fit`` of a warm start, as
        MLPClassifier's; ``len(net_.history)``.

    best_epoch_ : int
        The epoch (numbered as in ``net_.history``, from 1) of the last
        ``fit``'s lowest training loss, or with ``early_stopping`` of its
        highest validation accuracy, whose weights the model then has.

    best_loss_ : float or None
        The lowest training loss of the last ``fit``, as MLPClassifier's;
        ``None`` with ``early_stopping``.

    best_validation_score_ : float or None
        With ``early_stopping``, the highest mean validation accuracy over
        tasks of the last ``fit``, the model's; ``None`` otherwise, as
        MLPClassifier's.

    See Also
    --------
    sklearn.multioutput.MultiOutputClassifier : One independent classifier per
        task, the single-task baseline.
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
        "trunk": [StrOptions(set(_TRUNKS)), callable],
        "task_weights": ["array-like", None],
        "loss_weighting": [StrOptions(set(NAMES)), LossWeighting, None],
        "missing_label": "no_validation",
        "class_weight": [StrOptions({"balanced"}), dict, list, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "early_stopping": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "lr_schedule": [StrOptions(set(_SCHEDULES)), LRScheduler, None],
        "augment": [StrOptions(set(_AUGMENTATIONS)), ImageAugmentation, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "dtype": [StrOptions(set(_DTYPES))],
        "mixed_precision": [StrOptions({"bf16", "fp16"}), None],
        "compile": ["boolean"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
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
        self.trunk = trunk
        self.task_weights = task_weights
        self.loss_weighting = loss_weighting
        self.missing_label = missing_label
        self.class_weight = class_weight
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.device = device
        self.dtype = dtype
        self.mixed_precision = mixed_precision
        self.compile = compile
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        vars(self).update(kwargs)

    def get_params(self, deep=True):
        return {**super().get_params(deep=deep), **self._extra_params()}

    def set_params(self, **params):
        named = self._get_param_names()

        def nested(key):
            # loss_weighting__alpha sets a parameter of a strategy object.
            owner = key.split("__")[0]
            return owner in named and hasattr(
                params.get(owner, getattr(self, owner)), "set_params"
            )

        # Routed parameters are stored as they come, and checked at fit.
        routed = [k for k in params if k not in named and not nested(k)]
        vars(self).update({k: params.pop(k) for k in routed})
        return super().set_params(**params) if params else self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Train the network on ``X`` and one or more tasks' labels.

        Parameters
        ----------
        X : array-like, memmap or torch Dataset of shape (n_samples, n_features)
            Features. An ndarray of uint8, int8, int16, int32, int64, float16,
            float32 or float64 is never copied whole, so that a
            :class:`numpy.memmap` larger than memory trains: it is checked a
            chunk of rows at a time and read a batch of rows at a time. Each
            batch is cast to ``dtype`` on its way to the network, after its move
            to the device when its type is narrower: uint8 images move, and stay
            on a device, as uint8, a quarter of float32's bytes, and train
            exactly as ``X.astype("float32")`` would (cast, not scaled). Other
            input, such as lists and DataFrames, is converted to ``dtype``
            whole. A map-style :class:`torch.utils.data.Dataset` whose items
            are rows of features (1-D tensors or arrays of ``n_features``
            numbers; the labels are ``y``) is read a batch at a time through a
            :class:`~torch.utils.data.DataLoader`, its items checked as they are
            read. NaN and infinity are refused.

        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels of any type, one task per column. A DataFrame's column names
            become the task names. Labels equal to ``missing_label`` are missing.

        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row's loss, in every task; ``None`` weighs rows
            equally.

        Returns
        -------
        self : MultiTaskClassifier
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
        _check_routed(self._extra_params())
        _check_device(self.device)
        check_missing_label(self.missing_label)
        continuing = self.warm_start and hasattr(self, "net_")
        names = task_names(y)
        X, y = self._validate_X_y(X, y, reset=not continuing)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        Y = y.reshape(len(y), -1)
        names = names or [f"task_{t}" for t in range(Y.shape[1])]
        check_task_names(names)
        if continuing and len(names) != len(self.task_names_):
            raise ValueError(
                f"y has {len(names)} tasks, but the fitted network has "
                f"{len(self.task_names_)}; warm_start needs the same tasks."
            )
        _check_callbacks(self.callbacks, self._validation_fraction)
        classes, codes = encode_targets(
            Y, names, self.missing_label, self._task_classes if continuing else None
        )
        weights = self._label_weights(sample_weight, Y, classes, codes, names)
        # Rows without a weighted label would train nothing, yet would still sway
        # batch statistics: they are left out.
        rows = np.flatnonzero(weights.any(axis=1))
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        train, valid = self._split_validation(rows, seed)
        _check_tasks_train(names, weights[train], self._validation_fraction)

        n_fits = self._n_fits if continuing else 0
        # Each warm fit draws new shuffles; the validation rows stay the same.
        torch_seed = seed + n_fits
        data = (X, codes, weights, self._placement(X, rows), _DTYPES[self.dtype])
        with _seeded_torch(torch_seed):
            if continuing:
                net = copy.deepcopy(self.net_)
                self._update_net(net)
            else:
                net = self._make_net(self.n_features_in_, classes, names)
            _check_batch_norm(net, len(train), self.batch_size)
            net.set_params(
                train_split=None
                if valid is None
                else predefined_split(_subset(*data, valid))
            )
            epochs_before = len(net.history)
            try:
                net.partial_fit(_subset(*data, train))
            finally:
                # The fitted estimator keeps no data.
                net.set_params(train_split=None)
        self.net_ = net
        self._n_fits = n_fits + 1
        if not continuing:
            self.classes_ = classes if y.ndim == 2 else classes[0]
            self.task_names_ = names
        self._set_convergence(net.history[epochs_before:])
        return self

    def _validate_X_y(self, X, y, reset):
        """``X`` as an ndarray (not copied when torch holds its type) or
        checked dataset rows, and ``y`` as an array."""
        y_params = {
            "ensure_2d": False,
            "dtype": None,
            "ensure_all_finite": not is_scalar_nan(self.missing_label),
        }
        if is_dataset(X):
            X = check_dataset(self, X, reset=reset)
            if y is None:
                raise ValueError(
                    f"This {type(self).__name__} estimator requires y to be "
                    "passed, but the target y is None."
                )
            y = check_array(y, input_name="y", estimator=self, **y_params)
        else:
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                validate_separately=(feature_params(X, self.dtype), y_params),
            )
            check_finite(self, X, self.dtype)
        check_consistent_length(X, y)
        return X, y

    def _validate_X(self, X):
        """``X`` at predict, as in :meth:`_validate_X_y`."""
        if is_dataset(X):
            return check_dataset(self, X, reset=False)
        X = validate_data(self, X, reset=False, **feature_params(X, self.dtype))
        check_finite(self, X, self.dtype)
        return X

    def _placement(self, X, rows):
        """Where training keeps ``rows`` of ``X``: the device, copied once, when
        they fit there (see :func:`~skmtl._batching.keep_on_device`); ``None``
        where they are, read a batch at a time."""
        if is_dataset(X):
            # Read item by item, as a dataset that draws random transforms wants.
            return None
        store = storage_dtype(X.dtype, _DTYPES[self.dtype])
        nbytes = len(rows) * X.shape[1] * store.itemsize
        return self.device if keep_on_device(nbytes, self.device) else None

    def _set_convergence(self, epochs):
        """Set ``n_iter_`` and the best epoch and score of the fit that ran
        ``epochs``; warn if it used up ``max_epochs`` without converging."""
        stopping = dict(self.net_.callbacks_).get(_STOPPING)
        self.n_iter_ = len(self.net_.history)
        if self.early_stopping:
            # The epoch whose weights the stopping callback restored.
            best = stopping.best_epoch_
            self.best_validation_score_ = self.net_.history[best - 1, "valid_acc"]
            self.best_loss_ = None
        else:
            losses = [epoch["train_loss"] for epoch in epochs]
            best = epochs[int(np.argmin(losses))]["epoch"]
            self.best_loss_ = float(min(losses))
            self.best_validation_score_ = None
        self.best_epoch_ = int(best)
        if self._stops and len(epochs) == self.max_epochs and not stopping.stopped_:
            monitored = "training loss"
            if self.early_stopping:
                monitored = "validation accuracy"
            warnings.warn(
                f"max_epochs={self.max_epochs} ran out before the {monitored} "
                f"stopped improving by tol={self.tol} for n_iter_no_change="
                f"{self.n_iter_no_change} epochs: training has not converged. "
                "Raise max_epochs, or set n_iter_no_change=None to train for "
                "exactly max_epochs.",
                ConvergenceWarning,
                stacklevel=4,  # fit's caller
            )

    @property
    def _stops(self):
        """Whether training stops once the monitored score stops improving."""
        return self.tol is not None and self.n_iter_no_change is not None

    @property
    def _validation_fraction(self):
        if self.early_stopping and self.validation_fraction is None:
            return 0.1
        return self.validation_fraction

    def _stopping_callbacks(self):
        """The callback that stops training and restores the best epoch, as a
        list of (name, callback) pairs: empty when there is nothing to do."""
        if not (self._stops or self.early_stopping):
            return []
        # Without tol or n_iter_no_change, early_stopping only restores the
        # best epoch's weights: an infinite patience never stops.
        callback = ToleranceStopping(
            monitor="valid_acc" if self.early_stopping else "train_loss",
            lower_is_better=not self.early_stopping,
            patience=self.n_iter_no_change if self._stops else float("inf"),
            threshold=self.tol if self._stops else 0.0,
            threshold_mode="abs",
            load_best=self.early_stopping,
        )
        return [(_STOPPING, callback)]

    def _schedule_callbacks(self):
        """The learning rate schedule's callback, as a list of (name, callback)
        pairs: empty without a schedule."""
        if self.lr_schedule is None:
            return []
        if isinstance(self.lr_schedule, str):
            callback = FitLRScheduler(_SCHEDULES[self.lr_schedule])
        else:
            callback = copy.deepcopy(self.lr_schedule)
        return [(_LR_SCHEDULE, callback)]

    def _own_callbacks(self):
        progress = [(_PROGRESS_BAR, FitProgressBar())] if self.verbose >= 2 else []
        # The bar first, so that it is erased before the others print.
        return progress + self._schedule_callbacks() + self._stopping_callbacks()

    def _net_callbacks(self):
        return copy.deepcopy(self.callbacks or []) + self._own_callbacks()

    def predict_proba(self, X):
        """Class probabilities of each task.

        Parameters
        ----------
        X : array-like, memmap or torch Dataset of shape (n_samples, n_features)
            Features, taken as ``fit`` takes them: no more than a batch of
            ``X`` is copied at a time.

        Returns
        -------
        proba : list of ndarray of shape (n_samples, n_classes_t), or ndarray
            One array per task, columns in the order of ``classes_[t]``; a
            single array when ``y`` was 1-D at fit.
        """
        probas = self._fill_per_task(
            X, lambda z: torch.softmax(z.double(), dim=1).numpy()
        )
        return probas if self._multi_output else probas[0]

    def predict(self, X):
        """The most probable label of each task.

        Parameters
        ----------
        X : array-like, memmap or torch Dataset of shape (n_samples, n_features)
            Features, taken as ``fit`` takes them: no more than a batch of
            ``X`` is copied at a time.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_tasks) or (n_samples,)
            The original labels, one column per task; 1-D when ``y`` was 1-D at
            fit.
        """
        codes = self._fill_per_task(X, lambda z: z.argmax(dim=1).numpy())
        columns = [classes[c] for classes, c in zip(self._task_classes, codes)]
        return _stack_columns(columns) if self._multi_output else columns[0]

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
        X : array-like of shape (n_samples, n_features)
            Features.

        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            True labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
            The weighted fraction of rows whose present labels are all
            predicted right.
        """
        check_is_fitted(self)
        y = check_array(
            y,
            ensure_2d=False,
            dtype=None,
            ensure_all_finite=not is_scalar_nan(self.missing_label),
            input_name="y",
        )
        Y_pred = self.predict(X)
        check_consistent_length(Y_pred, y)
        Y_pred, Y = Y_pred.reshape(len(y), -1), y.reshape(len(y), -1)
        if Y.shape[1] != Y_pred.shape[1]:
            raise ValueError(
                f"y has {Y.shape[1]} tasks, but the model was fitted on "
                f"{Y_pred.shape[1]}."
            )
        return subset_accuracy_score(
            Y, Y_pred, sample_weight=sample_weight, missing_label=self.missing_label
        )

    @property
    def _multi_output(self):
        return isinstance(self.classes_, list)

    @property
    def _task_classes(self):
        return self.classes_ if self._multi_output else [self.classes_]

    def _extra_params(self):
        """The parameters given beyond the signature's: the routed ones."""
        named = self._get_param_names()
        return {
            k: v
            for k, v in vars(self).items()
            if k not in named and not k.startswith("_") and not k.endswith("_")
        }

    def _routed(self, prefixes):
        return {k: v for k, v in vars(self).items() if k.startswith(prefixes)}

    def _params_for(self, prefix):
        start = len(prefix) + 2
        return {k[start:]: v for k, v in self._routed(prefix + "__").items()}

    def _make_trunk(self, n_features):
        params = self._params_for("trunk")
        if isinstance(self.trunk, str):
            return _TRUNKS[self.trunk](n_features, **params)
        if isinstance(self.trunk, torch.nn.Module):
            if params:
                raise ValueError(
                    "trunk__* parameters configure a trunk given by name or class; "
                    f"got a module instance and {sorted(params)}."
                )
            return copy.deepcopy(self.trunk)
        if isinstance(self.trunk, type) and issubclass(self.trunk, torch.nn.Module):
            # As the built-in trunks, a class asking for in_features gets the
            # data's width, unless trunk__in_features sets it.
            if "in_features" in inspect.signature(self.trunk).parameters:
                params = {"in_features": n_features, **params}
            return self.trunk(**params)
        raise TypeError(
            "trunk must be 'mlp', 'cnn', a torch.nn.Module class or instance; "
            f"got {self.trunk!r}."
        )

    def _augmentation(self, trunk, n_features):
        """What augments the training batches, with the images' shape."""
        if self.augment is None:
            return None
        if isinstance(self.augment, str):
            augment = ImageAugmentation(**_AUGMENTATIONS[self.augment])
        else:
            augment = clone(self.augment)
        shape = augment.input_shape
        if shape is None and isinstance(trunk, CNN):
            shape = trunk.input_shape
        if shape is None:
            shape = self._params_for("trunk").get("input_shape")
        if shape is None:
            raise ValueError(
                f"augment={self.augment!r} needs the images' shape: use "
                "trunk='cnn', set trunk__input_shape=(channels, height, width), "
                "or give it to ImageAugmentation(input_shape=...)."
            )
        augment.set_params(input_shape=tuple(shape))
        augment._check(augment.input_shape, n_features)
        return augment

    def _make_net(self, n_features, classes, names):
        trunk = self._make_trunk(n_features)
        module = MultiTaskModule(
            trunk,
            n_features,
            [len(c) for c in classes],
            **self._params_for("head"),
        ).to(_DTYPES[self.dtype])
        net = MultiTaskNet(
            module,
            task_names=names,
            loss_weighting=make_loss_weighting(self.loss_weighting, self.task_weights),
            augment=self._augmentation(trunk, n_features),
            mixed_precision=self.mixed_precision,
            compile=self.compile,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=TensorBatchIterator,
            iterator_valid=TensorBatchIterator,
            callbacks=self._net_callbacks(),
            device=self.device,
            verbose=self.verbose,
            **{
                "iterator_train__shuffle": True,
                # The iterators deliver batches on the device, in the dtype.
                **{
                    f"{iterator}__{key}": value
                    for iterator in ("iterator_train", "iterator_valid")
                    for key, value in (
                        ("device", self.device),
                        ("dtype", _DTYPES[self.dtype]),
                    )
                },
                **self._routed(_NET_PREFIXES),
            },
        )
        return _check_callback_params(net.initialize())

    def _update_net(self, net):
        """Apply to a trained net the settings changed since it was built."""
        strategy = make_loss_weighting(self.loss_weighting, self.task_weights)
        restart = (
            _describe(strategy) != _describe(net.loss_weighting)
            or _describe(self.callbacks or []) != _describe(_user_callbacks(net))
            or self._routed(("callbacks__",))
            != {k: v for k, v in vars(net).items() if k.startswith("callbacks__")}
        )
        optimizer_params = self._params_for("optimizer")
        new_optimizer = (
            self.optimizer is not net.optimizer
            or any(k not in net.optimizer_.defaults for k in optimizer_params)
            # The fp16 gradient scaler comes and goes with the optimizer.
            or self.mixed_precision != net.mixed_precision
        )
        vars(net).update(
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            verbose=self.verbose,
            lr=self.lr,
            optimizer=self.optimizer,
            augment=self._augmentation(net.module_.trunk, self.n_features_in_),
            mixed_precision=self.mixed_precision,
            **self._routed(_WARM_PREFIXES),
        )
        net.initialize_criterion()
        if restart:
            vars(net).update(
                loss_weighting=strategy,
                callbacks=self._net_callbacks(),
                **self._routed(("callbacks__",)),
            )
            _check_callback_params(net.initialize_callbacks())
            net.setup_loss_weighting()
        else:
            # The other callbacks and the strategy keep their state; the
            # stopping callback follows tol, n_iter_no_change, early_stopping,
            # the schedule's lr_schedule.
            self._replace_own_callbacks(net)
        if restart or new_optimizer:
            net.initialize_optimizer()
        else:
            # Keep the optimizer's state, with the new rate and settings, and
            # the momentum that a schedule such as "onecycle" may have cycled.
            defaults = net.optimizer_.defaults
            cycled = {k: defaults[k] for k in ("momentum", "betas") if k in defaults}
            for group in net.optimizer_.param_groups:
                group.update(lr=self.lr, **cycled, **optimizer_params)

    def _replace_own_callbacks(self, net):
        """Give a net the stopping and schedule callbacks of the current
        settings."""
        own = self._own_callbacks()
        net.callbacks = _user_callbacks(net) + own
        callbacks = [(n, cb) for n, cb in net.callbacks_ if n not in _OWN_CALLBACKS]
        # Before print_log, as skorch puts any callback.
        at = next(
            (i for i, (n, _) in enumerate(callbacks) if n == "print_log"),
            len(callbacks),
        )
        callbacks[at:at] = [(n, cb.initialize()) for n, cb in own]
        net.callbacks_ = callbacks

    def _label_weights(self, sample_weight, Y, classes, codes, names):
        """Weight of each label in the loss: its row's times its class's, 0 if
        missing; scaled per task to at most 1, in the network's dtype."""
        sample_weight = _check_sample_weight(
            sample_weight, Y, dtype=np.float64, ensure_non_negative=True
        )
        if sample_weight.max() > 0:
            # Only ratios matter, to the objective and to "balanced".
            sample_weight = sample_weight / sample_weight.max()
        per_class = class_weights(
            self.class_weight, classes, codes, names, sample_weight=sample_weight
        )
        weights = np.column_stack(
            [w[c.clip(min=0)] for w, c in zip(per_class, codes.T)]
        )
        with np.errstate(over="ignore"):
            weights = np.where(codes >= 0, sample_weight[:, None] * weights, 0.0)
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
        return (weights / top).astype(self.dtype)

    def _split_validation(self, rows, seed):
        """The training and validation parts of ``rows``."""
        if self._validation_fraction is None:
            return rows, None
        # Not stratified: the rows then depend on the seed alone, and nets fitted
        # on the same data with the same random_state are validated alike.
        return train_test_split(
            rows, test_size=self._validation_fraction, random_state=seed
        )

    def _fill_per_task(self, X, transform):
        """One array per task: ``transform`` of its logits, batch by batch into
        arrays made once, so that no more than a batch of ``X`` is copied."""
        check_is_fitted(self)
        X = self._validate_X(X)
        out, start = None, 0
        # The net's iterator moves one batch at a time to the net's device,
        # which is the CPU for a model trained on a GPU and loaded where there
        # is none; forward_iter brings the logits back to the host.
        for logits in self.net_.forward_iter(RowDataset(X)):
            parts = [transform(z) for z in logits]
            if out is None:
                out = [np.empty((len(X), *p.shape[1:]), dtype=p.dtype) for p in parts]
            stop = start + len(parts[0])
            for array, part in zip(out, parts):
                array[start:stop] = part
            start = stop
        return out


def _check_routed(params):
    unknown = [k for k in params if not k.startswith(_MODULE_PREFIXES + _NET_PREFIXES)]
    if unknown:
        raise TypeError(
            f"MultiTaskClassifier got unexpected parameters {sorted(unknown)}; "
            "routed parameters start with one of "
            f"{', '.join(_MODULE_PREFIXES + _NET_PREFIXES)}."
        )


def _check_device(device):
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Unknown device {device!r}: {err}") from err
    if not device_available(device):
        raise ValueError(
            f"device={str(device)!r}, but {device.type} is not available on this "
            "machine; use device='cpu'."
        )


def _check_callbacks(callbacks, validation_fraction):
    for entry in callbacks or []:
        callback = entry[1] if isinstance(entry, tuple) and len(entry) == 2 else entry
        if isinstance(entry, tuple) and not isinstance(entry[0], str):
            callback = None
        if not isinstance(callback, Callback):
            raise TypeError(
                "callbacks must be skorch callbacks or (name, callback) pairs; "
                f"got {entry!r}."
            )
        monitor = getattr(callback, "monitor", None)
        if (
            validation_fraction is None
            and isinstance(monitor, str)
            and monitor.startswith("valid")
        ):
            raise ValueError(
                f"{type(callback).__name__} monitors {monitor!r}, but there is "
                "no validation data; set validation_fraction, e.g. to 0.1."
            )


def _check_callback_params(net):
    """``callbacks__<name>__*`` must name a callback of the net."""
    names = dict(net.callbacks_)
    for key in vars(net):
        name = key.split("__")[1] if key.startswith("callbacks__") else None
        if name is not None and name not in names:
            raise ValueError(
                f"{key} sets a parameter of a callback named {name!r}, but there "
                f"is none; the callbacks are {sorted(names)}."
            )
    return net


def _check_batch_norm(net, n_train, batch_size):
    """Batch normalisation needs two rows per training batch."""
    norms = (torch.nn.modules.batchnorm._BatchNorm,)
    if min(n_train, batch_size) < 2 and any(
        isinstance(m, norms) for m in net.module_.modules()
    ):
        raise ValueError(
            "Batch normalisation needs at least 2 rows per training batch; got "
            f"batch_size={batch_size} and {n_train} training row(s). Raise "
            "batch_size, give more rows, or drop batch_norm."
        )


def _check_tasks_train(names, weights, validation_fraction):
    """Every task must keep a weighted label among the training rows."""
    for name, total in zip(names, weights.sum(axis=0)):
        if not total > 0:
            raise ValueError(
                f"Task {name!r} has no labelled row with a positive weight left "
                f"for training once validation_fraction={validation_fraction} of "
                "the rows is held out: its head would not be trained. Lower "
                "validation_fraction or label more rows."
            )


def _user_callbacks(net):
    """The callbacks of a net that the user gave, without the classifier's
    own (stopping, learning rate schedule)."""
    return [
        entry
        for entry in net.callbacks or []
        if not (isinstance(entry, tuple) and entry[0] in _OWN_CALLBACKS)
    ]


def _describe(obj):
    """A comparable description of a strategy or a list of callbacks."""
    if isinstance(obj, list | tuple):
        return [_describe(item) for item in obj]
    if hasattr(obj, "get_params"):
        return (type(obj), {k: _describe(v) for k, v in obj.get_params().items()})
    return obj


def _stack_columns(columns):
    """One 2-D array from per-task label columns, object dtype if their kinds differ."""
    if len({c.dtype.kind for c in columns}) == 1:
        return np.column_stack(columns)
    stacked = np.empty((len(columns[0]), len(columns)), dtype=object)
    for t, column in enumerate(columns):
        stacked[:, t] = column
    return stacked


def _subset(X, labels, weights, device, dtype, rows):
    """The given rows as a dataset: copied to ``device`` once, or, with
    ``device=None``, left where they are and read a batch at a time."""
    # Fancy indexing copies, so the tensors may share the copies' memory.
    y = {
        "labels": torch.from_numpy(labels[rows]),
        "weights": torch.from_numpy(weights[rows]),
    }
    if device is None:
        return RowDataset(X, y, rows)
    y = {key: value.to(device) for key, value in y.items()}
    return RowDataset(rows_to_device(X, rows, device, dtype), y)


@contextmanager
def _seeded_torch(seed):
    """Seed torch inside the block and restore its global random state after."""
    # torch.manual_seed seeds every CUDA device: each one's state is restored.
    devices = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
