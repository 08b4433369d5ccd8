import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, log_loss, make_scorer
from sklearn.model_selection import KFold, cross_val_score, cross_validate
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier
from skmtl.metrics import (
    mean_task_scorer,
    subset_accuracy_score,
    subset_accuracy_scorer,
    task_scorer,
)


@pytest.fixture(scope="module")
def fitted(two_tasks):
    X, Y, _, _ = two_tasks
    Y = pd.DataFrame(Y, columns=["item", "group"]).astype(str)
    clf = MultiTaskClassifier(max_epochs=3, lr=0.01, batch_size=32, random_state=0)
    return clf.fit(X, Y), X, Y


def test_task_scorer_scores_one_column(fitted):
    clf, X, Y = fitted
    pred = clf.predict(X)
    for task in (1, "group"):
        expected = np.mean(pred[:, 1] == Y["group"].to_numpy())
        assert task_scorer(task)(clf, X, Y) == pytest.approx(expected)


def test_task_names_come_from_the_fitted_estimator_without_a_dataframe(fitted):
    clf, X, Y = fitted
    assert task_scorer("item")(clf, X, Y.to_numpy()) == task_scorer(0)(clf, X, Y)


def test_any_sklearn_scorer_on_the_task(fitted):
    clf, X, Y = fitted
    score = task_scorer("item", "balanced_accuracy")(clf, X, Y)
    expected = balanced_accuracy_score(Y["item"], clf.predict(X)[:, 0])
    assert score == pytest.approx(expected)


def test_probability_scorers_get_the_task_probabilities(fitted):
    clf, X, Y = fitted
    for t in (0, 1):
        score = task_scorer(t, "neg_log_loss")(clf, X, Y)
        expected = -log_loss(
            Y.iloc[:, t], clf.predict_proba(X)[t], labels=clf.classes_[t]
        )
        assert score == pytest.approx(expected)


def test_binary_task_with_roc_auc_uses_the_positive_class(fitted):
    clf, X, Y = fitted
    assert 0.5 < task_scorer("group", "roc_auc")(clf, X, Y) <= 1.0


def test_made_scorer(fitted):
    clf, X, Y = fitted
    scorer = make_scorer(balanced_accuracy_score, adjusted=True)
    assert task_scorer(0, scorer)(clf, X, Y) <= task_scorer(0)(clf, X, Y)


def test_mean_task_scorer_is_the_mean_of_task_scores(fitted):
    clf, X, Y = fitted
    expected = (task_scorer(0)(clf, X, Y) + task_scorer(1)(clf, X, Y)) / 2
    assert mean_task_scorer()(clf, X, Y) == pytest.approx(expected)


def test_same_scorers_for_multi_task_single_task_and_pipelines(two_tasks):
    X, Y, _, _ = two_tasks
    Y = Y.astype(str)
    scoring = {"item": task_scorer(0), "group": task_scorer(1, "neg_log_loss")}
    fast = {"max_epochs": 3, "lr": 0.01, "random_state": 0}
    models = [
        MultiTaskClassifier(**fast),
        MultiOutputClassifier(MultiTaskClassifier(**fast)),
        make_pipeline(StandardScaler(), MultiTaskClassifier(**fast)),
    ]
    for model in models:
        result = cross_validate(model, X, Y, cv=2, scoring=scoring)
        assert np.all((result["test_item"] > 0) & (result["test_item"] <= 1))
        assert np.all(result["test_group"] < 0)


def test_task_names_through_a_pipeline(two_tasks):
    X, Y, _, _ = two_tasks
    Y = pd.DataFrame(Y, columns=["item", "group"]).astype(str)
    pipe = make_pipeline(StandardScaler(), MultiTaskClassifier(max_epochs=1))
    pipe.fit(X, Y)
    assert task_scorer("group")(pipe, X, Y.to_numpy()) == task_scorer(1)(pipe, X, Y)


def test_unknown_task_name(fitted):
    clf, X, Y = fitted
    with pytest.raises(ValueError, match="Unknown task 'colour'"):
        task_scorer("colour")(clf, X, Y)


def test_task_index_out_of_range(fitted):
    clf, X, Y = fitted
    with pytest.raises(ValueError, match="Task index 2 is out of range for 2 tasks"):
        task_scorer(2)(clf, X, Y)


def test_single_output_y_is_an_error(fitted):
    clf, X, Y = fitted
    with pytest.raises(ValueError, match="need y of shape \\(n_samples, n_tasks\\)"):
        task_scorer(0)(clf, X, Y["item"])


def test_task_scorers_skip_missing_labels(fitted):
    clf, X, Y = fitted
    labelled = np.arange(len(X)) % 3 > 0
    Y_partial = Y.assign(group=Y["group"].where(labelled, "?"))
    pred = clf.predict(X)[:, 1]
    expected = np.mean(pred[labelled] == Y["group"].to_numpy()[labelled])
    score = task_scorer("group", missing_label="?")(clf, X, Y_partial)
    assert score == pytest.approx(expected)
    item = task_scorer("item", missing_label="?")(clf, X, Y_partial)
    mean = mean_task_scorer(missing_label="?")(clf, X, Y_partial)
    assert mean == pytest.approx((item + expected) / 2)


def test_task_scorer_weights_follow_the_kept_rows(fitted):
    clf, X, Y = fitted
    labelled = np.arange(len(X)) % 2 == 0
    Y_partial = Y.assign(group=Y["group"].where(labelled, "?"))
    weights = np.linspace(0.1, 1, len(X))
    score = task_scorer(1, missing_label="?")(clf, X, Y_partial, sample_weight=weights)
    right = clf.predict(X)[:, 1] == Y["group"].to_numpy()
    expected = np.average(right[labelled], weights=weights[labelled])
    assert score == pytest.approx(expected)


