"""The scikit-learn face of skmtl: validation, fit, predict and score.

What ``fit`` does with its parameters lives beside it: routing in
:mod:`skmtl._routing`, building the net in :mod:`skmtl._build`, warm starts in
:mod:`skmtl._warm_start`, randomness in :mod:`skmtl._random`, persistence in
:mod:`skmtl._persistence`.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks import LRScheduler
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
    encode_targets,
    label_weights,
    match_tasks,
    scarce_validation_classes,
    stack_columns,
    task_names,
)
from ._warm_start import check_structure, update_net
from .augmentation import ImageAugmentation
from .metrics import subset_accuracy_score
from .weighting import NAMES, LossWeighting

__all__ = ["MultiTaskClassifier"]


class MultiTaskClassifier(
    PortableStateMixin, RoutedParamsMixin, ClassifierMixin, BaseEstimator
):
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
        ``np.nan`` (which matches NaN, ``None`` and pandas' ``NA``; ``pd.NA``
        does the same, as in scikit-learn's imputers). A row missing a task's
        label adds nothing to that task's loss, nor to its head's gradients,
        but trains the trunk through the tasks it has. ``None``: every label
        is required, and NaN, ``None`` or ``NA`` labels are an error.

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
        the training objective (``train_objective`` in the history: the task
        losses weighted by ``task_weights``, or their mean under another
        strategy, whose own total moves as it re-weights) falls more than
        ``tol`` below the lowest so far (or,
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
        the best one's weights. On small data it often costs accuracy, as it
        does for MLPClassifier: the held-out rows no longer train, and a few
        of them give a noisy score to pick the epoch by (on Palmer penguins,
        with 27 validation rows, it cost 0.02 accuracy on two of the three
        tasks here and 0.09-0.11 for MLPClassifier). ``fit`` warns with a
        ``UserWarning`` when the validation rows hold fewer than 5 labelled
        rows of some class of some task.

    batch_size : int, default=200
        Number of rows per mini-batch, for training and prediction. As
        MLPClassifier's ``"auto"``: a data set of fewer rows is one batch.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Its other parameters are set with ``optimizer__*``, e.g.
        ``optimizer__betas=(0.5, 0.999)``. Weight decay as AdamW's:
        ``optimizer=torch.optim.AdamW, optimizer__weight_decay=0.01``. An
        optimizer that takes ``fused`` (Adam, AdamW, SGD, ...) steps fused,
        ``optimizer__fused=True``, unless ``optimizer__fused`` or
        ``optimizer__foreach`` is set.

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

    dtype : {"float32", "float64"}, numpy or torch float type, default="float32"
        Floating point type of the network and the data, which are cast to it
        one batch at a time (see ``fit``); ``np.float32`` and
        ``torch.float32`` mean ``"float32"``, and likewise for 64 bits.
        ``"float32"`` is fast; ``"float64"`` makes results independent of how
        rows fall into batches up to 1e-15 instead of 1e-7, as scikit-learn's
        exactness checks want.

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
        instead of starting afresh, on the same tasks (matched by name when
        ``y`` is a DataFrame), with labels among ``classes_``. What each
        parameter changed since the last fit does is a table in the user
        guide (``skmtl._warm_start.WARM_START``): *live* ones apply to the
        trained net (``max_epochs``, ``lr``, ``batch_size``,
        ``optimizer__*``, ...); *restart* ones rebuild what they configure,
        keeping the trained weights (``loss_weighting`` and ``task_weights``
        the strategy, ``optimizer`` and ``mixed_precision`` the optimizer,
        ``callbacks`` the callbacks, ``tol`` and the other stopping and
        schedule settings the stopping rule); *structural* ones (``trunk``,
        ``trunk__*``, ``head__*``, ``dtype``, ``device``, ``compile``) make the
        fit raise a ``ValueError``. Each call draws new shuffles and dropout
        masks.

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
        split: the same ``random_state`` gives the same model in any thread.
        Torch's global random state is left as it was.

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
        ``fit``'s lowest training objective, or with ``early_stopping`` of its
        highest validation accuracy, whose weights the model then has.

    best_loss_ : float or None
        The lowest training objective of the last ``fit`` (see ``tol``), as
        MLPClassifier's lowest loss;
        ``None`` with ``early_stopping``. An interrupted ``fit`` (Ctrl-C)
        counts the epoch it interrupted, scored over its finished batches.

    best_validation_score_ : float or None
        With ``early_stopping``, the highest mean validation accuracy over
        tasks of the last ``fit``, the model's; ``None`` otherwise, as
        MLPClassifier's.

    fitted_params_ : dict
        The parameters of the fitted network, as ``get_params(deep=False)``
        gave them at the last ``fit`` (a copy): saving and loading rebuild the
        network from them, and a warm fit compares the parameters with them.
        ``set_params`` after ``fit`` changes what the next ``fit`` does, never
        what a loaded model is.

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

    # Whether the fitted tasks' names came with their labels (a DataFrame y),
    # so that warm fits and score match tasks by name; False for models saved
    # before it was recorded, which match them by position, as they did.
    _named_tasks = False

    _parameter_constraints = {
        "trunk": [StrOptions(set(TRUNKS)), callable],
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
        self._set_routed(kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
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
            Labels of any type, one task per column. A DataFrame's column names
            become the task names; a warm fit or ``score`` on a DataFrame
            matches its columns to the fitted tasks by name. Labels equal to
            ``missing_label`` are missing. A column vector, of shape
            ``(n_samples, 1)``, is taken as a 1-D ``y`` with a
            :class:`~sklearn.exceptions.DataConversionWarning`, as
            scikit-learn's classifiers do.

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
        classes, codes = encode_targets(
            Y, names, self.missing_label, self._task_classes if continuing else None
        )
        weights = label_weights(
            sample_weight,
            Y,
            classes,
            codes,
            names,
            self.class_weight,
            numpy_dtype(self.dtype),
        )
        # Rows without a weighted label would train nothing, yet would still sway
        # batch statistics: they are left out.
        rows = np.flatnonzero(weights.any(axis=1))
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        train, valid = split_validation(rows, holdout, seed)
        check_tasks_train(names, weights[train], holdout)
        if self.early_stopping:
            self._warn_scarce_validation(names, classes, codes[valid])

        n_fits = self._n_fits if continuing else 0
        # Each warm fit draws new shuffles; the validation rows stay the same.
        fit_seed = seed + n_fits
        dtype = resolve_dtype(self.dtype)
        data = (X, codes, weights, placement(X, rows, self.device, dtype), dtype)
        with seeded_torch(fit_seed):
            if continuing:
                net = copy.deepcopy(self.net_)
                update_net(net, params, self.fitted_params_, self.n_features_in_)
            else:
                net = build_net(params, self.n_features_in_, classes, names)
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
        if not continuing:
            self.classes_ = classes if y.ndim == 2 else classes[0]
            self.task_names_ = names
            self._named_tasks = given is not None
        self._set_convergence(net.history[epochs_before:])
        return self

    def _warn_scarce_validation(self, names, classes, codes):
        """Warn when a task's validation rows hold few labels of a class: the
        accuracy that picks the stopping epoch is then mostly noise."""
        scarce = scarce_validation_classes(names, classes, codes)
        if not scarce:
            return
        tasks = "; ".join(
            f"task {name!r} has {count} of class {label!r}"
            for name, label, count in scarce
        )
        warnings.warn(
            f"early_stopping=True holds out {len(codes)} validation rows, which "
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
        monitor = "valid_acc" if self.early_stopping else "train_objective"
        # An epoch interrupted in its validation pass has no validation score.
        scores = [(e["epoch"], e[monitor]) for e in epochs if monitor in e]
        if not scores:
            # Interrupted before any score: the model is as it was left.
            best, score = self.n_iter_, None
        elif self.early_stopping:
            # The epoch whose weights the stopping callback restored.
            best = stopping.best_epoch_ or scores[-1][0]
            score = self.net_.history[best - 1, monitor]
        else:
            best, score = min(scores, key=lambda pair: pair[1])
        self.best_epoch_ = int(best)
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
        probas = self._fill_per_task(
            X, lambda z: torch.softmax(z.double(), dim=1).numpy()
        )
        return probas if self._multi_output else probas[0]

    def predict(self, X):
        """The most probable label of each task.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, torch Dataset} of shape \
                (n_samples, n_features)
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
        return stack_columns(columns) if self._multi_output else columns[0]

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
        return subset_accuracy_score(
            Y, Y_pred, sample_weight=sample_weight, missing_label=self.missing_label
        )

    @property
    def _multi_output(self):
        return isinstance(self.classes_, list)

    @property
    def _task_classes(self):
        return self.classes_ if self._multi_output else [self.classes_]

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
                out = [
                    np.empty((n_rows(X), *p.shape[1:]), dtype=p.dtype) for p in parts
                ]
            stop = start + len(parts[0])
            for array, part in zip(out, parts):
                array[start:stop] = part
            start = stop
        return out
