"""Features that may not fit in memory, validated without copying them whole.

An ndarray of a type torch holds, memory-mapped or not, stays as it is: it is
checked a chunk of rows at a time, and its batches are cast to the network's
type on their way to it. A torch ``Dataset`` is checked item by item as it is
read.
"""

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import _check_feature_names, check_array
from torch.utils.data import Dataset, IterableDataset

from ._batching import chunk_rows, read_items

# The array types kept as they are and cast a batch at a time, which gives the
# values a whole-array cast would: torch holds them, and their casts to float
# are exact or rounded alike.
_KEPT_DTYPES = frozenset(
    np.dtype(name)
    for name in (
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "float32",
        "float64",
    )
)


def is_dataset(X):
    """Whether ``X`` is a torch dataset rather than array-like."""
    return isinstance(X, Dataset)


def feature_params(X, dtype):
    """The ``check_array`` parameters of ``X`` for a network of ``dtype``: no
    conversion, and no finiteness check (see :func:`check_finite`), for an
    ndarray of a kept type; conversion for anything else (lists, DataFrames...).

    Sparse ``X`` stays sparse: CSR, the form whose rows slice, as it is, other
    forms (CSC...) converted to it once, their values converted to ``dtype``
    unless of a kept type, and checked by :func:`check_finite`."""
    if sp.issparse(X):
        kept = X.dtype in _KEPT_DTYPES
        return {
            "accept_sparse": "csr",
            "dtype": None if kept else dtype,
            "ensure_all_finite": False,
        }
    if isinstance(X, np.ndarray) and X.dtype in _KEPT_DTYPES:
        return {"dtype": None, "ensure_all_finite": False}
    return {"dtype": dtype}


def check_finite(estimator, X, dtype):
    """Raise scikit-learn's ``ValueError`` if a float ``X`` holds NaN or
    infinity, or values that overflow ``dtype``, reading a chunk of rows at a
    time; for sparse ``X``, its stored values."""
    if X.dtype.kind != "f":
        return
    if sp.issparse(X):
        # The stored values as a column: a view, checked in chunks as rows.
        X = X.data.reshape(-1, 1)
    # A float64 array for a float32 network: its values must fit float32.
    cast = dtype if X.dtype.itemsize > np.dtype(dtype).itemsize else None
    step = chunk_rows(X)
    for start in range(0, len(X), step):
        check_array(
            X[start : start + step], dtype=cast, input_name="X", estimator=estimator
        )


def check_dataset(estimator, X, *, reset):
    """Check a torch dataset of feature rows and set or check ``n_features_in_``.

    Its first item gives the number of features; every item is checked when it
    is first read (see :class:`DatasetRows`).

    Returns
    -------
    rows : DatasetRows
        The dataset, with items checked and turned into tensors.
    """
    name = type(estimator).__name__
    if isinstance(X, IterableDataset) or not hasattr(X, "__len__"):
        raise TypeError(
            f"{name} takes a map-style torch Dataset as X, with __len__ and "
            f"__getitem__; got {type(X).__name__}, which has no length or "
            "random access."
        )
    if len(X) < 1:
        raise ValueError(
            f"Found a Dataset X with 0 items, while a minimum of 1 is required by "
            f"{name}."
        )
    rows = DatasetRows(X)
    n_features = rows.read_batch([0]).shape[1]
    _check_feature_names(estimator, X, reset=reset)
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    # The first item, checked, has n_features by definition.
    rows.n_features = n_features
    return rows


class DatasetRows(Dataset):
    """A torch dataset of feature rows, each checked when it is first read.

    Each item of ``dataset`` must be one row of features: a 1-D tensor or
    ndarray of ``n_features`` real numbers, finite if floats. Items are
    returned as tensors; a bad one raises an error that names it.

    Reads go through ``dataset.__getitems__``, torch's batched fetch, where
    the dataset has one, else item by item. An item's type, shape and kind
    are checked once, at its first read: later reads of the same index are
    not checked again, except for what costs one operation per batch, the
    finiteness of float rows and their common length. So a dataset whose
    items change from one read to the next (random transforms) is checked on
    its first epoch, and for NaN or infinity on every batch. The memory of
    which items were checked is per process: each ``DataLoader`` worker keeps
    its own.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        The rows.

    n_features : int, default=None
        The length every row must have; ``None`` checks only that rows are 1-D.
    """

    def __init__(self, dataset, n_features=None):
        self.dataset = dataset
        self.n_features = n_features
        self._checked = np.zeros(len(dataset), dtype=bool)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.read_batch([index])[0]

    def __getitems__(self, indices):
        return list(self.read_batch(indices))

    def read_batch(self, indices):
        """The items at ``indices`` stacked into one 2-D tensor, checked.

        Parameters
        ----------
        indices : list of int
            Indices of the dataset's items.

        Returns
        -------
        rows : torch.Tensor of shape (len(indices), n_features)
            The items, in the order of ``indices``.
        """
        items = read_items(self.dataset, indices)
        # A pass of type tests costs less than a call per item.
        if not all(torch.is_tensor(item) for item in items):
            items = [_as_tensor(item, index) for item, index in zip(items, indices)]
        unchecked = np.flatnonzero(~self._checked[indices])
        for j in unchecked:
            self._check_item(items[j], indices[j])
        try:
            rows = torch.stack(items)
        except RuntimeError:
            # Items checked at an earlier read have changed shape since:
            # check them all again, for an error that names the culprit.
            for item, index in zip(items, indices):
                self._check_item(item, index)
            raise
        self._checked[np.asarray(indices)[unchecked]] = True
        # A finite sum means finite values: one pass over the batch, and the
        # exact search only when the sum is not (NaN, infinity or overflow).
        if rows.is_floating_point() and not torch.isfinite(rows.sum()):
            bad = np.flatnonzero(~torch.isfinite(rows).all(dim=1).numpy())
            if len(bad):
                raise ValueError(
                    "Input X contains NaN or infinity, in item "
                    f"{indices[bad[0]]} of the Dataset X."
                )
        return rows

    def _check_item(self, item, index):
        """Raise an error naming item ``index`` unless it is a row of features."""
        where = f"Item {index} of the Dataset X"
        if not torch.is_tensor(item):
            raise TypeError(
                f"{where} is a {type(item).__name__}; the items must be rows of "
                "features, 1-D tensors or arrays, with the labels given apart as "
                "y. A dataset of (features, label) pairs can be wrapped to "
                "return the features alone."
            )
        if item.ndim != 1 or item.shape[0] < 1:
            raise ValueError(
                f"{where} has shape {tuple(item.shape)}; the items must be 1-D "
                "rows of features (flatten images, e.g. with a transform)."
            )
        if self.n_features is not None and len(item) != self.n_features:
            raise ValueError(
                f"{where} has {len(item)} features, but the first has "
                f"{self.n_features}."
            )
        if item.is_complex():
            raise ValueError(f"{where} is complex; features must be real numbers.")


def _as_tensor(item, index):
    """An ndarray item as a tensor; anything else as it is."""
    if not isinstance(item, np.ndarray):
        return item
    try:
        # torch cannot share memory with a read-only array.
        return torch.from_numpy(item if item.flags.writeable else item.copy())
    except TypeError as err:
        raise TypeError(
            f"Item {index} of the Dataset X has an unsupported dtype: {err}"
        ) from err
