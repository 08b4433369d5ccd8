import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback, EarlyStopping

from skmtl import MultiTaskClassifier
from skmtl._targets import missing_mask
from skmtl.metrics import task_scorer


def _fast(**params):
    return MultiTaskClassifier(
        **{"max_epochs": 15, "lr": 0.01, "batch_size": 32, "random_state": 0, **params}
    )


@pytest.fixture
def data(two_tasks):
    X, _, item, group = two_tasks
    return X, pd.DataFrame({"item": item, "group": group}).astype({"item": str})


def test_fit_predict_two_tasks_keeps_labels_per_task(two_tasks):
    X, _, item, group = two_tasks
    # Integer items and string groups: each task keeps its own label type.
    Y = pd.DataFrame({"item": item, "group": group})
    clf = _fast().fit(X, Y)

    pred = clf.predict(X)
    assert pred.shape == (len(X), 2)
    assert set(pred[:, 0]) <= {0, 1, 2, 3}
    assert set(pred[:, 1]) <= {"even", "odd"}
    np.testing.assert_array_equal(clf.classes_[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(clf.classes_[1], ["even", "odd"])
    assert clf.task_names_ == ["item", "group"]
    assert (pred == Y.to_numpy()).mean(axis=0).min() > 0.9


def test_predict_proba_one_array_per_task_rows_sum_to_one(data):
    X, Y = data
    proba = _fast().fit(X, Y).predict_proba(X)
    assert [p.shape for p in proba] == [(len(X), 4), (len(X), 2)]
    for p in proba:
        np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_predict_matches_argmax_of_proba(data):
    X, Y = data
    clf = _fast().fit(X, Y)
    proba = clf.predict_proba(X)
    pred = clf.predict(X)
    for t, (classes, p) in enumerate(zip(clf.classes_, proba)):
        np.testing.assert_array_equal(pred[:, t], classes[p.argmax(axis=1)])


def test_1d_y_is_an_ordinary_classifier(two_tasks):
    X, _, _, group = two_tasks
    clf = _fast().fit(X, group)
    assert clf.predict(X).shape == (len(X),)
    assert isinstance(clf.classes_, np.ndarray)
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert clf.task_names_ == ["task_0"]
    assert clf.score(X, group) > 0.9


def test_single_column_y_stays_multi_output(two_tasks):
    X, _, _, group = two_tasks
    clf = _fast().fit(X, group[:, None])
    assert clf.predict(X).shape == (len(X), 1)
    assert isinstance(clf.classes_, list)
    np.testing.assert_array_equal(
        clf.predict(X)[:, 0], _fast().fit(X, group).predict(X)
    )


def test_score_is_subset_accuracy_like_multi_output_classifier(data):
    X, Y = data
    mtl = _fast().fit(X, Y)
    stl = MultiOutputClassifier(_fast()).fit(X, Y)
    for est in (mtl, stl):
        all_right = np.all(est.predict(X) == Y.to_numpy(), axis=1).mean()
        assert est.score(X, Y) == pytest.approx(all_right)


def test_cross_val_score_of_multi_and_single_task(data):
    X, Y = data
    mtl_scores = cross_val_score(_fast(), X, Y, cv=3)
    stl_scores = cross_val_score(MultiOutputClassifier(_fast()), X, Y, cv=3)
    assert mtl_scores.shape == stl_scores.shape == (3,)
    assert mtl_scores.min() > 0.5 and stl_scores.min() > 0.5


def test_grid_search_over_architecture_and_task_weights(data):
    X, Y = data
    pipe = make_pipeline(StandardScaler(), _fast(max_epochs=5))
    grid = {
        "multitaskclassifier__trunk__hidden_units": [(16,), (32, 16)],
        "multitaskclassifier__task_weights": [(0.5, 0.5), (0.8, 0.2)],
    }
    search = GridSearchCV(
        pipe,
        grid,
        scoring={"item": task_scorer("item"), "group": task_scorer("group")},
        refit="group",
        cv=2,
        n_jobs=2,
    ).fit(X, Y)

    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_[-1]
    widths = [
        layer.out_features
        for layer in best.net_.module_.trunk.modules()
        if isinstance(layer, torch.nn.Linear)
    ]
    assert (
        tuple(widths) == search.best_params_["multitaskclassifier__trunk__hidden_units"]
    )
    assert best.net_.loss_weighting_.weights_ == list(
        search.best_params_["multitaskclassifier__task_weights"]
    )


def test_routed_params_reach_get_params_set_params_and_clone():
    clf = MultiTaskClassifier(trunk__hidden_units=(8,), optimizer__betas=(0.5, 0.9))
    assert clf.get_params()["trunk__hidden_units"] == (8,)
    clf.set_params(head__hidden_units=(4,), trunk__hidden_units=(16,))
    cloned = clone(clf)
    assert cloned.get_params()["trunk__hidden_units"] == (16,)
    assert cloned.get_params()["head__hidden_units"] == (4,)
    assert "trunk__hidden_units=(16,)" in repr(cloned)


def test_routed_params_build_the_network(data):
    X, Y = data
    clf = _fast(
        max_epochs=1,
        trunk__hidden_units=(12, 6),
        trunk__dropout=0.5,
        head__hidden_units=(5,),
        optimizer__betas=(0.5, 0.999),
    ).fit(X, Y)
    module = clf.net_.module_
    assert [
        m.out_features for m in module.trunk.modules() if isinstance(m, torch.nn.Linear)
    ] == [12, 6]
    assert any(isinstance(m, torch.nn.Dropout) for m in module.trunk.modules())
    head_widths = [
        [m.out_features for m in head.modules() if isinstance(m, torch.nn.Linear)]
        for head in module.heads
    ]
    assert head_widths == [[5, 4], [5, 2]]
    assert clf.net_.optimizer_.param_groups[0]["betas"] == (0.5, 0.999)


def test_unknown_parameter_is_rejected_at_fit(data):
    X, Y = data
    clf = MultiTaskClassifier(hidden_units=(8,))
    with pytest.raises(TypeError, match="unexpected parameters \\['hidden_units'\\]"):
        clf.fit(X, Y)


class _TinyTrunk(torch.nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.linear = torch.nn.Linear(8, width)

    def forward(self, X):
        return torch.tanh(self.linear(X))


def test_user_module_class_as_trunk(data):
    X, Y = data
    clf = _fast(trunk=_TinyTrunk, trunk__width=7).fit(X, Y)
    assert clf.net_.module_.trunk.linear.out_features == 7
    assert clf.net_.module_.heads[0][-1].in_features == 7


def test_user_module_instance_as_trunk_is_copied_not_trained(data):
    X, Y = data
    trunk = _TinyTrunk()
    before = trunk.linear.weight.detach().clone()
    clf = _fast(trunk=trunk).fit(X, Y)
    assert torch.equal(trunk.linear.weight, before)
    assert clf.net_.module_.trunk is not trunk


def test_trunk_params_with_an_instance_are_an_error(data):
    X, Y = data
    with pytest.raises(ValueError, match="trunk__\\* parameters configure"):
        _fast(trunk=_TinyTrunk(), trunk__width=4).fit(X, Y)


def test_cnn_trunk_on_flat_images():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 144)).astype(np.float32)
    Y = np.column_stack([rng.randint(3, size=40), rng.randint(2, size=40)])
    clf = MultiTaskClassifier(
        "cnn",
        max_epochs=1,
        trunk__channels=(4, 8),
        trunk__dense_units=(16,),
        random_state=0,
    ).fit(X, Y)
    assert clf.predict(X).shape == (40, 2)


def test_task_weights_scale_the_task_losses(data):
    X, Y = data
    clf = _fast(max_epochs=2, task_weights=(0.8, 0.2)).fit(X, Y)
    epoch = clf.net_.history[-1]
    for batch in epoch["batches"]:
        expected = 0.8 * batch["train_loss_item"] + 0.2 * batch["train_loss_group"]
        assert batch["train_loss"] == pytest.approx(expected, rel=1e-5)


class _InitialWeights(Callback):
    def on_train_begin(self, net, **kwargs):
        self.state = copy.deepcopy(net.module_.state_dict())


def test_zero_task_weight_leaves_that_head_untrained(data):
    X, Y = data
    clf = _fast(
        max_epochs=3,
        task_weights=(1.0, 0.0),
        callbacks=[("initial", _InitialWeights())],
    ).fit(X, Y)
    initial = dict(clf.net_.callbacks_)["initial"].state
    for key, value in clf.net_.module_.state_dict().items():
        if key.startswith("heads.1."):
            torch.testing.assert_close(value, initial[key])
        if key.startswith(("heads.0.", "trunk.")):
            assert not torch.equal(value, initial[key]), key


@pytest.mark.parametrize("weights", [(1.0,), (1.0, np.nan), (1, 2, 3)])
def test_bad_task_weights(data, weights):
    X, Y = data
    with pytest.raises(ValueError, match="task_weights must hold 2 finite numbers"):
        _fast(task_weights=weights).fit(X, Y)


def test_history_records_total_and_per_task_scores(data):
    X, Y = data
    clf = _fast(max_epochs=3, validation_fraction=0.25).fit(X, Y)
    history = clf.net_.history
    assert len(history) == 3
    for key in [
        "train_loss",
        "valid_loss",
        "train_loss_item",
        "train_loss_group",
        "valid_loss_item",
        "valid_loss_group",
        "valid_acc_item",
        "valid_acc_group",
        "valid_acc",
        "train_acc_item",
    ]:
        values = history[:, key]
        assert len(values) == 3 and all(np.isfinite(values)), key
    last = history[-1]
    assert last["valid_acc"] == pytest.approx(
        (last["valid_acc_item"] + last["valid_acc_group"]) / 2
    )


def test_validation_fraction_holds_out_rows(data):
    X, Y = data
    history = _fast(max_epochs=1, validation_fraction=0.25).fit(X, Y).net_.history
    batches = history[-1]["batches"]
    n_train = sum(b.get("train_batch_size", 0) for b in batches)
    n_valid = sum(b.get("valid_batch_size", 0) for b in batches)
    assert (n_train, n_valid) == (180, 60)


def test_validation_rows_depend_on_the_seed_not_the_targets(data):
    X, Y = data

    def validation_X(y, random_state=0):
        spy = _ValidationSpy()
        clf = _fast(
            max_epochs=1,
            validation_fraction=0.25,
            random_state=random_state,
            callbacks=[("spy", spy)],
        )
        return dict(clf.fit(X, y).net_.callbacks_)["spy"].valid_X

    multi_task = validation_X(Y)
    assert torch.equal(multi_task, validation_X(Y["group"]))
    assert torch.equal(multi_task, validation_X(Y["item"]))
    assert not torch.equal(multi_task, validation_X(Y, random_state=1))


class _ValidationSpy(Callback):
    """Keeps the validation rows that a fit sees."""

    def on_train_begin(self, net, **kwargs):
        self.valid = net.train_split.keywords["valid_ds"]
        self.valid_X = self.valid.X


def test_no_validation_by_default(data):
    X, Y = data
    history = _fast(max_epochs=1).fit(X, Y).net_.history
    assert "valid_loss" not in history[-1]
    assert sum(b["train_batch_size"] for b in history[-1]["batches"]) == len(X)


def test_early_stopping_callback_stops_training(data):
    X, Y = data
    # An absolute threshold of 2 on an accuracy can never be beaten.
    stopper = EarlyStopping(
        monitor="valid_acc", lower_is_better=False, patience=1, threshold_mode="abs"
    )
    clf = _fast(
        max_epochs=10,
        validation_fraction=0.25,
        callbacks=[("stop", stopper)],
        callbacks__stop__threshold=2.0,
    ).fit(X, Y)
    assert len(clf.net_.history) == 2
    assert stopper.misses_ == 0, "the given callback must not be the one trained"


def test_warm_start_continues_training(data):
    X, Y = data
    clf = _fast(max_epochs=2, warm_start=True).fit(X, Y)
    weight = clf.net_.module_.heads[0][1].weight.detach().clone()
    clf.fit(X, Y)
    assert len(clf.net_.history) == 4
    assert not torch.equal(clf.net_.module_.heads[0][1].weight, weight)


def test_warm_start_rejects_new_labels(data):
    X, Y = data
    clf = _fast(max_epochs=1, warm_start=True).fit(X, Y)
    Y_new = Y.assign(group=np.where(Y["group"] == "odd", "odd", "new"))
    with pytest.raises(
        ValueError, match="labels not seen in the first fit: \\['new'\\]"
    ):
        clf.fit(X, Y_new)


def test_verbose_prints_the_epoch_table(data, capsys):
    X, Y = data
    _fast(max_epochs=1, verbose=1).fit(X, Y)
    out = capsys.readouterr().out
    assert "train_loss_item" in out and "train_loss_group" in out


def test_same_random_state_same_predictions(data):
    X, Y = data
    first = _fast(validation_fraction=0.2).fit(X, Y).predict_proba(X)
    second = _fast(validation_fraction=0.2).fit(X, Y).predict_proba(X)
    other = _fast(validation_fraction=0.2, random_state=1).fit(X, Y).predict_proba(X)
    for a, b, c in zip(first, second, other):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


def test_fit_leaves_torch_global_random_state_alone(data):
    X, Y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fast(max_epochs=1, trunk__dropout=0.2).fit(X, Y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_integer_and_float64_X_give_the_same_predictions(data):
    X, Y = data
    X_int = np.round(X * 100).astype(np.int64)
    as_int = _fast(max_epochs=2).fit(X_int, Y).predict(X_int)
    as_float = _fast(max_epochs=2).fit(X_int.astype(np.float64), Y).predict(X_int)
    np.testing.assert_array_equal(as_int, as_float)


def test_pickle_round_trip_gives_identical_predictions(data):
    X, Y = data
    clf = _fast(max_epochs=2).fit(X, Y)
    restored = pickle.loads(pickle.dumps(clf))
    for a, b in zip(clf.predict_proba(X), restored.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_html_repr(data):
    html = _fast(trunk__hidden_units=(8,))._repr_html_()
    assert "MultiTaskClassifier" in html


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_is_rejected(data, bad):
    X, Y = data
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fast().fit(X, Y)


def test_wrong_number_of_features_at_predict(data):
    X, Y = data
    clf = _fast(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 7 features, but MultiTaskClassifier"):
        clf.predict(X[:, :7])


def test_rows_of_X_and_y_must_match(data):
    X, Y = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _fast().fit(X, Y[:-1])


def test_continuous_labels_name_the_task(data):
    X, Y = data
    Y = Y.assign(score=np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="Unknown label type: task 'score'"):
        _fast().fit(X, Y)


def test_a_task_with_one_class_is_an_error(data):
    X, Y = data
    with pytest.raises(ValueError, match="Task 'group' has only one class"):
        _fast().fit(X, Y.assign(group="odd"))


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        MultiTaskClassifier().predict(np.zeros((2, 3)))


def test_3d_y_is_rejected(data):
    X, _ = data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        _fast().fit(X, np.zeros((len(X), 2, 2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device_matches_cpu_closely(data):
    X, Y = data
    on_gpu = _fast(device="cuda").fit(X, Y)
    assert next(on_gpu.net_.module_.parameters()).is_cuda
    agreement = (on_gpu.predict(X) == _fast().fit(X, Y).predict(X)).mean()
    assert agreement > 0.95


# Partial labels


@pytest.fixture
def partial(data):
    """The group label kept for a quarter of the rows only."""
    X, Y = data
    keep = np.random.RandomState(0).uniform(size=len(X)) < 0.25
    return X, Y.assign(group=Y["group"].where(keep, "?")), keep


def test_missing_labels_never_become_classes(partial):
    X, Y, _ = partial
    clf = _fast(missing_label="?").fit(X, Y)
    np.testing.assert_array_equal(clf.classes_[1], ["even", "odd"])
    assert "?" not in clf.predict(X)[:, 1]


@pytest.mark.parametrize(
    "marker, pattern",
    [
        (np.nan, pd.Series(["a", None, "b", None], dtype=object)),
        (np.nan, pd.Series([0.0, np.nan, 1.0, np.nan])),
        (np.nan, pd.Series([0, pd.NA, 1, pd.NA], dtype="Int64")),
        (-1, pd.Series([0, -1, 1, -1])),
        ("", pd.Series(["a", "", "b", ""])),
    ],
    ids=["None", "float NaN", "pandas NA", "-1", "empty string"],
)
def test_missing_label_markers(data, marker, pattern):
    X, Y = data
    group = pd.concat([pattern] * (len(X) // len(pattern)), ignore_index=True)
    clf = _fast(max_epochs=1, missing_label=marker).fit(X, Y.assign(group=group))
    assert len(clf.classes_[1]) == 2
    assert not missing_mask(clf.classes_[1], marker).any()
    assert clf.score(X, Y.assign(group=group)) >= 0


def test_rows_missing_a_label_still_train_the_trunk(partial):
    X, Y, keep = partial
    with_rows = _fast(missing_label="?").fit(X, Y)
    without = _fast(missing_label="?").fit(X[keep], Y[keep])
    assert not np.allclose(with_rows.predict_proba(X)[1], without.predict_proba(X)[1])


def test_nan_labels_need_a_marker(data):
    X, Y = data
    group = Y["group"].map({"even": 0.0, "odd": np.nan})
    with pytest.raises(ValueError, match="contains NaN"):
        _fast().fit(X, Y.assign(group=group))


def test_a_task_with_no_label_in_a_training_fold_is_an_error(data):
    X, Y = data
    third = len(X) // 3
    Y = Y.assign(group=Y["group"].where(np.arange(len(X)) < third, "?"))
    with pytest.raises(ValueError, match="Task 'group' has no labels"):
        cross_val_score(
            _fast(missing_label="?"), X, Y, cv=KFold(3), error_score="raise"
        )


def test_history_scores_only_labelled_rows(partial):
    X, Y, keep = partial
    clf = _fast(
        max_epochs=2,
        validation_fraction=0.5,
        missing_label="?",
        callbacks=[("spy", _ValidationSpy())],
    ).fit(X, Y)
    valid = dict(clf.net_.callbacks_)["spy"].valid
    labels = valid.y["labels"][:, 1]
    n_labelled = int((labels >= 0).sum())
    counts = [
        b["valid_count_group"]
        for b in clf.net_.history[-1, "batches"]
        if "valid_count_group" in b
    ]
    assert 0 < sum(counts) == n_labelled < len(valid.X)
    logits = clf.net_.forward(valid)[1]
    hits = (logits.argmax(1) == labels)[labels >= 0].float().mean().item()
    assert clf.net_.history[-1, "valid_acc_group"] == pytest.approx(hits)


def test_score_skips_missing_labels(partial):
    X, Y, keep = partial
    clf = _fast(missing_label="?").fit(X, Y)
    pred = clf.predict(X)
    truth = Y.to_numpy()
    right = (pred[:, 0] == truth[:, 0]) & ((pred[:, 1] == truth[:, 1]) | ~keep)
    assert clf.score(X, Y) == pytest.approx(right.mean())


# Class and sample weights


def _total_train_weight(clf, task):
    return sum(
        b.get(f"train_weight_{task}", 0) for b in clf.net_.history[-1, "batches"]
    )


def test_class_weight_scales_each_label(data):
    X, Y = data
    clf = _fast(max_epochs=1, class_weight=[None, {"odd": 3.0}]).fit(X, Y)
    n_odd = int((Y["group"] == "odd").sum())
    # Each task's weights are scaled so that the largest is 1.
    assert _total_train_weight(clf, "group") == pytest.approx(
        (3 * n_odd + len(X) - n_odd) / 3
    )
    assert _total_train_weight(clf, "item") == pytest.approx(len(X))


def test_balanced_class_weight_helps_a_rare_class(two_tasks):
    X, _, item, _ = two_tasks
    rare = np.where(item == 0, "rare", "common")
    rows = np.flatnonzero((item != 0) | (np.arange(len(X)) % 8 == 0))
    X, y = X[rows], rare[rows]
    plain = _fast(max_epochs=3, lr=0.003).fit(X, y).predict(X)
    balanced = (
        _fast(max_epochs=3, lr=0.003, class_weight="balanced").fit(X, y).predict(X)
    )
    assert (balanced == "rare").sum() > (plain == "rare").sum()


def test_sample_weight_scales_rows_in_every_task(data):
    X, Y = data
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X))
    clf = _fast(max_epochs=1).fit(X, Y, sample_weight=weights)
    for task in ("item", "group"):
        assert _total_train_weight(clf, task) == pytest.approx(
            weights.sum() / weights.max(), rel=1e-5
        )


def test_zero_sample_weight_removes_a_row(data):
    X, Y = data
    weights = np.ones(len(X))
    weights[::3] = 0
    weighted = _fast(validation_fraction=0.2).fit(X, Y, sample_weight=weights)
    kept = weights > 0
    dropped = _fast(validation_fraction=0.2).fit(X[kept], Y[kept])
    for a, b in zip(weighted.predict_proba(X), dropped.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_integer_sample_weight_is_close_to_repeating_rows(data):
    X, Y = data
    weights = np.random.RandomState(0).randint(1, 4, size=len(X))
    # One batch per epoch, so both see the same loss at each step.
    weighted = _fast(batch_size=1000).fit(X, Y, sample_weight=weights)
    repeated = _fast(batch_size=1000).fit(
        np.repeat(X, weights, axis=0), Y.loc[Y.index.repeat(weights)]
    )
    for a, b in zip(weighted.predict_proba(X), repeated.predict_proba(X)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_negative_sample_weight_is_an_error(data):
    X, Y = data
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        _fast().fit(X, Y, sample_weight=-np.ones(len(X)))


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _weighted_pipeline():
    return make_pipeline(
        StandardScaler().set_fit_request(sample_weight=False),
        _fast(max_epochs=3)
        .set_fit_request(sample_weight=True)
        .set_score_request(sample_weight=True),
    )


def test_sample_weight_routed_through_cross_validate(routing, data):
    X, Y = data
    weights = np.random.RandomState(0).uniform(0, 2, size=len(X))
    cv = KFold(3)
    scores = cross_validate(
        _weighted_pipeline(), X, Y, cv=cv, params={"sample_weight": weights}
    )["test_score"]
    expected = [
        clone(_weighted_pipeline())
        .fit(X[train], Y.iloc[train], sample_weight=weights[train])
        .score(X[test], Y.iloc[test], sample_weight=weights[test])
        for train, test in cv.split(X)
    ]
    np.testing.assert_allclose(scores, expected)


def test_sample_weight_routed_through_grid_search(routing, data):
    X, Y = data
    weights = np.random.RandomState(0).uniform(0, 2, size=len(X))
    search = GridSearchCV(
        _weighted_pipeline(), {"multitaskclassifier__lr": [0.01, 0.02]}, cv=2
    ).fit(X, Y, sample_weight=weights)
    best = clone(_weighted_pipeline()).set_params(**search.best_params_)
    best.fit(X, Y, sample_weight=weights)
    np.testing.assert_array_equal(search.predict(X), best.predict(X))
