"""Features beyond memory: uint8 images, memory-mapped arrays, sparse matrices,
torch datasets.

Each kind of input must train and predict exactly as the same values in an
in-memory float array, without copying X whole. Exact float32 equality holds on
any CPU here: both sides run in one process, with the same threads, the same
batches of the same values and so the same kernels; another machine changes the
last bits of both alike.
"""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset, IterableDataset

from skmtl import MultiTaskClassifier
from skmtl import _batching as batching_module
from skmtl._data import DatasetRows


def _fast(**params):
    return MultiTaskClassifier(
        **{
            "max_epochs": 3,
            "n_iter_no_change": None,
            "lr": 0.01,
            "batch_size": 32,
            "trunk__hidden_units": (16,),
            "random_state": 0,
            **params,
        }
    )


@pytest.fixture(scope="module")
def images():
    """Small uint8 "images", and two tasks that depend on them."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(300, 12)).astype(np.uint8)
    Y = np.column_stack([X[:, 0] > 127, X[:, 1] % 3])
    return X, Y


def _memmap(folder, X, name="X.npy"):
    """``X`` written to a .npy file, opened read-only as a memmap."""
    path = folder / name
    out = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)
    out[:] = X
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


class _Rows(Dataset):
    """A torch dataset of the rows of an array."""

    def __init__(self, X, item=lambda row: row):
        self.X = X
        self.item = item

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.item(self.X[i])


def _assert_same_model(fitted, expected, X):
    weights = zip(fitted.net_.module_.parameters(), expected.net_.module_.parameters())
    assert all(torch.equal(a, b) for a, b in weights)
    for a, b in zip(fitted.predict_proba(X), expected.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


# uint8


@pytest.mark.parametrize("params", [{}, {"validation_fraction": 0.2}])
def test_uint8_X_trains_and_predicts_exactly_as_its_float_values(images, params):
    X, Y = images
    as_uint8 = _fast(**params).fit(X, Y)
    as_float = _fast(**params).fit(X.astype(np.float32), Y)
    _assert_same_model(as_uint8, as_float, X.astype(np.float32))
    for a, b in zip(as_uint8.predict_proba(X), as_float.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(as_uint8.predict(X), as_float.predict(X))


def test_uint8_rows_stay_uint8_on_the_device(images, monkeypatch):
    X, Y = images
    # As on a GPU where they fit: the rows are copied to the device once.
    monkeypatch.setattr(batching_module, "keep_on_device", lambda *args: True)
    clf = _fast(max_epochs=1, validation_fraction=0.2, callbacks=[("spy", _Valid())])
    valid = dict(clf.fit(X, Y).net_.callbacks_)["spy"].valid
    assert torch.is_tensor(valid.X) and valid.X.dtype == torch.uint8
    assert len(valid.X) == len(valid) == 60


class _Valid(Callback):
    """Keeps the validation data set of a fit."""

    def on_train_begin(self, net, **kwargs):
        self.valid = net.train_split.keywords["valid_ds"]


# Memory-mapped arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_a_memmap_trains_and_predicts_as_the_array_in_memory(images, tmp_path, dtype):
    X, Y = images
    X = X.astype(dtype)
    mapped = _memmap(tmp_path, X)
    params = {"validation_fraction": 0.2, "sample_weight": np.arange(len(X)) % 3}
    weights = params.pop("sample_weight")
    from_file = _fast(**params).fit(mapped, Y, sample_weight=weights)
    in_memory = _fast(**params).fit(np.array(X), Y, sample_weight=weights)
    _assert_same_model(from_file, in_memory, X)
    for a, b in zip(from_file.predict_proba(mapped), in_memory.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_float64_X_for_a_float32_network_is_cast_a_batch_at_a_time(images):
    X, Y = images
    X = X / 255.0
    _assert_same_model(_fast().fit(X, Y), _fast().fit(X.astype(np.float32), Y), X)


def _peak_memory(clf, X, Y):
    """The peak memory that Python allocates in ``clf.fit(X, Y)``, then in
    ``clf.predict_proba(X)``."""
    # Once first: torch imports and sets up lazily, which tracemalloc would count.
    clf.fit(X[:100], Y[:100]).predict(X[:10])
    tracemalloc.start()
    try:
        clf.fit(X, Y)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        clf.predict_proba(X)
        return fit_peak, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_fit_and_predict_on_a_memmap_never_copy_it_whole(tmp_path, dtype):
    rng = np.random.RandomState(0)
    X = _memmap(tmp_path, (rng.uniform(size=(10_000, 512)) * 255).astype(dtype))
    Y = rng.randint(0, 2, size=(len(X), 2))
    clf = _fast(max_epochs=1, batch_size=200, validation_fraction=0.1)
    fit_peak, predict_peak = _peak_memory(clf, X, Y)
    # Labels, weights and outputs take about 1 MB; a batch of rows 0.1 to 0.8 MB;
    # a copy of X, or of its training rows, over half its size (float32 rows of
    # uint8 X four times).
    assert fit_peak < X.nbytes / 2
    assert predict_peak < X.nbytes / 2


def test_non_finite_values_in_a_memmap_are_named(images, tmp_path):
    X, Y = images
    X = X.astype(np.float32)
    X[-1, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _fast().fit(_memmap(tmp_path, X), Y)
    clf = _fast(max_epochs=1).fit(X[:-1], Y[:-1])
    X[-1, 3] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        clf.predict(_memmap(tmp_path, X, "inf.npy"))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_float64_values_too_large_for_float32_are_refused(images):
    X, Y = images
    X = X.astype(np.float64)
    X[5, 0] = 1e300
    with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
        _fast().fit(X, Y)
    # A float64 network takes them.
    _fast(max_epochs=1, dtype="float64").fit(X / 1e300, Y)


# torch datasets


@pytest.mark.parametrize(
    "item",
    [lambda row: row, torch.from_numpy],
    ids=["array", "tensor"],
)
def test_a_torch_dataset_trains_and_predicts_as_its_array(images, item):
    X, Y = images
    X = X.astype(np.float32)
    Y = pd.DataFrame(Y, columns=["big", "mod"]).astype(str)
    Y.iloc[::4, 1] = "?"
    params = {"validation_fraction": 0.2, "missing_label": "?"}
    weights = np.arange(len(X)) % 3
    dataset = _Rows(X, item)
    from_dataset = _fast(**params).fit(dataset, Y, sample_weight=weights)
    from_array = _fast(**params).fit(X, Y, sample_weight=weights)
    _assert_same_model(from_dataset, from_array, X)
    for a, b in zip(from_dataset.predict_proba(dataset), from_array.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    assert from_dataset.task_names_ == ["big", "mod"]
    assert from_dataset.n_features_in_ == X.shape[1]


def test_uint8_dataset_items_are_cast_on_the_device(images):
    X, Y = images
    from_dataset = _fast().fit(_Rows(X, torch.from_numpy), Y)
    _assert_same_model(from_dataset, _fast().fit(X.astype(np.float32), Y), X)


def test_a_dataset_drops_the_feature_names_of_a_data_frame_fit(images):
    X, Y = images
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(12)])
    clf = _fast(max_epochs=1).fit(frame, Y)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        clf.predict(_Rows(X))
    assert not hasattr(clf.fit(_Rows(X), Y), "feature_names_in_")


def _tuples(row):
    return row, 0


class _Stream(IterableDataset):
    def __iter__(self):
        return iter([])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda X: _Rows(X[:-1]), ValueError, "inconsistent numbers of samples"),
        (lambda X: _Rows(X[:0]), ValueError, "Dataset X with 0 items"),
        (lambda X: _Rows(X, _tuples), TypeError, "Item 0 of the Dataset X is a tuple"),
        (lambda X: _Rows(X, lambda r: r.reshape(3, 4)), ValueError, "shape \\(3, 4\\)"),
        (lambda X: _Rows(X, list), TypeError, "Item 0 of the Dataset X is a list"),
        (lambda X: _Stream(), TypeError, "map-style torch Dataset"),
    ],
)
def test_bad_datasets_are_named(images, make, error, match):
    X, Y = images
    with pytest.raises(error, match=match):
        _fast(max_epochs=1).fit(make(X.astype(np.float32)), Y)


def test_bad_items_are_named_as_they_are_read(images):
    X, Y = images
    X = X.astype(np.float32)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity, in item 7 of the Dataset"):
        _fast(max_epochs=1).fit(_Rows(X), Y)
    X[7, 2] = 0
    X[9, 0] = -1
    ragged = _Rows(X, lambda row: row[:11] if row[0] < 0 else row)
    with pytest.raises(ValueError, match="Item 9 .* 11 features, but the first has 12"):
        _fast(max_epochs=1).fit(ragged, Y)


class _Counted(_Rows):
    """Rows that count their reads, per item and per call."""

    def __init__(self, X, item=lambda row: row):
        super().__init__(X, item)
        self.reads = np.zeros(len(X), dtype=int)
        self.calls = 0

    def __getitem__(self, i):
        self.reads[i] += 1
        self.calls += 1
        return super().__getitem__(i)


class _Batched(_Counted):
    """Counted rows with torch's batched fetch, ``__getitems__``."""

    def __getitems__(self, indices):
        self.reads[indices] += 1
        self.calls += 1
        return [self.item(row) for row in self.X[indices]]


