"""A fitted estimator's state as plain data: portable across devices, and safe
to load with skops.

Pickle and :func:`skops.io.dump` both take an object's state from
``__getstate__``. :class:`PortableStateMixin` gives there the fitted skorch net
as plain data (numpy arrays, numbers, strings, lists and dicts) instead of torch
objects, and rebuilds the net from it and the parameters it was fitted with
(``fitted_params_``, a snapshot that ``fit`` takes) in ``__setstate__``: what
``set_params`` changed since ``fit`` cannot make a file unloadable. So a file
holds no torch tensor, no training or validation data, and nothing that skops
cannot check: loading only makes the objects whose types the caller trusts, and
the net from the estimator's own code.
"""

import json
import warnings
from collections import OrderedDict

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History
from torch import nn

from ._batching import device_available
from ._build import build_net
from ._targets import per_task_class_weight
from .tasks import KINDS, Classification, Task

__all__ = ["PortableStateMixin"]

# Version of the layout of the net's plain state. 2: the heads' layers are
# stacked (skmtl.modules.TaskHeads); 1 held one module per head.
_FORMAT = 2
_TENSOR = "__tensor__"
_MODULE = "__torch_module__"
_TASK = "__task__"


class PortableStateMixin:
    """Pickle and skops support for an estimator holding a skorch net ``net_``.

    ``__getstate__`` replaces ``net_`` with plain data: the state dicts of the
    net's modules, criteria and optimizers (tensors as numpy arrays), the fitted
    attributes of its callbacks that are plain data, and its history as JSON.
    ``__setstate__`` rebuilds the net with :func:`~skmtl._build.build_net` from
    ``fitted_params_`` and loads that state into it, on the device it was
    trained on, or on the CPU with a :class:`skorch.exceptions.DeviceWarning`
    when that device is not available. Torch modules and tensors among the
    parameters (a trunk instance, tensor task weights) are saved as plain data
    too. The net's ``train_split``, which holds the validation data during
    ``fit``, is not kept.

    The fitted tasks (``tasks_``) and task objects among the parameters are
    saved as plain data too: their kind, parameters and fitted attributes.

    The estimator must define ``fitted_params_``, ``tasks_``,
    ``n_features_in_``, ``task_names_`` and ``device``; its other attributes are
    stored as they are.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.get("net_")
        if net is not None and not isinstance(net, dict):
            state["net_"] = _net_state(net)
        state = _plain_torch_values(state)
        if "fitted_params_" in state:
            state["fitted_params_"] = _plain_torch_values(state["fitted_params_"])
        return state

    def __setstate__(self, state):
        state = _torch_values(state)
        if "classes_" in state and "tasks_" not in state:
            _tasks_from_classes(state)
        if "fitted_params_" in state:
            state["fitted_params_"] = _torch_values(state["fitted_params_"])
        net_state = state.pop("net_", None)
        super().__setstate__(state)
        if net_state is not None:
            if not hasattr(self, "fitted_params_"):
                # Saved before fit took a snapshot: its parameters then.
                self.fitted_params_ = self.get_params(deep=False)
            self.net_ = self._load_net_state(net_state)

    def _load_net_state(self, net_state):
        if net_state.get("format") not in (1, _FORMAT):
            raise ValueError(
                f"This {type(self).__name__} was saved with net state format "
                f"{net_state.get('format')!r}; this version of skmtl reads format "
                f"{_FORMAT}."
            )
        params = self.fitted_params_
        device = params["device"]
        if not device_available(device):
            warnings.warn(
                f"This {type(self).__name__} was trained on device {str(device)!r}, "
                "which is not available here: it is loaded on 'cpu', and its "
                "device parameter is set to 'cpu'.",
                DeviceWarning,
                stacklevel=3,
            )
            device = "cpu"
            params["device"] = device
            if not device_available(self.device):
                self.device = device
        # Initialising the net draws random weights, soon overwritten: torch's
        # global random state is left as it was.
        with torch.random.fork_rng(devices=[]):
            net = build_net(params, self.n_features_in_, self.tasks_, self.task_names_)
        if net_state["format"] == 1:
            net_state = _from_format_1(net_state, net.module_.heads.groups)
        # Weights and optimizer states go through the CPU, as with torch.load's
        # map_location="cpu": load_state_dict puts them where they belong.
        modules = net_state["modules"]
        try:
            if set(modules) != {*net._modules, *net._criteria}:
                raise KeyError(f"saved {sorted(modules)}")
            for name, module_state in modules.items():
                getattr(net, name + "_").load_state_dict(_tensors(module_state, "cpu"))
        except (KeyError, RuntimeError) as error:
            raise ValueError(
                "The saved network does not fit the one built from the "
                f"parameters it was fitted with; the file is damaged. {error}"
            ) from error
        for name, optimizer_state in net_state["optimizers"].items():
            getattr(net, name + "_").load_state_dict(_tensors(optimizer_state, "cpu"))
        callbacks = dict(net.callbacks_)
        for name, attributes in net_state["callbacks"].items():
            if name in callbacks:
                for key, value in attributes.items():
                    setattr(callbacks[name], key, _tensors(value, device))
        net.history = History(json.loads(net_state["history"]))
        return net


def _from_format_1(net_state, groups):
    """A state of format 1, whose heads were one module each (``heads.<t>.0``
    their hidden layers, ``heads.<t>.1`` their output layer), with the heads'
    layers stacked as :class:`~skmtl.modules.TaskHeads` holds them.

    The optimizer's state, kept per parameter, has no stacked equivalent that
    torch can check: it is left out, with a warning, and a warm start from the
    file starts the optimizer afresh.
    """
    old = net_state["modules"]["module"]
    module = OrderedDict((k, v) for k, v in old.items() if not k.startswith("heads."))
    n_tasks = sum(len(tasks) for tasks in groups)

    def stacked(keys):
        first = old[keys[0]]
        arrays = [np.asarray(old[key][_TENSOR]) for key in keys]
        return {**first, _TENSOR: np.stack(arrays)}

    hidden = sorted(
        {
            int(key.split(".")[4])
            for key in old
            if key.startswith("heads.0.0.layers.") and key.endswith(".weight")
        }
    )
    for depth, index in enumerate(hidden):
        for name in ("weight", "bias"):
            keys = [f"heads.{t}.0.layers.{index}.{name}" for t in range(n_tasks)]
            module[f"heads.hidden.{depth}.{name}"] = stacked(keys)
    for g, tasks in enumerate(groups):
        for name in ("weight", "bias"):
            keys = [f"heads.{t}.1.{name}" for t in tasks]
            module[f"heads.outputs.{g}.{name}"] = stacked(keys)
    if net_state["optimizers"]:
        warnings.warn(
            "This model was saved by an earlier version of skmtl, whose heads "
            "were separate modules: its weights are loaded, but not its "
            "optimizer's state, so a warm start from it starts the optimizer "
            "afresh. Save it again to keep the state from now on.",
            UserWarning,
            stacklevel=5,
        )
    modules = {**net_state["modules"], "module": module}
    return {**net_state, "modules": modules, "optimizers": {}}


def _tasks_from_classes(state):
    """The ``tasks_`` of a classifier saved before task kinds, from its
    ``classes_``: a 1-D ``y``'s array, or a list of them."""
    classes = state.pop("classes_")
    one_task = not isinstance(classes, list)
    classes = [classes] if one_task else classes
    params = state.get("fitted_params_", state)
    weights = per_task_class_weight(params.get("class_weight"), len(classes))
    tasks = []
    for task_classes, weight in zip(classes, weights):
        task = Classification(class_weight=weight)
        task.classes_ = task_classes
        tasks.append(task)
    state["tasks_"], state["_one_task"] = tasks, one_task


