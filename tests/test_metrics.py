import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, log_loss, make_scorer
from sklearn.model_selection import cross_validate
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier
from skmtl.metrics import mean_task_scorer, task_scorer


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
