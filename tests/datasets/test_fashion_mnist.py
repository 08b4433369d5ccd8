import gzip
import re
import shutil
import struct
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from torchvision.datasets import FashionMNIST

from skmtl import MultiTaskClassifier
from skmtl.datasets import get_data_home, load_fashion_mnist
from skmtl.metrics import task_scorer

FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
ITEMS = list(FashionMNIST.classes)
GROUP_OF = {
    "Sandal": "shoes",
    "Sneaker": "shoes",
    "Ankle boot": "shoes",
    "Dress": "gendered",
    "Shirt": "gendered",
    "Bag": "gendered",
    "T-shirt/top": "unisex",
    "Trouser": "unisex",
    "Pullover": "unisex",
    "Coat": "unisex",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Make every download fail at once, without touching the network."""
    monkeypatch.setattr(FashionMNIST, "mirrors", ["file:///nonexistent/"])


def idx_bytes(array):
    """``array`` as an IDX file of unsigned bytes, as in Fashion-MNIST."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
    return header + array.tobytes()


def write_idx(path, array):
    Path(path).write_bytes(idx_bytes(array))


SMALL = {
    "train": (np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256, [0, 5, 6, 8, 9]),
    "t10k": (255 - np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256, [1, 7, 3]),
}


@pytest.fixture
def small_home(tmp_path):
    """A data folder with small, valid, decompressed files."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, (images, labels) in SMALL.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return tmp_path


def listing(folder):
    """Every path under ``folder``, with its size and modification time."""
    return {
        path: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in [Path(folder), *Path(folder).rglob("*")]
    }


def assert_guidance(message, raw):
    assert str(raw) in message
    for name in FILES:
        assert name in message
    assert "SKMTL_DATA" in message and "data_home" in message
    assert "apt-get install dataset-fashion-mnist" in message


# get_data_home


def test_get_data_home_argument_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMTL_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home(str(tmp_path / "arg")) == tmp_path / "arg"


def test_get_data_home_environment_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SKMTL_DATA", "~/env")
    assert get_data_home() == tmp_path / "env"


@pytest.mark.parametrize("env", [None, ""])
def test_get_data_home_default(monkeypatch, tmp_path, env):
    monkeypatch.setenv("HOME", str(tmp_path))
    if env is None:
        monkeypatch.delenv("SKMTL_DATA", raising=False)
    else:
        monkeypatch.setenv("SKMTL_DATA", env)
    assert get_data_home() == tmp_path / "skmtl_data"
    assert not (tmp_path / "skmtl_data").exists()


# Small files written by the tests


@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_load_small_files(small_home, subset):
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}
    images = np.concatenate([SMALL[p][0] for p in prefixes[subset]])
    items = np.concatenate([SMALL[p][1] for p in prefixes[subset]])

    bunch = load_fashion_mnist(subset=subset, data_home=small_home, download=False)

    assert bunch.data.dtype == np.float32 and bunch.target.dtype == np.int64
    assert bunch.data.shape == (len(items), 784)
    assert bunch.target.shape == (len(items), 2)
    np.testing.assert_allclose(bunch.data, images.reshape(-1, 784) / 255, rtol=1e-6)
    assert_array_equal(bunch.target[:, 0], items)
    assert_array_equal(bunch.target[:, 1], bunch.item_to_group[items])


def test_bunch_names_and_groups(small_home):
    bunch = load_fashion_mnist(data_home=small_home)

    assert bunch.target_names == ["item", "group"]
    assert bunch.target_classes == {
        "item": ITEMS,
        "group": ["shoes", "gendered", "unisex"],
    }
    assert bunch.item_to_group.shape == (10,)
    groups = bunch.target_classes["group"]
    for item, group in zip(ITEMS, bunch.item_to_group, strict=True):
        assert groups[group] == GROUP_OF[item]
    for word in ["Fashion-MNIST", "item", "group", "shoes", "gendered", "unisex"]:
        assert word in bunch.DESCR
    # The Bunch holds copies: changing them leaves the next call alone.
    bunch.item_to_group[:] = 0
    bunch.target_classes["item"].clear()
    again = load_fashion_mnist(data_home=small_home)
    assert again.item_to_group.any() and again.target_classes["item"] == ITEMS


def test_return_X_y(small_home):
    bunch = load_fashion_mnist(data_home=small_home)
    X, Y = load_fashion_mnist(data_home=small_home, return_X_y=True)
    assert_array_equal(X, bunch.data)
    assert_array_equal(Y, bunch.target)


def test_as_frame(small_home):
    arrays = load_fashion_mnist(data_home=small_home)
    bunch = load_fashion_mnist(data_home=small_home, as_frame=True)

    assert isinstance(bunch.data, pd.DataFrame)
    assert isinstance(bunch.target, pd.DataFrame)
    assert list(bunch.data.columns) == bunch.feature_names == arrays.feature_names
    assert bunch.feature_names[0] == "pixel1" and bunch.feature_names[-1] == "pixel784"
    assert list(bunch.target.columns) == bunch.target_names == ["item", "group"]
    assert (bunch.data.dtypes == np.float32).all()
    assert (bunch.target.dtypes == np.int64).all()
    assert_array_equal(bunch.data.to_numpy(), arrays.data)
    assert_array_equal(bunch.target.to_numpy(), arrays.target)
    assert list(bunch.frame.columns) == bunch.feature_names + bunch.target_names
    assert_array_equal(bunch.frame[["item", "group"]], arrays.target)
    assert arrays.frame is None  # as scikit-learn's loaders without as_frame


def test_as_frame_return_X_y(small_home):
    X, Y = load_fashion_mnist(data_home=small_home, return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame) and isinstance(Y, pd.DataFrame)
    assert X.shape == (5, 784) and list(Y.columns) == ["item", "group"]


@pytest.mark.parametrize(
    "module, params, match",
    [
        (
            "torchvision",
            {},
            r"load_fashion_mnist needs torchvision: .*skmtl\[datasets\]",
        ),
        (
            "pandas",
            {"as_frame": True},
            r"load_fashion_mnist\(as_frame=True\) needs pandas: .*skmtl\[datasets\]",
        ),
    ],
)
def test_missing_optional_dependency(small_home, monkeypatch, module, params, match):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ImportError, match=match):
        load_fashion_mnist(data_home=small_home, **params)


@pytest.mark.parametrize("subset", ["training", "TRAIN", None])
def test_invalid_subset(small_home, subset):
    with pytest.raises(ValueError, match="subset must be 'train', 'test' or 'all'"):
        load_fashion_mnist(subset=subset, data_home=small_home)


def test_read_only_folder_with_decompressed_files(small_home):
    """Nothing is written, even by root, whom permission bits do not stop."""
    folders = [small_home, small_home / "FashionMNIST", small_home / "FashionMNIST/raw"]
    before = listing(small_home)
    for folder in folders:
        folder.chmod(0o555)
    try:
        bunch = load_fashion_mnist(subset="all", data_home=small_home)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert bunch.data.shape == (8, 784)
    assert listing(small_home) == before


def _truncate(data):
    return data[:-10]


def _header_only(data):
    return data[:3]


def _bad_magic(data):
    return b"\xde\xad\xbe\xef" + data[4:]


def _bad_dtype(data):
    return b"\x00\x00\x09" + data[3:]  # signed bytes instead of unsigned


@pytest.mark.parametrize("corrupt", [_truncate, _header_only, _bad_magic, _bad_dtype])
@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_corrupt_file(small_home, name, corrupt):
    path = small_home / "FashionMNIST" / "raw" / name
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_fashion_mnist(data_home=small_home)


def test_images_and_labels_differ_in_number(small_home):
    raw = small_home / "FashionMNIST" / "raw"
    write_idx(raw / "train-labels-idx1-ubyte", [0, 1, 2])
    with pytest.raises(ValueError, match="3 labels for the 5 images"):
        load_fashion_mnist(data_home=small_home)


def test_label_out_of_range(small_home):
    raw = small_home / "FashionMNIST" / "raw"
    write_idx(raw / "train-labels-idx1-ubyte", [0, 1, 2, 3, 10])
    with pytest.raises(ValueError, match="labels outside 0-9"):
        load_fashion_mnist(data_home=small_home)


def test_images_not_28x28(small_home):
    raw = small_home / "FashionMNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((5, 14, 14)))
    with pytest.raises(ValueError, match="shape 14x14, not 28x28"):
        load_fashion_mnist(data_home=small_home)


@pytest.mark.parametrize("missing", FILES)
def test_missing_file_without_download(small_home, missing):
    raw = small_home / "FashionMNIST" / "raw"
    (raw / missing).unlink()
    with pytest.raises(FileNotFoundError, match="download=False") as excinfo:
        load_fashion_mnist(data_home=small_home, download=False)
    assert_guidance(str(excinfo.value), raw)


def test_failing_download(tmp_path):
    raw = tmp_path / "home" / "FashionMNIST" / "raw"
    with pytest.raises(FileNotFoundError, match="could not be downloaded") as excinfo:
        load_fashion_mnist(data_home=tmp_path / "home")
    assert_guidance(str(excinfo.value), raw)
    assert isinstance(excinfo.value.__cause__, RuntimeError)  # torchvision's


def test_failing_download_url_error(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", fail)
    with pytest.raises(FileNotFoundError, match="could not be downloaded") as excinfo:
        load_fashion_mnist(data_home=tmp_path)
    assert "no network" in str(excinfo.value.__cause__)


def fake_download(url, download_root, filename, md5):
    """Stand in for torchvision's download: write the small decompressed file."""
    name = filename.removesuffix(".gz")
    images, labels = SMALL[name.split("-")[0]]
    write_idx(Path(download_root, name), images if "images" in name else labels)


@pytest.mark.parametrize("read_only", [False, True])
def test_download(tmp_path, monkeypatch, read_only):
    """A download lasts in a writable data_home; a read-only one is left alone."""
    monkeypatch.setattr(
        "torchvision.datasets.mnist.download_and_extract_archive", fake_download
    )
    home = tmp_path / "home"
    home.mkdir(mode=0o555 if read_only else 0o755)
    try:
        bunch = load_fashion_mnist(subset="all", data_home=home / "data")
    finally:
        home.chmod(0o755)
    assert_array_equal(bunch.target[:, 0], SMALL["train"][1] + SMALL["t10k"][1])
    raw = home / "data" / "FashionMNIST" / "raw"
    if read_only:
        assert list(home.iterdir()) == []
    else:
        assert sorted(path.name for path in raw.iterdir()) == sorted(FILES)


def _write_bad_archives(raw):
    """Valid gzipped IDX files, whose MD5s are not those torchvision expects."""
    raw.mkdir(parents=True)
    for prefix, (images, labels) in SMALL.items():
        for kind, array in [("images-idx3", images), ("labels-idx1", labels)]:
            archive = raw / f"{prefix}-{kind}-ubyte.gz"
            archive.write_bytes(gzip.compress(idx_bytes(array)))


@pytest.mark.parametrize("download", [True, False])
def test_archive_with_wrong_md5(tmp_path, download):
    raw = tmp_path / "FashionMNIST" / "raw"
    _write_bad_archives(raw)
    with pytest.raises(FileNotFoundError, match="MD5") as excinfo:
        load_fashion_mnist(data_home=tmp_path, download=download)
    assert_guidance(str(excinfo.value), raw)
    # download=False rejects the archives without asking torchvision.
    assert (excinfo.value.__cause__ is None) == (not download)


def test_read_only_folder_with_wrong_archives(tmp_path):
    """torchvision works on copies of the archives: it writes nothing here."""
    raw = tmp_path / "FashionMNIST" / "raw"
    _write_bad_archives(raw)
    before = listing(tmp_path)
    folders = [tmp_path, tmp_path / "FashionMNIST", raw]
    for folder in folders:
        folder.chmod(0o555)
    try:
        with pytest.raises(FileNotFoundError, match="could not be downloaded"):
            load_fashion_mnist(data_home=tmp_path)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert listing(tmp_path) == before


# The real data, from a read-only folder


@pytest.fixture(scope="module")
def real_listing(fashion_mnist_home):
    """The real data folder's listing, before any test loads from it."""
    return listing(fashion_mnist_home / "FashionMNIST")


@pytest.fixture(scope="module")
def real_train(real_listing, fashion_mnist_home):
    return load_fashion_mnist(subset="train", data_home=fashion_mnist_home)


@pytest.fixture(scope="module")
def real_test(real_listing, fashion_mnist_home):
    return load_fashion_mnist(
        subset="test", data_home=fashion_mnist_home, download=False
    )


@pytest.mark.parametrize(
    "subset, n_samples, group_counts",
    [
        ("train", 60_000, [18_000, 18_000, 24_000]),
        ("test", 10_000, [3_000, 3_000, 4_000]),
    ],
)
def test_real_data(real_train, real_test, subset, n_samples, group_counts):
    bunch = real_train if subset == "train" else real_test
    X, Y = bunch.data, bunch.target

    assert X.shape == (n_samples, 784) and X.dtype == np.float32
    assert Y.shape == (n_samples, 2) and Y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1
    assert_array_equal(np.bincount(Y[:, 0]), [n_samples // 10] * 10)
    assert_array_equal(Y[:, 1], bunch.item_to_group[Y[:, 0]])
    assert_array_equal(np.bincount(Y[:, 1]), group_counts)


def test_real_data_all_return_X_y(real_train, real_test, fashion_mnist_home):
    X, Y = load_fashion_mnist(
        subset="all", data_home=fashion_mnist_home, return_X_y=True
    )

    assert X.shape == (70_000, 784) and Y.shape == (70_000, 2)
    assert_array_equal(X[:60_000], real_train.data)
    assert_array_equal(X[60_000:], real_test.data)
    assert_array_equal(Y, np.concatenate([real_train.target, real_test.target]))


def test_real_data_as_frame_names_the_tasks_for_scorers(real_test, fashion_mnist_home):
    X, Y = load_fashion_mnist(
        subset="test", data_home=fashion_mnist_home, return_X_y=True, as_frame=True
    )
    assert_array_equal(Y, real_test.target)
    X, Y = X[:300], Y[:300]
    clf = MultiTaskClassifier(max_epochs=2, n_iter_no_change=None, random_state=0)
    clf.fit(X, Y)
    assert clf.task_names_ == ["item", "group"]
    expected = np.mean(clf.predict(X)[:, 1] == Y["group"].to_numpy())
    assert task_scorer("group")(clf, X, Y) == pytest.approx(expected)
    # The fitted names serve numpy targets too.
    assert task_scorer("group")(clf, X, Y.to_numpy()) == pytest.approx(expected)


def test_real_archives_in_writable_folder_are_decompressed_there(
    tmp_path, real_test, fashion_mnist_home
):
    real_raw = fashion_mnist_home / "FashionMNIST" / "raw"
    if not all((real_raw / f"{name}.gz").is_file() for name in FILES):
        pytest.skip("the real data folder holds no .gz archives")
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(real_raw / f"{name}.gz", raw / f"{name}.gz")

    bunch = load_fashion_mnist(subset="test", data_home=tmp_path, download=False)

    assert_array_equal(bunch.data, real_test.data)
    assert all((raw / name).is_file() for name in FILES)  # a lasting cache
    (raw / "t10k-images-idx3-ubyte.gz").unlink()  # now read without the archives
    again = load_fashion_mnist(subset="test", data_home=tmp_path, download=False)
    assert_array_equal(again.target, real_test.target)


def test_real_data_folder_is_left_untouched(
    real_listing, real_train, real_test, fashion_mnist_home
):
    assert listing(fashion_mnist_home / "FashionMNIST") == real_listing
