"""The skorch side: a net trained on per-task losses, with per-task history."""

import functools
import math
import warnings
from typing import NamedTuple

import torch
from sklearn.base import clone
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import get_len, unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch.utils.data import Subset

from .callbacks import TaskPrintLog
from .modules import TaskLogits
from .tasks import Classification
from .weighting import FixedWeights, LossWeighting

__all__ = ["MultiTaskNet", "TaskLosses", "TaskScores"]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# The sums per task that give a score over a pass: one (a classification's
# hits), or three (a regression's squared errors, targets and squared targets).
_N_SUMS = 3


class TaskLosses(NamedTuple):
    """The task losses of one batch, as a loss weighting strategy receives them.

    Attributes
    ----------
    losses : torch.Tensor of shape (n_tasks,)
        What training minimises, one per task: its unbiased mini-batch
        estimate of the task's objective (see :class:`MultiTaskNet`); 0 for a
        task without a label in the batch. Differentiable: ``losses[t]`` can be
        backpropagated alone, and its gradients are task ``t``'s.

    means : torch.Tensor of shape (n_tasks,)
        Each task's weighted mean loss over the batch's rows labelled for it,
        0 where there are none: a task's typical loss per label, whatever the
        number of its labels in the batch. Differentiable.

    present : torch.Tensor of shape (n_tasks,), dtype=bool
        Whether the batch holds a label with a positive weight for the task.
    """

    losses: tuple
    means: torch.Tensor
    present: torch.Tensor


