"""Mini-batches sliced from whole tensors, in place of skorch's per-sample loading."""

import torch

__all__ = ["TensorBatchIterator"]


class TensorBatchIterator:
    """Iterate over a dataset's tensors in mini-batches by slicing them.

    A drop-in for :class:`torch.utils.data.DataLoader` as skorch's
    ``iterator_train`` / ``iterator_valid`` when the data already sit in
    tensors: a batch is one indexing operation instead of ``batch_size`` calls
    to ``__getitem__`` and a collation, which dominate the cost of an epoch
    for small inputs such as 28x28 images.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        A dataset whose ``X`` is a tensor and ``y`` a tensor, a dict of
        tensors, or ``None``.

    batch_size : int, default=128
        Number of rows per batch; the last batch may be smaller.

    shuffle : bool, default=False
        Whether to draw a new random order at each iteration, from
        ``generator`` (torch's global generator if ``None``).

    generator : torch.Generator, default=None
        Source of the random order.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, generator=None):
        self.X = dataset.X
        self.y = dataset.y
        if not torch.is_tensor(self.X):
            raise TypeError(
                "TensorBatchIterator needs a dataset holding tensors; got X of "
                f"type {type(self.X).__name__}."
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        n = len(self.X)
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.X.device)
        for start in range(0, n, self.batch_size):
            if order is None:
                rows = slice(start, start + self.batch_size)
            else:
                rows = order[start : start + self.batch_size]
            yield self.X[rows], _take(self.y, rows)


def _take(y, rows):
    if y is None:
        return None
    if isinstance(y, dict):
        return {key: value[rows] for key, value in y.items()}
    return y[rows]