def _plain_torch_values(values):
    """A dict whose torch modules, tensors and task objects are plain data."""
    return {
        key: _plain(value) if _holds_torch_or_tasks(value) else value
        for key, value in values.items()
    }


def _holds_torch_or_tasks(value):
    if isinstance(value, list):
        return any(isinstance(v, Task) for v in value)
    return isinstance(value, nn.Module | torch.Tensor | Task)


def _torch_values(values):
    """The inverse of :func:`_plain_torch_values`, on the CPU."""
    return {
        key: _tensors(value, "cpu") if _is_torch_value(value) else value
        for key, value in values.items()
    }


def _is_torch_value(value):
    if isinstance(value, list):
        return any(_is_torch_value(v) for v in value)
    return isinstance(value, dict) and (
        _MODULE in value or _TENSOR in value or _TASK in value
    )


def _net_state(net):
    """The net's learned state and history, as plain data."""
    return {
        "format": _FORMAT,
        "modules": {
            name: _plain(getattr(net, name + "_").state_dict())
            for name in [*net._modules, *net._criteria]
        },
        "optimizers": {
            name: _plain(getattr(net, name + "_").state_dict())
            for name in net._optimizers
        },
        "callbacks": {
            name: {
                key: _plain(value)
                for key, value in vars(callback).items()
                if key.endswith("_") and not key.startswith("_") and _is_plain(value)
            }
            for name, callback in net.callbacks_
        },
        "history": json.dumps(net.history.to_list(), default=_json_default),
    }


