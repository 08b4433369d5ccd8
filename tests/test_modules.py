import pytest
import torch
from torch import nn

from skmtl.modules import CNN, MLP, MultiTaskModule


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
    assert [_linear_widths(h) for h in module.heads] == [[100, 10], [100, 3]]
    assert module.heads[0][0].layers[0].in_features == 1024


def test_multitask_module_shares_the_trunk():
    trunk = MLP(4, (8,))
    module = MultiTaskModule(trunk, 4, [2, 2, 3])
    assert module.trunk is trunk
    assert len(module.heads) == 3
    assert sum(p.numel() for p in module.parameters()) == (
        sum(p.numel() for p in trunk.parameters()) + (8 * 2 + 2) * 2 + 8 * 3 + 3
    )


def test_trunk_must_return_2d():
    with pytest.raises(ValueError, match="returned shape \\(2, 1, 4\\)"):
        MultiTaskModule(nn.Unflatten(1, (1, 4)), 4, [2])


def test_trunk_width_probe_keeps_training_mode():
    trunk = MLP(4, (8,), batch_norm=True)
    MultiTaskModule(trunk, 4, [2])
    assert trunk.training
