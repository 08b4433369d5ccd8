"""Torch modules for hard parameter sharing: trunks, heads and what joins them."""

import math

import torch
from torch import nn

__all__ = ["MLP", "CNN", "MultiTaskModule"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}


def _activation(activation):
    """An activation module from a name or a module class."""
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of "
                f"{sorted(_ACTIVATIONS)} or a torch.nn.Module class."
            )
        return _ACTIVATIONS[activation]()
    return activation()


class MLP(nn.Module):
    """A stack of dense layers, each followed by its activation.

    Parameters
    ----------
    in_features : int
        Number of input features.

    hidden_units : tuple of int, default=(100,)
        Width of each hidden layer. An empty tuple gives the identity.

    activation : str or torch.nn.Module class, default="relu"
        One of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"elu"``, ``"leaky_relu"``,
        ``"sigmoid"``, or a module class instantiated without arguments.

    dropout : float, default=0.0
        Dropout probability after each hidden layer.

    batch_norm : bool, default=False
        Whether to put batch normalisation between each dense layer and its
        activation.

    Attributes
    ----------
    out_features : int
        Width of the output: the last hidden layer's, or ``in_features``.
    """

    def __init__(
        self,
        in_features,
        hidden_units=(100,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        layers = []
        width = in_features
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = units
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, X):
        return self.layers(X)


class CNN(nn.Module):
    """A convolutional trunk for images given as flat rows.

    Each row is reshaped to ``input_shape``, passed through the convolutions
    (each followed by its activation, and by 2x2 max-pooling where asked), then
    flattened into dense layers. The defaults are the Fashion-MNIST study's net:
    conv 32-64-128 (3x3, max-pool after the first two) and dense 1024.

    Parameters
    ----------
    in_features : int
        Number of input features per row, the product of ``input_shape``.

    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of one image. ``None`` reads each row as
        a square single-channel image.

    channels : tuple of int, default=(32, 64, 128)
        Output channels of each convolution.

    kernel_size : int, default=3
        Size of the square convolution kernels.

    padding : {"valid", "same"} or int, default="valid"
        Padding of each convolution; ``"valid"`` (none) is the study's, and
        the default of TensorFlow and Keras.

    pool_after : tuple of int, default=(0, 1)
        Indices of the convolutions followed by 2x2 max-pooling.

    dense_units : tuple of int, default=(1024,)
        Widths of the dense layers after the convolutions.

    activation : str or torch.nn.Module class, default="relu"
        Activation after each convolution and dense layer, as in :class:`MLP`.

    dropout : float, default=0.0
        Dropout probability after each dense layer.

    batch_norm : bool, default=False
        Whether to put batch normalisation after each convolution and dense layer.

    Attributes
    ----------
    out_features : int
        Width of the output: the last dense layer's.
    """

    def __init__(
        self,
        in_features,
        input_shape=None,
        channels=(32, 64, 128),
        kernel_size=3,
        padding="valid",
        pool_after=(0, 1),
        dense_units=(1024,),
        activation="relu",
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        if input_shape is None:
            side = math.isqrt(in_features)
            if side * side != in_features:
                raise ValueError(
                    f"CNN got {in_features} features per row, which is not a square "
                    "image; set trunk__input_shape=(channels, height, width)."
                )
            input_shape = (1, side, side)
        if math.prod(input_shape) != in_features:
            raise ValueError(
                f"CNN input_shape {tuple(input_shape)} holds "
                f"{math.prod(input_shape)} values, but rows have {in_features} "
                "features."
            )
        self.input_shape = tuple(input_shape)
        layers = []
        depth = input_shape[0]
        for i, width in enumerate(channels):
            layers.append(nn.Conv2d(depth, width, kernel_size, padding=padding))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(_activation(activation))
            if i in pool_after:
                layers.append(nn.MaxPool2d(2))
            depth = width
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        try:
            with torch.no_grad():
                n_flat = self.features(torch.zeros(1, *self.input_shape)).shape[1]
        except RuntimeError as err:
            raise ValueError(
                f"Images of shape {self.input_shape} are too small for these "
                f"convolutions and poolings: {err}"
            ) from err
        self.dense = MLP(n_flat, dense_units, activation, dropout, batch_norm)
        self.out_features = self.dense.out_features

    def forward(self, X):
        return self.dense(self.features(X.view(-1, *self.input_shape)))


class MultiTaskModule(nn.Module):
    """A shared trunk followed by one classification head per task.

    Parameters
    ----------
    trunk : torch.nn.Module
        Maps a batch of shape ``(n, n_features)`` to ``(n, k)``. Shared by all
        tasks.

    n_features : int
        Number of input features, used once to find the trunk's output width.

    n_classes : list of int
        Number of classes of each task; one head is built per entry.

    hidden_units : tuple of int, default=()
        Hidden layers of each head (an :class:`MLP`) before its output layer.

    activation : str or torch.nn.Module class, default="relu"
        Activation of the heads' hidden layers.

    dropout : float, default=0.0
        Dropout after each of the heads' hidden layers.

    Notes
    -----
    ``forward`` returns a tuple of logits, one ``(n, n_classes[t])`` tensor per
    task.
    """

    def __init__(
        self,
        trunk,
        n_features,
        n_classes,
        hidden_units=(),
        activation="relu",
        dropout=0.0,
    ):
        super().__init__()
        self.trunk = trunk
        width = self._trunk_width(trunk, n_features)
        self.heads = nn.ModuleList()
        for k in n_classes:
            body = MLP(width, hidden_units, activation, dropout)
            self.heads.append(nn.Sequential(body, nn.Linear(body.out_features, k)))

    @staticmethod
    def _trunk_width(trunk, n_features):
        # Any module may be a trunk, so its output width is found by running it.
        was_training = trunk.training
        trunk.eval()
        with torch.no_grad():
            out = trunk(torch.zeros(2, n_features))
        trunk.train(was_training)
        if out.ndim != 2:
            raise ValueError(
                "The trunk must map (n_samples, n_features) to a 2-D tensor "
                f"(n_samples, width); it returned shape {tuple(out.shape)}."
            )
        return out.shape[1]

    def forward(self, X):
        shared = self.trunk(X)
        return tuple(head(shared) for head in self.heads)