def _is_plain(value):
    """Whether ``value`` is made of numbers, strings, arrays, tensors, and lists,
    tuples, sets and dicts of those."""
    if value is None or isinstance(
        value, bool | int | float | str | np.generic | torch.Tensor
    ):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype != object
    if type(value) in (list, tuple):
        return all(_is_plain(v) for v in value)
    if type(value) is set:
        return all(_is_plain(v) and not isinstance(v, torch.Tensor) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value):
    """``value`` with each tensor as ``{"__tensor__": array, "dtype": name}``,
    the array on the CPU, and each module as ``{"__torch_module__": its class,
    "state": its plain state}``."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()  # numpy has no bfloat16; cast back on load
        plain = {_TENSOR: tensor.numpy().copy(), "dtype": dtype}
        if isinstance(value, nn.Parameter):
            plain["requires_grad"] = value.requires_grad
        return plain
    if isinstance(value, nn.Module):
        return {_MODULE: type(value), "state": _plain(value.__getstate__())}
    if isinstance(value, Task):
        # Skmtl's own kinds by name, so that skops need not trust them.
        kind = value.kind if type(value) is KINDS.get(value.kind) else type(value)
        fitted = {k: v for k, v in vars(value).items() if k.endswith("_")}
        return {_TASK: kind, "params": value.get_params(deep=False), "fitted": fitted}
    if isinstance(value, OrderedDict):
        return OrderedDict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _tensors(value, device):
    """The inverse of :func:`_plain`: tensors on ``device``."""
    if isinstance(value, dict) and _TENSOR in value:
        dtype = getattr(torch, str(value["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"Unknown tensor dtype {value['dtype']!r}.")
        array = np.asarray(value[_TENSOR])
        tensor = torch.from_numpy(array.copy()).to(device=device, dtype=dtype)
        if "requires_grad" in value:
            return nn.Parameter(tensor, requires_grad=bool(value["requires_grad"]))
        return tensor
    if isinstance(value, dict) and _TASK in value:
        kind = value[_TASK]
        cls = KINDS[kind] if isinstance(kind, str) else kind
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"Expected a task kind, got {kind!r}.")
        task = cls(**value["params"])
        vars(task).update(value["fitted"])
        return task
    if isinstance(value, dict) and _MODULE in value:
        cls = value[_MODULE]
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"Expected a torch.nn.Module class, got {cls!r}.")
        # As pickle makes a module: no __init__, then its saved attributes.
        module = cls.__new__(cls)
        module.__setstate__(_tensors(value["state"], device))
        return module
    if isinstance(value, OrderedDict):
        return OrderedDict((k, _tensors(v, device)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: _tensors(v, device) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_tensors(v, device) for v in value)
    return value


def _json_default(value):
    """Numpy and torch values in the history, as JSON."""
    if isinstance(value, np.generic | np.ndarray | torch.Tensor):
        return value.tolist()
    if isinstance(value, set):
        return sorted(value, key=repr)
    raise TypeError(
        f"The history holds a {type(value).__name__}, which cannot be saved; "
        "record numbers, strings, lists or dicts."
    )