@pytest.mark.parametrize("Rows", [_Counted, _Batched])
def test_each_item_is_read_once_per_epoch_and_checked_once(images, monkeypatch, Rows):
    X, Y = images
    X = X.astype(np.float32)
    checks = np.zeros(len(X), dtype=int)
    check_item = DatasetRows._check_item

    def counted_check(self, item, index):
        checks[index] += 1
        return check_item(self, item, index)

    monkeypatch.setattr(DatasetRows, "_check_item", counted_check)
    dataset = Rows(X)
    clf = _fast(validation_fraction=0.2).fit(dataset, Y)
    # The first item is read once more, for the number of features.
    np.testing.assert_array_equal(dataset.reads, 3 + (np.arange(len(X)) == 0))
    np.testing.assert_array_equal(checks, 1)
    # 240 training rows in 8 batches, 60 validation rows in 2, over 3 epochs.
    assert dataset.calls == (1 + 3 * 10 if Rows is _Batched else len(X) * 3 + 1)
    _assert_same_model(clf, _fast(validation_fraction=0.2).fit(X, Y), X)


class _Drifting(_Counted):
    """Rows of which item ``index`` becomes ``change(row)`` from its second read
    on, as under a random transform."""

    def __init__(self, X, index, change):
        super().__init__(X)
        self.index = index
        self.change = change

    def __getitem__(self, i):
        row = super().__getitem__(i)
        return self.change(row.copy()) if i == self.index and self.reads[i] > 1 else row


