"""Fashion-MNIST as a two-task problem: the item, and the group it belongs to."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._optional import import_optional
from ._base import get_data_home, loader_result

ITEMS = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
GROUPS = ["shoes", "gendered", "unisex"]
# The group code of each item code, in the order of ITEMS.
ITEM_TO_GROUP = np.array([2, 2, 2, 1, 2, 0, 1, 0, 1, 0], dtype=np.int64)

# The four files, as torchvision names them: "<name>.gz" is the original archive.
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FILES = [*_SPLIT_FILES["train"], *_SPLIT_FILES["test"]]
# The pixel columns of as_frame=True, named as in OpenML's Fashion-MNIST.
FEATURE_NAMES = [f"pixel{i}" for i in range(1, 28 * 28 + 1)]
TARGET_NAMES = ["item", "group"]

DESCR = """\
.. _fashion_mnist_dataset:

Fashion-MNIST, with two tasks
-----------------------------

**Data Set Characteristics:**

    :Number of Instances: 70,000 (60,000 train, 10,000 test)
    :Number of Attributes: 784 (28x28 grey-scale pixels, scaled to [0, 1])
    :Targets: 2 tasks, ``item`` (10 classes) and ``group`` (3 classes)
    :Creator: Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf), 2017
    :License: MIT

Fashion-MNIST holds 28x28 grey-scale images of Zalando's articles, each labelled
with one of 10 classes. It has the format and the train/test split of MNIST:
60,000 training and 10,000 test images, 6,000 and 1,000 per class.

skmtl gives each image two targets, one per task:

- ``item`` (column 0), the Fashion-MNIST class: 0 T-shirt/top, 1 Trouser,
  2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
- ``group`` (column 1), a coarser grouping of the items:

  - 0 shoes: Sandal, Sneaker, Ankle boot;
  - 1 gendered: Dress, Shirt, Bag;
  - 2 unisex: T-shirt/top, Trouser, Pullover, Coat.

The group is a function of the item (``item_to_group``), so the two tasks are
related: a model that gets the item right gets the group right too. The groups
hold 18,000, 18,000 and 24,000 training images (3,000, 3,000 and 4,000 test
images).

.. rubric:: References

- Han Xiao, Kashif Rasul and Roland Vollgraf (2017). Fashion-MNIST: a Novel Image
  Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747.
"""


def load_fashion_mnist(
    *, subset="train", data_home=None, download=True, return_X_y=False, as_frame=False
):
    """Load Fashion-MNIST with two targets: the item and its group.

    The files are read from ``<data_home>/FashionMNIST/raw/``, the layout of
    :class:`torchvision.datasets.FashionMNIST`, which downloads them if needed and
    checks them. That folder holds the four decompressed files, or their original
    ``.gz`` archives. When it may be written to, torchvision decompresses the
    archives there, once; when it is read-only, it decompresses copies of them into
    a temporary folder, on each call, and nothing is written into ``data_home``.
    Loading needs torchvision, and ``as_frame=True`` pandas, optional
    dependencies: ``pip install 'skmtl[datasets]'``.

    Read more in the ``DESCR`` of the returned Bunch.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The split to load: the 60,000 training images, the 10,000 test images, or
        all 70,000, training images first.

    data_home : str or path-like, default=None
        The data folder, see :func:`~skmtl.datasets.get_data_home`. If None, use
        the environment variable ``SKMTL_DATA``, else ``~/skmtl_data``.

    download : bool, default=True
        If True, download the files that are missing (or whose archive is
        corrupt). If False, raise a FileNotFoundError instead.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, the data is a pandas DataFrame with one column per pixel
        (``pixel1`` to ``pixel784``, float32) and the target a DataFrame with
        one int64 column per task, ``item`` and ``group``, so that estimators
        and :func:`~skmtl.metrics.task_scorer` know the tasks by name. The
        Bunch also gets ``frame``, both side by side.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (n_samples, 784)
            The images, one row each, with float32 pixel values in [0, 1].
        target : {ndarray, DataFrame} of shape (n_samples, 2), dtype=int64
            Column 0 is the ``item`` code (0-9), column 1 the ``group`` code
            (0-2).
        frame : DataFrame of shape (n_samples, 786)
            Only with ``as_frame=True``: the data, then the target.
        feature_names : list of str
            The names of the pixel columns: ``["pixel1", ..., "pixel784"]``.
        target_names : list of str
            The names of the tasks: ``["item", "group"]``.
        target_classes : dict of str to list of str
            The class names of each task, indexed by its codes.
        item_to_group : ndarray of shape (10,), dtype=int64
            The group code of each item code.
        DESCR : str
            The description of the data set.

    (data, target) : tuple if ``return_X_y`` is True
        The arrays, or DataFrames, described above.

    Raises
    ------
    FileNotFoundError
        If the files are not there and cannot be downloaded.
    ImportError
        If torchvision, or pandas with ``as_frame=True``, is not installed.
    ValueError
        If a decompressed file is corrupt.

    Examples
    --------
    >>> from skmtl.datasets import load_fashion_mnist
    >>> bunch = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> bunch.data.shape, bunch.target.shape  # doctest: +SKIP
    ((10000, 784), (10000, 2))
    >>> bunch.target_names  # doctest: +SKIP
    ['item', 'group']
    >>> X, Y = load_fashion_mnist(return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (60000, 784)
    >>> X, Y = load_fashion_mnist(return_X_y=True, as_frame=True)  # doctest: +SKIP
    >>> list(Y.columns)  # doctest: +SKIP
    ['item', 'group']
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    import_optional("torchvision", "load_fashion_mnist")
    if as_frame:
        # Before reading anything: the error names the loader.
        import_optional("pandas", "load_fashion_mnist(as_frame=True)")
    splits = ["train", "test"] if subset == "all" else [subset]
    with _raw_folder(get_data_home(data_home), download) as raw:
        images, items = zip(*[_read_split(raw, split) for split in splits], strict=True)

    data = np.concatenate(images).reshape(-1, 28 * 28).astype(np.float32)
    data /= 255
    item = np.concatenate(items).astype(np.int64)
    target = np.column_stack([item, ITEM_TO_GROUP[item]])
    return loader_result(
        data,
        target,
        FEATURE_NAMES,
        TARGET_NAMES,
        as_frame=as_frame,
        return_X_y=return_X_y,
        target_classes={"item": list(ITEMS), "group": list(GROUPS)},
        item_to_group=ITEM_TO_GROUP.copy(),
        DESCR=DESCR,
    )


@contextlib.contextmanager
def _raw_folder(data_home, download):
    """Yield a folder that holds the four decompressed files."""
    from torchvision.datasets import FashionMNIST
    from torchvision.datasets.utils import check_integrity

    raw = data_home / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in _FILES):
        yield raw
        return
    # torchvision decompresses the archives only in download(), which downloads an
    # archive only if it is missing or fails its MD5 check: check that first.
    if not download and not all(
        check_integrity(raw / archive, md5) for archive, md5 in FashionMNIST.resources
    ):
        raise _not_found(raw, download)
    if _is_writable(raw):
        _fetch(data_home, raw, download)
        yield raw
        return
    with tempfile.TemporaryDirectory(prefix="skmtl-") as tmp:
        tmp_raw = Path(tmp, "FashionMNIST", "raw")
        tmp_raw.mkdir(parents=True)
        # Copies, not links: torchvision overwrites an archive whose MD5 is wrong,
        # and root may write through a link into a folder without write bits.
        for archive, _ in FashionMNIST.resources:
            if (raw / archive).is_file():
                shutil.copyfile(raw / archive, tmp_raw / archive)
        _fetch(tmp, raw, download)
        yield tmp_raw


