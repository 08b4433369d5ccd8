import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback, PrintLog
from skorch.history import History
from torch import nn

from skmtl import (
    BatchTaskScores,
    MultiTaskClassifier,
    MultiTaskRegressor,
    TaskGradientSimilarity,
    TaskLosses,
)
from skmtl.callbacks import TaskPrintLog

KEYS = ["grad_cosine_task_0_task_1", "grad_conflict_task_0_task_1"]


def _toy_net(n_heads=2):
    """A net-like object: a linear trunk, linear heads and a history."""
    torch.manual_seed(0)
    module = nn.Module()
    module.trunk = nn.Linear(2, 2, bias=False)
    module.heads = nn.ModuleList([nn.Linear(2, 1, bias=False) for _ in range(n_heads)])
    history = History()
    history.new_epoch()
    names = ["a", "b", "c"][:n_heads]
    return SimpleNamespace(module_=module, task_names=names, history=history)


def _losses(net, heads, present=None):
    """Task losses ``head_t . (W x)`` on x = (1, 2), with the heads' weights
    given: the gradient of task t on W is ``head_t x^T``, so that the cosine of
    two tasks' gradients is that of their heads' weights."""
    with torch.no_grad():
        for head, weight in zip(net.module_.heads, heads):
            head.weight.copy_(torch.tensor([weight]))
    features = net.module_.trunk(torch.tensor([[1.0, 2.0]]))
    losses = tuple(head(features).sum() for head in net.module_.heads)
    if present is None:
        present = [True] * len(losses)
    losses = torch.stack(losses)
    return TaskLosses(losses, losses, torch.tensor(present))


