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

    A last batch of a single row is merged into the batch before it, so that
    batch normalisation, which needs two rows in training, never meets one.

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

    drop_last : bool, default=False
        Whether to leave out the last batch when it is smaller than
        ``batch_size``, as :class:`~torch.utils.data.DataLoader` does.

    generator : torch.Generator, default=None
        Source of the random order.
    """

    def __init__(
        self, dataset, batch_size=128, shuffle=False, drop_last=False, generator=None
    ):
        self.X = dataset.X
        self.y = dataset.y
        if not torch.is_tensor(self.X):
            raise TypeError(
                "TensorBatchIterator needs a dataset holding tensors; got X of "
                f"type {type(self.X).__name__}."
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def _bounds(self):
        """The (start, stop) row range of each batch."""
        n = len(self.X)
        stops = list(range(self.batch_size, n, self.batch_size)) + [n]
        if self.drop_last and n % self.batch_size:
            stops.pop()
        elif len(stops) > 1 and stops[-1] - stops[-2] == 1:
            stops.pop(-2)
        return list(zip([0] + stops[:-1], stops))

    def __len__(self):
        return len(self._bounds())

    def __iter__(self):
        order = None
        if self.shuffle:
            order = torch.randperm(len(self.X), generator=self.generator)
            order = order.to(self.X.device)
        for start, stop in self._bounds():
            rows = slice(start, stop) if order is None else order[start:stop]
            yield self.X[rows], _take(self.y, rows)


def _take(y, rows):
    if y is None:
        return None
    if isinstance(y, dict):
        return {key: value[rows] for key, value in y.items()}
    return y[rows]
