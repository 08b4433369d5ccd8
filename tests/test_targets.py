import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from skmtl._targets import (
    check_labels,
    check_missing_label,
    check_missing_marked,
    check_task_names,
    class_weights,
    fit_targets,
    missing_mask,
    scarce_validation_classes,
    task_names,
)
from skmtl.tasks import Classification


def encode_targets(Y, names, missing_label=None, classes=None):
    """Each task's classes and codes, as fit_targets gives them for
    classification tasks (with ``classes``, those of an earlier fit)."""
    fitted = None
    if classes is not None:
        fitted = [Classification() for _ in classes]
        for task, task_classes in zip(fitted, classes):
            task.classes_ = task_classes
    targets = fit_targets(
        Y,
        [Classification() for _ in names],
        names,
        missing_label,
        None,
        np.float32,
        fitted=fitted,
    )
    return [task.classes_ for task in targets.tasks], targets.values


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
        (
            np.array(["a", None, np.nan, pd.NA, "b"], dtype=object),
            pd.NA,
            [0, 1, 1, 1, 0],
        ),
        (np.array([1.0, np.nan]), pd.NA, [False, True]),
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


def test_task_names_of_columns_that_become_the_same_string():
    y = pd.DataFrame([[0, 1]], columns=[1, "1"])
    with pytest.raises(
        ValueError, match="Columns 1 and '1' of y both give the task name '1'"
    ):
        task_names(y)


@pytest.mark.parametrize(
    "y, message",
    [
        (pd.DataFrame({"x": [0], "x_best": [1]}), "Task 1 is named 'x_best'"),
        (pd.Series([0], name="best"), "Task 0 is named 'best'"),
        (pd.Series([0], name=""), "task 0 is named ''"),
    ],
)
def test_task_names_are_checked(y, message):
    with pytest.raises(ValueError, match=message):
        task_names(y)


@pytest.mark.parametrize(
    "names, message",
    [
        (
            ["a", "b", "a"],
            "Task names must be unique; tasks 0 and 2 are both named 'a'",
        ),
        (["a", ""], "Task names must be non-empty strings; task 1 is named ''"),
        (["a", 3], "Task names must be non-empty strings; task 1 is named 3"),
        (
            ["x", "x_best"],
            "Task 1 is named 'x_best'; a task name must not be 'best' or end in "
            "'_best'",
        ),
        (["best"], "Task 0 is named 'best'"),
    ],
)
def test_check_task_names(names, message):
    with pytest.raises(ValueError, match=message):
        check_task_names(names)


def test_check_task_names_takes_names_that_merely_contain_best():
    check_task_names(["best_item", "bestx", "x_bests", "task_0"])


@pytest.mark.parametrize("marker", [None, -1, "", np.nan, np.float32(np.nan), pd.NA])
def test_check_missing_label_takes_scalars(marker):
    check_missing_label(marker)


@pytest.mark.parametrize(
    "marker, shown",
    [
        ([-1], r"\[-1\]"),
        ((-1, ""), r"\(-1, ''\)"),
        (np.array([-1]), r"array\(\[-1\]\)"),
        ({"a": -1}, r"\{'a': -1\}"),
    ],
)
def test_missing_label_must_be_a_scalar(marker, shown):
    message = "missing_label must be a scalar such as -1, '' or np.nan; got " + shown
    with pytest.raises(ValueError, match=message):
        check_missing_label(marker)
    with pytest.raises(ValueError, match=message):
        encode_targets(np.array([[0], [1]]), ["t"], missing_label=marker)
    with pytest.raises(ValueError, match=message):
        missing_mask(np.array([0, 1]), marker)


def test_balanced_class_weights_count_sample_weight():
    # The review's example: both classes then weigh 3 in all.
    codes = np.array([[0], [0], [1]])
    sample_weight = np.array([1.0, 1.0, 4.0])
    (weights,) = class_weights(
        "balanced", [np.array([0, 1])], codes, ["x"], sample_weight=sample_weight
    )
    np.testing.assert_allclose(weights, [1.5, 0.75])
    totals = np.bincount(codes[:, 0], weights=sample_weight * weights[codes[:, 0]])
    np.testing.assert_allclose(totals, [3, 3])


def test_balanced_class_weights_with_integer_sample_weight_repeat_rows():
    classes = [np.array([0, 1, 2]), np.array(["a", "b"])]
    codes = np.array([[0, 0], [1, -1], [1, 1], [2, 0], [0, 1], [2, -1]])
    sample_weight = np.array([2, 1, 3, 1, 4, 5])
    weighted = class_weights(
        "balanced", classes, codes, ["x", "y"], sample_weight=sample_weight
    )
    repeated = class_weights(
        "balanced", classes, np.repeat(codes, sample_weight, axis=0), ["x", "y"]
    )
    for w, r in zip(weighted, repeated):
        np.testing.assert_allclose(w, r)
    # Only the labelled rows of each task count: rows 1 and 5 lack task y.
    np.testing.assert_allclose(
        weighted[1],
        compute_class_weight(
            "balanced",
            classes=classes[1],
            y=["a", "b", "a", "b"],
            sample_weight=[2, 3, 1, 4],
        ),
    )