def _cos(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def test_cosines_are_those_of_the_task_gradients_on_the_trunk():
    net = _toy_net()
    heads = [[1.0, 0.2], [-1.0, 0.5]]
    task_losses = _losses(net, heads)
    # By hand, with torch: the flattened gradients of each loss on W.
    grads = [
        torch.autograd.grad(loss, net.module_.trunk.weight, retain_graph=True)[0]
        for loss in task_losses.losses
    ]
    expected = torch.nn.functional.cosine_similarity(
        grads[0].flatten(), grads[1].flatten(), dim=0
    )
    cosines = TaskGradientSimilarity.cosines(net, task_losses)
    assert cosines[0, 1].item() == pytest.approx(expected.item(), abs=1e-6)
    assert cosines[0, 1].item() == pytest.approx(_cos(*heads), abs=1e-6)
    assert cosines[0, 1].item() == pytest.approx(-0.9 / math.sqrt(1.04 * 1.25))
    assert cosines[1, 0] == cosines[0, 1]
    assert cosines.diagonal().tolist() == pytest.approx([1.0, 1.0])
    # The graph is kept, and no .grad is written.
    assert net.module_.trunk.weight.grad is None
    sum(task_losses.losses).backward()


def test_absent_task_and_zero_gradient_give_nan():
    net = _toy_net(n_heads=3)
    task_losses = _losses(
        net, [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], present=[True, True, False]
    )
    cosines = TaskGradientSimilarity.cosines(net, task_losses)
    assert torch.isnan(cosines[:, 2]).all() and torch.isnan(cosines[2]).all()
    assert torch.isnan(cosines[0, 1])  # task b's gradient is zero


def test_epoch_means_sample_every_kth_batch_and_skip_absent_tasks():
    net = _toy_net(n_heads=3)
    callback = TaskGradientSimilarity(every=2).initialize()
    callback.on_train_begin(net)
    callback.on_epoch_begin(net)
    a, b, c = [1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]
    batches = [
        ([a, [1.0, 1.0], c], [True, True, True]),  # sampled
        ([a, [-1.0, 0.0], c], [True, True, True]),  # not sampled
        ([a, [-1.0, 1.0], c], [True, True, False]),  # sampled, c absent
        ([a, b, c], [True, True, True]),  # not sampled
        ([a, b, c], [True, False, True]),  # sampled, b absent
    ]
    for heads, present in batches:
        callback.on_task_losses(net, task_losses=_losses(net, heads, present))
    callback.on_epoch_end(net)
    row = net.history[-1]
    # a, b: batches 1 and 3.
    cosines_ab = [_cos(a, [1.0, 1.0]), _cos(a, [-1.0, 1.0])]
    assert row["grad_cosine_a_b"] == pytest.approx(np.mean(cosines_ab))
    assert row["grad_conflict_a_b"] == 0.5
    # a, c: batches 1 and 5, both at cosine -1/sqrt(2).
    assert row["grad_cosine_a_c"] == pytest.approx(-1 / math.sqrt(2))
    assert row["grad_conflict_a_c"] == 1.0
    # b, c: batch 1 only.
    assert row["grad_cosine_b_c"] == pytest.approx(0.0, abs=1e-7)
    assert row["grad_conflict_b_c"] in (0.0, 1.0)


def test_a_pair_never_present_records_nan():
    net = _toy_net()
    callback = TaskGradientSimilarity(every=1).initialize()
    callback.on_train_begin(net)
    callback.on_epoch_begin(net)
    callback.on_task_losses(
        net, task_losses=_losses(net, [[1.0, 0.0]] * 2, [True, False])
    )
    callback.on_epoch_end(net)
    assert math.isnan(net.history[-1, "grad_cosine_a_b"])
    assert math.isnan(net.history[-1, "grad_conflict_a_b"])


def test_task_names_whose_pair_keys_collide_are_refused():
    net = _toy_net(n_heads=4)
    net.task_names = ["x", "x_y", "y_z", "z"]
    message = (
        r"task pairs \('x', 'y_z'\) and \('x_y', 'z'\) under one key, "
        r"grad_cosine_x_y_z; rename the tasks"
    )
    with pytest.raises(ValueError, match=message):
        TaskGradientSimilarity().initialize().on_train_begin(net)


@pytest.fixture
def data(two_tasks):
    X, Y, _, _ = two_tasks
    return X, Y.astype(str)


def _fit(X, Y, callback=None, **params):
    clf = MultiTaskClassifier(
        **{
            "max_epochs": 3,
            "lr": 0.01,
            "batch_size": 32,
            "random_state": 0,
            "callbacks": [] if callback is None else [("relation", callback)],
            **params,
        }
    )
    return clf.fit(X, Y)


def test_history_keys_and_ranges(data):
    X, Y = data
    clf = _fit(X, Y, TaskGradientSimilarity(every=1), validation_fraction=0.2)
    history = clf.net_.history
    cosines, conflicts = history[:, KEYS[0]], history[:, KEYS[1]]
    assert len(cosines) == len(conflicts) == 3
    assert all(-1 <= c <= 1 for c in cosines)
    assert all(0 <= c <= 1 for c in conflicts)
    seconds = history[:, "grad_similarity_dur"]
    assert all(0 < s < d for s, d in zip(seconds, history[:, "dur"]))
    # A fitted net pickles, keeping no tensors in the callback.
    assert not dict(clf.net_.callbacks_)["relation"]._samples
    pickle.loads(pickle.dumps(clf))


@pytest.mark.parametrize(
    "loss_weighting, dtype",
    [
        ("equal", "float32"),
        ("equal", "float64"),
        ("gradnorm", "float32"),
        ("random", "float32"),
        ("pcgrad", "float64"),
        ("upgrad", "float32"),
    ],
)
def test_training_is_unchanged(data, loss_weighting, dtype):
    X, Y = data
    params = dict(loss_weighting=loss_weighting, dtype=dtype)
    plain = _fit(X, Y, **params)
    watched = _fit(X, Y, TaskGradientSimilarity(every=1), **params)
    for (name, p), (_, q) in zip(
        plain.net_.module_.named_parameters(), watched.net_.module_.named_parameters()
    ):
        assert torch.equal(p, q), name
    assert plain.net_.history[:, "train_loss"] == watched.net_.history[:, "train_loss"]
    assert np.isfinite(watched.net_.history[:, KEYS[0]]).all()


def test_tasks_absent_from_batches_are_skipped(data):
    X, Y = data
    Y = Y.copy()
    Y[:160, 1] = ""  # task_1 has no label in the first five batches
    clf = _fit(
        X,
        Y,
        TaskGradientSimilarity(every=1),
        missing_label="",
        iterator_train__shuffle=False,
        max_epochs=1,
    )
    callback = dict(clf.net_.callbacks_)["relation"]
    assert callback._batch == 8  # 240 rows in batches of 32
    assert 0 <= clf.net_.history[-1, KEYS[1]] <= 1


def test_every_must_be_a_positive_int():
    with pytest.raises(ValueError, match="at least 1"):
        TaskGradientSimilarity(every=0).initialize()
    with pytest.raises(TypeError, match="int"):
        TaskGradientSimilarity(every=2.5).initialize()


def test_needs_a_trunk():
    net = SimpleNamespace(module_=nn.Linear(2, 2))
    with pytest.raises(TypeError, match="module_.trunk"):
        TaskGradientSimilarity().initialize().on_train_begin(net)


def test_load_best_restores_the_strategy_and_the_optimizer_of_the_best_epoch(data):
    X, Y = data
    clf = _fit(
        X,
        Y,
        loss_weighting="uncertainty",
        early_stopping=True,
        n_iter_no_change=2,
        lr=0.05,
        max_epochs=30,
    )
    history, best = clf.net_.history, clf.best_epoch_
    assert best < len(history)  # else there is nothing to restore
    log_variance = clf.net_.weighting_.log_variance.tolist()
    names = clf.task_names_
    assert log_variance == [history[best - 1, f"log_variance_{n}"] for n in names]
    # Adam's step count: one step per training batch until the best epoch.
    steps = sum(history[:best, "train_batch_count"])
    for state in clf.net_.optimizer_.state_dict()["state"].values():
        assert state["step"].item() == steps


def test_print_log_hides_per_task_keys_and_keeps_other_scores(data):
    X, Y = data
    lines = []

    class Score(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("my_score", 1.0)

    clf = _fit(
        X,
        Y,
        TaskGradientSimilarity(every=1),
        callbacks__print_log__sink=lines.append,  # prints even with verbose=0
        callbacks__print_log__max_task_columns=0,
    )
    assert lines[0].split() == ["epoch", "train_loss", "train_acc", "dur"]
    assert len(lines) == 2 + 3
    assert "grad_cosine_task_0_task_1" in clf.net_.history[-1]

    lines.clear()
    clf.set_params(callbacks=[("relation", TaskGradientSimilarity()), Score()])
    clf.set_params(callbacks__print_log__max_task_columns=3, validation_fraction=0.2)
    clf.fit(X, Y)
    assert lines[0].split() == [
        "epoch",
        "train_loss",
        "valid_loss",
        "train_acc",
        "valid_acc",
        "valid_acc_task_0",
        "valid_acc_task_1",
        "my_score",
        "dur",
    ]


def test_print_log_is_a_skorch_print_log():
    log = TaskPrintLog(keys_ignored="dur").initialize()
    assert isinstance(log, PrintLog)
    assert log._sorted_keys(["dur", "epoch", "train_loss"]) == ["epoch", "train_loss"]


def test_batch_task_scores_give_each_batch_its_per_task_scores(data):
    X, Y = data
    plain = MultiTaskClassifier(max_epochs=2, batch_size=16, random_state=0)
    with_batches = clone(plain).set_params(callbacks=[BatchTaskScores()])
    plain.fit(X, Y)
    with_batches.fit(X, Y)
    names = with_batches.task_names_
    assert not any(
        "train_loss_" + names[0] in b for b in plain.net_.history[-1, "batches"]
    )
    epoch = with_batches.net_.history[-1]
    # The same fit, on the same machine and threads, so the same bits: the
    # callback only records.
    assert epoch["train_loss"] == plain.net_.history[-1, "train_loss"]
    batches = [b for b in epoch["batches"] if "train_batch_size" in b]
    for name in names:
        for score, weight in (("loss", "weight"), ("acc", "count")):
            key = f"train_{score}_{name}"
            values = [b[key] for b in batches]
            weights = [b[f"train_{weight}_{name}"] for b in batches]
            assert epoch[key] == pytest.approx(np.average(values, weights=weights))
        assert sum(b[f"train_count_{name}"] for b in batches) == len(X)


def test_batch_task_scores_of_a_regression_task_add_up_to_the_epochs(data):
    """Each batch's R^2 is over its rows; their sums give the epoch's: the
    squared errors weighted by the batches' sizes."""
    X, _ = data
    Y = np.column_stack([X[:, 0], X[:, 1] * 10.0])
    reg = MultiTaskRegressor(
        max_epochs=1, batch_size=16, random_state=0, callbacks=[BatchTaskScores()]
    ).fit(X, Y)
    epoch = reg.net_.history[-1]
    batches = [b for b in epoch["batches"] if "train_batch_size" in b]
    for name in reg.task_names_:
        counts = [b[f"train_count_{name}"] for b in batches]
        assert sum(counts) == len(X)
        losses = [b[f"train_loss_{name}"] for b in batches]
        # The squared error is the loss: the epoch's is the batches' mean.
        assert epoch[f"train_loss_{name}"] == pytest.approx(
            np.average(losses, weights=counts)
        )
        assert all(
            f"train_r2_{name}" in b and f"train_acc_{name}" not in b for b in batches
        )


def test_callbacks_get_every_batch_event(data):
    class Counter(Callback):
        def initialize(self):
            self.events = []
            return self

        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            self.events.append(("begin", training))

        def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
            assert torch.is_tensor(loss) and len(kwargs["y_pred"]) == 2
            self.events.append(("end", training))

        def on_grad_computed(self, net, named_parameters, **kwargs):
            assert any(p.grad is not None for _, p in named_parameters)
            self.events.append(("grad", True))

    X, Y = data
    counter = Counter()
    clf = MultiTaskClassifier(
        max_epochs=1, batch_size=16, validation_fraction=0.25, callbacks=[counter]
    ).fit(X, Y)
    events = dict(clf.net_.callbacks_)["Counter"].events
    n_valid = math.ceil(0.25 * len(X))
    n_train = math.ceil((len(X) - n_valid) / 16)
    n_valid = math.ceil(n_valid / 16)
    expected = [("begin", True), ("grad", True), ("end", True)] * n_train
    assert events == expected + [("begin", False), ("end", False)] * n_valid
