import os
import sys

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from skmtl import MultiTaskClassifier, MultiTaskNet, TensorBatchIterator
from skmtl.modules import MLP, MultiTaskModule
from skmtl.weighting import FixedWeights, make_loss_weighting


def _net(task_weights=(0.7, 0.3), module=None, **kwargs):
    torch.manual_seed(0)
    if module is None:
        module = MultiTaskModule(MLP(4, (8,)), 4, [3, 2])
    kwargs = {
        "batch_size": 16,
        "max_epochs": 2,
        "optimizer": torch.optim.Adam,
        **kwargs,
    }
    return MultiTaskNet(
        module,
        task_names=["a", "b"],
        loss_weighting=FixedWeights(list(task_weights)),
        iterator_train=TensorBatchIterator,
        iterator_valid=TensorBatchIterator,
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
    losses = net.get_task_losses(logits, data.y).losses
    torch.testing.assert_close(losses[1], ce(logits[1], data.y[:, 1]))


def test_epoch_scores_are_exact_over_the_pass():
    # Two validation batches of unequal size (16 and 4 rows), task b labelled
    # on some rows only: the epoch's scores are those of all its rows at once.
    valid = _data(20)
    labels = valid.y.clone()
    labels[::3, 1] = -1
    valid = Dataset(valid.X, labels)
    net = _net(train_split=predefined_split(valid)).fit(_data())
    epoch = net.history[-1]
    logits = net.forward(valid)
    for t, name in enumerate(("a", "b")):
        labelled = labels[:, t] >= 0
        z, y = logits[t][labelled], labels[labelled, t]
        loss = torch.nn.functional.cross_entropy(z, y).item()
        accuracy = (z.argmax(1) == y).double().mean().item()
        assert epoch[f"valid_loss_{name}"] == pytest.approx(loss, rel=1e-5)
        assert epoch[f"valid_acc_{name}"] == pytest.approx(accuracy)
        assert epoch[f"valid_count_{name}"] == labelled.sum().item()
        assert epoch[f"train_count_{name}"] == 50
    for prefix in ("train", "valid"):
        mean = (epoch[f"{prefix}_acc_a"] + epoch[f"{prefix}_acc_b"]) / 2
        assert epoch[f"{prefix}_acc"] == pytest.approx(mean)


def test_missing_labels_are_left_out_of_the_task_loss():
    net = _net().initialize()
    data = _data()
    labels = data.y.clone()
    labels[:20, 1] = -1
    logits = net.module_(data.X)
    ce = torch.nn.functional.cross_entropy
    losses = net.get_task_losses(logits, labels).losses
    torch.testing.assert_close(losses[0], ce(logits[0], labels[:, 0]))
    torch.testing.assert_close(losses[1], ce(logits[1][20:], labels[20:, 1]))


def test_row_weights_give_a_weighted_mean():
    net = _net().initialize()
    data = _data()
    weights = torch.rand(len(data.X), 2, generator=torch.Generator().manual_seed(1))
    logits = net.module_(data.X)
    losses = net.get_task_losses(logits, {"labels": data.y, "weights": weights}).losses
    per_row = torch.nn.functional.cross_entropy(
        logits[1], data.y[:, 1], reduction="none"
    )
    expected = (weights[:, 1] * per_row).sum() / weights[:, 1].sum()
    torch.testing.assert_close(losses[1], expected)


@pytest.mark.parametrize("task_weights", [(0.7, 0.3), (1, 10), (1, 1e6)])
def test_a_batch_without_labels_for_a_task_trains_only_the_others(task_weights):
    net = _net(task_weights).initialize()
    data = _data()
    labels = data.y.clone()
    labels[:, 1] = -1
    loss = net.get_loss(net.module_(data.X), labels)
    loss.backward()
    # Task b, of 2 classes, is alone in its output layer.
    head_b = net.module_.heads.outputs[1]
    assert net.module_.heads.groups[1] == (1,)
    assert torch.isfinite(loss)
    assert all(
        p.grad is not None and torch.all(p.grad == 0) for p in head_b.parameters()
    )
    assert all(torch.isfinite(p.grad).all() for p in net.module_.parameters())
    assert net.module_.trunk.layers[0].weight.grad.abs().sum() > 0


def test_scores_count_only_labelled_rows():
    data = _data()
    labels = data.y.clone()
    labels[::2, 1] = -1
    valid = Dataset(data.X, labels)
    net = _net(train_split=predefined_split(valid)).fit(Dataset(data.X, labels))
    logits = net.forward(valid)
    labelled = labels[:, 1] >= 0
    hits = logits[1].argmax(1)[labelled] == labels[labelled, 1]
    assert net.history[-1, "valid_acc_b"] == pytest.approx(hits.float().mean().item())
    assert net.history[-1, "valid_count_b"] == labelled.sum().item()


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


def test_fit_scales_task_losses_by_each_data_sets_label_density():
    from skorch.dataset import ValidSplit

    data = _data(60)
    labels = data.y.clone()
    labels[::3, 1] = -1  # task b labelled on two thirds of the rows
    net = _net(train_split=ValidSplit(4)).initialize()
    train, valid = net.get_split_datasets(data.X, labels)
    for training, part in ((True, train), (False, valid)):
        present = (labels[part.indices] >= 0).double().mean(0)
        torch.testing.assert_close(net._mean_weights[training], present.float())


_HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


def _count_host_reads(monkeypatch):
    """Count the calls outside torch that make the host wait for a tensor's
    values (torch's optimizers read their step counts, kept on the host)."""
    calls = []
    torch_dir = os.path.dirname(torch.__file__)
    for name in _HOST_READS:
        method = getattr(torch.Tensor, name)

        def counted(self, *args, _method=method, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if not caller.startswith(torch_dir):
                calls.append(caller)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls


@pytest.mark.parametrize("strategy", [FixedWeights([0.7, 0.3]), "uncertainty"])
def test_batch_scores_reach_the_host_once_per_epoch(monkeypatch, strategy):
    strategy = make_loss_weighting(strategy)
    reads = {}
    for batch_size in (25, 5):  # 2 and 10 training batches per epoch
        net = _net(batch_size=batch_size, train_split=predefined_split(_data(20)))
        net.set_params(loss_weighting=strategy)
        net.initialize()
        with monkeypatch.context() as patch:
            calls = _count_host_reads(patch)
            net.partial_fit(_data())
        reads[batch_size] = len(calls)
        n_batches = -(-50 // batch_size) + -(-20 // batch_size)
        assert len(net.history[-1, "batches"]) == n_batches
    assert reads[5] == reads[25]
    # The batch losses in the history are numbers, as skorch records them.
    batches = net.history[-1, "batches"]
    assert all(isinstance(batch["train_loss"], float) for batch in batches[:10])


class _NaNAtBatch(torch.nn.Module):
    """The test module, whose logits turn NaN from a given training batch on."""

    def __init__(self, batch):
        super().__init__()
        self.inner = MultiTaskModule(MLP(4, (8,)), 4, [3, 2])
        self.batch = batch
        self.calls = 0

    def forward(self, X):
        logits = self.inner(X)
        if self.training:
            self.calls += 1
            if self.calls >= self.batch:
                logits = tuple(z * float("nan") for z in logits)
        return logits


def test_a_diverged_batch_is_named_when_its_epoch_ends():
    net = _net(batch_size=5, module=_NaNAtBatch(batch=3), train_split=None)
    diverged = r"Training diverged: .* in epoch 1, train batch 3"
    with pytest.raises(ValueError, match=diverged):
        net.fit(_data())
    assert len(net.history) == 1


class _FailAtBatch(Callback):
    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history[-1, "batches"]) == 6:
            raise RuntimeError("failure in the middle of an epoch")


def test_a_failure_after_a_diverged_batch_names_the_divergence():
    net = _net(
        batch_size=5,
        module=_NaNAtBatch(batch=3),
        callbacks=[_FailAtBatch()],
        train_split=None,
    )
    with pytest.raises(ValueError, match="train batch 3") as error:
        net.fit(_data())
    assert isinstance(error.value.__context__, RuntimeError)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_reduced_criterion_is_refused(reduction):
    net = _net(criterion__reduction=reduction)
    with pytest.raises(ValueError, match='criterion__reduction="none"'):
        net.initialize()


def test_a_training_pass_without_batches_names_drop_last():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(48, 4)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    clf = MultiTaskClassifier(
        batch_size=64, iterator_train__drop_last=True, max_epochs=1, random_state=0
    )
    match = r"no batch: 48 training rows, batch_size=64 and drop_last=True"
    with pytest.raises(ValueError, match=match):
        clf.fit(X, Y)


def test_an_optimizer_callable_must_return_an_optimizer():
    net = _net(optimizer=lambda *args, **kwargs: 1)
    match = r"optimizer\(\.\.\.\) returned int, not a torch.optim.Optimizer"
    with pytest.raises(TypeError, match=match):
        net.initialize()


def test_best_flags_are_those_of_all_the_epochs_before():
    net = _net(train_split=predefined_split(_data(20)), max_epochs=6, lr=0.05)
    net.fit(_data())
    net.partial_fit(_data(), epochs=3)  # the same history goes on
    keys = {"valid_loss_a": min, "valid_acc_b": max, "train_objective": min}
    flagged = {key: 0 for key in keys}
    for i, epoch in enumerate(net.history):
        for key, choose in keys.items():
            before = [e[key] for e in net.history[:i]]
            best = not before or choose(before + [epoch[key]]) == epoch[key]
            strictly = not before or epoch[key] not in before
            assert epoch[f"{key}_best"] == (best and strictly), (i, key)
            flagged[key] += epoch[f"{key}_best"]
    assert flagged["valid_loss_a"] > 1 and flagged["train_objective"] > 1


def test_task_losses_keep_the_order_of_the_tasks():
    # Tasks 0 and 2 share an output layer: their losses come out of one group
    # and go back in the order of the tasks.
    torch.manual_seed(0)
    module = MultiTaskModule(MLP(4, (8,)), 4, [3, 2, 3]).double()
    net = MultiTaskNet(module, task_names=["a", "b", "c"], verbose=0).initialize()
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(30, 4, dtype=torch.float64, generator=generator)
    columns = [torch.randint(k, (30,), generator=generator) for k in (3, 2, 3)]
    Y = torch.stack(columns, 1)
    Y[:10, 2] = -1
    logits = net.module_(X)
    losses = net.get_task_losses(logits, Y).losses
    ce = torch.nn.functional.cross_entropy
    labelled = Y >= 0
    expected = [ce(logits[t][labelled[:, t]], Y[labelled[:, t], t]) for t in range(3)]
    torch.testing.assert_close(losses, torch.stack(expected))