def test_sample_weight_is_unused_without_balanced():
    classes = [np.array([0, 1]), np.array([0, 1])]
    codes = np.array([[0, 0], [1, 1]])
    weights = class_weights(
        [None, {1: 2.0}], classes, codes, ["x", "y"], sample_weight=np.array([1, 9])
    )
    np.testing.assert_allclose(weights[0], [1, 1])
    np.testing.assert_allclose(weights[1], [1, 2])


def test_balanced_class_of_zero_total_sample_weight_is_an_error():
    with pytest.raises(
        ValueError,
        match="task 'x': the rows of class 1 have a total sample_weight of 0",
    ):
        class_weights(
            "balanced",
            [np.array([0, 1])],
            np.array([[0], [1], [1]]),
            ["x"],
            sample_weight=np.array([1.0, 0.0, 0.0]),
        )


def test_sample_weight_of_another_length_is_an_error():
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(2,\)"):
        class_weights(
            "balanced", [np.array([0, 1])], np.array([[0], [1]]), ["x"], np.ones(3)
        )


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf, "heavy"])
def test_class_weight_dict_of_bad_weights(value):
    classes = [np.array([0, 1]), np.array(["a", "b"])]
    codes = np.array([[0, 0], [1, 1]])
    message = (
        "class_weight of task 'y': the weight of class 'b' must be a finite number "
        ">= 0; got "
    )
    with pytest.raises(ValueError, match=message):
        class_weights([None, {"a": 1.0, "b": value}], classes, codes, ["x", "y"])
    with pytest.raises(ValueError, match="class_weight of task 'x': .* class 1 must"):
        class_weights({1: value}, classes[:1], codes[:, :1], ["x"])


def test_class_weight_dict_may_give_a_class_no_weight():
    (weights,) = class_weights(
        {0: 0.0}, [np.array([0, 1])], np.array([[0], [1]]), ["x"]
    )
    np.testing.assert_allclose(weights, [0, 1])


def test_class_weights_that_come_out_invalid_are_an_error(monkeypatch):
    # A guard behind the checks above: whatever computes the weights, they must
    # come out finite and >= 0.
    monkeypatch.setattr(
        "skmtl._targets.compute_class_weight", lambda *a, **k: np.array([1, np.inf])
    )
    with pytest.raises(
        ValueError,
        match="class_weight of task 'x' gives class 'b' the weight inf; class "
        "weights must be finite and >= 0",
    ):
        class_weights("balanced", [np.array(["a", "b"])], np.array([[0], [1]]), ["x"])


def test_check_labels_keeps_each_columns_label_type():
    Y = pd.DataFrame(
        {
            "full": pd.array([1, 2, 1], dtype="Int64"),
            "holes": pd.array([1, pd.NA, 2], dtype="Int64"),
            "int": [0, 1, 0],
        }
    )
    labels = check_labels(Y)
    assert labels.dtype == object
    assert labels[1, 1] is pd.NA
    assert check_labels(Y[["full", "int"]]).dtype == np.int64
    assert check_labels(Y["full"]).dtype == np.int64
    assert check_labels(np.array([0.0, np.nan])).dtype == np.float64


def test_check_labels_refuses_infinity():
    with pytest.raises(ValueError, match="Input y contains infinity"):
        check_labels(np.array([0.0, np.inf]))


@pytest.mark.parametrize("marker", [np.nan, pd.NA])
def test_check_missing_marked_takes_nan_markers(marker):
    check_missing_marked(np.array([["a"], [None]], dtype=object), ["t"], marker)


@pytest.mark.parametrize(
    "column, shown",
    [
        (np.array([0.0, np.nan, np.nan]), "2 missing labels (NaN)"),
        (np.array(["a", None, pd.NA], dtype=object), "2 missing labels (None, pd.NA)"),
    ],
)
def test_check_missing_marked_names_the_task_and_the_marker(column, shown):
    Y = np.column_stack([np.zeros(3), column])
    with pytest.raises(ValueError, match="missing_label=np.nan") as err:
        check_missing_marked(Y, ["a", "b"], -1)
    message = str(err.value)
    assert f"y has {shown} in task 'b' (column 1 of y)" in message
    assert "missing_label=-1 does not match them" in message


def test_scarce_validation_classes():
    classes = [np.array(["x", "y"]), np.array([0, 1])]
    # Task 0: 5 and 6 rows; task 1: 9 and 1 (the other row's label is missing).
    codes = np.array([[0] * 5 + [1] * 6, [0] * 9 + [1] + [-1]]).T
    assert scarce_validation_classes(["a", "b"], classes, codes) == [("b", 1, 1)]
    assert scarce_validation_classes(["a", "b"], classes, codes[:0]) == [
        ("a", "x", 0),
        ("b", 0, 0),
    ]
