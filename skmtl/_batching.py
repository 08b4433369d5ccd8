"""Mini-batches read from whole arrays, tensors, sparse matrices or datasets,
delivered to a device.

Data that fit on the device are copied there once and sliced; otherwise each
batch is read where the data are (memory, a memory-mapped file, a dataset),
pinned and copied without blocking.
"""

import weakref

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset, IterableDataset

__all__ = [
    "TensorBatchIterator",
    "device_available",
    "n_rows",
    "placement",
    "split_validation",
    "subset",
]

# Data copied to a device may fill this fraction of its free memory; the rest is
# left to the network, its gradients, optimizer state and activations.
DEVICE_DATA_FRACTION = 0.5
# Whole-array passes (finiteness checks, copies to a device) read this many bytes
# of rows at a time, so that they never hold more than that in extra copies.
CHUNK_BYTES = 1 << 22
# Batches are cut from reads of consecutive batches of about this many bytes
# (as the network takes them): a few reads per epoch on small data, at most a
# batch more than one batch's memory on large data.
READ_BYTES = 1 << 20


class RowDataset(Dataset):
    """Selected rows of features and their targets, for :class:`TensorBatchIterator`.

    Parameters
    ----------
    X : torch.Tensor, ndarray, scipy.sparse CSR matrix or array, or torch Dataset
        Every row. An ndarray, such as a :class:`numpy.memmap`, is read a batch
        at a time, never copied whole; a sparse matrix is densified a batch at
        a time; a dataset's items are 1-D rows of features.

    y : torch.Tensor, dict of torch.Tensor or None, default=None
        Targets of the selected rows, in their order, where ``X`` is: row ``i``
        of ``y`` belongs to row ``rows[i]`` of ``X``.

    rows : ndarray of int or None, default=None
        The rows of ``X`` in this data set, in order; ``None`` for all of them.
    """

    def __init__(self, X, y=None, rows=None):
        self.X = X
        self.y = y
        self.rows = rows

    def __len__(self):
        return n_rows(self.X) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        row = i if self.rows is None else int(self.rows[i])
        return self.X[row], _take(self.y, i)


