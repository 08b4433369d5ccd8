"""Building the skorch net from an estimator's parameters.

Every function here reads a ``params`` dict, as ``get_params(deep=False)`` gives
it, never the estimator: ``fit`` builds from the parameters it was called with,
and loading a saved model builds from the snapshot that ``fit`` took of them
(``fitted_params_``), whatever ``set_params`` did since.
"""

import copy
import inspect

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

from ._batching import TensorBatchIterator, device_available
from ._net import MultiTaskNet
from ._routing import NET_PREFIXES
from .augmentation import ImageAugmentation
from .callbacks import (
    FitLRScheduler,
    FitProgressBar,
    PerTaskStopping,
    ToleranceStopping,
)
from .modules import CNN, MLP, MultiTaskModule
from .trunks import PLE, CrossStitch, MMoE
from .weighting import make_loss_weighting

__all__ = [
    "AUGMENTATIONS",
    "DTYPES",
    "OWN_CALLBACKS",
    "SCHEDULES",
    "STOPPING",
    "TRUNKS",
    "build_net",
    "make_augmentation",
    "numpy_dtype",
    "own_callbacks",
    "params_for",
    "resolve_dtype",
    "user_callbacks",
    "validation_fraction",
]

TRUNKS = {
    "mlp": MLP,
    "cnn": CNN,
    "mmoe": MMoE,
    "cross_stitch": CrossStitch,
    "ple": PLE,
}
# The schedules lr_schedule names, as torch policies of FitLRScheduler.
SCHEDULES = {
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
}
# The augmentations that augment names.
AUGMENTATIONS = {"shift": {}, "shift_flip": {"flip": True}}
# dtype's values: names, and the NumPy and torch types they stand for.
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    np.float32: torch.float32,
    np.float64: torch.float64,
    torch.float32: torch.float32,
    torch.float64: torch.float64,
}
# The names of the callbacks that the estimator makes from its own parameters:
# the one that stops training (tol, n_iter_no_change, early_stopping), the
# learning rate schedule (lr_schedule) and the progress bar (verbose=2).
STOPPING = "stopping"
LR_SCHEDULE = "lr_schedule"
PROGRESS_BAR = "progress_bar"
OWN_CALLBACKS = (STOPPING, LR_SCHEDULE, PROGRESS_BAR)


def resolve_dtype(dtype):
    """The torch dtype of a ``dtype`` parameter."""
    return DTYPES[dtype]


def numpy_dtype(dtype):
    """The NumPy dtype of a ``dtype`` parameter."""
    return torch.empty(0, dtype=DTYPES[dtype]).numpy().dtype


def params_for(params, prefix):
    """The routed parameters ``<prefix>__*``, without the prefix."""
    start = len(prefix) + 2
    return {k[start:]: v for k, v in params.items() if k.startswith(prefix + "__")}


def validation_fraction(params):
    """The fraction of rows held out: 0.1 with early stopping if unset."""
    if params["early_stopping"] and params["validation_fraction"] is None:
        return 0.1
    return params["validation_fraction"]


def stops(params):
    """Whether training stops once the monitored score stops improving."""
    return params["tol"] is not None and params["n_iter_no_change"] is not None


def make_trunk(params, n_features, n_tasks):
    """A new trunk for ``params``; a class (or a name's) that takes
    ``in_features`` or ``n_tasks`` gets the data's, unless ``trunk__*`` sets
    them."""
    trunk, trunk_params = params["trunk"], params_for(params, "trunk")
    if isinstance(trunk, str):
        trunk = TRUNKS[trunk]
    if isinstance(trunk, torch.nn.Module):
        if trunk_params:
            raise ValueError(
                "trunk__* parameters configure a trunk given by name or class; "
                f"got a module instance and {sorted(trunk_params)}."
            )
        return copy.deepcopy(trunk)
    if isinstance(trunk, type) and issubclass(trunk, torch.nn.Module):
        # As the built-in trunks, a class asking for in_features gets the
        # data's width, and one asking for n_tasks the number of tasks.
        takes = inspect.signature(trunk).parameters
        given = {"in_features": n_features, "n_tasks": n_tasks}
        given = {name: value for name, value in given.items() if name in takes}
        return trunk(**{**given, **trunk_params})
    raise TypeError(
        f"trunk must be one of {sorted(TRUNKS)}, a torch.nn.Module class or "
        f"instance; got {trunk!r}."
    )


def make_augmentation(params, trunk, n_features):
    """What augments the training batches, with the images' shape."""
    augment = params["augment"]
    if augment is None:
        return None
    if isinstance(augment, str):
        augmentation = ImageAugmentation(**AUGMENTATIONS[augment])
    else:
        augmentation = clone(augment)
    shape = augmentation.input_shape
    if shape is None:
        # A CNN's, or a soft-sharing trunk's with a CNN backbone.
        shape = getattr(trunk, "input_shape", None)
    if shape is None:
        shape = params_for(params, "trunk").get("input_shape")
    if shape is None:
        raise ValueError(
            f"augment={augment!r} needs the images' shape: use trunk='cnn'"
            + (
                ", set trunk__input_shape=(channels, height, width)"
                if _takes_input_shape(params["trunk"])
                else ""
            )
            + ", or give it to ImageAugmentation(input_shape=(channels, height, "
            "width))."
        )
    augmentation.set_params(input_shape=tuple(shape))
    augmentation._check(augmentation.input_shape, n_features)
    return augmentation


def _takes_input_shape(trunk):
    """Whether a trunk given by name or class takes an ``input_shape``."""
    trunk = TRUNKS.get(trunk, trunk) if isinstance(trunk, str) else trunk
    return isinstance(trunk, type) and (
        "input_shape" in inspect.signature(trunk).parameters
    )


