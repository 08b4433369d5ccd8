"""How the task losses of a batch become one update: loss weighting and gradient
aggregation strategies.

A strategy is a skorch callback with two more methods: ``combine`` turns the task
losses into the total loss that is reported (``train_loss``, ``valid_loss``), and
``backward`` puts the gradients of a training batch into the parameters' ``.grad``.
Both receive a :class:`~skmtl.TaskLosses`: each task's unbiased estimate of its
objective on the batch (zero for a task without labels in it), its mean loss per
label, and which tasks are present. Strategies that learn or normalise from the
losses use only the tasks present in a batch.
:class:`~skmtl.MultiTaskClassifier` takes one as ``loss_weighting``, by name or as
an object; its parameters are searchable as ``loss_weighting__<param>``. Each
epoch, the history records the strategy's task weights as ``loss_weight_<task>``
(their mean over the epoch's batches where they change per batch), and
:class:`UncertaintyWeighting` its ``log_variance_<task>``.
"""

import inspect

import numpy as np
import sklearn
import torch
from skorch.callbacks import Callback
from torch import nn

from ._optional import import_optional
from .trunks import shared_parameters

__all__ = [
    "NAMES",
    "DynamicWeightAverage",
    "FixedWeights",
    "GradientAggregation",
    "GradNorm",
    "LossWeighting",
    "RandomWeighting",
    "UncertaintyWeighting",
    "dwa_weights",
    "make_loss_weighting",
]


class LossWeighting(Callback):
    """Base class of the strategies.

    By default a batch's loss is ``sum_t w_t * L_t`` with the weights of
    :meth:`task_weights` and ``L_t = task_losses.losses[t]``, and its gradients
    come from ``loss.backward()``.
    Subclasses define :meth:`task_weights`, may override :meth:`combine` or
    :meth:`backward`, and may return learnable parameters from :meth:`setup`:
    the net keeps them as ``net.weighting_`` and trains them with its optimizer.
    """

    def setup(self, n_tasks):
        """Check the strategy against the number of tasks; return a module of
        learnable parameters, or None."""
        return None

    def task_weights(self, net, training):
        """The weight of each task's loss, as a list of floats or a tensor."""
        raise NotImplementedError

    def objective_weights(self, n_tasks):
        """The fixed weights of the task losses in the objective that stopping
        monitors (``train_objective``): equal, ``1 / n_tasks``, unless the
        strategy is fixed weights. A strategy's own total (``train_loss``)
        moves as it re-weights the tasks, or holds terms such as uncertainty
        weighting's ``log_variance``."""
        return [1.0 / n_tasks] * n_tasks

    def combine(self, task_losses, net, training):
        """The total loss of a batch, as reported in the history."""
        losses = task_losses.losses
        weights = self._weights_like(self.task_weights(net, training), losses)
        return torch.dot(weights, losses)

    def _weights_like(self, weights, losses):
        """Task weights as a tensor of the losses' dtype and device; fixed
        weights, given as numbers, become one once, not at every batch."""
        if torch.is_tensor(weights):
            return weights.to(dtype=losses.dtype, device=losses.device)
        key = (tuple(weights), losses.dtype, losses.device)
        kept = getattr(self, "_weights_tensor", None)
        if kept is None or kept[0] != key:
            tensor = torch.tensor(key[0], dtype=losses.dtype, device=losses.device)
            kept = self._weights_tensor = (key, tensor)
        return kept[1]

    def backward(self, task_losses, net):
        """Fill the parameters' gradients for a training batch; return the loss."""
        loss = self.combine(task_losses, net, training=True)
        loss.backward()
        return loss

    def state(self, net):
        """Per-task values to record in the history this epoch: {key: [values]}."""
        weights = self.task_weights(net, training=False)
        return {"loss_weight": [float(w) for w in weights]}

    def on_epoch_end(self, net, **kwargs):
        for key, values in self.state(net).items():
            for name, value in zip(net.task_names, values):
                net.history.record(f"{key}_{name}", value)

    def __repr__(self):
        # As scikit-learn estimators print, so that cv_results_ reads well:
        # the constructor's parameters, only those changed unless
        # sklearn.set_config(print_changed_only=False). skorch's get_params
        # would also list private state, hence the signature.
        changed_only = sklearn.get_config()["print_changed_only"]
        shown = []
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or param.kind in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                continue
            value = getattr(self, name, param.default)
            default = param.default
            if changed_only and (value is default or repr(value) == repr(default)):
                continue
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


