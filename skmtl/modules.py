"""Torch modules: trunks, heads and what joins them.

A trunk returns one representation for every head, ``(n, width)`` (hard
parameter sharing, as :class:`MLP` and :class:`CNN` do), or one per task,
``(n, n_tasks, width)`` (soft sharing, as the trunks of :mod:`skmtl.trunks`
do); :class:`MultiTaskModule` and :class:`TaskHeads` take either.
"""

import math
from collections.abc import Sequence
from numbers import Integral, Real

import torch
from torch import nn

__all__ = ["MLP", "CNN", "MultiTaskModule", "StackedLinear", "TaskHeads", "TaskLogits"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}


def _activation(activation):
    """An activation module from a name or a module class."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of "
                f"{sorted(_ACTIVATIONS)} or a torch.nn.Module class."
            )
        return _ACTIVATIONS[activation]()
    return activation()


def _is_positive_int(value):
    # bool is an Integral, but True as a width is surely a mistake.
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def _check_widths(name, widths, example, owner):
    """Check that ``widths`` is a sequence of positive ints; return it as a tuple."""
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise ValueError(
            f"{owner} {name} must be a sequence of positive ints such as "
            f"{example}; got {widths!r}."
        )
    given, widths = widths, tuple(widths)
    bad = [w for w in widths if not _is_positive_int(w)]
    if bad:
        shown = given if isinstance(given, (list, tuple)) else widths
        raise ValueError(
            f"{owner} {name} must hold positive ints; got {shown!r}, in which "
            f"{bad[0]!r} is not."
        )
    return widths


def _check_dropout(dropout, owner):
    # NaN fails both comparisons, so it is caught too.
    if not (isinstance(dropout, Real) and 0 <= dropout < 1):
        raise ValueError(
            f"{owner} dropout must be a probability in [0, 1); got {dropout!r}."
        )


class MLP(nn.Module):
    """A stack of dense layers, each followed by its activation.

    Parameters
    ----------
    in_features : int
        Number of input features.

    hidden_units : tuple of int, default=(100,)
        Width of each hidden layer, each at least 1. An empty tuple gives the
        identity.

    activation : str or torch.nn.Module class, default="relu"
        One of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"elu"``, ``"leaky_relu"``,
        ``"sigmoid"``, or a module class instantiated without arguments.

    dropout : float, default=0.0
        Dropout probability after each hidden layer, in ``[0, 1)``.

    batch_norm : bool, default=False
        Whether to put batch normalisation between each dense layer and its
        activation.

    Attributes
    ----------
    out_features : int
        Width of the output: the last hidden layer's, or ``in_features``.

    Raises
    ------
    ValueError
        If a width is not a positive int, or ``dropout`` is outside ``[0, 1)``.
    """

    def __init__(
        self,
        in_features,
        hidden_units=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        hidden_units = _check_widths("hidden_units", hidden_units, "(100,)", "MLP")
        _check_dropout(dropout, "MLP")
        layers = []
        width = in_features
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = units
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, X):
        return self.layers(X)


class CNN(nn.Module):
    """A convolutional trunk for images given as flat rows.

    Each row is reshaped to ``input_shape``, passed through the convolutions
    (each followed by its activation, and by 2x2 max-pooling where asked), then
    flattened into dense layers. The defaults are the Fashion-MNIST study's net:
    conv 32-64-128 (3x3, max-pool after the first two) and dense 1024.

    Parameters
    ----------
    in_features : int
        Number of input features per row, the product of ``input_shape``.

    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of one image. ``None`` reads each row as
        a square single-channel image.

    channels : tuple of int, default=(32, 64, 128)
        Output channels of each convolution, each at least 1.

    kernel_size : int or tuple of (int, int), default=3
        Size of the convolution kernels: one positive int for square kernels,
        or ``(height, width)``.

    padding : {"valid", "same"} or int, default="valid"
        Padding of each convolution; ``"valid"`` (none) is the study's, and
        the default of TensorFlow and Keras.

    pool_after : tuple of int, default=(0, 1)
        Indices of the convolutions followed by 2x2 max-pooling.

    dense_units : tuple of int, default=(1024,)
        Widths of the dense layers after the convolutions, each at least 1.

    activation : str or torch.nn.Module class, default="relu"
        Activation after each convolution and dense layer, as in :class:`MLP`.

    dropout : float, default=0.0
        Dropout probability after each dense layer, in ``[0, 1)``.

    batch_norm : bool, default=False
        Whether to put batch normalisation after each convolution (after its
        pooling, where it has one, which costs a quarter of normalising the
        full maps) and each dense layer.

    Attributes
    ----------
    out_features : int
        Width of the output: the last dense layer's.

    Raises
    ------
    ValueError
        If a width or the kernel size is not a positive int, ``dropout`` is
        outside ``[0, 1)``, or the rows do not make images that these layers can
        take.
    """

    def __init__(
        self,
        in_features,
        input_shape=None,
        channels=(32, 64, 128),
        kernel_size=3,
        padding="valid",
        pool_after=(0, 1),
        dense_units=(1024,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        channels = _check_widths("channels", channels, "(32, 64)", "CNN")
        dense_units = _check_widths("dense_units", dense_units, "(1024,)", "CNN")
        _check_kernel_size(kernel_size)
        _check_dropout(dropout, "CNN")
        if input_shape is None:
            side = math.isqrt(in_features)
            if side * side != in_features:
                raise ValueError(
                    f"CNN got {in_features} features per row, which is not a square "
                    "image; set trunk__input_shape=(channels, height, width)."
                )
            input_shape = (1, side, side)
        if math.prod(input_shape) != in_features:
            raise ValueError(
                f"CNN input_shape {tuple(input_shape)} holds "
                f"{math.prod(input_shape)} values, but rows have {in_features} "
                "features."
            )
        self.input_shape = tuple(input_shape)
        layers = []
        depth = input_shape[0]
        for i, width in enumerate(channels):
            layers.append(nn.Conv2d(depth, width, kernel_size, padding=padding))
            if batch_norm:
                # Normalising the pooled maps costs a quarter: on CPU, batch
                # norm on full-size maps slows the study's net by 40%.
                if i in pool_after:
                    layers.append(nn.MaxPool2d(2))
                layers += [nn.BatchNorm2d(width), _activation(activation)]
            else:
                layers.append(_activation(activation))
                if i in pool_after:
                    layers.append(nn.MaxPool2d(2))
            depth = width
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        try:
            with torch.no_grad():
                n_flat = self.features(torch.zeros(1, *self.input_shape)).shape[1]
        except RuntimeError as err:
            raise ValueError(
                f"Images of shape {self.input_shape} are too small for these "
                f"convolutions and poolings: {err}"
            ) from err
        self.dense = MLP(n_flat, dense_units, activation, dropout, batch_norm)
        self.out_features = self.dense.out_features

    def forward(self, X):
        return self.dense(self.features(X.view(-1, *self.input_shape)))


def _check_kernel_size(kernel_size):
    # torch takes an int or a pair; anything else, or a width < 1, fails later
    # with a message that names neither the parameter nor the value.
    sizes = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,)
    if len(sizes) not in (1, 2) or not all(_is_positive_int(k) for k in sizes):
        raise ValueError(
            "CNN kernel_size must be a positive int or a pair (height, width) of "
            f"positive ints; got {kernel_size!r}."
        )


class MultiTaskModule(nn.Module):
    """A trunk followed by one head per task.

    Parameters
    ----------
    trunk : torch.nn.Module
        Maps a batch of shape ``(n, n_features)`` to one representation that
        every head reads, ``(n, width)``, or to one per task, ``(n, n_tasks,
        width)``, whose ``[:, t]`` task ``t``'s head reads (as the trunks of
        :mod:`skmtl.trunks` do).

    n_features : int
        Number of input features, used once to find the trunk's output width.

    n_classes : list of int
        Number of outputs of each task's head, each at least 1: a
        classification task's number of classes, 1 for a regression task;
        one head is built per entry.

    hidden_units : tuple of int, default=()
        Widths of the hidden layers of each head before its output layer, each
        at least 1.

    activation : str or torch.nn.Module class, default="relu"
        Activation of the heads' hidden layers.

    dropout : float, default=0.0
        Dropout after each of the heads' hidden layers, in ``[0, 1)``.

    Attributes
    ----------
    trunk : torch.nn.Module
        The trunk.

    heads : TaskHeads
        Every task's head, their weights stacked.

    per_task : bool
        Whether the trunk gives each task its own representation, ``(n,
        n_tasks, width)``, rather than one for all, ``(n, width)``.

    Raises
    ------
    ValueError
        If a width or a number of classes is not a positive int, ``dropout`` is
        outside ``[0, 1)``, or the trunk cannot take rows of ``n_features``
        features, does not return one row per input row, or returns neither a
        2-D tensor nor a 3-D one of one representation per task.

    Notes
    -----
    ``forward`` returns a :class:`TaskLogits`, a sequence of logits, one
    ``(n, n_classes[t])`` tensor per task.
    """

    def __init__(
        self,
        trunk,
        n_features,
        n_classes,
        hidden_units=(),
        activation="relu",
        dropout=0.0,
    ):
        super().__init__()
        n_classes = _check_widths("n_classes", n_classes, "[10, 3]", "MultiTaskModule")
        if not n_classes:
            raise ValueError(
                "MultiTaskModule n_classes must hold one number of classes per "
                "task; got no task."
            )
        hidden_units = _check_widths(
            "hidden_units", hidden_units, "(100,)", "MultiTaskModule heads'"
        )
        _check_dropout(dropout, "MultiTaskModule heads'")
        self.trunk = trunk
        width, self.per_task = self._trunk_width(trunk, n_features, len(n_classes))
        self.heads = TaskHeads(width, n_classes, hidden_units, activation, dropout)

    @staticmethod
    def _trunk_width(trunk, n_features, n_tasks=1):
        # Any module may be a trunk, so its output width is found by running it.
        name = type(trunk).__name__
        # Rows of the trunk's own dtype and device, such as a .double() trunk's.
        first = next(trunk.parameters(), None)
        like = {} if first is None else {"dtype": first.dtype, "device": first.device}
        was_training = trunk.training
        trunk.eval()
        try:
            with torch.no_grad():
                out = trunk(torch.zeros(2, n_features, **like))
        except RuntimeError as err:
            # Mostly a first layer sized for other data; torch's message says
            # which shapes clashed.
            raise ValueError(
                f"The trunk {name} cannot take rows of {n_features} features: "
                f"{err}; set its input width to the data's number of features."
            ) from err
        finally:
            trunk.train(was_training)
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 3):
            got = (
                f"shape {tuple(out.shape)}"
                if isinstance(out, torch.Tensor)
                else f"a {type(out).__name__}"
            )
            raise ValueError(
                f"The trunk {name} must map (n_samples, n_features) to a 2-D "
                "tensor (n_samples, width), or to a 3-D tensor (n_samples, "
                f"n_tasks, width) of one representation per task; it returned {got}."
            )
        if out.shape[0] != 2:
            # Else the heads' logits and the targets disagree in length, and
            # the loss fails with a message that names neither the trunk nor why.
            raise ValueError(
                f"The trunk {name} returned {out.shape[0]} rows for 2; it must "
                "return one row per input row (n_samples, width), without "
                "reducing over the batch."
            )
        if out.ndim == 3 and out.shape[1] != n_tasks:
            # Else the heads would read another task's representation, or fail
            # in a batched product with a message about einsum.
            raise ValueError(
                f"The trunk {name} returned a representation for {out.shape[1]} "
                f"tasks, of shape {tuple(out.shape)}, but there are {n_tasks} "
                f"tasks: a 3-D output must be (n_samples, n_tasks, width). Build "
                f"the trunk for {n_tasks} tasks (its n_tasks parameter, if it "
                "has one)."
            )
        return out.shape[-1], out.ndim == 3

    def forward(self, X):
        return self.heads(self.trunk(X))


class TaskHeads(nn.Module):
    """One head per task, each an :class:`MLP` then a linear output layer,
    computed together.

    The heads' layers are stacked, one weight tensor per layer for all the
    tasks (for the output layer, for all the tasks with the same number of
    classes), so that a batch costs a few batched products, whatever the
    number of tasks. Each task's weights are those of its own head: the
    heads share nothing, and start as separate :class:`torch.nn.Linear`
    layers would, one task after the other.

    Parameters
    ----------
    in_features : int
        Width of the features the heads read: shared by every head, ``(n,
        in_features)``, or one representation per task, ``(n, n_tasks,
        in_features)``.

    n_classes : list of int
        Number of classes of each task.

    hidden_units : tuple of int, default=()
        Widths of each head's hidden layers.

    activation : str or torch.nn.Module class, default="relu"
        Activation of the hidden layers.

    dropout : float, default=0.0
        Dropout after each hidden layer.

    Attributes
    ----------
    hidden : torch.nn.ModuleList of StackedLinear
        Each hidden layer of every head.

    outputs : torch.nn.ModuleList of StackedLinear
        The output layers of the tasks with one number of classes, one
        entry per number, in the order they first appear.

    groups : list of tuple of int
        The tasks of each entry of ``outputs``.
    """

    def __init__(
        self, in_features, n_classes, hidden_units=(), activation="relu", dropout=0.0
    ):
        super().__init__()
        n_classes = list(n_classes)
        self.groups = _group_tasks(n_classes)
        # Built task by task, as separate heads were: the same initial
        # weights from the same seed.
        layers = [[] for _ in hidden_units]
        outputs = {}
        for k in n_classes:
            width = in_features
            for depth, units in enumerate(hidden_units):
                layers[depth].append(nn.Linear(width, units))
                width = units
            outputs.setdefault(k, []).append(nn.Linear(width, k))
        self.hidden = nn.ModuleList(StackedLinear(layer) for layer in layers)
        self.outputs = nn.ModuleList(StackedLinear(o) for o in outputs.values())
        self.activations = nn.ModuleList(_activation(activation) for _ in hidden_units)
        self.dropout = nn.Dropout(dropout) if dropout and hidden_units else None
        self.n_classes = n_classes
        self.in_features = in_features

    def task_slices(self, task):
        """Where task ``task``'s head lies in the stacked parameters.

        Parameters
        ----------
        task : int
            The task's index.

        Returns
        -------
        slices : list of (torch.nn.Parameter, int)
            The weight and bias of each of its layers, input to output, as
            ``(parameter, i)``: the task's part is ``parameter[i]``, and its
            gradient ``parameter.grad[i]``.
        """
        slices = []
        for layer in self.hidden:
            slices += [(layer.weight, task), (layer.bias, task)]
        for tasks, output in zip(self.groups, self.outputs):
            if task in tasks:
                i = tasks.index(task)
                slices += [(output.weight, i), (output.bias, i)]
        return slices

    def forward(self, shared):
        """The logits of each task from the features: shared by every head,
        ``(n, width)``, or one representation per task, ``(n, n_tasks, width)``."""
        hidden = shared
        for layer, activation in zip(self.hidden, self.activations):
            hidden = activation(layer(hidden))
            if self.dropout is not None:
                hidden = self.dropout(hidden)
        groups = []
        for tasks, output in zip(self.groups, self.outputs):
            rows = hidden
            # Per-task features (from a hidden layer, or from the trunk): each
            # output layer reads its own tasks'.
            if hidden.ndim == 3 and len(tasks) != len(self.n_classes):
                rows = hidden[:, list(tasks)]
            groups.append((tasks, output(rows)))
        return TaskLogits.from_groups(groups, len(self.n_classes))


def _group_tasks(n_classes):
    """The tasks with each number of classes, in the order the numbers first
    appear: a list of tuples of task indices, each in order."""
    tasks_by_size = {}
    for t, k in enumerate(n_classes):
        tasks_by_size.setdefault(k, []).append(t)
    return [tuple(tasks) for tasks in tasks_by_size.values()]


class StackedLinear(nn.Module):
    """Separate linear layers of the same shape, one per task, computed in one
    batched product.

    Parameters
    ----------
    layers : list of torch.nn.Linear
        The layers, of one shape, whose weights it starts from (copied).

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_tasks, out_features, in_features)
        Each layer's weight, as :class:`torch.nn.Linear` holds it.

    bias : torch.nn.Parameter of shape (n_tasks, out_features)
        Each layer's bias.

    Notes
    -----
    ``forward`` takes inputs shared by every layer, ``(n, in_features)``, or
    one per layer, ``(n, n_tasks, in_features)``, and returns ``(n, n_tasks,
    out_features)``.
    """

    def __init__(self, layers):
        super().__init__()
        with torch.no_grad():
            self.weight = nn.Parameter(torch.stack([layer.weight for layer in layers]))
            self.bias = nn.Parameter(torch.stack([layer.bias for layer in layers]))

    def forward(self, X):
        n_tasks, out_features, in_features = self.weight.shape
        if X.ndim == 2:
            # One product for every layer: the inputs are the same.
            flat = self.weight.reshape(n_tasks * out_features, in_features)
            return nn.functional.linear(X, flat, self.bias.reshape(-1)).view(
                len(X), n_tasks, out_features
            )
        return torch.einsum("nti,toi->nto", X, self.weight) + self.bias

    def extra_repr(self):
        n_tasks, out_features, in_features = self.weight.shape
        return (
            f"n_tasks={n_tasks}, in_features={in_features}, out_features={out_features}"
        )


class TaskLogits(Sequence):
    """Each task's logits, a sequence of ``(n, n_classes[t])`` tensors, held
    grouped by number of classes.

    Losses and scores are computed a group at a time, over the ``(n,
    n_tasks_in_group, k)`` logits of its tasks: no Python loop over the tasks.
    A task's own logits, ``logits[t]``, are a view of its group's, made when
    first asked for, so that many tasks cost no per-task tensor a batch.

    Parameters
    ----------
    logits : iterable of torch.Tensor
        Each task's logits, such as the tuple a module of your own returns;
        the groups are stacked from them when first asked for.

    Attributes
    ----------
    groups : list of (tuple of int, torch.Tensor)
        The tasks with the same number of classes ``k`` (in order), and their
        logits, of shape ``(n, n_tasks_in_group, k)``.
    """

    def __init__(self, logits=()):
        self._tasks = list(logits)
        self._groups = None
        self._where = None

    @classmethod
    def of(cls, logits):
        """``logits`` as a :class:`TaskLogits`: itself if it is one."""
        return logits if isinstance(logits, cls) else cls(logits)

    @classmethod
    def from_groups(cls, groups, n_tasks):
        """The logits of ``n_tasks`` tasks from their groups."""
        self = cls()
        self._tasks = [None] * n_tasks
        self._groups = list(groups)
        self._where = {
            t: (g, i)
            for g, (tasks, _) in enumerate(self._groups)
            for i, t in enumerate(tasks)
        }
        return self

    def __len__(self):
        return len(self._tasks)

    def __getitem__(self, task):
        if isinstance(task, slice):
            return tuple(self[t] for t in range(len(self))[task])
        logits = self._tasks[task]  # IndexError past the end, as a tuple
        if logits is None:
            task = range(len(self))[task]
            g, i = self._where[task]
            logits = self._tasks[task] = self._groups[g][1][:, i]
        return logits

    @property
    def groups(self):
        if self._groups is None:
            sizes = [logits.shape[-1] for logits in self._tasks]
            self._groups = [
                (tasks, torch.stack([self._tasks[t] for t in tasks], 1))
                for tasks in _group_tasks(sizes)
            ]
        return self._groups

    def to(self, *args, **kwargs):
        """The logits moved or cast, as :meth:`torch.Tensor.to` takes."""
        return TaskLogits.from_groups(
            [(tasks, z.to(*args, **kwargs)) for tasks, z in self.groups], len(self)
        )

    def __repr__(self):
        return f"TaskLogits({tuple(self)!r})"
