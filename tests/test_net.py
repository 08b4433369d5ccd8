import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from skmtl import MultiTaskNet, TensorBatchIterator
from skmtl.modules import MLP, MultiTaskModule


def _net(task_weights=(0.7, 0.3), **kwargs):
    torch.manual_seed(0)
    module = MultiTaskModule(MLP(4, (8,)), 4, [3, 2])
    return MultiTaskNet(
        module,
        task_names=["a", "b"],
        task_weights=list(task_weights),
        optimizer=torch.optim.Adam,
        iterator_train=TensorBatchIterator,
        iterator_valid=TensorBatchIterator,
        batch_size=16,
        max_epochs=2,
        verbose=0,
        **kwargs,
    )


def _data(n=50):
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n, 4, generator=generator)
    Y = torch.stack([torch.randint(3, (n,)), torch.randint(2, (n,))], dim=1)
    return Dataset(X, Y)


def test_loss_is_the_weighted_sum_of_task_losses():
    net = _net().initialize()
    data = _data()
    logits = net.module_(data.X)
    ce = torch.nn.functional.cross_entropy
    expected = 0.7 * ce(logits[0], data.y[:, 0]) + 0.3 * ce(logits[1], data.y[:, 1])
    torch.testing.assert_close(net.get_loss(logits, data.y), expected)
    losses = net.get_task_losses(logits, data.y)
    torch.testing.assert_close(losses[1], ce(logits[1], data.y[:, 1]))


def test_epoch_scores_are_batch_size_weighted_means_of_batch_scores():
    net = _net(train_split=predefined_split(_data(20))).fit(_data())
    epoch = net.history[-1]
    for prefix in ("train", "valid"):
        batches = [b for b in epoch["batches"] if f"{prefix}_batch_size" in b]
        sizes = np.array([b[f"{prefix}_batch_size"] for b in batches])
        for key in (f"{prefix}_loss_a", f"{prefix}_acc_b", f"{prefix}_acc"):
            values = np.array([b[key] for b in batches])
            assert epoch[key] == pytest.approx(np.average(values, weights=sizes))


def test_accuracy_in_history_matches_predictions():
    valid = _data(20)
    net = _net(train_split=predefined_split(valid)).fit(_data())
    logits = net.forward(valid)
    for t, name in enumerate(["a", "b"]):
        accuracy = (logits[t].argmax(1) == valid.y[:, t]).float().mean().item()
        assert net.history[-1, f"valid_acc_{name}"] == pytest.approx(accuracy)


def test_best_flags_follow_the_direction_of_each_score():
    net = _net(train_split=predefined_split(_data(20))).fit(_data())
    assert net.history[0, "valid_acc_best"] is True
    assert net.history[0, "valid_loss_a_best"] is True