class FixedWeights(LossWeighting):
    """Constant task weights: the original study's ``lambda``.

    Parameters
    ----------
    weights : array-like of shape (n_tasks,), default=None
        Weight of each task's loss; ``None`` gives each ``1 / n_tasks``.
    """

    def __init__(self, weights=None):
        self.weights = weights

    def setup(self, n_tasks):
        if self.weights is None:
            self.weights_ = [1.0 / n_tasks] * n_tasks
            return None
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (n_tasks,) or not np.all(np.isfinite(weights)):
            raise ValueError(
                f"task_weights must hold {n_tasks} finite numbers, one per task; "
                f"got {self.weights!r}."
            )
        if np.any(weights < 0) or not np.any(weights > 0):
            raise ValueError(
                "task_weights must be non-negative with at least one positive; "
                f"got {self.weights!r}."
            )
        self.weights_ = weights.tolist()
        return None

    def task_weights(self, net, training):
        return self.weights_

    def objective_weights(self, n_tasks):
        return self.weights_


class UncertaintyWeighting(LossWeighting):
    """Learned homoscedastic uncertainty (Kendall, Gal and Cipolla, CVPR 2018).

    Each task ``t`` has a learned log-variance ``s_t`` (initially 0), trained with
    the net; the loss is ``sum_t exp(-s_t) * L_t + s_t``, so a task's effective
    weight is ``exp(-s_t)`` and the ``s_t`` term keeps it from vanishing. This
    is twice Kendall et al.'s regression form ``exp(-s) L / 2 + s / 2``: the same
    ratios between task weights, whose optimum is ``exp(-s_t) = 1 / J_t``.

    Both terms are taken on every batch. ``L_t`` is an unbiased estimate of the
    task's objective ``J_t`` over the data (zero on a batch without its
    labels), so the expected loss is ``exp(-s_t) J_t + s_t`` and a scarce task's
    weight settles at ``1 / J_t`` like a dense one's.
    """

    def setup(self, n_tasks):
        return _LogVariances(n_tasks)

    def task_weights(self, net, training):
        return torch.exp(-net.weighting_.log_variance)

    def combine(self, task_losses, net, training):
        log_variance = net.weighting_.log_variance
        losses = task_losses.losses
        return (torch.exp(-log_variance) * losses + log_variance).sum()

    def state(self, net):
        log_variance = net.weighting_.log_variance.detach().cpu()
        return {
            "loss_weight": torch.exp(-log_variance).tolist(),
            "log_variance": log_variance.tolist(),
        }


class DynamicWeightAverage(LossWeighting):
    """Dynamic weight average (Liu, Johns and Davison, CVPR 2019).

    From the third epoch on, a task's weight grows with the ratio of its last two
    epochs' mean training losses, ``r_t = L_t(k-1) / L_t(k-2)``:
    ``w_t = n_tasks * softmax(r / temperature)_t``. The first two epochs weigh
    every task 1. Equal loss ratios give equal weights.

    Parameters
    ----------
    temperature : float, default=2.0
        Softness of the weighting: the larger, the closer to equal weights.
    """

    def __init__(self, temperature=2.0):
        self.temperature = temperature

    def on_epoch_begin(self, net, **kwargs):
        # A task without labels in an epoch has no loss there: a ratio of 1.
        losses = [
            [epoch.get(f"train_loss_{name}", np.nan) for name in net.task_names]
            for epoch in net.history[:-1][-2:]
        ]
        self.weights_ = dwa_weights(losses, self.temperature, len(net.task_names))

    def task_weights(self, net, training):
        return self.weights_