def _nan(row):
    row[0] = np.nan
    return row


def test_items_that_change_after_their_check_are_named(images):
    X, Y = images
    X = X.astype(np.float32)
    # Finiteness is checked on every batch: a later epoch's too.
    with pytest.raises(ValueError, match="NaN or infinity, in item 7 of the Dataset"):
        _fast(max_epochs=2).fit(_Drifting(X, 7, _nan), Y)
    # A row of another length no longer stacks: its batch is checked again.
    shorter = _Drifting(X, 9, lambda row: row[:11])
    with pytest.raises(ValueError, match="Item 9 .* 11 features, but the first has 12"):
        _fast(max_epochs=2).fit(shorter, Y)


def test_dataset_rows_follow_torchs_batched_fetch(images):
    X, _ = images
    X = X.astype(np.float32)
    dataset = _Batched(X)
    rows = DatasetRows(dataset, n_features=12)
    loader = DataLoader(rows, batch_size=100)
    assert torch.equal(torch.cat(list(loader)), torch.from_numpy(X))
    assert dataset.calls == 3
    assert torch.equal(rows[5], torch.from_numpy(X[5]))


def test_getitems_must_return_an_item_per_index(images):
    X, Y = images

    class Short(_Rows):
        def __getitems__(self, indices):
            return [self.X[i] for i in indices[:-1]]

    with pytest.raises(ValueError, match="returned 0 items for 1 indices"):
        _fast(max_epochs=1).fit(Short(X.astype(np.float32)), Y)


