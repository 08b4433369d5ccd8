"""Docstring parts shared by the estimators, which differ in their tasks only."""

from string import Template

__all__ = ["fill_doc"]

SHARED = {
    "parameters": """
    trunk : str, torch.nn.Module class or instance, default="mlp"
        The part of the network before the heads: ``"mlp"``, ``"cnn"``,
        ``"mmoe"``, ``"cross_stitch"``, ``"ple"``, or a module. ``"mlp"`` is a
        :class:`~skmtl.modules.MLP`, ``"cnn"`` a :class:`~skmtl.modules.CNN`
        reading each row as an image: one representation shared by every
        task (hard sharing). ``"mmoe"`` is a :class:`~skmtl.trunks.MMoE`
        (shared experts, a gate per task), ``"cross_stitch"`` a
        :class:`~skmtl.trunks.CrossStitch` (a column per task, mixed after
        each layer), ``"ple"`` a :class:`~skmtl.trunks.PLE` (each task's
        experts and shared ones, in levels): one representation per task
        (soft sharing), on images too with ``trunk__backbone="cnn"``. All get
        ``in_features`` from the data, the last three ``n_tasks`` too. A
        module class is instantiated with the ``trunk__*`` parameters, and
        ``in_features`` and ``n_tasks`` when its ``__init__`` takes parameters
        of those names; an instance is copied at fit. Any trunk must map
        ``(n, n_features)`` float tensors to ``(n, width)``, or to ``(n,
        n_tasks, width)``, one representation per task; its
        ``shared_parameters()`` method, if it has one, says which parameters
        the tasks share (:func:`skmtl.trunks.shared_parameters`).

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
        is required, and NaN, ``None`` or ``NA`` labels are an error.""",
    "training_parameters": """
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
        with ``early_stopping``, the validation score rises more than
        ``tol`` above the highest so far). ``None`` never stops early.

    n_iter_no_change : int or None, default=10
        Training stops after more than ``n_iter_no_change`` epochs in a row
        without improvement, as in MLPClassifier. ``None`` (or ``tol=None``)
        never stops early: every ``fit`` then runs exactly ``max_epochs``
        epochs, without a ``ConvergenceWarning``.

    early_stopping : bool or "per_task", default=False
        Whether to monitor the mean validation score over tasks
        (``valid_score``: each task's accuracy, or R^2 for a regression
        task) on ``validation_fraction`` of the rows, instead of
        the training loss, and to end with the weights of the epoch of the
        best validation score, as MLPClassifier and MLPRegressor do. With
        ``n_iter_no_change=None`` it trains ``max_epochs`` epochs and keeps
        the best one's weights. On small data it often costs accuracy, as it
        does for MLPClassifier: the held-out rows no longer train, and a few
        of them give a noisy score to pick the epoch by (on Palmer penguins,
        with 27 validation rows, it cost 0.02 accuracy on two of the three
        tasks here and 0.09-0.11 for MLPClassifier). ``fit`` warns with a
        ``UserWarning`` when the validation rows hold fewer than 5 labelled
        rows of some class of some task. ``"per_task"``: each task keeps the
        weights of its own best validation epoch (a snapshot of the whole
        network then, as the heads read the trunk) and ``predict`` answers
        it from them; training stops when no task has improved by ``tol``
        for more than ``n_iter_no_change`` epochs (see
        :class:`~skmtl.PerTaskStopping`). With T tasks that is up
        to T networks kept and run at predict; with hard sharing it is the
        equal of T single-task nets each at its best epoch. ``net_`` and
        :meth:`transform` keep the last epoch's weights.

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
        ``y`` is a DataFrame), with labels among ``classes_`` and the target
        scaling of the first fit. What each
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
        validation loss, mean accuracy or R^2 over tasks, and each task's score
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
        ``callbacks__*`` and ``compile__*`` to the skorch net.""",
    "attributes": """
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

    best_epoch_ : int or ndarray of shape (n_tasks,)
        The epoch (numbered as in ``net_.history``, from 1) of the last
        ``fit``'s lowest training objective, or with ``early_stopping`` of its
        highest validation score, whose weights the model then has; with
        ``early_stopping="per_task"``, each task's.

    best_loss_ : float or None
        The lowest training objective of the last ``fit`` (see ``tol``), as
        MLPClassifier's lowest loss;
        ``None`` with ``early_stopping``. An interrupted ``fit`` (Ctrl-C)
        counts the epoch it interrupted, scored over its finished batches.

    best_validation_score_ : float, ndarray of shape (n_tasks,) or None
        With ``early_stopping``, the highest mean validation score over
        tasks of the last ``fit``, the model's (with ``"per_task"``, each
        task's highest validation score); ``None`` otherwise, as
        MLPClassifier's.

    fitted_params_ : dict
        The parameters of the fitted network, as ``get_params(deep=False)``
        gave them at the last ``fit`` (a copy): saving and loading rebuild the
        network from them, and a warm fit compares the parameters with them.
        ``set_params`` after ``fit`` changes what the next ``fit`` does, never
        what a loaded model is.


    tasks_ : list of skmtl.tasks.Task
        The fitted tasks, one per column of ``y``: each one's kind, settings
        and what fit learned of it (a classification's ``classes_``, a
        regression's ``mean_`` and ``scale_``).""",
}


def fill_doc(cls):
    """Put the shared parts into a class docstring's ``${name}`` fields."""
    cls.__doc__ = Template(cls.__doc__).substitute(
        {name: text.strip() for name, text in SHARED.items()}
    )
    return cls