def _stopping_callbacks(params):
    """The callback that stops training and restores the best epoch, as a list
    of (name, callback) pairs: empty when there is nothing to do."""
    early_stopping = params["early_stopping"]
    if not (stops(params) or early_stopping):
        return []
    if early_stopping == "per_task":
        callback = PerTaskStopping(
            patience=params["n_iter_no_change"] if stops(params) else float("inf"),
            threshold=params["tol"] if stops(params) else 0.0,
        )
        return [(STOPPING, callback)]
    # Without tol or n_iter_no_change, early_stopping only restores the best
    # epoch's weights: an infinite patience never stops.
    callback = ToleranceStopping(
        monitor="valid_score" if early_stopping else "train_objective",
        lower_is_better=not early_stopping,
        patience=params["n_iter_no_change"] if stops(params) else float("inf"),
        threshold=params["tol"] if stops(params) else 0.0,
        threshold_mode="abs",
        load_best=early_stopping,
    )
    return [(STOPPING, callback)]


def _schedule_callbacks(params):
    """The learning rate schedule's callback, as a list of (name, callback)
    pairs: empty without a schedule."""
    schedule = params["lr_schedule"]
    if schedule is None:
        return []
    if isinstance(schedule, str):
        return [(LR_SCHEDULE, FitLRScheduler(SCHEDULES[schedule]))]
    return [(LR_SCHEDULE, copy.deepcopy(schedule))]


def own_callbacks(params):
    """The callbacks made from the estimator's parameters, new for each fit."""
    progress = [(PROGRESS_BAR, FitProgressBar())] if params["verbose"] >= 2 else []
    # The bar first, so that it is erased before the others print.
    return progress + _schedule_callbacks(params) + _stopping_callbacks(params)


def net_callbacks(params):
    """The net's ``callbacks``: copies of the user's, then the own ones."""
    return copy.deepcopy(params["callbacks"] or []) + own_callbacks(params)


def user_callbacks(net):
    """The callbacks of a net that the user gave, without the estimator's own."""
    return [
        entry
        for entry in net.callbacks or []
        if not (isinstance(entry, tuple) and entry[0] in OWN_CALLBACKS)
    ]


def _fused_step(params):
    """``optimizer__fused=True`` where the optimizer takes it and no
    ``optimizer__fused`` or ``optimizer__foreach`` is set: one kernel per step
    for all the parameters instead of a few per tensor, which on small nets
    is most of the step (benchmarks/bench_small_data.py)."""
    if {"optimizer__fused", "optimizer__foreach"} & set(params):
        return {}
    try:
        takes = "fused" in inspect.signature(params["optimizer"]).parameters
    except (TypeError, ValueError):
        takes = False
    return {"optimizer__fused": True} if takes else {}


def net_settings(params, n_features, trunk):
    """The net's parameters that a warm fit applies to the trained net too."""
    return {
        "max_epochs": params["max_epochs"],
        "batch_size": params["batch_size"],
        "verbose": params["verbose"],
        "lr": params["lr"],
        "optimizer": params["optimizer"],
        "augment": make_augmentation(params, trunk, n_features),
        "mixed_precision": params["mixed_precision"],
        "iterator_train__shuffle": True,
        # The iterators deliver batches on the device, in the dtype.
        **{
            f"{iterator}__{key}": value
            for iterator in ("iterator_train", "iterator_valid")
            for key, value in (
                ("device", params["device"]),
                ("dtype", resolve_dtype(params["dtype"])),
            )
        },
        **_fused_step(params),
        **{k: v for k, v in params.items() if k.startswith(NET_PREFIXES)},
    }


def build_net(params, n_features, tasks, task_names):
    """A new, initialised :class:`~skmtl.MultiTaskNet` for ``params``.

    Parameters
    ----------
    params : dict
        The estimator's parameters, as ``get_params(deep=False)`` gives them.

    n_features : int
        Width of the rows of features.

    tasks : list of skmtl.tasks.Task
        The fitted tasks, whose kinds and widths shape the heads and losses.

    task_names : list of str
        The name of each task.

    Returns
    -------
    net : MultiTaskNet
        The net, initialised: its weights drawn from torch's random state.
    """
    check_mixed_precision(params)
    trunk = make_trunk(params, n_features, len(tasks))
    module = MultiTaskModule(
        trunk,
        n_features,
        [task.n_outputs() for task in tasks],
        **params_for(params, "head"),
    ).to(resolve_dtype(params["dtype"]))
    net = MultiTaskNet(
        module,
        task_names=task_names,
        tasks=list(tasks),
        loss_weighting=make_loss_weighting(
            params["loss_weighting"], params["task_weights"]
        ),
        compile=params["compile"],
        iterator_train=TensorBatchIterator,
        iterator_valid=TensorBatchIterator,
        callbacks=net_callbacks(params),
        device=params["device"],
        **net_settings(params, n_features, trunk),
    )
    return check_callback_params(net.initialize())


def check_mixed_precision(params):
    """bf16 and fp16 autocast float32 operations only."""
    if params["mixed_precision"] is not None and (
        resolve_dtype(params["dtype"]) != torch.float32
    ):
        raise ValueError(
            f"mixed_precision={params['mixed_precision']!r} runs float32 "
            "operations in half precision, but dtype is "
            f"{params['dtype']!r}: autocast would change nothing. Use "
            "dtype='float32' or mixed_precision=None."
        )


def check_callback_params(net):
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


def check_device(device):
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Unknown device {device!r}: {err}") from err
    if not device_available(device):
        raise ValueError(
            f"device={str(device)!r}, but {device.type} is not available on this "
            "machine; use device='cpu'."
        )


def check_callbacks(callbacks, validation_fraction):
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


def check_batch_norm(net, n_train, batch_size):
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
