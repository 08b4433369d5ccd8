import pytest
import torch
from torch import nn

from skmtl.modules import CNN, MLP, MultiTaskModule, TaskHeads, TaskLogits


def _linear_widths(module):
    return [m.out_features for m in module.modules() if isinstance(m, nn.Linear)]


def test_mlp_layers_and_width():
    mlp = MLP(
        10, hidden_units=(32, 16), activation="tanh", dropout=0.1, batch_norm=True
    )
    kinds = [type(m) for m in mlp.layers]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout] * 2
    assert _linear_widths(mlp) == [32, 16]
    assert mlp.out_features == 16
    assert mlp(torch.zeros(4, 10)).shape == (4, 16)


def test_mlp_without_hidden_layers_is_the_identity():
    mlp = MLP(5, hidden_units=())
    X = torch.randn(3, 5)
    assert mlp.out_features == 5
    assert torch.equal(mlp(X), X)


def test_activation_may_be_a_module_class():
    assert isinstance(MLP(3, (4,), activation=nn.SiLU).layers[1], nn.SiLU)


def test_unknown_activation():
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        MLP(3, (4,), activation="swish")


def test_cnn_defaults_are_the_study_net():
    cnn = CNN(784)
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [
        (32, (3, 3)),
        (64, (3, 3)),
        (128, (3, 3)),
    ]
    layers = [type(m).__name__ for m in cnn.features]
    assert layers == [
        *("Conv2d", "ReLU", "MaxPool2d") * 2,
        *("Conv2d", "ReLU", "Flatten"),
    ]
    assert _linear_widths(cnn.dense) == [1024]
    # 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5 -> conv 3, 128 channels
    assert cnn.dense.layers[0].in_features == 128 * 3 * 3
    assert cnn(torch.zeros(2, 784)).shape == (2, 1024)


def test_cnn_input_shape_for_colour_images():
    cnn = CNN(3 * 8 * 8, input_shape=(3, 8, 8), channels=(4,), dense_units=(6,))
    assert cnn(torch.zeros(2, 192)).shape == (2, 6)


def test_cnn_rejects_rows_that_are_not_square_images():
    with pytest.raises(ValueError, match="not a square image"):
        CNN(10)


def test_cnn_rejects_an_input_shape_of_another_size():
    with pytest.raises(ValueError, match=r"input_shape \(1, 5, 5\) holds 25 values"):
        CNN(784, input_shape=(1, 5, 5))


def test_cnn_rejects_images_too_small_for_its_layers():
    with pytest.raises(ValueError, match="too small for these convolutions"):
        CNN(64, channels=(4, 8, 16))


def test_multitask_module_study_heads():
    module = MultiTaskModule(CNN(784), 784, [10, 3], hidden_units=(100,))
    logits = module(torch.zeros(5, 784))
    assert [z.shape for z in logits] == [(5, 10), (5, 3)]
    assert [layer.weight.shape for layer in module.heads.hidden] == [(2, 100, 1024)]
    assert [o.weight.shape for o in module.heads.outputs] == [(1, 10, 100), (1, 3, 100)]


def test_multitask_module_shares_the_trunk():
    trunk = MLP(4, (8,))
    module = MultiTaskModule(trunk, 4, [2, 2, 3])
    assert module.trunk is trunk
    assert module.heads.groups == [(0, 1), (2,)]
    assert sum(p.numel() for p in module.parameters()) == (
        sum(p.numel() for p in trunk.parameters()) + (8 * 2 + 2) * 2 + 8 * 3 + 3
    )


def _separate_heads(n_classes, hidden_units, in_features=8):
    """Each task's head as its own layers, built task after task."""
    heads = []
    for k in n_classes:
        body = MLP(in_features, hidden_units, "tanh")
        heads.append(nn.Sequential(body, nn.Linear(body.out_features, k)))
    return heads


@pytest.mark.parametrize("hidden_units", [(), (5,), (5, 4)])
def test_task_heads_are_separate_heads_computed_together(hidden_units):
    n_classes = [3, 2, 3, 1]  # tasks 0 and 2 share an output layer
    torch.manual_seed(0)
    separate = _separate_heads(n_classes, hidden_units)
    torch.manual_seed(0)
    heads = TaskHeads(8, n_classes, hidden_units, "tanh")
    # The same initial weights, from the same seed, as heads built one by one.
    position = {
        t: (g, i) for g, ts in enumerate(heads.groups) for i, t in enumerate(ts)
    }
    for t, head in enumerate(separate):
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        for depth, linear in enumerate(linears[:-1]):
            assert torch.equal(heads.hidden[depth].weight[t], linear.weight)
            assert torch.equal(heads.hidden[depth].bias[t], linear.bias)
        g, i = position[t]
        assert torch.equal(heads.outputs[g].weight[i], linears[-1].weight)
        assert torch.equal(heads.outputs[g].bias[i], linears[-1].bias)
    shared = torch.randn(6, 8, dtype=torch.float64)
    heads, separate = heads.double(), [head.double() for head in separate]
    logits = heads(shared)
    assert isinstance(logits, TaskLogits)
    for z, head in zip(logits, separate):
        torch.testing.assert_close(z, head(shared))
    for tasks, grouped in logits.groups:
        torch.testing.assert_close(grouped, torch.stack([logits[t] for t in tasks], 1))


