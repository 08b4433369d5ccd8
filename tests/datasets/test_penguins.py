import hashlib
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from skmtl import MultiTaskClassifier
from skmtl.datasets import load_penguins

# penguins.csv of palmerpenguins 0.1.6 on PyPI, as it is.
_SHA256 = "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93"


def test_the_shipped_file_is_palmerpenguins_own():
    data = resources.files("skmtl.datasets").joinpath("data", "penguins.csv")
    assert hashlib.sha256(data.read_bytes()).hexdigest() == _SHA256


def test_bunch():
    bunch = load_penguins()
    assert bunch.data.shape == (342, 4)
    assert bunch.data.dtype == np.float64
    assert bunch.target.shape == (342, 3)
    assert bunch.frame is None
    assert bunch.target_names == ["species", "island", "sex"]
    assert bunch.feature_names == [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
    ]
    assert bunch.target_classes == {
        "species": ["Adelie", "Chinstrap", "Gentoo"],
        "island": ["Biscoe", "Dream", "Torgersen"],
        "sex": ["female", "male"],
    }
    assert "Gorman" in bunch.DESCR and "CC0" in bunch.DESCR
    # The first penguin of the file, and the counts DESCR gives.
    np.testing.assert_array_equal(bunch.data[0], [39.1, 18.7, 181, 3750])
    labels, counts = np.unique(bunch.target[:, 0], return_counts=True)
    assert dict(zip(labels, counts)) == {"Adelie": 151, "Chinstrap": 68, "Gentoo": 123}


def test_missing_sex_is_nan_and_nothing_else_is_missing():
    data, target = load_penguins(return_X_y=True)
    assert np.isfinite(data).all()
    missing = pd.isna(target)
    assert missing[:, :2].sum() == 0
    assert missing[:, 2].sum() == 9


def test_as_frame():
    bunch = load_penguins(as_frame=True)
    assert list(bunch.frame.columns) == bunch.feature_names + bunch.target_names
    assert bunch.data.shape == (342, 4) and bunch.target.shape == (342, 3)
    assert (bunch.data.dtypes == np.float64).all()
    assert bunch.target["sex"].isna().sum() == 9
    X, Y = load_penguins(return_X_y=True, as_frame=True)
    pd.testing.assert_frame_equal(Y, bunch.target)
    np.testing.assert_array_equal(X.to_numpy(), load_penguins().data)


def test_the_missing_sex_needs_a_marker_and_trains_with_nan():
    X, Y = load_penguins(return_X_y=True, as_frame=True)
    X = (X - X.mean()) / X.std()
    with pytest.raises(ValueError, match=r"\(NaN\) in task 'sex' \(column 2"):
        MultiTaskClassifier(max_epochs=1).fit(X, Y)
    clf = MultiTaskClassifier(
        missing_label=np.nan, max_epochs=2, n_iter_no_change=None, random_state=0
    ).fit(X, Y)
    assert clf.task_names_ == ["species", "island", "sex"]
    assert set(clf.predict(X)[:, 2]) <= {"female", "male"}