def test_a_dataset_at_predict_must_have_the_fitted_features(images):
    X, Y = images
    clf = _fast(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 7 features, but MultiTaskClassifier"):
        clf.predict(_Rows(X[:, :7]))


def test_a_dataset_needs_y(images):
    X, _ = images
    with pytest.raises(ValueError, match="requires y to be passed"):
        _fast().fit(_Rows(X), None)


# Sparse matrices


@pytest.fixture(scope="module")
def sparse_rows():
    """Mostly zero rows, and two tasks that depend on them."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(300, 40)) * (rng.uniform(size=(300, 40)) < 0.1)
    Y = np.column_stack([X[:, :20].sum(axis=1) > 1, X[:, 20:].argmax(axis=1) % 3])
    return X, Y


@pytest.mark.parametrize(
    ("to_sparse", "dtype"),
    [
        (sp.csr_matrix, "float32"),
        (sp.csc_matrix, "float32"),
        (sp.csr_array, "float64"),
    ],
    ids=["csr", "csc", "csr_array-float64"],
)
def test_sparse_X_trains_and_predicts_exactly_as_its_dense_array(
    sparse_rows, to_sparse, dtype
):
    X, Y = sparse_rows
    params = {"validation_fraction": 0.2, "dtype": dtype}
    from_sparse = _fast(**params).fit(to_sparse(X), Y)
    from_dense = _fast(**params).fit(X, Y)
    _assert_same_model(from_sparse, from_dense, X)
    for a, b in zip(
        from_sparse.predict_proba(to_sparse(X)), from_dense.predict_proba(X)
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        from_sparse.predict(to_sparse(X)), from_dense.predict(X)
    )
    assert from_sparse.score(to_sparse(X), Y) == from_dense.score(X, Y)


def test_sparse_X_in_a_pipeline_of_one_hot_columns():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice([f"c{i}" for i in range(30)], size=200),
            "kind": rng.choice(["a", "b", "c", "d"], size=200),
            "size": rng.normal(size=200),
        }
    )
    Y = np.column_stack([frame["kind"] == "a", frame["size"] > 0])

    def pipeline(sparse_threshold):
        encode = ColumnTransformer(
            [
                ("one_hot", OneHotEncoder(), ["city", "kind"]),
                ("scale", StandardScaler(), ["size"]),
            ],
            sparse_threshold=sparse_threshold,
        )
        return make_pipeline(encode, _fast()).fit(frame, Y)

    # The transformer's default output for these columns is sparse.
    sparse = pipeline(0.3)
    assert sp.issparse(sparse[0].transform(frame))
    dense = pipeline(0)
    np.testing.assert_array_equal(sparse.predict(frame), dense.predict(frame))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values_in_sparse_X_are_refused(sparse_rows, value):
    X, Y = sparse_rows
    X = X.copy()
    X[4, 2] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fast().fit(sp.csr_matrix(X), Y)
    clf = _fast(max_epochs=1).fit(X[5:], Y[5:])
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        clf.predict(sp.csc_matrix(X))


def test_sparse_X_of_the_wrong_width_is_refused(sparse_rows):
    X, Y = sparse_rows
    clf = _fast(max_epochs=1).fit(sp.csr_matrix(X), Y)
    with pytest.raises(ValueError, match="X has 39 features, but MultiTaskClassifier"):
        clf.predict(sp.csr_matrix(X[:, 1:]))


def test_fit_and_predict_on_sparse_X_never_densify_it_whole():
    rng = np.random.RandomState(0)
    X = sp.random(10_000, 1_000, density=0.01, format="csr", random_state=rng)
    X = X.astype(np.float32)
    Y = rng.randint(0, 2, size=(X.shape[0], 2))
    clf = _fast(max_epochs=1, batch_size=200, validation_fraction=0.1)
    dense_bytes = X.shape[0] * X.shape[1] * 4
    fit_peak, predict_peak = _peak_memory(clf, X, Y)
    # A batch of dense rows takes 0.8 MB, the sparse matrix 1.2 MB; its dense
    # copy would take 40 MB.
    assert fit_peak < dense_bytes / 4
    assert predict_peak < dense_bytes / 4


# Where the data live


def test_data_copied_to_the_device_train_as_data_read_per_batch(images, monkeypatch):
    X, Y = images
    params = {"validation_fraction": 0.2}
    per_batch = _fast(**params).fit(X, Y)
    monkeypatch.setattr(batching_module, "keep_on_device", lambda *args: True)
    copied_once = _fast(**params).fit(X, Y)
    _assert_same_model(copied_once, per_batch, X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_data_read_per_batch_train_as_data_copied_once(images, monkeypatch):
    X, Y = images
    once = _fast(device="cuda", validation_fraction=0.2).fit(X, Y)
    monkeypatch.setattr(batching_module, "keep_on_device", lambda *args: False)
    per_batch = _fast(device="cuda", validation_fraction=0.2).fit(X, Y)
    _assert_same_model(per_batch, once, X)
    from_dataset = _fast(device="cuda", validation_fraction=0.2).fit(_Rows(X), Y)
    _assert_same_model(from_dataset, once, X)
