"""The skorch side: a net trained on a weighted sum of per-task losses."""

import torch
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

__all__ = ["MultiTaskNet"]


class MultiTaskNet(NeuralNet):
    """A skorch net whose module returns one logits tensor per task.

    The loss is ``sum_t task_weights[t] * criterion(logits[t], y[:, t])``.
    Besides skorch's ``train_loss`` and ``valid_loss``, each epoch of the
    history records, for every task ``name``, ``train_loss_<name>``,
    ``train_acc_<name>``, ``valid_loss_<name>`` and ``valid_acc_<name>``, and
    the mean over tasks ``train_acc`` and ``valid_acc``; each batch records the
    same keys for that batch.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns a tuple of logits, one ``(n, n_classes[t])`` tensor per task,
        such as :class:`~skmtl.modules.MultiTaskModule`.

    task_names : list of str
        Name of each task, used in the history keys.

    task_weights : sequence of float
        Weight of each task's loss in the total loss.

    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss of one task, called with that task's logits and labels.

    **kwargs
        Any other :class:`skorch.NeuralNet` parameter.
    """

    def __init__(
        self,
        module,
        *,
        task_names,
        task_weights,
        criterion=torch.nn.CrossEntropyLoss,
        **kwargs,
    ):
        super().__init__(module, criterion, **kwargs)
        self.task_names = task_names
        self.task_weights = task_weights

    @property
    def _default_callbacks(self):
        scores = []
        for prefix in ("train", "valid"):
            for name in self.task_names:
                scores.append(_passthrough(f"{prefix}_loss_{name}", True))
                scores.append(_passthrough(f"{prefix}_acc_{name}", False))
            scores.append(_passthrough(f"{prefix}_acc", False))
        defaults = super()._default_callbacks
        # Scores come before print_log so that it shows them.
        return (
            [cb for cb in defaults if cb[0] != "print_log"]
            + scores
            + [cb for cb in defaults if cb[0] == "print_log"]
        )

    def get_task_losses(self, y_pred, y_true):
        """Each task's loss on a batch.

        Parameters
        ----------
        y_pred : tuple of torch.Tensor
            The module's logits, one tensor per task.

        y_true : torch.Tensor of shape (n_samples, n_tasks)
            Encoded labels.

        Returns
        -------
        task_losses : list of torch.Tensor
            One scalar per task.
        """
        y_true = to_tensor(y_true, device=self.device)
        return [
            self.criterion_(logits, y_true[:, t]) for t, logits in enumerate(y_pred)
        ]

    def weigh_task_losses(self, task_losses):
        """The total loss: the weighted sum of the task losses."""
        return sum(w * loss for w, loss in zip(self.task_weights, task_losses))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.weigh_task_losses(self.get_task_losses(y_pred, y_true))

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        task_losses = self.get_task_losses(y_pred, yi)
        loss = self.weigh_task_losses(task_losses)
        loss.backward()
        self._record_task_scores("train", task_losses, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            task_losses = self.get_task_losses(y_pred, yi)
            loss = self.weigh_task_losses(task_losses)
        self._record_task_scores("valid", task_losses, y_pred, yi)
        return {"loss": loss, "y_pred": y_pred}

    def _record_task_scores(self, prefix, task_losses, y_pred, y_true):
        y_true = to_tensor(y_true, device=self.device)
        hits = [
            (logits.argmax(1) == y_true[:, t]).float().mean()
            for t, logits in enumerate(y_pred)
        ]
        # One transfer to the host per batch, whatever the number of tasks.
        values = torch.stack([*task_losses, *hits]).detach().tolist()
        n_tasks = len(self.task_names)
        losses, accuracies = values[:n_tasks], values[n_tasks:]
        for name, loss, accuracy in zip(self.task_names, losses, accuracies):
            self.history.record_batch(f"{prefix}_loss_{name}", loss)
            self.history.record_batch(f"{prefix}_acc_{name}", accuracy)
        self.history.record_batch(f"{prefix}_acc", sum(accuracies) / n_tasks)


def _passthrough(name, lower_is_better):
    return name, PassthroughScoring(
        name=name, lower_is_better=lower_is_better, on_train=name.startswith("train")
    )