class MultiTaskNet(NeuralNet):
    """A skorch net whose module returns one logits tensor per task.

    The objective of task ``t`` is the weighted mean of its criterion over the
    rows of the data set labelled for it, ``J_t = sum_i w_it l_it / sum_i
    w_it``, weights ``w_it`` being zero where the label is missing. Its
    estimate on a batch of ``n_b`` rows is ``L_t = sum_b w_it l_it / (n_b *
    m_t)``, where ``m_t`` is the task's mean weight per row over the data set:
    an unbiased estimate of ``J_t`` however sparse its labels are, so that a
    scarce task keeps its weight, integer weights act as repeated rows, and
    over an unshuffled epoch of equal batches the mean of the batch gradients
    is the gradient of ``J_t``. A task without a label in a batch adds zero to
    it, with zero gradients. The data sets' ``m_t`` are computed when ``fit``
    starts; outside ``fit`` a batch is its own data set (``L_t`` is then the
    batch's weighted mean). A loss weighting strategy turns the task losses
    into the update: by default ``sum_t w_t * L_t`` with fixed weights.

    Targets are either a tensor of shape ``(n_samples, n_tasks)``: class
    indices for a classification task, -1 marking a missing label, and
    targets for a regression task (see ``tasks``), NaN marking a missing one;
    or a dict of such ``"labels"`` and their ``"weights"``, of the same shape
    (zero where the label is missing, the label then being any class index,
    or for a regression task NaN or any number).

    Training stops with a ``ValueError`` naming the epoch, the batch and the
    task of the first loss that is not finite, at the end of that epoch's
    training (or validation) pass, and ``fit`` checks that the parameters it
    leaves are finite.

    Besides skorch's ``train_loss`` and ``valid_loss``, each epoch of the
    history records, for every task ``name``, ``train_loss_<name>``,
    ``train_acc_<name>``, ``valid_loss_<name>`` and ``valid_acc_<name>``
    (over the rows labelled for that task; ``<prefix>_r2_<name>``, the
    coefficient of determination, instead of the accuracy for a regression
    task), ``<prefix>_count_<name>`` and
    ``<prefix>_weight_<name>`` (the number of those rows and their total
    weight), the means ``train_acc`` and ``valid_acc`` over the
    classification tasks, ``train_r2`` and ``valid_r2`` over the regression
    tasks, ``train_score`` and ``valid_score`` over every task, and the
    objective ``train_objective`` and ``valid_objective`` (see
    :class:`TaskScores`), each score with a ``<key>_best`` flag. The batches
    record skorch's ``<prefix>_loss`` and ``<prefix>_batch_size`` only (the
    per-task scores of each batch too with
    :class:`~skmtl.callbacks.BatchTaskScores`). The batches' scores stay on
    the net's device until the end of each pass over the data, and then reach
    the host in one transfer: no training batch waits for the device (loss
    weighting strategies that work on each task's gradients apart, such as
    :class:`~skmtl.weighting.GradNorm`, still read which tasks a batch has).
    Until then a batch's ``train_loss`` in the history is a tensor.

    The tasks are computed together, not one after the other: the
    criterion is called once for all the tasks with one number of classes
    (see :class:`~skmtl.modules.TaskLogits`), and callbacks are called only
    where they define the event's method.

    Callbacks with an ``on_task_losses`` method also get each training batch's
    :class:`TaskLosses` before its backward pass (see :meth:`notify_task_losses`).

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns the outputs of each task, one ``(n, n_outputs[t])`` tensor per
        task (a classification's logits, one per class; a regression's
        ``(n, 1)`` prediction): a tuple, or a
        :class:`~skmtl.modules.TaskLogits`, as
        :class:`~skmtl.modules.MultiTaskModule` returns.

    task_names : list of str
        Name of each task, used in the history keys.

    tasks : list of skmtl.tasks.Task, default=None
        The kind of each task, fitted (:mod:`skmtl.tasks`): its loss and
        score. ``None``: every task a classification.

    loss_weighting : skmtl.weighting.LossWeighting, default=None
        How the task losses become gradients (see :mod:`skmtl.weighting`); it
        is cloned at each initialisation and kept, as a callback, in
        ``loss_weighting_``. ``None``: equal weights ``1 / n_tasks``.

    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss of a row of a classification task, called with the logits and
        labels of all the tasks with one number of classes, their rows
        stacked; it must return one loss per row
        (``criterion__reduction="none"``, the default). A regression task's
        loss is its task's (:class:`~skmtl.tasks.Regression`).

    augment : callable, default=None
        Applied to the features of each training batch, as a tensor on the
        net's device, before the forward pass, such as
        :class:`~skmtl.augmentation.ImageAugmentation`; never to validation or
        prediction batches. ``None``: no augmentation.

    mixed_precision : {"bf16", "fp16"} or None, default=None
        Run the module's forward pass under :func:`torch.autocast` in bfloat16
        or float16, on any device; the logits and the losses stay in the net's
        dtype. ``"fp16"``, whose range is narrow, also scales the loss with a
        :class:`torch.amp.GradScaler` (kept as ``grad_scaler_``), which skips
        the steps whose gradients overflow; it needs a strategy that
        backpropagates one total loss (not :class:`~skmtl.weighting.GradNorm`
        nor :class:`~skmtl.weighting.GradientAggregation`). ``None``: full
        precision.

    **kwargs
        Any other :class:`skorch.NeuralNet` parameter, such as ``compile=True``
        (:func:`torch.compile` the module; ``compile__*`` routes its
        arguments).
    """

    def __init__(
        self,
        module,
        *,
        task_names,
        tasks=None,
        loss_weighting=None,
        criterion=torch.nn.CrossEntropyLoss,
        augment=None,
        mixed_precision=None,
        **kwargs,
    ):
        kwargs.setdefault("criterion__reduction", "none")
        super().__init__(module, criterion, **kwargs)
        self.task_names = task_names
        self.tasks = tasks
        self.loss_weighting = loss_weighting
        self.augment = augment
        self.mixed_precision = mixed_precision

    @property
    def _default_callbacks(self):
        defaults = super()._default_callbacks
        strategy = clone(self.loss_weighting or FixedWeights())
        # Before print_log, so that it shows the scores; a table that leaves the
        # per-task scores out, or it grows with the number of tasks.
        return (
            [cb for cb in defaults if cb[0] != "print_log"]
            + [("loss_weighting", strategy), ("task_scores", TaskScores())]
            + [("print_log", TaskPrintLog())]
        )

    def initialize_callbacks(self):
        super().initialize_callbacks()
        self.loss_weighting_ = dict(self.callbacks_)["loss_weighting"]
        return self

    def initialize_criterion(self):
        super().initialize_criterion()
        # A reduced loss mixes the tasks' rows, missing labels included, and
        # leaves no row to weight: training would minimise the wrong objective.
        reduction = getattr(self.criterion_, "reduction", "none")
        if reduction != "none":
            raise ValueError(
                f"The criterion's reduction is {reduction!r}, but the net needs "
                "one loss per row to weight the rows and leave out missing "
                'labels; set criterion__reduction="none" (the default).'
            )
        return self

    def initialize_module(self):
        super().initialize_module()
        return self.setup_loss_weighting()

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        if not isinstance(self.optimizer_, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer(...) returned {type(self.optimizer_).__name__}, not a "
                "torch.optim.Optimizer; pass an optimizer class such as "
                "torch.optim.Adam, or a callable that returns an instance of one."
            )
        # With the optimizer: a new one starts with a fresh scale.
        if self.mixed_precision == "fp16":
            if type(self.loss_weighting_).backward is not LossWeighting.backward:
                raise ValueError(
                    f"mixed_precision='fp16' scales one total loss, but "
                    f"{type(self.loss_weighting_).__name__} backpropagates the "
                    "tasks apart; use mixed_precision='bf16', which needs no "
                    "scaling."
                )
            self.grad_scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        else:
            vars(self).pop("grad_scaler_", None)
        return self

    def setup_loss_weighting(self):
        """Prepare the strategy for a new module; keep its learnable parameters,
        if any, as ``weighting_``, trained by the optimizer."""
        parameters = self.loss_weighting_.setup(len(self.task_names))
        if parameters is not None:
            dtype = next(self.module_.parameters()).dtype
            # Registered as a module: trained by the optimizer, moved and saved.
            self.weighting_ = parameters.to(device=self.device, dtype=dtype)
        return self

    def replace_loss_weighting(self, strategy, setup=True):
        """Make ``strategy`` the net's loss weighting callback.

        Parameters
        ----------
        strategy : LossWeighting
            The new strategy: cloned and set up for the module, its learnable
            parameters replacing the old strategy's as ``weighting_``; the
            optimizer must then be initialised again. With ``setup=False``, an
            initialised strategy taken as it is, with its state.

        setup : bool, default=True
            Whether ``strategy`` is new.

        Returns
        -------
        self : MultiTaskNet
        """
        if setup:
            strategy = clone(strategy).initialize()
        self.callbacks_ = [
            (name, strategy if name == "loss_weighting" else callback)
            for name, callback in self.callbacks_
        ]
        self.loss_weighting_ = strategy
        if setup:
            # skorch registers the net's modules only while it initialises one.
            with self._current_init_context("module"):
                if hasattr(self, "weighting_"):
                    del self.weighting_
                self.setup_loss_weighting()
        return self

    def forward(self, X, training=False, device="cpu"):
        """The module's logits of every task for all of ``X``, batch by batch,
        as skorch's ``forward`` gives a multi-output module's: a tuple, one
        tensor per task, on ``device``."""
        batches = [TaskLogits.of(y) for y in self.forward_iter(X, training, device)]
        return tuple(map(torch.cat, zip(*batches)))

    def get_split_datasets(self, X, y=None, **fit_params):
        train, valid = super().get_split_datasets(X, y, **fit_params)
        self._mean_weights = {
            True: self._mean_task_weights(train),
            False: self._mean_task_weights(valid),
        }
        return train, valid

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch's partial_fit ends training on it, as the stopping
            # callbacks do between epochs; a Ctrl-C may also come mid-epoch.
            self._close_interrupted_epoch()
            self._check_finite_parameters()
            raise
        finally:
            self._mean_weights = {}
            self._pending_scores = None
        self._check_finite_parameters()
        return self

    def _check_finite_parameters(self):
        for name, parameter in self.get_all_learnable_params():
            if not torch.isfinite(parameter).all():
                raise ValueError(
                    f"Training left the parameter {name!r} with non-finite "
                    "values. Lower the learning rate or scale the features, "
                    "e.g. with sklearn.preprocessing.StandardScaler."
                )

    def _close_interrupted_epoch(self):
        """Give an epoch interrupted in the middle its training scores, over
        the batches it finished, as the model has their updates; drop one that
        finished none. Warn, as MLPClassifier does."""
        if not self.history or "train_loss" in self.history[-1]:
            return  # stopped between epochs
        epoch = self.history[-1]
        batches = [b for b in epoch["batches"] if "train_loss" in b]
        if not batches:
            del self.history[-1]
        else:
            total = sum(b["train_batch_size"] for b in batches)
            loss = sum(float(b["train_loss"]) * b["train_batch_size"] for b in batches)
            self.history.record("train_loss", loss / total)
            record_epoch_scores(self, "train")
        warnings.warn(
            f"Training interrupted by the user in epoch {epoch['epoch']}, after "
            f"{len(batches)} of its training batches; the model keeps the "
            "weights they gave.",
            UserWarning,
            stacklevel=4,  # partial_fit's caller
        )

    def get_task_losses(self, y_pred, y_true, training=False):
        """Each task's loss on a batch.

        The tasks with the same number of classes are scored together, by one
        call of the criterion on all their rows (see
        :class:`~skmtl.modules.TaskLogits`): no Python loop over the tasks.

        Parameters
        ----------
        y_pred : tuple of torch.Tensor or TaskLogits
            The module's logits, one tensor per task.

        y_true : torch.Tensor or dict
            Class indices of shape (n_samples, n_tasks), -1 where missing; or a
            dict of those ``"labels"`` and their ``"weights"``.

        training : bool, default=False
            Whether the batch comes from the training data, whose mean weights
            ``m_t`` then scale the losses (during ``fit``).

        Returns
        -------
        task_losses : TaskLosses
            The losses to minimise, the mean loss per label, and which tasks
            the batch has labels for.
        """
        labels, weights = self._labels_and_weights(y_true)
        n_rows = len(labels)
        groups = TaskLogits.of(y_pred).groups
        sums = []
        for (tasks, outputs), (kind, members) in zip(groups, self._group_kinds(groups)):
            columns = _columns(tasks)
            rows = kind.group_losses(self, members, outputs, labels[:, columns])
            sums.append((weights[:, columns] * rows).sum(0))
        sums = _in_task_order(sums, groups)
        totals = weights.sum(0)
        present = totals > 0
        # Dividing by 1 where a task is absent keeps its zero sum's gradient zero.
        safe_totals = torch.where(present, totals, torch.ones_like(totals))
        mean_weights = getattr(self, "_mean_weights", {}).get(training)
        scales = safe_totals if mean_weights is None else n_rows * mean_weights
        return TaskLosses(sums / scales, sums / safe_totals, present)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        task_losses = self.get_task_losses(y_pred, y_true, training)
        return self.loss_weighting_.combine(task_losses, self, training)

    def infer(self, x, **fit_params):
        if self.mixed_precision is None:
            return super().infer(x, **fit_params)
        if self.mixed_precision not in _AUTOCAST_DTYPES:
            raise ValueError(
                "mixed_precision must be 'bf16', 'fp16' or None; got "
                f"{self.mixed_precision!r}."
            )
        device_type = torch.device(self.device).type
        with torch.autocast(device_type, dtype=_AUTOCAST_DTYPES[self.mixed_precision]):
            logits = super().infer(x, **fit_params)
        dtype = next(self.module_.parameters()).dtype
        return TaskLogits.of(logits).to(dtype)

    def notify(self, method_name, **cb_kwargs):
        """Call ``method_name`` on the net and on the callbacks that define it,
        as skorch does; a callback that keeps :class:`skorch.callbacks.Callback`'s
        empty method is skipped (most are, at each batch)."""
        getattr(self, method_name)(self, **cb_kwargs)
        for callback in self._listeners(method_name):
            getattr(callback, method_name)(self, **cb_kwargs)

    def _listeners(self, method_name):
        """The callbacks whose ``method_name`` does something, in order."""
        callbacks = self.callbacks_
        cache = getattr(self, "_listeners_cache", None)
        if cache is None or cache[0] is not callbacks or cache[1] != len(callbacks):
            cache = (callbacks, len(callbacks), {})
            self._listeners_cache = cache
        listeners = cache[2].get(method_name)
        if listeners is None:
            empty = getattr(Callback, method_name, None)
            listeners = [
                cb
                for _, cb in callbacks
                if getattr(type(cb), method_name, None) is not empty
                or method_name in vars(cb)
            ]
            cache[2][method_name] = listeners
        return listeners

    def train_step(self, batch, **fit_params):
        # skorch's step, with the optimizers stepped through the closure that
        # some need (LBFGS), and two changes: with fp16, the gradients are
        # unscaled before the callbacks see them and the optimizers step
        # through the scaler; and the parameters are handed to the
        # on_grad_computed callbacks only where one listens.
        scaler = getattr(self, "grad_scaler_", None)
        step_accumulator = self.get_train_step_accumulator()
        optimizers = [getattr(self, f"{name}_") for name in self._optimizers]

        def step_fn():
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            step_accumulator.store_step(step)
            if scaler is not None:
                for optimizer in optimizers:
                    scaler.unscale_(optimizer)
            if self._listeners("on_grad_computed"):
                self.notify(
                    "on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch,
                    training=True,
                )
            return step["loss"]

        if scaler is None:
            self._step_optimizer(step_fn)
        else:
            step_fn()
            for optimizer in optimizers:
                scaler.step(optimizer)
            scaler.update()
        return step_accumulator.get_step()

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.augment is not None:
            Xi = self.augment(to_tensor(Xi, device=self.device))
        y_pred = self.infer(Xi, **fit_params)
        task_losses = self.get_task_losses(y_pred, yi, training=True)
        self.notify_task_losses(task_losses, batch)
        scaler = getattr(self, "grad_scaler_", None)
        if scaler is None:
            loss = self.loss_weighting_.backward(task_losses, self)
        else:
            loss = self.loss_weighting_.combine(task_losses, self, training=True)
            scaler.scale(loss).backward()
        self._record_task_scores("train", task_losses, loss, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def notify_task_losses(self, task_losses, batch):
        """Pass a training batch's task losses, before the backward pass, to the
        callbacks that have an ``on_task_losses(net, task_losses, batch)``
        method, such as :class:`~skmtl.callbacks.TaskGradientSimilarity`.

        Their graphs are intact: a callback may differentiate them with
        ``torch.autograd.grad(..., retain_graph=True)``, which leaves the
        parameters' ``.grad`` alone, but must not call ``backward`` on them.
        """
        for callback in self._listeners("on_task_losses"):
            callback.on_task_losses(self, task_losses=task_losses, batch=batch)

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            task_losses = self.get_task_losses(y_pred, yi, training=False)
            loss = self.loss_weighting_.combine(task_losses, self, training=False)
        self._record_task_scores("valid", task_losses, loss, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def _set_training(self, training=True):
        # skorch sets the mode of every submodule at every batch; only a change
        # of mode needs it.
        for name in self._modules + self._criteria:
            module = getattr(self, f"{name}_")
            if isinstance(module, torch.nn.Module) and module.training != training:
                module.train(training)

    def _labels_and_weights(self, y_true):
        if isinstance(y_true, dict):
            labels, weights = y_true["labels"], y_true["weights"]
        else:
            labels, weights = y_true, None
        labels = to_tensor(labels, device=self.device)
        if weights is None:
            weights = self._present(labels).to(torch.get_default_dtype())
            if labels.is_floating_point():
                labels = torch.nan_to_num(labels)  # a NaN target, weighted 0
        return labels, to_tensor(weights, device=self.device)

    def _present(self, labels):
        """Where targets without weights hold a label: a class index of at
        least 0, or a regression target that is not NaN."""
        if not self._has_regression:
            return labels >= 0
        regression = torch.tensor(
            [task.kind == "regression" for task in self._task_kinds],
            device=labels.device,
        )
        return torch.where(regression, ~torch.isnan(labels), labels >= 0)

    def _mean_task_weights(self, dataset):
        """Each task's mean weight per row over a data set, or None if unknown."""
        rows = slice(None)
        if isinstance(dataset, Subset):
            dataset, rows = dataset.dataset, dataset.indices
        y = getattr(dataset, "y", None)
        if y is None:
            return None
        if isinstance(y, dict):
            weights = torch.as_tensor(y["weights"])[rows]
        else:
            weights = self._present(torch.as_tensor(y)[rows])
            weights = weights.to(torch.get_default_dtype())
        mean = weights.double().mean(0)
        # A task without labels in this data set adds zero sums: any divisor works.
        mean = torch.where(mean > 0, mean, torch.ones_like(mean))
        return mean.to(device=self.device, dtype=weights.dtype)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """Run one epoch's training or validation batches, as skorch does, but
        read the batches' scores from the device once, at the end.

        Each batch's ``<prefix>_loss`` stays a tensor in the history until then,
        so that no batch waits for the device.
        """
        if iterator is None:
            return
        self._pending_scores = []
        batch_count = 0
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                self.history.record_batch(f"{prefix}_loss", step["loss"].detach())
                self.history.record_batch(f"{prefix}_batch_size", _len(batch[0]))
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        except BaseException:
            # A batch that diverged earlier may be the cause: name it first.
            # A Ctrl-C (KeyboardInterrupt) keeps the batches it let finish.
            self._record_pending_scores(prefix)
            raise
        if training and not batch_count:
            # Else the epoch ends without a train_loss, and a KeyError follows.
            raise ValueError(self._no_batch_message(iterator))
        self.history.record(f"{prefix}_batch_count", batch_count)
        self._record_pending_scores(prefix)

    def _no_batch_message(self, iterator):
        dataset = getattr(iterator, "dataset", None)
        rows = "" if dataset is None else f"{_len(dataset)} training rows, "
        batch_size = getattr(iterator, "batch_size", self.batch_size)
        drop_last = getattr(iterator, "drop_last", False)
        return (
            f"The training pass yielded no batch: {rows}batch_size={batch_size}"
            f" and drop_last={drop_last}. Set batch_size to at most the number "
            "of training rows, or iterator_train__drop_last=False."
        )

    def _record_task_scores(self, prefix, task_losses, loss, y_pred, y_true):
        """Keep a batch's per-task scores on the device, in one tensor, until
        the end of the pass."""
        labels, weights = self._labels_and_weights(y_true)
        groups = TaskLogits.of(y_pred).groups
        means = task_losses.means.detach()
        dtype = means.dtype
        # One score sum per task, and two more with a regression task.
        n_sums = _N_SUMS if self._has_regression else 1
        task_sums, counts = [], []
        for (tasks, outputs), (kind, _) in zip(groups, self._group_kinds(groups)):
            columns = _columns(tasks)
            labelled = kind.labelled(labels[:, columns], weights[:, columns])
            group_sums = kind.group_sums(outputs, labels[:, columns], labelled)
            if len(group_sums) < n_sums:
                group_sums = torch.cat(
                    [
                        group_sums,
                        group_sums.new_zeros(
                            n_sums - len(group_sums), *group_sums.shape[1:]
                        ),
                    ]
                )
            task_sums.append(group_sums)
            counts.append(labelled.sum(0, dtype=dtype))
        task_sums = _in_task_order(task_sums, groups, dim=1)
        scores = torch.cat(
            [
                means,
                weights.sum(0, dtype=dtype),
                task_sums[0],
                _in_task_order(counts, groups),
                *task_sums[1:n_sums],
                loss.detach().reshape(1).to(dtype),
            ]
        )
        batch = self.history[-1]["batches"][-1]
        pending = getattr(self, "_pending_scores", None)
        if pending is None:
            # Outside run_single_epoch (a direct train_step call): at once.
            self._pending_scores = [(batch, scores)]
            self._record_pending_scores(prefix)
        else:
            pending.append((batch, scores))

    def _record_pending_scores(self, prefix):
        """Sum the pass's batch scores on the device, move the sums and the
        batch losses to the host in one transfer, and record each task's
        scores over the pass; stop at the first batch that diverged."""
        pending, self._pending_scores = self._pending_scores, None
        if not pending:
            return
        n_tasks = len(self.task_names)
        scores = torch.stack([batch_scores for _, batch_scores in pending])
        # A task absent from a batch has a mean of 0 and a weight of 0.
        means, weights = scores[:, :n_tasks], scores[:, n_tasks : 2 * n_tasks]
        finite = torch.isfinite(scores).all(1).to(scores)
        loss_sums = (means * weights).sum(0)
        # In the net's dtype (MPS has no float64): R^2 takes the difference
        # of two sums of squares, of targets scaled to mean 0 by default.
        other_sums = scores[:, n_tasks:-1].sum(0)
        host = torch.cat([loss_sums, other_sums, finite, scores[:, -1]]).tolist()
        n_totals = len(loss_sums) + len(other_sums)
        totals, host = host[:n_totals], host[n_totals:]
        finite, losses = host[: len(pending)], host[len(pending) :]
        for number, ((batch, _), total, ok) in enumerate(
            zip(pending, losses, finite), 1
        ):
            batch[f"{prefix}_loss"] = total
            if not ok:
                self._raise_diverged(prefix, scores[number - 1].tolist(), number)
        listeners = self._listeners("on_pass_scores")
        if listeners:
            records = [batch for batch, _ in pending]
            for callback in listeners:
                callback.on_pass_scores(
                    self, prefix=prefix, batches=records, scores=scores
                )
        for name, record in self.task_records(totals, epoch=True):
            for key, value in record.items():
                self.history.record(f"{prefix}_{key}_{name}", value)

    def task_records(self, values, epoch=False):
        """Each task's scores from one row of the batch scores' layout.

        Parameters
        ----------
        values : list of float
            For each task in turn: its mean loss (with ``epoch``, its loss
            summed over the rows, weighted), its labels' total weight, its
            score's sums (one for a classification task; three for every
            task when one is a regression) and its number of labelled rows,
            as ``on_pass_scores`` gets them; a trailing total loss is ignored.

        epoch : bool, default=False
            Whether ``values`` are sums over a pass.

        Yields
        ------
        name, record : str, dict
            For each task with a labelled row: ``loss``, its score (``acc`` or
            ``r2``), ``count`` and ``weight``.
        """
        n_tasks = len(self.task_names)
        for t, (name, task) in enumerate(zip(self.task_names, self._task_kinds)):
            mean, weight, first, count, *more = values[t::n_tasks][: self._n_blocks]
            if weight > 0:
                sums = (first, *more) if more else (first, 0.0, 0.0)
                yield (
                    name,
                    {
                        "loss": mean / weight if epoch else mean,
                        task.score_name: task.score_of(sums, count),
                        "count": count,
                        "weight": weight,
                    },
                )

    @property
    def _n_blocks(self):
        """The number of per-task values in a row of the batch scores."""
        return 3 + (_N_SUMS if self._has_regression else 1)

    def _kinds(self):
        """The tasks' kinds, whether one is a regression, and a cache of the
        groups' kinds: computed once for the net's ``tasks``."""
        tasks = self.tasks
        cached = getattr(self, "_kinds_cache", None)
        if cached is None or cached[0] is not tasks:
            kinds = list(tasks or [Classification()] * len(self.task_names))
            regression = any(task.kind == "regression" for task in kinds)
            cached = self._kinds_cache = (tasks, kinds, regression, {})
        return cached[1:]

    @property
    def _task_kinds(self):
        return self._kinds()[0]

    @property
    def _has_regression(self):
        return self._kinds()[1]

    def _group_kinds(self, groups):
        """The kind of each group of tasks, and its tasks; computed once per
        layout of the groups."""
        key = tuple(tasks for tasks, _ in groups)
        kinds, _, cache = self._kinds()
        if key not in cache:
            plan = []
            for tasks in key:
                members = [kinds[t] for t in tasks]
                kind = type(members[0])
                if any(type(m) is not kind for m in members):
                    raise ValueError(
                        f"Tasks {list(tasks)} have outputs of one width but are of "
                        "different kinds; the module must group tasks of one kind."
                    )
                plan.append((kind, members))
            cache[key] = plan
        return cache[key]

    def _raise_diverged(self, prefix, scores, number):
        n_tasks = len(self.task_names)
        # A task with labels in the batch first, then any other.
        for labelled in (True, False):
            for t, name in enumerate(self.task_names):
                if (scores[n_tasks + t] > 0) == labelled:
                    what = f"the loss of task {name!r}"
                    self._check_finite(prefix, what, scores[t], number)
        self._check_finite(prefix, "the total loss", scores[-1], number)
        raise ValueError(  # a weight, a count: cannot happen with finite labels
            f"Training diverged: a score is not finite in {prefix} batch {number}."
        )

    def _check_finite(self, prefix, what, value, number=None):
        if not math.isfinite(value):
            epoch = len(self.history)
            if number is None:
                number = len(self.history[-1, "batches"])
            raise ValueError(
                f"Training diverged: {what} is {value} in epoch {epoch}, "
                f"{prefix} batch {number}. Lower the learning rate or the task "
                "weights, or scale the features, e.g. with "
                "sklearn.preprocessing.StandardScaler."
            )


class TaskScores(Callback):
    """Flag each epoch's best per-task scores, and record their summaries.

    A task's epoch loss is the mean of its criterion over the epoch's labelled
    rows, weighted by their weights, and its accuracy the share of those rows
    it predicts right: exactly, however the labels fall into batches (the net
    records them at the end of each pass, with ``<prefix>_count_<name>`` and
    ``<prefix>_weight_<name>``, the number of labelled rows and their total
    weight). ``train_acc`` and ``valid_acc`` are the means over tasks, and
    ``train_objective`` and ``valid_objective`` the task losses weighted by
    the strategy's ``objective_weights`` (the fixed task weights, or ``1 /
    n_tasks`` each): what stopping monitors, unmoved by a strategy's
    re-weighting. Each score gets a ``<key>_best`` flag, as skorch's scoring
    callbacks give.
    """

    def on_epoch_end(self, net, **kwargs):
        for prefix in ("train", "valid"):
            record_epoch_scores(net, prefix)


def record_epoch_scores(net, prefix):
    """Record the best flags and summaries of the last epoch's per-task scores
    of one pass, ``"train"`` or ``"valid"`` (see :class:`TaskScores`)."""
    history = net.history
    epoch = history[-1]
    by_score, scores, losses = {}, [], []
    for name, task in zip(net.task_names, net._task_kinds):
        loss = epoch.get(f"{prefix}_loss_{name}")
        key = f"{prefix}_{task.score_name}_{name}"
        score = epoch.get(key)
        losses.append(loss)
        _flag_best(net, f"{prefix}_loss_{name}", loss, lower_is_better=True)
        _flag_best(net, key, score)
        if score is not None:
            by_score.setdefault(task.score_name, []).append(score)
            scores.append(score)
    for score_name, values in by_score.items():
        _record(net, f"{prefix}_{score_name}", sum(values) / len(values))
    if scores:
        _record(net, f"{prefix}_score", sum(scores) / len(scores))
    if None not in losses:
        weights = net.loss_weighting_.objective_weights(len(losses))
        objective = sum(w * loss for w, loss in zip(weights, losses))
        _record(net, f"{prefix}_objective", objective, lower_is_better=True)


def _len(data):
    return len(data) if torch.is_tensor(data) else get_len(data)


def _columns(tasks):
    """Index of a group's tasks in the columns of the targets: a slice, a view,
    when they are consecutive."""
    first, last = tasks[0], tasks[-1]
    if last - first + 1 == len(tasks):
        return slice(first, last + 1)
    return list(tasks)


def _in_task_order(parts, groups, dim=0):
    """The groups' per-task values, one tensor per group (tasks along
    ``dim``), as one tensor in the order of the tasks."""
    joined = parts[0] if len(parts) == 1 else torch.cat(parts, dim)
    inverse = _inverse_order(tuple(tasks for tasks, _ in groups))
    if inverse is None:
        return joined
    return joined.index_select(dim, torch.as_tensor(inverse, device=joined.device))


@functools.lru_cache(maxsize=64)
def _inverse_order(groups):
    """Where each task's value lies among the groups' values, joined; ``None``
    when the groups hold the tasks in order. Cached: the groups of a net are
    the same at every batch."""
    order = [t for tasks in groups for t in tasks]
    if order == sorted(order):
        return None
    return sorted(range(len(order)), key=order.__getitem__)


def _record(net, key, value, lower_is_better=False):
    if value is None:
        return
    net.history.record(key, value)
    _flag_best(net, key, value, lower_is_better)


def _flag_best(net, key, value, lower_is_better=False):
    if value is None:
        return
    best = _best_so_far(net, key, lower_is_better)
    if lower_is_better:
        is_best = best is None or value < best
    else:
        is_best = best is None or value > best
    net.history.record(f"{key}_best", is_best)


def _best_so_far(net, key, lower_is_better):
    """The best value of ``key`` before the last epoch of the net's history.

    The net keeps the best so far of each key, so that flagging an epoch does
    not read all the epochs before it.
    """
    history = net.history
    choose = min if lower_is_better else max
    n_before = len(history) - 1
    kept = getattr(net, "_best_scores", None)
    if kept is None or kept[0] is not history:
        kept = net._best_scores = (history, {})
    cache = kept[1]
    known = cache.get(key)
    if known is not None and known[0] == n_before:
        return known[1]
    if known is not None and known[0] == n_before - 1:
        # Known up to the epoch before the previous one: add the previous.
        best = known[1]
        previous = history[n_before - 1].get(key)
        if previous is not None:
            best = previous if best is None else choose(best, previous)
    else:
        values = [epoch[key] for epoch in history[:-1] if key in epoch]
        best = choose(values) if values else None
    cache[key] = (n_before, best)
    return best
