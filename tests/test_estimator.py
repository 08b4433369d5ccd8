"""MultiTaskEstimator: tasks of several kinds in one net."""

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier, MultiTaskEstimator, MultiTaskRegressor
from skmtl.metrics import mean_task_scorer, task_scorer
from skmtl.tasks import Classification, Regression

_FAST = {"max_epochs": 30, "n_iter_no_change": None, "lr": 0.01, "random_state": 0}
KINDS = ["classification", "regression", "classification"]


@pytest.fixture(scope="module")
def data():
    """A class, a price and an int label, in a DataFrame."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 6))
    Y = pd.DataFrame(
        {
            "kind": np.where(X[:, 0] + X[:, 1] > 0, "big", "small"),
            "price": 200 * X[:, 1] + 30 * X[:, 2] + 1000,
            "level": (X[:, 2] > 0).astype(int) + (X[:, 3] > 0),
        }
    )
    return X, Y


def _fit(X, Y, tasks=KINDS, **params):
    return MultiTaskEstimator(tasks, **{**_FAST, **params}).fit(X, Y)


def test_mixed_tasks_learn_and_predict_in_their_own_types(data):
    X, Y = data
    est = _fit(X, Y)
    Y_pred = est.predict(X)
    assert Y_pred.shape == (240, 3) and Y_pred.dtype == object
    assert {type(v) for v in Y_pred[:, 0]} == {str}
    assert {type(v) for v in Y_pred[:, 1]} == {float}
    assert {type(v) for v in Y_pred[:, 2]} == {int}
    assert accuracy_score(Y["kind"], Y_pred[:, 0].astype(str)) > 0.9
    assert r2_score(Y["price"], Y_pred[:, 1].astype(float)) > 0.9
    assert est.task_names_ == ["kind", "price", "level"]
    assert est.classes_[1] is None and list(est.classes_[2]) == [0, 1, 2]
    assert [t.kind for t in est.tasks_] == KINDS


def test_predict_proba_gives_the_classification_tasks(data):
    X, Y = data
    est = _fit(X, Y, max_epochs=3)
    proba = est.predict_proba(X[:5])
    assert proba[0].shape == (5, 2) and proba[1] is None and proba[2].shape == (5, 3)
    np.testing.assert_allclose(proba[2].sum(axis=1), 1.0)
    assert not hasattr(MultiTaskEstimator(["regression"]), "predict_proba"), (
        "a regression-only estimator has no probabilities"
    )


def test_score_is_the_mean_of_each_tasks_metric(data):
    X, Y = data
    est = _fit(X, Y, max_epochs=5)
    Y_pred = est.predict(X)
    expected = np.mean(
        [
            accuracy_score(Y["kind"], Y_pred[:, 0].astype(str)),
            r2_score(Y["price"], Y_pred[:, 1].astype(float)),
            accuracy_score(Y["level"], Y_pred[:, 2].astype(int)),
        ]
    )
    assert est.score(X, Y) == pytest.approx(expected)
    assert mean_task_scorer()(est, X, Y) == pytest.approx(expected)
    assert task_scorer("price")(est, X, Y) == pytest.approx(
        r2_score(Y["price"], Y_pred[:, 1].astype(float))
    )
    assert task_scorer("kind", "balanced_accuracy")(est, X, Y) > 0.5


def test_the_history_scores_each_task_by_its_kind(data):
    X, Y = data
    est = _fit(X, Y, max_epochs=2, validation_fraction=0.2)
    last = est.net_.history[-1]
    assert {"valid_acc_kind", "valid_r2_price", "valid_acc_level"} <= set(last)
    assert "valid_acc_price" not in last
    assert last["valid_acc"] == pytest.approx(
        (last["valid_acc_kind"] + last["valid_acc_level"]) / 2
    )
    assert last["valid_r2"] == last["valid_r2_price"]
    assert last["valid_score"] == pytest.approx(
        (last["valid_acc_kind"] + last["valid_r2_price"] + last["valid_acc_level"]) / 3
    )


def test_task_objects_carry_their_settings(data):
    X, Y = data
    tasks = [
        Classification(class_weight="balanced"),
        Regression(loss="huber", delta=0.5, target_scaling=False),
        "classification",
    ]
    est = _fit(X, Y, tasks=tasks, max_epochs=3, lr=1e-4)
    assert est.tasks_[1].scale_ == 1.0 and est.tasks_[1].delta == 0.5
    assert est.tasks_[0].class_weight == "balanced"
    # The parameter's objects stay unfitted, as estimators in a meta-estimator.
    assert not hasattr(tasks[1], "scale_")


def test_partial_labels_of_both_kinds(data):
    X, Y = data
    Y = Y.astype(object)
    Y.iloc[::3, 0] = np.nan
    Y.iloc[1::3, 1] = np.nan
    est = _fit(X, Y, missing_label=np.nan, max_epochs=5)
    assert est.net_.history[-1, "train_count_kind"] == 160
    assert est.net_.history[-1, "train_count_price"] == 160
    assert np.isfinite(est.score(X, Y))


@pytest.mark.parametrize("strategy", [None, "uncertainty", "gradnorm", "dwa", "upgrad"])
def test_every_strategy_trains_mixed_tasks(data, strategy):
    pytest.importorskip("torchjd")
    X, Y = data
    est = _fit(X, Y, loss_weighting=strategy, max_epochs=10)
    assert est.score(X, Y) > 0.6


def test_early_stopping_warm_start_and_saving(data, tmp_path):
    X, Y = data
    est = _fit(X, Y, early_stopping=True, n_iter_no_change=3, max_epochs=20)
    assert est.best_validation_score_ == pytest.approx(
        max(est.net_.history[:, "valid_score"])
    )
    est.set_params(warm_start=True, max_epochs=2, early_stopping=False).fit(X, Y)
    assert est.tasks_[1].mean_ == pytest.approx(Y["price"].mean())
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    path = tmp_path / "est.skops"
    est.set_params(tasks=[Classification(), Regression(loss="huber"), "classification"])
    sio.dump(est, path)
    # Task objects are saved as plain data: only the estimator and optimizer
    # are types to trust.
    assert sio.get_untrusted_types(file=path) == [
        "skmtl._estimator.MultiTaskEstimator",
        "torch.optim.adam.Adam",
    ]
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.get_params()["tasks"][1].loss == "huber"


def test_a_search_over_task_settings(data):
    X, Y = data
    search = GridSearchCV(
        MultiTaskEstimator(KINDS, **{**_FAST, "max_epochs": 3}),
        {
            "tasks": [
                KINDS,
                ["classification", Regression(loss="huber"), "classification"],
            ]
        },
        cv=2,
    ).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    "tasks, message",
    [
        (None, "needs tasks"),
        (["regression"], "tasks has 1 entries, but y has 3"),
        (["classification", "ranking", "regression"], r"tasks\[1\] must be"),
        (["classification"] * 3, "continuous labels.*MultiTaskRegressor"),
    ],
)
def test_bad_tasks_are_named(data, tasks, message):
    X, Y = data
    with pytest.raises(ValueError, match=message):
        MultiTaskEstimator(tasks, max_epochs=1).fit(X, Y)


def test_the_estimators_of_one_kind_are_this_estimator():
    assert issubclass(MultiTaskClassifier, MultiTaskEstimator)
    assert issubclass(MultiTaskRegressor, MultiTaskEstimator)
    assert "tasks" not in MultiTaskClassifier().get_params()
    assert "tasks" not in MultiTaskRegressor().get_params()


def test_zero_weighted_rows_are_dropped_rows_and_memmaps_train(data, tmp_path):
    X, Y = data
    weights = np.where(np.arange(len(X)) % 4 == 0, 0.0, 1.0)
    kept = weights > 0
    # Rows of weight 0 are left out before batching: both fits see the same
    # batches, so their float32 results are the same bits on any CPU.
    weighted = _fit(X, Y, max_epochs=3).fit(X, Y, sample_weight=weights)
    dropped = _fit(X[kept], Y[kept], max_epochs=3)
    np.testing.assert_array_equal(weighted.predict(X), dropped.predict(X))
    assert weighted.tasks_[1].mean_ == pytest.approx(Y["price"][kept].mean())
    stored = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=X.shape
    )
    stored[:] = X
    from_memmap = _fit(stored, Y, max_epochs=3)
    from_array = _fit(X.astype(np.float32), Y, max_epochs=3)
    np.testing.assert_array_equal(from_memmap.predict(X), from_array.predict(X))


# Per-task model selection: early_stopping="per_task"


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:500]
    y = y[:500]
    return X, np.column_stack([y, y % 2, y >= 5])


def _per_task(X, Y, **params):
    defaults = {"max_epochs": 12, "n_iter_no_change": None, "random_state": 0}
    return MultiTaskClassifier(early_stopping="per_task", **{**defaults, **params}).fit(
        X, Y
    )


def test_each_task_answers_from_its_own_best_epoch(digits):
    """Exactly: task t's predictions are those of the same net trained for
    best_epoch_[t] epochs, on the same rows with the same seed. Equal bits in
    float32 too: both fits run the same operations on the same batches, in
    one process, so they round alike on any CPU."""
    X, Y = digits
    clf = _per_task(X, Y)
    history = clf.net_.history
    for t, name in enumerate(clf.task_names_):
        scores = history[:, f"valid_acc_{name}"]
        assert clf.best_epoch_[t] == int(np.argmax(scores)) + 1
        assert clf.best_validation_score_[t] == max(scores)
    assert len(set(clf.best_epoch_)) > 1, "the tasks should peak apart here"
    Y_pred, proba = clf.predict(X), clf.predict_proba(X)
    for t in range(3):
        alone = MultiTaskClassifier(
            max_epochs=int(clf.best_epoch_[t]),
            n_iter_no_change=None,
            validation_fraction=0.1,
            random_state=0,
        ).fit(X, Y)
        np.testing.assert_array_equal(alone.predict(X)[:, t], Y_pred[:, t])
        np.testing.assert_array_equal(alone.predict_proba(X)[t], proba[t])


def test_one_snapshot_per_best_epoch_at_most(digits):
    X, Y = digits
    clf = _per_task(X, Y)
    stopping = dict(clf.net_.callbacks_)["stopping"]
    assert sorted(stopping.snapshots_) == sorted(set(clf.best_epoch_.tolist()))
    assert len(stopping.snapshots_) <= 3


def test_training_stops_when_no_task_improves(digits):
    X, Y = digits
    clf = _per_task(X, Y, max_epochs=200, n_iter_no_change=2, tol=0.0)
    stopping = dict(clf.net_.callbacks_)["stopping"]
    assert stopping.stopped_ and clf.n_iter_ < 200
    # The last epoch ended the third miss in a row of the last task to improve.
    assert clf.n_iter_ == max(clf.best_epoch_) + 3


def test_per_task_selection_saves_and_loads(digits, tmp_path):
    X, Y = digits
    clf = _per_task(X, Y, max_epochs=6)
    expected = clf.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict(X), expected)
    path = tmp_path / "clf.skops"
    sio.dump(clf, path)
    assert sio.get_untrusted_types(file=path) == [
        "skmtl._classifier.MultiTaskClassifier",
        "torch.optim.adam.Adam",
    ]
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_per_task_selection_of_mixed_tasks(data):
    X, Y = data
    est = _fit(X, Y, early_stopping="per_task", max_epochs=8)
    history = est.net_.history
    for t, (name, kind) in enumerate(zip(est.task_names_, ["acc", "r2", "acc"])):
        assert est.best_validation_score_[t] == max(history[:, f"valid_{kind}_{name}"])
    assert np.isfinite(est.score(X, Y))


def test_per_task_selection_needs_each_tasks_validation_labels(data):
    from skmtl._batching import split_validation

    X, Y = data
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    _, valid = split_validation(np.arange(len(X)), 0.1, seed)
    Y = Y.astype(object)
    Y.iloc[valid, 0] = np.nan  # no validation row has the first task's label
    with pytest.raises(ValueError, match="task 'kind' has no labelled validation"):
        _fit(X, Y, early_stopping="per_task", missing_label=np.nan)


def test_transform_of_a_trunk_per_task_puts_the_tasks_side_by_side(data):
    X, Y = data
    est = _fit(X, Y, trunk="mmoe", trunk__expert_units=(8,), max_epochs=2)
    shared = est.transform(X[:5])
    names = est.get_feature_names_out()
    assert shared.shape == (5, 3 * 8) == (5, len(names))
    assert list(names[[0, 8, 23]]) == [
        "multitaskestimator_kind0",
        "multitaskestimator_price0",
        "multitaskestimator_level7",
    ]
    # Task after task: the second block is the second task's representation.
    with torch.no_grad():
        features = est.net_.module_.trunk(torch.as_tensor(X[:5], dtype=torch.float32))
    np.testing.assert_array_equal(shared[:, 8:16], features[:, 1].numpy())
