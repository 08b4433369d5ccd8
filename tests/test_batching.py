import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import get_worker_info

from skmtl import MultiTaskClassifier, TensorBatchIterator, _batching
from skmtl._batching import RowDataset, keep_on_device, rows_to_device, storage_dtype


def _dataset(n=10, with_y=True):
    X = torch.arange(n * 2, dtype=torch.float32).view(n, 2)
    return Dataset(X, torch.arange(n) if with_y else None)


def test_batches_in_order_cover_every_row_once():
    batches = list(TensorBatchIterator(_dataset(), batch_size=4))
    assert [len(X) for X, _ in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(10))
    assert len(TensorBatchIterator(_dataset(), batch_size=4)) == 3


def test_shuffle_permutes_rows_and_keeps_pairs():
    iterator = TensorBatchIterator(
        _dataset(),
        batch_size=3,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    X, y = (torch.cat(parts) for parts in zip(*iterator))
    assert sorted(y.tolist()) == list(range(10))
    assert not torch.equal(y, torch.arange(10))
    assert torch.equal(X[:, 0], 2 * y.float())


def test_a_new_order_each_epoch_reproducible_by_seed():
    def orders(seed):
        generator = torch.Generator().manual_seed(seed)
        iterator = TensorBatchIterator(
            _dataset(), batch_size=10, shuffle=True, generator=generator
        )
        return [next(iter(iterator))[1].tolist() for _ in range(2)]

    first, second = orders(0)
    assert first != second
    assert orders(0) == [first, second]


def test_without_targets_yields_none():
    _, y = next(iter(TensorBatchIterator(_dataset(with_y=False), batch_size=4)))
    assert y is None


def test_a_last_batch_of_one_row_joins_the_one_before():
    batches = list(TensorBatchIterator(_dataset(n=9), batch_size=4))
    assert [len(X) for X, _ in batches] == [4, 5]
    assert len(TensorBatchIterator(_dataset(n=9), batch_size=4)) == 2
    assert [len(X) for X, _ in TensorBatchIterator(_dataset(n=1), batch_size=4)] == [1]


def test_drop_last_leaves_out_a_short_last_batch():
    iterator = TensorBatchIterator(_dataset(), batch_size=4, drop_last=True)
    assert [len(X) for X, _ in iterator] == [4, 4]
    assert len(iterator) == 2


# Arrays, datasets, devices


def _rows_and_targets(n=11):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = {"labels": torch.arange(n), "weights": torch.ones(n)}
    return X, y


class _Rows(TorchDataset):
    """A torch dataset of the rows of an array, read one item at a time."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return torch.from_numpy(self.X[i])


class _RowsOfWorkers(_Rows):
    """Rows that only a DataLoader's worker process may read."""

    def __getitem__(self, i):
        assert get_worker_info() is not None, "read in the main process"
        return super().__getitem__(i)


def _epoch(X, y, rows=None, **params):
    params = {"batch_size": 4, "generator": torch.Generator().manual_seed(0), **params}
    return list(TensorBatchIterator(RowDataset(X, y, rows), **params))


def _assert_same_batches(batches, expected):
    assert len(batches) == len(expected)
    for (X, y), (X_expected, y_expected) in zip(batches, expected):
        assert torch.equal(X, X_expected)
        assert y.keys() == y_expected.keys()
        assert all(torch.equal(y[k], y_expected[k]) for k in y)


@pytest.mark.parametrize("shuffle", [False, True])
def test_an_array_gives_the_batches_of_its_tensor(shuffle):
    X, y = _rows_and_targets()
    rows = np.array([9, 0, 4, 2, 7, 1, 3])
    selected = {key: value[:7] for key, value in y.items()}
    from_array = _epoch(X, selected, rows, shuffle=shuffle)
    from_tensor = _epoch(torch.from_numpy(X[rows]), selected, shuffle=shuffle)
    _assert_same_batches(from_array, from_tensor)
    assert [len(X) for X, _ in from_array] == [4, 3]


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_torch_dataset_gives_the_batches_of_its_array(shuffle):
    X, y = _rows_and_targets()
    rows = np.array([9, 0, 4, 2, 7, 1, 3, 10, 5])
    selected = {key: value[:9] for key, value in y.items()}
    from_dataset = _epoch(_Rows(X), selected, rows, shuffle=shuffle)
    _assert_same_batches(from_dataset, _epoch(X, selected, rows, shuffle=shuffle))
    # The last batch of one row joins the one before, as for tensors.
    assert [len(X) for X, _ in from_dataset] == [4, 5]
    X_only = _epoch(_Rows(X), None)
    assert [y for _, y in X_only] == [None] * 3
    assert torch.equal(torch.cat([X for X, _ in X_only]), torch.from_numpy(X))


def test_workers_read_a_torch_dataset_into_the_same_batches():
    X, y = _rows_and_targets()
    rows = np.array([9, 0, 4, 2, 7, 1, 3, 10, 5])
    selected = {key: value[:9] for key, value in y.items()}

    def two_epochs(dataset, **params):
        iterator = TensorBatchIterator(
            RowDataset(dataset, selected, rows),
            batch_size=4,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
            **params,
        )
        return [list(iterator) for _ in range(2)]

    in_process = two_epochs(_Rows(X))
    by_workers = two_epochs(_RowsOfWorkers(X), num_workers=2, persistent_workers=True)
    assert not torch.equal(in_process[0][0][1]["labels"], in_process[1][0][1]["labels"])
    for batches, expected in zip(by_workers, in_process):
        _assert_same_batches(batches, expected)


@pytest.mark.parametrize(
    "workers",
    [
        {"iterator_train__num_workers": 1},
        {
            "iterator_train__num_workers": 2,
            "iterator_train__persistent_workers": True,
            "iterator_valid__num_workers": 1,
        },
    ],
    ids=["one", "two-persistent"],
)
def test_fit_with_workers_trains_the_model_of_the_main_process(workers):
    X, _ = _rows_and_targets(n=48)
    k = np.arange(48)
    Y = np.column_stack([k % 2, k % 3])
    params = {
        "max_epochs": 2,
        "batch_size": 8,
        "validation_fraction": 0.25,
        "random_state": 0,
    }
    # The estimator reads a first item in the main process, to check it.
    by_workers = MultiTaskClassifier(**params, **workers).fit(_Rows(X), Y)
    in_process = MultiTaskClassifier(**params).fit(_Rows(X), Y)
    pairs = zip(
        by_workers.net_.module_.parameters(), in_process.net_.module_.parameters()
    )
    assert all(torch.equal(a, b) for a, b in pairs)
    assert np.array_equal(by_workers.predict(X), in_process.predict(X))


class _BatchedRows(_Rows):
    """Rows read a batch at a time, that count their batched reads."""

    def __init__(self, X):
        super().__init__(X)
        self.batches = []

    def __getitems__(self, indices):
        self.batches.append(list(indices))
        return [torch.from_numpy(row) for row in self.X[indices]]


def test_batches_of_a_dataset_with_getitems_are_one_read_each():
    X, y = _rows_and_targets()
    rows = np.array([9, 0, 4, 2, 7, 1, 3, 10, 5])
    selected = {key: value[:9] for key, value in y.items()}
    dataset = _BatchedRows(X)
    batches = _epoch(dataset, selected, rows)
    _assert_same_batches(batches, _epoch(X, selected, rows))
    # The dataset's own indices, in the order of the rows.
    assert dataset.batches == [[9, 0, 4, 2], [7, 1, 3, 10, 5]]


def test_in_order_batches_of_an_array_are_views_unless_it_is_read_only():
    X, _ = _rows_and_targets()
    assert all(np.shares_memory(b.numpy(), X) for b, _ in _epoch(X, None))
    # torch must not share the memory of a read-only array (a memmap opened for
    # reading): each batch is copied, one at a time.
    X.flags.writeable = False
    batches = [b for b, _ in _epoch(X, None)]
    assert not any(np.shares_memory(b.numpy(), X) for b in batches)
    assert torch.equal(torch.cat(batches), torch.tensor(X))


@pytest.mark.parametrize(
    ("array_dtype", "moved_dtype"),
    [(np.uint8, torch.uint8), (np.float32, torch.float32), (np.float64, torch.float32)],
)
def test_batches_move_in_the_narrower_type_and_arrive_in_dtype(
    monkeypatch, array_dtype, moved_dtype
):
    moved = []

    def spy(tensor, device):
        moved.append(tensor.dtype)
        return tensor

    monkeypatch.setattr(_batching, "_move", spy)
    X = (np.arange(30) % 256).reshape(10, 3).astype(array_dtype)
    batches = _epoch(X, None, device="cpu", dtype=torch.float32)
    assert set(moved) == {moved_dtype}
    delivered = torch.cat([X for X, _ in batches])
    assert delivered.dtype == torch.float32
    assert torch.equal(delivered, torch.from_numpy(X.astype(np.float32)))


def test_data_are_kept_on_a_device_when_they_take_half_its_free_memory():
    assert keep_on_device(500, "cuda", free_bytes=1000)
    assert not keep_on_device(501, "cuda", free_bytes=1000)
    # On the CPU the data are read where they are, whatever their size.
    assert not keep_on_device(1, "cpu")
    # A device that tells no free memory gets them, as before.
    assert keep_on_device(10**12, "mps")


def test_rows_move_to_the_device_a_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(_batching, "CHUNK_BYTES", 8)  # two float32 rows of 1 feature
    X = np.arange(10, dtype=np.float64).reshape(10, 1)
    rows = np.array([7, 1, 8, 2, 0])
    copied = rows_to_device(X, rows, "cpu", torch.float32)
    assert copied.dtype == torch.float32
    assert torch.equal(copied, torch.from_numpy(X[rows].astype(np.float32)))
    images = rows_to_device(X.astype(np.uint8), rows, "cpu", torch.float32)
    assert images.dtype == torch.uint8  # a quarter of float32's room


def test_storage_dtype_keeps_narrow_types():
    assert storage_dtype(np.uint8, torch.float32) == torch.uint8
    assert storage_dtype(np.int16, torch.float32) == torch.int16
    assert storage_dtype(np.float32, torch.float32) == torch.float32
    assert storage_dtype(np.float64, torch.float32) == torch.float32
    assert storage_dtype(np.int64, torch.float32) == torch.float32
    assert storage_dtype(np.float32, torch.float64) == torch.float32


def test_unsupported_data_are_a_type_error():
    with pytest.raises(TypeError, match="got X of type list"):
        TensorBatchIterator(RowDataset([[1.0, 2.0]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_host_batches_arrive_on_cuda_equal():
    X, y = _rows_and_targets()
    images = X.astype(np.uint8)
    for data in (images, _Rows(images)):
        batches = _epoch(data, y, shuffle=True, device="cuda", dtype=torch.float32)
        expected = _epoch(images, y, shuffle=True, dtype=torch.float32)
        for (X_gpu, y_gpu), (X_cpu, y_cpu) in zip(batches, expected):
            assert X_gpu.is_cuda and y_gpu["labels"].is_cuda
            assert torch.equal(X_gpu.cpu(), X_cpu)
            assert torch.equal(y_gpu["labels"].cpu(), y_cpu["labels"])
