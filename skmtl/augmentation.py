"""Training-time augmentation of image batches, on the batch's device."""

from numbers import Integral

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator

__all__ = ["ImageAugmentation"]


class ImageAugmentation(BaseEstimator):
    """Random shifts and horizontal flips of a batch of images given as rows.

    Each row is read as an image of ``input_shape``; each image is shifted by
    its own random offset of ``-shift`` to ``shift`` pixels along the height
    and the width (padded with ``shift`` zeros on every side, then cropped back
    to its size: what leaves the frame is lost, what enters it is 0), then,
    with ``flip``, mirrored along the width with probability 1/2. The draws
    come from torch's random state on the batch's device, which
    :class:`~skmtl.MultiTaskClassifier` seeds from its ``random_state``: fits
    stay reproducible. The object holds no state; the classifier applies it
    to training batches only, never to validation or prediction.

    Parameters
    ----------
    shift : int, default=2
        Largest shift in pixels, along each axis; 0 shifts nothing.

    flip : bool, default=False
        Whether to mirror half the images, at random, left to right.

    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of one image. ``None``: the classifier
        takes it from a :class:`~skmtl.modules.CNN` trunk, or from
        ``trunk__input_shape``.

    Examples
    --------
    >>> import torch
    >>> from skmtl.augmentation import ImageAugmentation
    >>> augment = ImageAugmentation(shift=1, flip=True, input_shape=(1, 4, 4))
    >>> augment(torch.ones(8, 16)).shape
    torch.Size([8, 16])
    """

    def __init__(self, shift=2, flip=False, input_shape=None):
        self.shift = shift
        self.flip = flip
        self.input_shape = input_shape

    def __call__(self, X, input_shape=None):
        """Augment a batch.

        Parameters
        ----------
        X : torch.Tensor of shape (n, n_features)
            The batch, one flattened image per row.

        input_shape : tuple of int, default=None
            The image shape when ``self.input_shape`` is None.

        Returns
        -------
        X_augmented : torch.Tensor of the shape of ``X``
            A new tensor; ``X`` is left as it was.
        """
        shape = self._check(self.input_shape or input_shape, X[0].numel())
        n = X.shape[0]
        images = X.reshape(n, *shape)
        if self.shift:
            images = self._shift(images)
        if self.flip:
            mirror = torch.rand(n, device=X.device) < 0.5
            images = torch.where(mirror[:, None, None, None], images.flip(-1), images)
        return images.reshape(X.shape)

    def _shift(self, images):
        k = self.shift
        n, channels, height, width = images.shape
        padded = F.pad(images, (k, k, k, k))
        # Where each image's crop starts in its padded image: k is no shift.
        starts = torch.randint(0, 2 * k + 1, (2, n), device=images.device)
        rows = starts[0, :, None] + torch.arange(height, device=images.device)
        cols = starts[1, :, None] + torch.arange(width, device=images.device)
        return padded[
            torch.arange(n, device=images.device)[:, None, None, None],
            torch.arange(channels, device=images.device)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]

    def _check(self, shape, n_features):
        """The image shape, checked against the number of features per row."""
        if (
            not isinstance(self.shift, Integral)
            or isinstance(self.shift, bool)
            or self.shift < 0
        ):
            raise ValueError(
                f"ImageAugmentation shift must be an int >= 0; got {self.shift!r}."
            )
        if shape is None:
            raise ValueError(
                "ImageAugmentation needs the images' shape: set its input_shape "
                "to (channels, height, width)."
            )
        shape = tuple(shape)
        if len(shape) != 3 or n_features != shape[0] * shape[1] * shape[2]:
            raise ValueError(
                f"ImageAugmentation input_shape {shape} must be (channels, height, "
                f"width) and hold the {n_features} values of a row."
            )
        return shape