# Three rows of two tasks: the first all right, the second wrong on the group,
# the third wrong on the item.
_Y_TRUE = np.array([[0, "a"], [1, "b"], [2, "b"]], dtype=object)
_Y_PRED = np.array([[0, "a"], [1, "a"], [3, "b"]], dtype=object)


def test_subset_accuracy_counts_rows_with_every_task_right():
    assert subset_accuracy_score(_Y_TRUE, _Y_PRED) == pytest.approx(1 / 3)
    assert subset_accuracy_score(_Y_TRUE, _Y_TRUE) == 1.0
    weights = [1.0, 0.0, 3.0]
    assert subset_accuracy_score(
        _Y_TRUE, _Y_PRED, sample_weight=weights
    ) == pytest.approx(1 / 4)
    # One task, as a 1-D array or one column: plain accuracy.
    assert subset_accuracy_score([0, 1, 2], [0, 1, 1]) == pytest.approx(2 / 3)
    assert subset_accuracy_score([[0], [1]], [[0], [0]]) == 0.5


def test_subset_accuracy_skips_missing_labels():
    Y_true = np.array([[0, np.nan], [np.nan, np.nan], [2, 1.0], [1, 0.0]])
    Y_pred = np.array([[0, 5.0], [9, 9.0], [2, 0.0], [1, 0.0]])
    # Row 0 is right on its one label, row 1 has none and is left out.
    score = subset_accuracy_score(Y_true, Y_pred, missing_label=np.nan)
    assert score == pytest.approx(2 / 3)
    # The group's wrong predictions fall where it is unlabelled.
    Y_true = np.array([[0, "a"], [1, ""], [3, ""]], dtype=object)
    assert subset_accuracy_score(Y_true, _Y_PRED, missing_label="") == 1.0
    assert subset_accuracy_score(Y_true, _Y_PRED) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="every label is missing"):
        subset_accuracy_score([[np.nan]], [[1.0]], missing_label=np.nan)


def test_subset_accuracy_matches_the_classifier_score(fitted):
    clf, X, Y = fitted
    expected = clf.score(X, Y)
    assert subset_accuracy_score(Y, clf.predict(X)) == expected
    assert subset_accuracy_scorer(clf, X, Y) == expected


@pytest.mark.parametrize(
    "Y_true, Y_pred, match",
    [
        (np.zeros((3, 2)), np.zeros((4, 2)), "inconsistent numbers of samples"),
        (np.zeros((3, 2)), np.zeros((3, 3)), "Y_true has 2 tasks .* Y_pred has 3"),
        (np.zeros((3, 2, 1)), np.zeros((3, 2)), "Y_true must have shape"),
        (np.zeros((3, 2)), np.zeros(3), "Y_true has 2 tasks .* Y_pred has 1"),
    ],
)
def test_subset_accuracy_shape_errors(Y_true, Y_pred, match):
    with pytest.raises(ValueError, match=match):
        subset_accuracy_score(Y_true, Y_pred)


def test_subset_accuracy_sample_weight_errors():
    with pytest.raises(ValueError, match="sample_weight.shape == \\(2,\\)"):
        subset_accuracy_score(_Y_TRUE, _Y_PRED, sample_weight=[1, 2])
    with pytest.raises(ValueError, match="Negative values"):
        subset_accuracy_score(_Y_TRUE, _Y_PRED, sample_weight=[1, -1, 1])


def test_subset_accuracy_scorer_compares_native_multi_output_models(two_tasks):
    X, Y, _, _ = two_tasks
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    # scikit-learn's accuracy refuses multiclass-multioutput targets.
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        cross_val_score(forest, X, Y, cv=3, scoring="accuracy", error_score="raise")
    # So does the forest's own score, scikit-learn's accuracy.
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        cross_val_score(forest, X, Y, cv=3, error_score="raise")
    scores = cross_val_score(forest, X, Y, cv=3, scoring=subset_accuracy_scorer)
    cv = KFold(3)  # cross_val_score's splits for these targets
    expected = [
        np.mean(np.all(forest.fit(X[tr], Y[tr]).predict(X[te]) == Y[te], axis=1))
        for tr, te in cv.split(X)
    ]
    np.testing.assert_allclose(scores, expected)
    assert np.all((scores > 0.5) & (scores <= 1))
    mtl = MultiTaskClassifier(max_epochs=3, lr=0.01, batch_size=32, random_state=0)
    np.testing.assert_allclose(
        cross_val_score(mtl, X, Y, cv=3, scoring=subset_accuracy_scorer),
        cross_val_score(mtl, X, Y, cv=3),
    )


def test_a_task_scorer_scores_a_net_fitted_on_one_column():
    """A one-column y trains a single-task net, whose predict is 1-D."""
    import warnings

    import pandas as pd
    from sklearn.exceptions import DataConversionWarning

    from skmtl import MultiTaskClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    Y = pd.DataFrame({"sign": np.where(X[:, 0] > 0, "+", "-")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)
        clf = MultiTaskClassifier(max_epochs=5, n_iter_no_change=None).fit(X, Y)
    expected = np.mean(clf.predict(X) == Y["sign"].to_numpy())
    assert task_scorer("sign")(clf, X, Y) == pytest.approx(expected)
    assert task_scorer(0)(clf, X, Y) == pytest.approx(expected)
    assert task_scorer(0, "neg_log_loss")(clf, X, Y) == pytest.approx(
        -log_loss(Y["sign"], clf.predict_proba(X), labels=clf.classes_)
    )
