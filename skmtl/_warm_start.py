"""What a warm fit does with each parameter changed since the last fit.

:data:`WARM_START` is the table. Every parameter is one of:

- *live*: applied to the trained net, which keeps its state (the optimizer's
  moments, the strategy's learned weights, the callbacks');
- *restart*: the part it configures is built afresh, the trained weights kept:
  the loss weighting strategy (the optimizer keeps its state for the network's
  parameters), the optimizer, the user's callbacks, or the stopping rule and
  schedule (which every fit builds afresh anyway);
- *structural*: it shapes the network, which a warm fit cannot change; a warm
  fit that finds it changed raises a ``ValueError``.

A parameter has changed when its value differs from the one in the snapshot
``fit`` took (``fitted_params_``), compared by :func:`same`: equal numbers,
strings and arrays, and objects of one class whose attributes are the same, as
a copy of an object is, are the same.
"""

import inspect
import math
from numbers import Number
from typing import NamedTuple

import numpy as np
import torch

from ._build import (
    OWN_CALLBACKS,
    TRUNKS,
    check_callback_params,
    check_mixed_precision,
    net_callbacks,
    net_settings,
    own_callbacks,
    params_for,
    resolve_dtype,
    user_callbacks,
)
from .modules import MultiTaskModule
from .weighting import make_loss_weighting

__all__ = ["LIVE", "RESTART", "STRUCTURAL", "WARM_START", "same", "update_net"]

LIVE, RESTART, STRUCTURAL = "live", "restart", "structural"


class Rule(NamedTuple):
    """A row of the table: the kind of a parameter, and for a restart, the
    part it rebuilds."""

    kind: str
    rebuilds: str | None = None


# One row per parameter; "<prefix>__*" rows stand for the routed parameters.
WARM_START = {
    "tasks": Rule(STRUCTURAL),
    "target_scaling": Rule(STRUCTURAL),
    "trunk": Rule(STRUCTURAL),
    "trunk__*": Rule(STRUCTURAL),
    "head__*": Rule(STRUCTURAL),
    "dtype": Rule(STRUCTURAL),
    "device": Rule(STRUCTURAL),
    "compile": Rule(STRUCTURAL),
    "compile__*": Rule(STRUCTURAL),
    "loss_weighting": Rule(RESTART, "strategy"),
    "task_weights": Rule(RESTART, "strategy"),
    "optimizer": Rule(RESTART, "optimizer"),
    "mixed_precision": Rule(RESTART, "optimizer"),
    "callbacks": Rule(RESTART, "callbacks"),
    "callbacks__*": Rule(RESTART, "callbacks"),
    "tol": Rule(RESTART, "stopping"),
    "n_iter_no_change": Rule(RESTART, "stopping"),
    "early_stopping": Rule(RESTART, "stopping"),
    "lr_schedule": Rule(RESTART, "stopping"),
    "max_epochs": Rule(LIVE),
    "batch_size": Rule(LIVE),
    "lr": Rule(LIVE),
    "optimizer__*": Rule(LIVE),
    "iterator_train__*": Rule(LIVE),
    "iterator_valid__*": Rule(LIVE),
    "criterion__*": Rule(LIVE),
    "augment": Rule(LIVE),
    "missing_label": Rule(LIVE),
    "class_weight": Rule(LIVE),
    "loss": Rule(LIVE),
    "validation_fraction": Rule(LIVE),
    "verbose": Rule(LIVE),
    "random_state": Rule(LIVE),
    "warm_start": Rule(LIVE),
}


def rule(name):
    """The row of the table for a parameter name, routed ones included."""
    if name in WARM_START:
        return WARM_START[name]
    return WARM_START[name.split("__")[0] + "__*"]


_MISSING = object()
# Values compared with ==.
_PLAIN = (Number, str, bytes, set, frozenset, np.generic, torch.dtype, torch.device)


def same(a, b):
    """Whether two parameter values are the same: ``a is b``, equal plain
    values (numbers, strings, sets, arrays, tensors, and lists, tuples and
    dicts of them), or objects of one class whose attributes are the same."""
    return _same(a, b, set())


def _same(a, b, seen):
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and torch.equal(a.detach().cpu(), b.detach().cpu())
        )
    if isinstance(a, np.ndarray):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], seen) for k in a)
    if isinstance(a, _PLAIN):
        if isinstance(a, float) and math.isnan(a):
            return math.isnan(b)
        return bool(a == b)
    if not hasattr(a, "__dict__"):
        return False
    # Objects that refer to each other are the same where the walk comes back.
    if (id(a), id(b)) in seen:
        return True
    seen.add((id(a), id(b)))
    return _same(vars(a), vars(b), seen)