def dwa_weights(epoch_losses, temperature, n_tasks):
    """Dynamic weight average's weights from the last two epochs' task losses.

    Parameters
    ----------
    epoch_losses : list of lists
        Mean training loss of each task in the last epochs, oldest first; fewer
        than two epochs give equal weights of 1. A task whose ratio is not a
        finite positive number (no loss in an epoch, NaN) counts as ratio 1.

    temperature : float
        Softness of the weighting.

    n_tasks : int
        Number of tasks, the weights' sum.

    Returns
    -------
    weights : list of float
    """
    if len(epoch_losses) < 2:
        return [1.0] * n_tasks
    before = np.asarray(epoch_losses[-2], dtype=float)
    last = np.asarray(epoch_losses[-1], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = last / before
    ratios = np.where(np.isfinite(ratios) & (ratios > 0), ratios, 1.0)
    exp = np.exp((ratios - ratios.max()) / temperature)
    return (n_tasks * exp / exp.sum()).tolist()


class GradNorm(LossWeighting):
    """GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018).

    Task weights ``w_t`` (initially 1) are learned so that the norms of the
    weighted tasks' gradients on the trunk's last shared weight matrix (an
    MLP's last layer; see :func:`skmtl.trunks.shared_parameters`) train at a
    common rate:
    each step, ``sum_t |G_t - mean(G) * r_t ** alpha|`` is minimised over the
    weights, where ``G_t`` is the norm of the gradient of ``w_t`` times the
    task's mean loss per label on the batch, and ``r_t`` that loss relative to
    its value on the first batch holding the task's labels, over the mean of
    those. A task that trains slower (larger ``r_t``) gains weight. Only the
    tasks present in a batch take part in its step. The weights are
    renormalised to sum to ``n_tasks`` after each step; the net trains on
    ``sum_t w_t * L_t``.

    Parameters
    ----------
    alpha : float, default=1.5
        Strength of the pull towards a common training rate.
    """

    def __init__(self, alpha=1.5):
        self.alpha = alpha

    def setup(self, n_tasks):
        self.initial_losses_ = [None] * n_tasks
        return _TaskWeights(n_tasks)

    def task_weights(self, net, training):
        return net.weighting_.weight.detach()

    def backward(self, task_losses, net):
        weight = net.weighting_.weight
        losses, means = task_losses.losses, task_losses.means
        active = [
            t for t, present in enumerate(task_losses.present.tolist()) if present
        ]
        if not active:
            return losses.sum()  # zero, with no gradient to give
        means_now = means.detach()[active].tolist()
        for t, value in zip(active, means_now):
            if self.initial_losses_[t] is None:
                self.initial_losses_[t] = value
        shared = _last_shared_weight(net)
        # The gradient of w_t * loss_t on the shared layer has norm w_t * |grad|.
        grad_norms = torch.stack(
            [
                torch.autograd.grad(means[t], shared, retain_graph=True)[0].norm()
                for t in active
            ]
        )
        norms = weight[active] * grad_norms
        initial = [max(self.initial_losses_[t], 1e-12) for t in active]
        ratios = torch.tensor(means_now, dtype=norms.dtype, device=norms.device)
        ratios = ratios / torch.tensor(initial, dtype=norms.dtype, device=norms.device)
        target = (norms.mean() * (ratios / ratios.mean()) ** self.alpha).detach()
        weight_grad = torch.autograd.grad((norms - target).abs().sum(), weight)[0]
        loss = (weight.detach() * losses).sum()
        loss.backward()
        weight.grad = weight_grad
        return loss

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                weight = net.weighting_.weight
                weight.clamp_(min=1e-6)
                weight.mul_(len(weight) / weight.sum())


class _PerBatchWeights(LossWeighting):
    """A strategy whose weights change per batch: the history gets their epoch
    mean, over the batches where each task is present."""

    def on_epoch_begin(self, net, **kwargs):
        self._batch_weights = []

    def on_train_end(self, net, **kwargs):
        # A fitted net keeps no per-batch tensors, which may live on the GPU.
        self._batch_weights = []

    def state(self, net):
        if not self._batch_weights:
            return {}
        weights = torch.stack(self._batch_weights).double().cpu()
        return {"loss_weight": weights.nanmean(0).tolist()}


class RandomWeighting(_PerBatchWeights):
    """Random loss weighting (Lin, Ye, Xu, Shi and Zhang, TMLR 2022).

    Each training batch draws its task weights as ``softmax(z)``, ``z`` standard
    normal: a baseline that any other strategy should beat. Validation losses use
    equal weights ``1 / n_tasks``.
    """

    def task_weights(self, net, training):
        n_tasks = len(net.task_names)
        if not training:
            return [1.0 / n_tasks] * n_tasks
        return torch.softmax(torch.randn(n_tasks, device=net.device), dim=0)

    def combine(self, task_losses, net, training):
        losses = task_losses.losses
        weights = self._weights_like(self.task_weights(net, training), losses)
        if training:
            self._batch_weights.append(weights)
        return torch.dot(weights, losses)


class GradientAggregation(_PerBatchWeights):
    """Jacobian descent on the trunk's shared parameters with a torchjd
    aggregator.

    The gradients of the task losses with respect to the parameters that the
    tasks share form a Jacobian, one row per task present in the batch; the
    aggregator turns it into their update (PCGrad projects conflicting rows,
    MGDA takes the min-norm point of their hull, UPGrad projects onto the dual
    cone, ...). The shared parameters are the trunk's
    (:func:`skmtl.trunks.shared_parameters`): all of an MLP's or a CNN's, an
    MMoE's experts, every parameter of a cross-stitch trunk. Each head, and
    each task's own part of the trunk (an MMoE's gate), gets its own task's
    gradient. Computed by
    :func:`torchjd.autojac.mtl_backward` and :func:`torchjd.autojac.jac_to_grad`.
    It needs torchjd, an optional dependency: ``pip install 'skmtl[jd]'``.

    Parameters
    ----------
    aggregator : str or torchjd.aggregation.Aggregator, default="upgrad"
        One of ``"upgrad"``, ``"pcgrad"``, ``"mgda"``, ``"cagrad"`` (c=0.4),
        ``"dualproj"``, ``"imtlg"``, ``"aligned_mtl"``, ``"mean"``, or an
        aggregator instance such as ``torchjd.aggregation.CAGrad(c=0.5)``.

    Notes
    -----
    The reported loss is the mean of the task losses. A task without labels in
    a batch has no row in that batch's Jacobian (a zero row would pull MGDA's
    min-norm point to zero). For aggregators that weigh the Jacobian's rows,
    the history records each task's weight averaged over the batches where it
    is present. The trunk's output is read through a forward hook, which
    :func:`torch.compile` skips: ``compile=True`` raises a ``ValueError`` when
    training begins.
    """

    def __init__(self, aggregator="upgrad"):
        self.aggregator = aggregator

    def initialize(self):
        _autojac()  # fails at fit, not at the first batch, without torchjd
        self.aggregator_ = _make_aggregator(self.aggregator)
        return self

    def on_train_begin(self, net, **kwargs):
        self._remove_hook()  # left by a fit that raised
        if getattr(net, "compile", False):
            # A compiled module may reuse code compiled without the hook (dynamo
            # does not guard on hooks): _features would then never be set.
            raise ValueError(
                f"{type(self).__name__} reads the trunk's output through a "
                "forward hook, which torch.compile skips; use compile=False "
                "with the gradient aggregators."
            )
        self._hook = _trunk(net).register_forward_hook(self._keep_features)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        self._remove_hook()

    def _remove_hook(self):
        hook = vars(self).pop("_hook", None)
        if hook is not None:
            hook.remove()
        vars(self).pop("_features", None)  # a fitted net pickles without them

    def _keep_features(self, module, inputs, output):
        self._features = output

    def task_weights(self, net, training):
        n_tasks = len(net.task_names)
        return [1.0 / n_tasks] * n_tasks

    def backward(self, task_losses, net):
        trunk = _trunk(net)
        shared = shared_parameters(trunk)
        present = task_losses.present
        active = [t for t, here in enumerate(present.tolist()) if here]
        if not active:
            return task_losses.losses.sum().detach()
        autojac = _autojac()
        losses = [task_losses.losses[t] for t in active]
        tasks_params = None  # torchjd's: those the features do not depend on
        kept = set(shared)
        if any(p.requires_grad and p not in kept for p in trunk.parameters()):
            # A trunk with parameters of each task's own (an MMoE's gates),
            # which the features depend on and torchjd's default would leave
            # untrained: each task's are all those its loss reaches but the
            # shared ones. A walk of the graph per task, so only here.
            tasks_params = [
                [p for p in _leaves(loss) if p not in kept] for loss in losses
            ]
        autojac.mtl_backward(
            losses,
            # (n, width), or (n, n_tasks, width) from a trunk that gives each
            # task its own: the Jacobian's rows are the tasks' gradients on
            # the shared parameters through all of it.
            features=self._features,
            tasks_params=tasks_params,
            shared_params=shared,
            # The heads of tasks with the same number of classes are one
            # layer: each task's backward walks it.
            retain_graph=True,
        )
        weights = autojac.jac_to_grad(shared, self.aggregator_)
        if weights is not None:
            row = torch.full(present.shape, torch.nan, device=weights.device)
            row[active] = weights.detach().to(row)
            self._batch_weights.append(row)
        return self.combine(task_losses, net, training=True).detach()


_AGGREGATORS = {
    "upgrad": ("UPGrad", {}),
    "pcgrad": ("PCGrad", {}),
    "mgda": ("MGDA", {}),
    "cagrad": ("CAGrad", {"c": 0.4}),
    "dualproj": ("DualProj", {}),
    "imtlg": ("IMTLG", {}),
    "aligned_mtl": ("AlignedMTL", {}),
    "mean": ("Mean", {}),
}

_STRATEGIES = {
    "equal": FixedWeights,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "gradnorm": GradNorm,
    "random": RandomWeighting,
}

NAMES = sorted(_STRATEGIES) + sorted(_AGGREGATORS)


def make_loss_weighting(loss_weighting, task_weights=None):
    """The strategy object for a name, an object, or None (fixed task weights).

    Parameters
    ----------
    loss_weighting : str, LossWeighting or None
        A name among :data:`NAMES` (loss weighting strategies, then torchjd
        aggregators), a strategy object, or None for ``FixedWeights``.

    task_weights : array-like, default=None
        The fixed weights; only with ``loss_weighting=None`` or ``"equal"``.

    Returns
    -------
    strategy : LossWeighting
    """
    if loss_weighting is None or loss_weighting == "equal":
        return FixedWeights(task_weights)
    if task_weights is not None:
        raise ValueError(
            "task_weights sets fixed weights; it cannot be combined with "
            f"loss_weighting={loss_weighting!r}."
        )
    if isinstance(loss_weighting, LossWeighting):
        return loss_weighting
    if loss_weighting in _STRATEGIES:
        return _STRATEGIES[loss_weighting]()
    if loss_weighting in _AGGREGATORS:
        return GradientAggregation(loss_weighting)
    raise ValueError(
        f"Unknown loss_weighting {loss_weighting!r}; expected one of {NAMES}, a "
        "LossWeighting object or None."
    )


def _make_aggregator(aggregator):
    if not isinstance(aggregator, str):
        return aggregator
    if aggregator not in _AGGREGATORS:
        raise ValueError(
            f"Unknown aggregator {aggregator!r}; expected one of "
            f"{sorted(_AGGREGATORS)} or a torchjd aggregator."
        )
    name, params = _AGGREGATORS[aggregator]
    aggregation = import_optional("torchjd.aggregation", "GradientAggregation")
    return getattr(aggregation, name)(**params)


def _autojac():
    # torchjd is an optional dependency, imported when a strategy needs it.
    return import_optional("torchjd.autojac", "GradientAggregation")


def _trunk(net, who="This strategy"):
    """The net's shared trunk, which some strategies and callbacks need."""
    trunk = getattr(net.module_, "trunk", None)
    if trunk is None:
        raise TypeError(
            f"{who} needs the shared trunk as module_.trunk, as "
            "skmtl.modules.MultiTaskModule has."
        )
    return trunk


def _leaves(tensor):
    """The tensors requiring a gradient that ``tensor`` was computed from,
    in the order of a walk of its graph from the output."""
    leaves, seen = {}, set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node's
        if variable is not None:
            leaves[variable] = None
        stack.extend(child for child, _ in node.next_functions)
    return list(leaves)


def _last_shared_weight(net):
    """The last weight among the trunk's shared parameters (the last layer's,
    for an MLP), where GradNorm measures gradients: of two dimensions or more,
    and not a bias (a stacked layer's is a matrix)."""
    trunk = _trunk(net)
    biases = {id(p) for name, p in trunk.named_parameters() if name.endswith("bias")}
    weights = [
        p for p in shared_parameters(trunk) if p.ndim >= 2 and id(p) not in biases
    ]
    if not weights:
        raise TypeError("GradNorm needs a trunk with a shared weight matrix.")
    return weights[-1]


class _LogVariances(nn.Module):
    def __init__(self, n_tasks):
        super().__init__()
        self.log_variance = nn.Parameter(torch.zeros(n_tasks))


class _TaskWeights(nn.Module):
    def __init__(self, n_tasks):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_tasks))
