"""The scikit-learn face of skmtl: validation, label encoding, predict and score."""

import copy
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._missing import is_scalar_nan
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ._batching import TensorBatchIterator
from ._net import MultiTaskNet
from ._persistence import PortableStateMixin
from ._targets import (
    class_weights,
    encode_targets,
    missing_mask,
    task_names,
)
from .modules import CNN, MLP, MultiTaskModule
from .weighting import NAMES, LossWeighting, make_loss_weighting

__all__ = ["MultiTaskClassifier"]

_TRUNKS = {"mlp": MLP, "cnn": CNN}
_MODULE_PREFIXES = ("trunk__", "head__")
_NET_PREFIXES = ("optimizer__", "iterator_train__", "iterator_valid__", "callbacks__")


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
        A module class is instantiated with the ``trunk__*`` parameters only;
        an instance is copied at fit. Any trunk must map ``(n, n_features)``
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
        torchjd; or a strategy object such as ``GradNorm(alpha=0.5)``, whose
        parameters are searchable as ``loss_weighting__alpha``.

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

    max_epochs : int, default=20
        Number of passes over the training data.

    batch_size : int, default=128
        Number of rows per mini-batch, for training and prediction.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Its other parameters are set with ``optimizer__*``, e.g.
        ``optimizer__betas=(0.5, 0.999)``.

    validation_fraction : float, default=None
        Fraction of the training rows held out to score each epoch. They are
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
        Where to train and predict, e.g. ``"cuda"``.

    warm_start : bool, default=False
        Whether a new call to ``fit`` goes on training the fitted network
        instead of starting afresh. Labels must then be among ``classes_``.

    verbose : int, default=0
        Whether skorch prints a table of scores after each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. Torch's global random state is left as it was.

    **kwargs
        Prefix-routed parameters, as in skorch: ``trunk__*`` go to the trunk
        (e.g. ``trunk__hidden_units=(128, 64)``), ``head__*`` to each head (a
        :class:`~skmtl.modules.MultiTaskModule` argument such as
        ``head__hidden_units=(100,)``), and ``optimizer__*``,
        ``iterator_train__*``, ``iterator_valid__*`` and ``callbacks__*`` to the
        skorch net.

    Attributes
    ----------
    classes_ : list of ndarray, or ndarray
        The labels of each task, or of the only task when ``y`` is 1-D.

    task_names_ : list of str
        The tasks' names: the columns of a DataFrame ``Y``, the name of a Series
        ``y``, or ``task_0``, ``task_1``, ...

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    net_ : MultiTaskNet
        The trained skorch net; ``net_.history`` holds the scores per epoch.

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
    >>> clf = MultiTaskClassifier(max_epochs=30, random_state=0).fit(X, Y)
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
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "callbacks": [list, None],
        "device": [str, torch.device],
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
        max_epochs=20,
        batch_size=128,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        validation_fraction=None,
        callbacks=None,
        device="cpu",
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
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.device = device
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
        X : array-like of shape (n_samples, n_features)
            Features; cast to float32.

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
        _check_routed(self._extra_params())
        continuing = self.warm_start and hasattr(self, "net_")
        names = task_names(y)
        nan_marks_missing = is_scalar_nan(self.missing_label)
        X, y = validate_data(
            self,
            X,
            y,
            reset=not continuing,
            validate_separately=(
                {"dtype": np.float32},
                {
                    "ensure_2d": False,
                    "dtype": None,
                    "ensure_all_finite": not nan_marks_missing,
                },
            ),
        )
        check_consistent_length(X, y)
        Y = y.reshape(len(y), -1)
        names = names or [f"task_{t}" for t in range(Y.shape[1])]
        if continuing and len(names) != len(self.task_names_):
            raise ValueError(
                f"y has {len(names)} tasks, but the fitted network has "
                f"{len(self.task_names_)}; warm_start needs the same tasks."
            )
        classes, codes = encode_targets(
            Y, names, self.missing_label, self._task_classes if continuing else None
        )
        weights = self._label_weights(sample_weight, X, classes, codes, names)
        # Rows without a weighted label would train nothing, yet would still sway
        # batch statistics: they are left out.
        rows = np.flatnonzero(weights.any(axis=1))
        if rows.size == 0:
            raise ValueError("No row has a label with a positive weight.")

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        train, valid = self._split_validation(rows, seed)
        data = (X, codes, weights.astype(np.float32), self.device)
        with _seeded_torch(seed, self.device):
            if not continuing:
                self.net_ = self._make_net(X.shape[1], classes, names)
                self.classes_ = classes if y.ndim == 2 else classes[0]
                self.task_names_ = names
            self.net_.set_params(
                train_split=None
                if valid is None
                else predefined_split(_subset(*data, valid))
            )
            self.net_.partial_fit(_subset(*data, train))
        return self

    def predict_proba(self, X):
        """Class probabilities of each task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        proba : list of ndarray of shape (n_samples, n_classes_t), or ndarray
            One array per task, columns in the order of ``classes_[t]``; a
            single array when ``y`` was 1-D at fit.
        """
        logits = self._forward(X)
        probas = [torch.softmax(z.double(), dim=1).numpy() for z in logits]
        return probas if self._multi_output else probas[0]

    def predict(self, X):
        """The most probable label of each task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_tasks) or (n_samples,)
            The original labels, one column per task; 1-D when ``y`` was 1-D at
            fit.
        """
        logits = self._forward(X)
        columns = [
            classes[z.argmax(dim=1).numpy()]
            for classes, z in zip(self._task_classes, logits)
        ]
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
        Y_pred = self.predict(X).reshape(len(X), -1)
        Y = np.asarray(y).reshape(Y_pred.shape)
        present = ~np.column_stack([missing_mask(c, self.missing_label) for c in Y.T])
        right = np.ones(Y.shape, dtype=bool)
        right[present] = Y[present] == Y_pred[present]
        rows = present.any(axis=1)
        weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
        return float(np.average(right[rows].all(axis=1), weights=weights))

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
            return self.trunk(**params)
        raise TypeError(
            "trunk must be 'mlp', 'cnn', a torch.nn.Module class or instance; "
            f"got {self.trunk!r}."
        )

    def _make_net(self, n_features, classes, names):
        module = MultiTaskModule(
            self._make_trunk(n_features),
            n_features,
            [len(c) for c in classes],
            **self._params_for("head"),
        )
        return MultiTaskNet(
            module,
            task_names=names,
            loss_weighting=make_loss_weighting(self.loss_weighting, self.task_weights),
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=TensorBatchIterator,
            iterator_valid=TensorBatchIterator,
            iterator_train__shuffle=True,
            callbacks=copy.deepcopy(self.callbacks),
            device=self.device,
            verbose=self.verbose,
            **self._routed(_NET_PREFIXES),
        ).initialize()

    def _label_weights(self, sample_weight, X, classes, codes, names):
        """Weight of each label in the loss: its row's times its class's, 0 if
        missing."""
        sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        per_class = class_weights(self.class_weight, classes, codes, names)
        weights = np.column_stack(
            [w[c.clip(min=0)] for w, c in zip(per_class, codes.T)]
        )
        return np.where(codes >= 0, sample_weight[:, None] * weights, 0.0)

    def _split_validation(self, rows, seed):
        """The training and validation parts of ``rows``."""
        if self.validation_fraction is None:
            return rows, None
        # Not stratified: the rows then depend on the seed alone, and nets fitted
        # on the same data with the same random_state are validated alike.
        return train_test_split(
            rows, test_size=self.validation_fraction, random_state=seed
        )

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return self.net_.forward(Dataset(torch.tensor(X, device=self.device), None))


def _check_routed(params):
    unknown = [k for k in params if not k.startswith(_MODULE_PREFIXES + _NET_PREFIXES)]
    if unknown:
        raise TypeError(
            f"MultiTaskClassifier got unexpected parameters {sorted(unknown)}; "
            "routed parameters start with one of "
            f"{', '.join(_MODULE_PREFIXES + _NET_PREFIXES)}."
        )


def _stack_columns(columns):
    """One 2-D array from per-task label columns, object dtype if their kinds differ."""
    if len({c.dtype.kind for c in columns}) == 1:
        return np.column_stack(columns)
    stacked = np.empty((len(columns[0]), len(columns)), dtype=object)
    for t, column in enumerate(columns):
        stacked[:, t] = column
    return stacked


def _subset(X, labels, weights, device, rows):
    """The given rows as a skorch dataset of tensors on the device."""

    def tensor(array):
        # Fancy indexing copies, so the tensor may share the copy's memory.
        return torch.from_numpy(array[rows]).to(device)

    return Dataset(tensor(X), {"labels": tensor(labels), "weights": tensor(weights)})


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch inside the block and restore its global random state after."""
    cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
    devices = (
        [torch.device(device).index or torch.cuda.current_device()] if cuda else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
