from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification

from skmtl.datasets import get_data_home


@pytest.fixture(scope="session")
def two_tasks():
    """A small two-task problem shaped like the study: a 4-class item task and a
    2-class group task that is a function of it, with string group labels."""
    X, item = make_classification(
        n_samples=240,
        n_features=8,
        n_informative=6,
        n_classes=4,
        n_clusters_per_class=1,
        class_sep=2.0,
        random_state=0,
    )
    group = np.array(["even", "odd"])[item % 2]
    return X, np.column_stack([item, group]).astype(object), item, group


_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def fashion_mnist_home():
    """A folder holding the real Fashion-MNIST files (read-only in CI), or skip.

    The shared folder beside the project comes first, then ``SKMTL_DATA``.
    """
    for home in (_SHARED_DATA, get_data_home()):
        if (home / "FashionMNIST" / "raw").is_dir():
            return home
    pytest.skip("Fashion-MNIST files not found in ../shared/data or SKMTL_DATA")
