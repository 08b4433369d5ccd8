import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from skmtl._targets import (
    class_weights,
    encode_targets,
    missing_mask,
    task_names,
)


@pytest.mark.parametrize(
    "column, marker, expected",
    [
        (np.array([1, -1, 2]), -1, [False, True, False]),
        (np.array(["a", "", "b"]), "", [False, True, False]),
        (np.array([1.0, np.nan, 2.0]), np.nan, [False, True, False]),
        (
            np.array(["a", None, np.nan, pd.NA, "b"], dtype=object),
            np.nan,
            [0, 1, 1, 1, 0],
        ),
        (np.array([1, 2, 3]), np.nan, [False, False, False]),
        (np.array(["a", "b"]), -1, [False, False]),
        (np.array([1, -1]), None, [False, False]),
    ],
)
def test_missing_mask(column, marker, expected):
    np.testing.assert_array_equal(
        missing_mask(column, marker), np.array(expected, bool)
    )


def test_encode_targets_codes_missing_labels_as_minus_one():
    Y = np.array([[3, "x"], [1, ""], [3, "y"], [2, "x"]], dtype=object)
    classes, codes = encode_targets(Y, ["a", "b"], missing_label="")
    np.testing.assert_array_equal(classes[0], [1, 2, 3])
    np.testing.assert_array_equal(classes[1], ["x", "y"])
    np.testing.assert_array_equal(codes, [[2, 0], [0, -1], [2, 1], [1, 0]])


def test_encode_targets_with_known_classes():
    classes, codes = encode_targets(
        np.array([["b"], ["a"]]), ["t"], classes=[np.array(["a", "b", "c"])]
    )
    np.testing.assert_array_equal(codes[:, 0], [1, 0])
    with pytest.raises(ValueError, match=r"Task 't' has labels not seen .*\['d'\]"):
        encode_targets(np.array([["d"]]), ["t"], classes=[np.array(["a", "b"])])


def test_a_task_without_labels_is_an_error():
    Y = np.array([[0, -1], [1, -1]])
    with pytest.raises(ValueError, match="Task 'group' has no labels: all of its 2"):
        encode_targets(Y, ["item", "group"], missing_label=-1)


def test_a_task_with_one_class_besides_missing_labels_is_an_error():
    Y = np.array([[0, 5], [1, -1]])
    with pytest.raises(ValueError, match="Task 'group' has only one class"):
        encode_targets(Y, ["item", "group"], missing_label=-1)


def test_mixed_label_types_are_an_error():
    Y = np.array([[1], ["a"]], dtype=object)
    with pytest.raises(ValueError, match="Task 't' mixes string and numeric labels"):
        encode_targets(Y, ["t"])


def test_class_weights_balanced_counts_only_present_labels():
    classes = [np.array([0, 1]), np.array(["a", "b", "c"])]
    codes = np.array([[0, 0], [0, -1], [1, 0], [0, 2], [1, 1]])
    weights = class_weights("balanced", classes, codes, ["x", "y"])
    np.testing.assert_allclose(
        weights[0],
        compute_class_weight("balanced", classes=classes[0], y=[0, 0, 1, 0, 1]),
    )
    np.testing.assert_allclose(
        weights[1],
        compute_class_weight("balanced", classes=classes[1], y=["a", "a", "c", "b"]),
    )


def test_class_weights_per_task_list_and_single_dict():
    classes = [np.array([0, 1]), np.array(["a", "b"])]
    codes = np.array([[0, 0], [1, 1]])
    weights = class_weights([None, {"a": 3.0}], classes, codes, ["x", "y"])
    np.testing.assert_allclose(weights[0], [1, 1])
    np.testing.assert_allclose(weights[1], [3, 1])
    single = class_weights({1: 5.0}, classes[:1], codes[:, :1], ["x"])
    np.testing.assert_allclose(single[0], [1, 5])


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: 2.0}, "class_weight is one dict but y has several tasks"),
        ([None], "class_weight has 1 entries for 2 tasks"),
        ([None, {"z": 2.0}], "class_weight of task 'y'"),
    ],
)
def test_bad_class_weights(class_weight, message):
    classes = [np.array([0, 1]), np.array(["a", "b"])]
    codes = np.array([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match=message):
        class_weights(class_weight, classes, codes, ["x", "y"])


def test_task_names():
    assert task_names(pd.DataFrame({"a": [1], 3: [2]})) == ["a", "3"]
    assert task_names(pd.Series([1], name="group")) == ["group"]
    assert task_names(np.zeros((2, 2))) is None