def test_task_logits_group_any_tuple_of_logits():
    logits = TaskLogits((torch.zeros(4, 3), torch.ones(4, 2), torch.full((4, 3), 2.0)))
    assert TaskLogits.of(logits) is logits
    assert len(logits) == 3 and logits[-1] is logits[2] and len(logits[1:]) == 2
    (first, together), (second, alone) = logits.groups
    assert (first, second) == ((0, 2), (1,))
    assert together.shape == (4, 2, 3) and alone.shape == (4, 1, 2)
    assert torch.equal(together[:, 1], logits[2])


def test_trunk_must_return_2d_or_3d():
    message = (
        r"The trunk Unflatten must map .* 2-D .* or to a 3-D tensor .* one "
        r"representation per task; it returned shape \(2, 1, 2, 2\)"
    )
    with pytest.raises(ValueError, match=message):
        MultiTaskModule(nn.Unflatten(1, (1, 2, 2)), 4, [2])


def test_trunk_of_one_representation_per_task():
    # (n, 4) -> (n, 1, 4): one task, one representation.
    module = MultiTaskModule(nn.Unflatten(1, (1, 4)), 4, [2])
    assert module.heads.in_features == 4
    assert module(torch.zeros(3, 4))[0].shape == (3, 2)


@pytest.mark.parametrize("n_tasks", [2, 4])
def test_trunk_for_another_number_of_tasks_is_named(n_tasks):
    trunk = nn.Unflatten(1, (n_tasks, 2))  # (n, 2 n_tasks) -> (n, n_tasks, 2)
    message = (
        rf"The trunk Unflatten returned a representation for {n_tasks} tasks, of "
        rf"shape \(2, {n_tasks}, 2\), but there are 3 tasks: a 3-D output must be "
        r"\(n_samples, n_tasks, width\)"
    )
    with pytest.raises(ValueError, match=message):
        MultiTaskModule(trunk, 2 * n_tasks, [10, 3, 1])


class _PerTask(nn.Module):
    """Task t's representation is the input times t + 1."""

    def __init__(self, n_tasks):
        super().__init__()
        self.n_tasks = n_tasks

    def forward(self, X):
        scale = torch.arange(1, self.n_tasks + 1, dtype=X.dtype)
        return X[:, None, :] * scale[None, :, None]


@pytest.mark.parametrize("hidden_units", [(), (5,), (5, 4)])
@pytest.mark.parametrize("n_classes", [[10, 3, 1], [3, 3], [10, 3, 10, 1]])
def test_each_head_reads_its_own_tasks_representation(hidden_units, n_classes):
    # Heads fed (n, T, width) give what separate heads give on each task's
    # slice: with and without hidden layers, across output groups of several
    # sizes (a 10-class, a 3-class and a regression task).
    torch.manual_seed(0)
    separate = _separate_heads(n_classes, hidden_units)
    torch.manual_seed(0)
    module = MultiTaskModule(
        _PerTask(len(n_classes)), 8, n_classes, hidden_units, "tanh"
    )
    module, separate = module.double(), [head.double() for head in separate]
    X = torch.randn(6, 8, dtype=torch.float64)
    logits = module(X)
    for t, head in enumerate(separate):
        torch.testing.assert_close(logits[t], head(X * (t + 1)))


def test_trunk_width_probe_keeps_training_mode():
    trunk = MLP(4, (8,), batch_norm=True)
    MultiTaskModule(trunk, 4, [2])
    assert trunk.training


@pytest.mark.parametrize(
    "hidden_units, message",
    [
        ((32, 0), r"MLP hidden_units must hold positive ints; got \(32, 0\), in"),
        ([-4], r"MLP hidden_units .* got \[-4\], in which -4 is not"),
        ((2.5,), r"in which 2.5 is not"),
        ((True,), r"in which True is not"),
        (100, r"MLP hidden_units must be a sequence of positive ints .*; got 100\."),
    ],
)
def test_mlp_rejects_bad_widths(hidden_units, message):
    with pytest.raises(ValueError, match=message):
        MLP(3, hidden_units)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, float("nan"), "0.5"])