class TensorBatchIterator:
    """Iterate over a dataset's rows in mini-batches, delivered to a device.

    A drop-in for :class:`torch.utils.data.DataLoader` as skorch's
    ``iterator_train`` / ``iterator_valid``. When the features sit in a tensor
    or an array, consecutive batches of about ``READ_BYTES`` (1 MB) are read
    with one indexing operation and cut into views, instead of ``batch_size``
    calls to ``__getitem__`` and a collation per batch, which dominate the cost
    of an epoch for small inputs such as 28x28 images. An array, such as a
    :class:`numpy.memmap`, is so never copied whole. When they sit in a torch
    dataset, a :class:`~torch.utils.data.DataLoader` reads the same batches,
    one call to the dataset's ``__getitems__`` per batch where it has one, and
    stacks each batch's rows at once.

    A batch on the host bound for a CUDA device is pinned and copied without
    blocking, so that the host prepares the next batch while the device
    computes. Features are cast to ``dtype`` on the side of the copy where they
    are narrower: uint8 images travel as uint8 and become floats on the device.

    A last batch of a single row is merged into the batch before it, so that
    batch normalisation, which needs two rows in training, never meets one.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        A dataset with attributes ``X``, a tensor, an ndarray or a torch
        dataset whose items are 1-D rows of features; ``y``, a tensor, a dict
        of tensors or ``None``, where ``X`` is (on its device, or on the host
        for an array or a dataset); and optionally ``rows``, the rows of ``X``
        that it holds, in order (all of them if missing). A torch dataset
        ``X`` is read a batch at a time, through its ``__getitems__`` where it
        has one (torch's batched fetch), and its rows stacked.

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

    device : str, torch.device or None, default=None
        Where the batches go; ``None`` leaves them where the data are (the
        host, for an array or a dataset).

    dtype : torch.dtype or None, default=None
        The type the features' batches are cast to; ``None`` keeps theirs.

    num_workers : int, default=0
        For a torch dataset ``X`` only: the number of worker processes of the
        :class:`~torch.utils.data.DataLoader` that reads its items; 0 reads
        them in the main process. Ignored for a tensor or an array, whose
        batches are sliced in the main process.

    pin_memory : bool, default=False
        For a torch dataset ``X`` only: whether the loader pins its batches
        (a batch bound for a CUDA device is pinned anyway). Ignored for a
        tensor or an array.

    persistent_workers : bool, default=False
        For a torch dataset ``X`` only: whether the loader's workers live from
        one epoch to the next (one loader serves every iteration). Ignored for
        a tensor or an array.

    prefetch_factor : int or None, default=None
        For a torch dataset ``X`` only: the number of batches each worker
        reads ahead; ``None``: the loader's default (2 with workers). Ignored
        for a tensor or an array.
    """

    def __init__(
        self,
        dataset,
        batch_size=128,
        shuffle=False,
        drop_last=False,
        generator=None,
        device=None,
        dtype=None,
        num_workers=0,
        pin_memory=False,
        persistent_workers=False,
        prefetch_factor=None,
    ):
        self.dataset = dataset
        self.X = dataset.X
        self.y = dataset.y
        self.rows = getattr(dataset, "rows", None)
        if not (
            torch.is_tensor(self.X)
            or isinstance(self.X, np.ndarray)
            or _is_csr(self.X)
            or _is_dataset(self.X)
        ):
            raise TypeError(
                "TensorBatchIterator needs a dataset holding a tensor, an "
                "ndarray, a CSR sparse matrix or a torch Dataset; got X of type "
                f"{type(self.X).__name__}."
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.device = None if device is None else torch.device(device)
        self.dtype = dtype
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.prefetch_factor = prefetch_factor
        self._loader = None

    def _bounds(self):
        """The (start, stop) row range of each batch."""
        n = len(self.dataset)
        stops = list(range(self.batch_size, n, self.batch_size)) + [n]
        if self.drop_last and n % self.batch_size:
            stops.pop()
        elif len(stops) > 1 and stops[-1] - stops[-2] == 1:
            stops.pop(-2)
        return list(zip([0] + stops[:-1], stops))

    def __len__(self):
        return len(self._bounds())

    def _order(self, device=None):
        """A new random order of the dataset's positions on ``device``, or
        ``None`` when not shuffled."""
        if not self.shuffle:
            return None
        # Drawn on the host, whatever the device, for the same order
        # everywhere; moved once per epoch.
        return torch.randperm(len(self.dataset), generator=self.generator).to(device)

    def _positions(self, device=None):
        """Each batch's positions in the dataset: a slice, or a tensor of them
        in a random order, on ``device``."""
        order = self._order(device)
        for start, stop in self._bounds():
            yield slice(start, stop) if order is None else order[start:stop]

    def _chunks(self, row_bytes):
        """Runs of consecutive batches that take about ``READ_BYTES`` (at
        least one batch): each run's (start, stop) and its batches' bounds
        within it."""
        limit = max(1, READ_BYTES // max(1, row_bytes))
        run = []
        for start, stop in self._bounds():
            if run and stop - run[0][0] > limit:
                yield run[0][0], run[-1][1], run
                run = []
            run.append((start, stop))
        if run:
            yield run[0][0], run[-1][1], run

    def _batches_from_chunks(self, read, row_bytes, device=None):
        """The batches, read a chunk of rows at a time with ``read(positions)``
        and cut into views: a few reads per epoch instead of one per batch."""
        order = self._order(device)
        for first, last, bounds in self._chunks(row_bytes):
            positions = slice(first, last) if order is None else order[first:last]
            X, y = read(positions)
            for start, stop in bounds:
                rows = slice(start - first, stop - first)
                yield X[rows], _take(y, rows)

    def __iter__(self):
        if _is_dataset(self.X):
            yield from self._load()
        elif torch.is_tensor(self.X):
            yield from self._slice_tensor()
        else:
            yield from self._read_array()

    def _row_bytes(self):
        """The bytes of a row as read, or as cast, whichever is wider."""
        itemsize = self.X.dtype.itemsize
        if self.dtype is not None:
            itemsize = max(itemsize, self.dtype.itemsize)
        return itemsize * int(np.prod(self.X.shape[1:]))

    def _slice_tensor(self):
        device = self.X.device
        rows = None if self.rows is None else torch.as_tensor(self.rows).to(device)

        def read(positions):
            index = positions if rows is None else rows[positions]
            return self._deliver(self.X[index], _take(self.y, positions))

        yield from self._batches_from_chunks(read, self._row_bytes(), device)

    def _read_array(self):
        def read(positions):
            index = positions.numpy() if torch.is_tensor(positions) else positions
            if self.rows is not None:
                index = self.rows[index]
            rows = self.X[index]
            if sp.issparse(rows):
                # Dense a chunk of rows at a time, never whole.
                rows = rows.toarray()
            else:
                # Rows read together: a view for a slice of a contiguous
                # array, else a copy of these rows only.
                rows = np.ascontiguousarray(rows)
            return self._deliver(_host_tensor(rows), _take(self.y, positions))

        yield from self._batches_from_chunks(read, self._row_bytes())

    def _load(self):
        # One loader for every epoch, so that persistent workers persist; its
        # batches are drawn afresh at each iteration.
        if self._loader is None:
            # Each of the loader's items is a whole batch, read in one call
            # (see _DatasetBatches); a generator of its own: the loader draws a
            # seed for its workers from it, which would otherwise move torch's
            # global random state.
            self._loader = DataLoader(
                _DatasetBatches(self.X, self.y, self.rows),
                batch_size=None,
                sampler=_Batches(self),
                collate_fn=_as_is,
                generator=torch.Generator(),
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                persistent_workers=self.persistent_workers,
                prefetch_factor=self.prefetch_factor,
            )
        for X, y in self._loader:
            yield self._deliver(X, y)

    def _deliver(self, X, y):
        """A batch on ``device``, its features cast to ``dtype``."""
        if self.dtype is not None and X.dtype != self.dtype:
            if X.element_size() > self.dtype.itemsize:
                # Cast before the copy: fewer bytes to move.
                X = _move(X.to(self.dtype), self.device)
            else:
                X = _move(X, self.device).to(self.dtype)
        else:
            X = _move(X, self.device)
        if isinstance(y, dict):
            y = {key: _move(value, self.device) for key, value in y.items()}
        elif y is not None:
            y = _move(y, self.device)
        return X, y


class _Batches:
    """The positions of an iterator's batches, as ndarrays: a sampler of whole
    batches that draws a new order, if shuffled, at each iteration."""

    def __init__(self, iterator):
        # A weak reference: a cycle iterator -> loader -> sampler -> iterator
        # leaves persistent workers to the garbage collector, whose shutdown of
        # them waits 5 s per worker.
        self._iterator = weakref.ref(iterator)

    def __iter__(self):
        for p in self._iterator()._positions():
            yield np.arange(p.start, p.stop) if isinstance(p, slice) else p.numpy()

    def __len__(self):
        return len(self._iterator())


class _DatasetBatches(Dataset):
    """A torch dataset's rows and their targets, a batch per item: item
    ``positions`` is the batch of those positions' rows, stacked, and targets.

    One call per batch, in the loader's worker when it has workers: the rows
    are read in one batched read where the dataset allows it (see
    :func:`read_items`), and the targets taken with one indexing operation.
    """

    def __init__(self, X, y, rows):
        self.X = X
        self.y = y
        self.rows = rows

    def __getitem__(self, positions):
        index = positions if self.rows is None else self.rows[positions]
        return read_batch(self.X, index.tolist()), _take(
            self.y, torch.from_numpy(positions)
        )


def read_items(dataset, indices):
    """The items of a torch dataset at ``indices``, as a list: one call to its
    ``__getitems__`` (torch's batched fetch) where it has one, else one call to
    ``__getitem__`` per item."""
    getitems = getattr(dataset, "__getitems__", None)
    if not getitems:
        return [dataset[i] for i in indices]
    items = getitems(indices)
    if len(items) != len(indices):
        raise ValueError(
            f"The __getitems__ of the Dataset X returned {len(items)} items for "
            f"{len(indices)} indices."
        )
    return items


def read_batch(dataset, indices):
    """The rows of a torch dataset at ``indices``, stacked into a 2-D tensor;
    checked where the dataset checks them (its ``read_batch``)."""
    read = getattr(dataset, "read_batch", None)
    return read(indices) if read else torch.stack(read_items(dataset, indices))


def keep_on_device(nbytes, device, free_bytes=None):
    """Whether data of ``nbytes`` are copied to ``device`` once, rather than
    read and moved a batch at a time.

    On the CPU the data are read where they are: copying them would only double
    the memory they take. On a CUDA device they are copied when they take at
    most ``DEVICE_DATA_FRACTION`` of its free memory, leaving the rest to
    training. Other devices, which tell no free memory, get the copy.

    Parameters
    ----------
    nbytes : int
        Size of the data as they would sit on the device.

    device : str or torch.device
        Where training runs.

    free_bytes : int, default=None
        The device's free memory; ``None`` asks the device.

    Returns
    -------
    keep : bool
        Whether to copy the data to the device once.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return False
    if free_bytes is None:
        if device.type != "cuda":
            return True
        free_bytes, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_FRACTION * free_bytes


def storage_dtype(array_dtype, dtype):
    """The torch dtype rows of ``array_dtype`` keep on a device for a network
    of ``dtype``: their own when narrower (uint8 images take a quarter of the
    room of float32), else the network's, cast once."""
    own = torch.from_numpy(np.empty(0, dtype=array_dtype)).dtype
    return own if own.itemsize < dtype.itemsize else dtype


def rows_to_device(X, rows, device, dtype):
    """Some rows of an array as one tensor on ``device``, in ``storage_dtype``,
    copied a chunk of rows at a time: the host never holds a copy of them all."""
    store = storage_dtype(X.dtype, dtype)
    out = torch.empty((len(rows), X.shape[1]), dtype=store, device=device)
    step = chunk_rows(X)
    for start in range(0, len(rows), step):
        chunk = np.ascontiguousarray(X[rows[start : start + step]])
        out[start : start + step].copy_(torch.from_numpy(chunk))
    return out


def chunk_rows(X):
    """Number of rows of ``X`` that take about ``CHUNK_BYTES``."""
    row_bytes = max(1, X.dtype.itemsize * int(np.prod(X.shape[1:])))
    return max(1, CHUNK_BYTES // row_bytes)


def n_rows(X):
    """The number of rows of ``X``, sparse (whose ``len`` is ambiguous) or not."""
    return X.shape[0] if sp.issparse(X) else len(X)


def _is_csr(X):
    return sp.issparse(X) and X.format == "csr"


def _is_dataset(X):
    return isinstance(X, Dataset) and not isinstance(X, IterableDataset)


def _host_tensor(array):
    # torch cannot share memory with a read-only array (e.g. a memmap opened
    # for reading): a batch view of one is copied.
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _move(tensor, device):
    if device is None or tensor.device == device:
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        # A pinned source lets the copy run while the host goes on.
        if not tensor.is_pinned():
            tensor = tensor.pin_memory()
        return tensor.to(device, non_blocking=True)
    return tensor.to(device)


def _as_is(batch):
    """The loader's batches are made whole by :class:`_DatasetBatches`."""
    return batch


def _take(y, rows):
    if y is None:
        return None
    if isinstance(y, dict):
        return {key: value[rows] for key, value in y.items()}
    return y[rows]


def placement(X, rows, device, dtype):
    """Where training keeps ``rows`` of ``X``: the device, copied once, when
    they fit there (see :func:`keep_on_device`); ``None`` where they are, read
    a batch at a time."""
    if _is_dataset(X) or sp.issparse(X):
        # Read a batch at a time: a dataset may draw random transforms, and
        # sparse rows are densified only a batch at a time.
        return None
    nbytes = len(rows) * X.shape[1] * storage_dtype(X.dtype, dtype).itemsize
    return device if keep_on_device(nbytes, device) else None


def split_validation(rows, fraction, seed):
    """The training and validation parts of ``rows``; no validation part
    without a ``fraction``."""
    if fraction is None:
        return rows, None
    # Not stratified: the rows then depend on the seed alone, and nets fitted
    # on the same data with the same random_state are validated alike.
    return train_test_split(rows, test_size=fraction, random_state=seed)


def subset(X, labels, weights, device, dtype, rows):
    """The given rows as a dataset: copied to ``device`` once, or, with
    ``device=None``, left where they are and read a batch at a time."""
    # Fancy indexing copies, so the tensors may share the copies' memory.
    y = {
        "labels": torch.from_numpy(labels[rows]),
        "weights": torch.from_numpy(weights[rows]),
    }
    if device is None:
        return RowDataset(X, y, rows)
    y = {key: value.to(device) for key, value in y.items()}
    return RowDataset(rows_to_device(X, rows, device, dtype), y)


def device_available(device):
    """Whether tensors can be put on ``device`` here."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and (
            device.index is None or device.index < torch.cuda.device_count()
        )
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return True