def changed_params(params, fitted):
    """The parameters, not live, whose value differs from the fitted one; a
    routed parameter left unset has its default."""
    return [
        name
        for name in sorted({*params, *fitted})
        if rule(name).kind != LIVE
        and not same(_value(params, name), _value(fitted, name))
    ]


def _value(params, name):
    # "float32" is np.float32, and "cpu" torch.device("cpu").
    if name == "dtype":
        return resolve_dtype(params[name])
    if name == "device":
        return torch.device(params[name])
    if name in params:
        return params[name]
    prefix, _, key = name.partition("__")
    target = {
        "trunk": TRUNKS.get(params["trunk"], params["trunk"])
        if isinstance(params["trunk"], str)
        else params["trunk"],
        "head": MultiTaskModule,
        "compile": torch.compile,
    }.get(prefix)
    if not callable(target):
        return _MISSING
    try:
        parameter = inspect.signature(target).parameters.get(key)
    except (TypeError, ValueError):
        return _MISSING
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return _MISSING
    return parameter.default


def check_structure(params, fitted):
    """Raise a ``ValueError`` naming the structural parameters changed since
    the fit, if any."""
    changed = [n for n in changed_params(params, fitted) if rule(n).kind == STRUCTURAL]
    if changed:
        values = "; ".join(
            f"{name}={_show(fitted.get(name, _value(fitted, name)))} then, "
            f"{_show(params.get(name, _value(params, name)))} now"
            for name in changed
        )
        raise ValueError(
            f"warm_start=True goes on training the fitted network, but "
            f"{', '.join(changed)} changed since it was fitted ({values}), "
            "and the network's structure cannot change. Set them back, or set "
            "warm_start=False to fit a new network."
        )


def _show(value):
    text = "unset" if value is _MISSING else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def update_net(net, params, fitted, n_features):
    """Apply to a trained net the parameters changed since its fit, as the
    table says.

    Parameters
    ----------
    net : MultiTaskNet
        The trained net (a copy of the fitted one), changed in place.

    params : dict
        The estimator's parameters now.

    fitted : dict
        The parameters of the fit that trained ``net``.

    n_features : int
        Width of the rows of features.
    """
    check_structure(params, fitted)
    check_mixed_precision(params)
    rebuilds = {rule(name).rebuilds for name in changed_params(params, fitted)}
    optimizer_params = params_for(params, "optimizer")
    if any(k not in net.optimizer_.defaults for k in optimizer_params):
        rebuilds.add("optimizer")
    for key in [k for k in vars(net) if k.startswith("callbacks__")]:
        delattr(net, key)
    vars(net).update(net_settings(params, n_features, net.module_.trunk))
    net.initialize_criterion()
    strategy = net.loss_weighting_
    if "callbacks" in rebuilds:
        net.callbacks = net_callbacks(params)
        net.initialize_callbacks()
        net.replace_loss_weighting(strategy, setup=False)
        check_callback_params(net)
    else:
        _replace_own_callbacks(net, params)
    if "strategy" in rebuilds:
        net.loss_weighting = make_loss_weighting(
            params["loss_weighting"], params["task_weights"]
        )
        # The optimizer restarts for the new strategy's parameters, if any;
        # the network's keep their state.
        optimizer = net.optimizer_
        net.replace_loss_weighting(net.loss_weighting)
        net.initialize_optimizer()
        if "optimizer" not in rebuilds:
            _keep_state(optimizer, net.optimizer_)
    elif "optimizer" in rebuilds:
        net.initialize_optimizer()
    else:
        # Keep the optimizer's state, with the new rate and settings, and
        # the momentum that a schedule such as "onecycle" may have cycled.
        defaults = net.optimizer_.defaults
        cycled = {k: defaults[k] for k in ("momentum", "betas") if k in defaults}
        for group in net.optimizer_.param_groups:
            group.update(lr=params["lr"], **cycled, **optimizer_params)


def _replace_own_callbacks(net, params):
    """Give a net the stopping and schedule callbacks of the current
    parameters, and a table that prints its header again."""
    own = own_callbacks(params)
    net.callbacks = user_callbacks(net) + own
    callbacks = [(n, cb) for n, cb in net.callbacks_ if n not in OWN_CALLBACKS]
    # Before print_log, as skorch puts any callback.
    at = next(
        (i for i, (n, _) in enumerate(callbacks) if n == "print_log"),
        len(callbacks),
    )
    callbacks[at:at] = [(n, cb.initialize()) for n, cb in own]
    net.callbacks_ = callbacks
    dict(callbacks)["print_log"].initialize()


def _keep_state(old, new):
    """Carry an optimizer's state over to its successor, for the parameters
    that both train."""
    for group in new.param_groups:
        for parameter in group["params"]:
            if parameter in old.state:
                new.state[parameter] = old.state[parameter]