def test_dropout_outside_the_unit_interval_is_an_error(dropout):
    message = r"dropout must be a probability in \[0, 1\); got "
    with pytest.raises(ValueError, match="MLP " + message):
        MLP(3, (4,), dropout=dropout)
    with pytest.raises(ValueError, match="CNN " + message):
        CNN(64, channels=(4,), dense_units=(4,), dropout=dropout)
    with pytest.raises(ValueError, match="MultiTaskModule heads' " + message):
        MultiTaskModule(MLP(4, (8,)), 4, [2], dropout=dropout)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"channels": (4, 0)}, r"CNN channels must hold positive ints; got \(4, 0\)"),
        ({"dense_units": (-1,)}, r"CNN dense_units .* got \(-1,\), in which -1"),
        ({"dense_units": 64}, r"CNN dense_units must be a sequence .*; got 64\."),
        ({"kernel_size": 0}, r"CNN kernel_size must be a positive int .*; got 0\."),
        ({"kernel_size": (3, 0)}, r"CNN kernel_size .*; got \(3, 0\)\."),
        ({"kernel_size": 2.0}, r"CNN kernel_size .*; got 2.0\."),
    ],
)
def test_cnn_rejects_bad_widths(params, message):
    with pytest.raises(ValueError, match=message):
        CNN(64, **params)


def test_cnn_takes_a_kernel_of_height_and_width():
    cnn = CNN(64, channels=(4,), kernel_size=(3, 1), pool_after=(), dense_units=(5,))
    assert cnn.features[0].kernel_size == (3, 1)
    assert cnn(torch.zeros(2, 64)).shape == (2, 5)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"n_classes": [2, 0]},
            r"MultiTaskModule n_classes must hold positive ints; got \[2, 0\], "
            "in which 0 is not",
        ),
        ({"n_classes": []}, "n_classes must hold one number of classes per task"),
        (
            {"n_classes": [2], "hidden_units": (16, 0)},
            r"MultiTaskModule heads' hidden_units must hold positive ints; got "
            r"\(16, 0\)",
        ),
    ],
)
def test_multitask_module_rejects_bad_widths(params, message):
    with pytest.raises(ValueError, match=message):
        MultiTaskModule(MLP(4, (8,)), 4, **params)


def test_multitask_module_takes_a_head_of_one_class():
    module = MultiTaskModule(MLP(4, (8,)), 4, [1, 2])
    assert [z.shape for z in module(torch.zeros(3, 4))] == [(3, 1), (3, 2)]


class MyTrunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(10, 8)

    def forward(self, X):
        return self.layer(X)


def test_trunk_of_another_input_width_is_named():
    trunk = MyTrunk()
    message = (
        r"The trunk MyTrunk cannot take rows of 20 features: mat1 and mat2 shapes "
        r"cannot be multiplied \(2x20 and 10x8\); set its input width to the "
        "data's number of features"
    )
    with pytest.raises(ValueError, match=message) as info:
        MultiTaskModule(trunk, 20, [2])
    assert isinstance(info.value.__cause__, RuntimeError)
    # The probe's eval mode is undone even though the trunk raised.
    assert trunk.training


def test_trunk_that_returns_no_tensor_is_named():
    class Pair(nn.Module):
        def forward(self, X):
            return X, X

    with pytest.raises(ValueError, match="The trunk Pair must map .* returned a tuple"):
        MultiTaskModule(Pair(), 4, [2])


def test_trunk_that_changes_the_number_of_rows_is_named():
    class Collapse(nn.Module):
        def forward(self, X):
            return X.mean(0, keepdim=True)

    with pytest.raises(ValueError, match="The trunk Collapse returned 1 rows for 2"):
        MultiTaskModule(Collapse(), 4, [2])


@pytest.mark.parametrize("to", [torch.float64, "meta"])
def test_trunk_width_probe_takes_the_trunks_dtype_and_device(to):
    trunk = MLP(4, (8,)).to(to)
    module = MultiTaskModule(trunk, 4, [2])
    assert module.heads.outputs[0].weight.shape == (1, 2, 8)


def test_cnn_batch_norm_normalises_the_pooled_maps():
    trunk = CNN(28 * 28, channels=(4, 8, 16), pool_after=(0, 1), batch_norm=True)
    kinds = [type(layer) for layer in trunk.features]
    conv, pool, norm, relu = nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.ReLU
    assert kinds == [conv, pool, norm, relu] * 2 + [conv, norm, relu, nn.Flatten]
    trunk.train()
    out = trunk.features[:3](torch.randn(5, 1, 28, 28))
    # Batch statistics of the 13x13 pooled maps: mean 0, variance 1 per channel.
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    assert out.shape == (5, 4, 13, 13)


def test_task_logits_from_groups_are_views_made_when_asked_for():
    together = torch.arange(24.0).view(4, 2, 3)
    alone = torch.zeros(4, 1, 2)
    logits = TaskLogits.from_groups([((0, 2), together), ((1,), alone)], 3)
    assert logits._tasks == [None, None, None]  # no per-task tensor yet
    assert torch.equal(logits[2], together[:, 1])
    assert logits[2].data_ptr() == together[:, 1].data_ptr()  # a view
    assert [z.shape for z in logits] == [(4, 3), (4, 2), (4, 3)]
    moved = logits.to(torch.float64)
    assert moved[0].dtype == torch.float64 and torch.equal(moved[2], logits[2].double())
    with pytest.raises(IndexError):
        logits[3]
