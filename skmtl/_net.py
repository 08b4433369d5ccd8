"""The skorch side: a net trained on per-task losses, with per-task history."""

import torch
from sklearn.base import clone
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .weighting import FixedWeights

__all__ = ["MultiTaskNet"]


class MultiTaskNet(NeuralNet):
    """A skorch net whose module returns one logits tensor per task.

    ``L_t``, the loss of task ``t`` on a batch, is its criterion averaged over
    the rows of the batch that have a label for it, weighted by each row's
    weight for that task; a task with no label in a batch adds nothing to that
    batch's loss. A loss weighting strategy turns the task losses into the
    update: by default ``sum_t w_t * L_t`` with fixed weights.

    Targets are either a tensor of class indices of shape
    ``(n_samples, n_tasks)``, -1 marking a missing label, or a dict of such
    ``"labels"`` and their ``"weights"``, of the same shape (zero where the
    label is missing).

    Besides skorch's ``train_loss`` and ``valid_loss``, each epoch of the
    history records, for every task ``name``, ``train_loss_<name>``,
    ``train_acc_<name>``, ``valid_loss_<name>`` and ``valid_acc_<name>``
    (over the rows labelled for that task), and the mean over tasks
    ``train_acc`` and ``valid_acc``, each with a ``<key>_best`` flag. Each batch
    records the per-task losses and accuracies, and ``<prefix>_count_<name>``
    and ``<prefix>_weight_<name>``: the number of labelled rows and their total
    weight.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns a tuple of logits, one ``(n, n_classes[t])`` tensor per task,
        such as :class:`~skmtl.modules.MultiTaskModule`.

    task_names : list of str
        Name of each task, used in the history keys.

    loss_weighting : skmtl.weighting.LossWeighting, default=None
        How the task losses become gradients (see :mod:`skmtl.weighting`); it
        is cloned at each initialisation and kept, as a callback, in
        ``loss_weighting_``. ``None``: equal weights ``1 / n_tasks``.

    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss of one task, called with that task's logits and labels; it must
        return one loss per row (``criterion__reduction="none"``, the default).

    **kwargs
        Any other :class:`skorch.NeuralNet` parameter.
    """

    def __init__(
        self,
        module,
        *,
        task_names,
        loss_weighting=None,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        kwargs.setdefault("criterion__reduction", "none")
        super().__init__(module, criterion, **kwargs)
        self.task_names = task_names
        self.loss_weighting = loss_weighting

    @property
    def _default_callbacks(self):
        defaults = super()._default_callbacks
        strategy = clone(self.loss_weighting or FixedWeights())
        # Before print_log, so that it shows the scores.
        return (
            [cb for cb in defaults if cb[0] != "print_log"]
            + [("loss_weighting", strategy), ("task_scores", TaskScores())]
            + [cb for cb in defaults if cb[0] == "print_log"]
        )

    def initialize_module(self):
        super().initialize_module()
        self.loss_weighting_ = dict(self.callbacks_)["loss_weighting"]
        parameters = self.loss_weighting_.setup(len(self.task_names))
        if parameters is not None:
            # Registered as a module: trained by the optimizer, moved and saved.
            self.weighting_ = parameters
        return self

    def get_task_losses(self, y_pred, y_true):
        """Each task's loss on a batch.

        Parameters
        ----------
        y_pred : tuple of torch.Tensor
            The module's logits, one tensor per task.

        y_true : torch.Tensor or dict
            Class indices of shape (n_samples, n_tasks), -1 where missing; or a
            dict of those ``"labels"`` and their ``"weights"``.

        Returns
        -------
        task_losses : list of torch.Tensor
            One scalar per task: the weighted mean of the criterion over the
            rows labelled for the task, 0 if there are none.
        """
        labels, weights = self._labels_and_weights(y_true)
        losses = []
        for t, logits in enumerate(y_pred):
            per_row = self.criterion_(logits, labels[:, t].clamp(min=0))
            total = weights[:, t].sum()
            # With no weight in the batch, 0 / tiny = 0 keeps loss and gradients finite.
            tiny = torch.finfo(total.dtype).tiny
            losses.append((weights[:, t] * per_row).sum() / total.clamp(min=tiny))
        return losses

    def get_loss(self, y_pred, y_true, X=None, training=False):
        task_losses = self.get_task_losses(y_pred, y_true)
        return self.loss_weighting_.combine(task_losses, self, training)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        task_losses = self.get_task_losses(y_pred, yi)
        loss = self.loss_weighting_.backward(task_losses, self)
        self._record_task_scores("train", task_losses, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            task_losses = self.get_task_losses(y_pred, yi)
            loss = self.loss_weighting_.combine(task_losses, self, training=False)
        self._record_task_scores("valid", task_losses, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def _labels_and_weights(self, y_true):
        if isinstance(y_true, dict):
            labels, weights = y_true["labels"], y_true["weights"]
        else:
            labels, weights = y_true, None
        labels = to_tensor(labels, device=self.device)
        if weights is None:
            weights = (labels >= 0).float()
        return labels, to_tensor(weights, device=self.device)

    def _record_task_scores(self, prefix, task_losses, y_pred, y_true):
        labels, weights = self._labels_and_weights(y_true)
        labelled = labels >= 0
        rows = [
            torch.stack(
                [
                    loss.detach(),
                    weights[:, t].sum(),
                    ((logits.argmax(1) == labels[:, t]) & labelled[:, t]).sum(),
                    labelled[:, t].sum(),
                ]
            )
            for t, (loss, logits) in enumerate(zip(task_losses, y_pred))
        ]
        # One transfer to the host per batch, whatever the number of tasks.
        values = torch.stack(rows).tolist()
        for name, (loss, weight, hits, count) in zip(self.task_names, values):
            if count:
                self.history.record_batch(f"{prefix}_loss_{name}", loss)
                self.history.record_batch(f"{prefix}_acc_{name}", hits / count)
                self.history.record_batch(f"{prefix}_count_{name}", count)
                self.history.record_batch(f"{prefix}_weight_{name}", weight)


class TaskScores(Callback):
    """Record each epoch's per-task losses and accuracies from its batches.

    A task's epoch loss is the mean of its batch losses weighted by their total
    row weight, and its accuracy the mean of its batch accuracies weighted by
    their number of labelled rows: exactly the loss and accuracy over the
    epoch's labelled rows, however the labels fall into batches. ``train_acc``
    and ``valid_acc`` are the means over tasks. Each score gets a
    ``<key>_best`` flag, as skorch's scoring callbacks give.
    """

    def on_epoch_end(self, net, **kwargs):
        history = net.history
        batches = history[-1, "batches"]
        for prefix in ("train", "valid"):
            accuracies = []
            for name in net.task_names:
                loss = _weighted_mean(
                    batches, f"{prefix}_loss_{name}", f"{prefix}_weight_{name}"
                )
                accuracy = _weighted_mean(
                    batches, f"{prefix}_acc_{name}", f"{prefix}_count_{name}"
                )
                _record(history, f"{prefix}_loss_{name}", loss, lower_is_better=True)
                _record(history, f"{prefix}_acc_{name}", accuracy)
                if accuracy is not None:
                    accuracies.append(accuracy)
            if accuracies:
                _record(history, f"{prefix}_acc", sum(accuracies) / len(accuracies))


def _weighted_mean(batches, key, weight_key):
    pairs = [(b[key], b[weight_key]) for b in batches if key in b]
    total = sum(weight for _, weight in pairs)
    if not total:
        return None
    return sum(value * weight for value, weight in pairs) / total


def _record(history, key, value, lower_is_better=False):
    if value is None:
        return
    previous = [epoch[key] for epoch in history[:-1] if key in epoch]
    if lower_is_better:
        best = not previous or value < min(previous)
    else:
        best = not previous or value > max(previous)
    history.record(key, value)
    history.record(f"{key}_best", best)
