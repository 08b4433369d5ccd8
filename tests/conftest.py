import numpy as np
import pytest
from sklearn.datasets import make_classification


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