def _fetch(root, raw, download):
    """Have torchvision download, check and decompress the files under ``root``."""
    from torchvision.datasets import FashionMNIST

    try:
        # This also reads the test split, which is small; we read the files later.
        FashionMNIST(root, train=False, download=True)
    except (OSError, RuntimeError) as err:
        raise _not_found(raw, download) from err


def _is_writable(folder):
    """Whether files may be created in ``folder``, or its deepest existing parent.

    A folder without write permission bits counts as read-only, even for root,
    whom ``os.access`` allows to write there.
    """
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _not_found(raw, download):
    how = "could not be downloaded" if download else "download=False"
    return FileNotFoundError(
        f"Fashion-MNIST was not found in {raw} ({how}).\n"
        f"Expected the files {', '.join(_FILES)}, or their original .gz archives "
        "(which must match torchvision's MD5 checksums). To provide them:\n"
        "- put the files in that folder;\n"
        "- or set the environment variable SKMTL_DATA, or the data_home argument, "
        "to a folder that holds FashionMNIST/raw/ with the files;\n"
        "- or, on Debian/Ubuntu, `apt-get install dataset-fashion-mnist` and "
        "decompress (gunzip) its files from /usr/share/datasets/fashion-mnist/ into "
        "that folder (its .gz archives have other MD5s)."
    )


def _read_split(raw, split):
    """Read the images and labels of one split, checking that they match."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    image_file, label_file = (raw / name for name in _SPLIT_FILES[split])
    images = _read_idx(image_file, read_image_file)
    labels = _read_idx(label_file, read_label_file)
    if images.shape[1:] != (28, 28):
        shape = "x".join(map(str, images.shape[1:]))
        raise ValueError(f"{image_file} holds images of shape {shape}, not 28x28.")
    if len(labels) != len(images):
        raise ValueError(
            f"{label_file} holds {len(labels)} labels for the {len(images)} "
            f"images of {image_file}."
        )
    if np.any(labels > 9):
        raise ValueError(f"{label_file} holds labels outside 0-9.")
    return images, labels


def _read_idx(path, reader):
    """Read an IDX file with torchvision's reader, naming the file if it fails."""
    try:
        return reader(os.fspath(path)).numpy()
    except (AssertionError, KeyError, RuntimeError, TypeError, ValueError) as err:
        raise ValueError(
            f"{path} is not a valid IDX file; it may be corrupt or truncated ({err!r})."
        ) from err
