import copy
import pickle
import warnings
from numbers import Integral

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback, EarlyStopping

from skmtl import BatchTaskScores, MultiTaskClassifier
from skmtl._targets import missing_mask
from skmtl.metrics import task_scorer

from ._frozen import frozen_fit


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


def test_column_vector_y_warns_and_is_raveled_as_in_scikit_learn(two_tasks):
    X, _, _, group = two_tasks
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf = _fast().fit(X, group[:, None])
    assert clf.predict(X).shape == (len(X),)
    assert not isinstance(clf.classes_, list)
    np.testing.assert_array_equal(clf.predict(X), _fast().fit(X, group).predict(X))


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
        [p.shape[1] for p, _ in module.heads.task_slices(t)[::2]] for t in range(2)
    ]
    assert head_widths == [[5, 4], [5, 2]]
    assert clf.net_.optimizer_.param_groups[0]["betas"] == (0.5, 0.999)


@pytest.mark.parametrize(
    "name, hint",
    [
        ("hidden_units", ""),
        ("lr_schedul", "did you mean 'lr_schedule'"),
        ("iterator_train_shuffle", "did you mean 'iterator_train__shuffle'"),
        ("loss_weighting__alpha", ""),  # loss_weighting is None, not an object
    ],
)
def test_unknown_parameters_are_refused_where_they_are_written(name, hint):
    with pytest.raises(TypeError, match=f"Invalid parameter '{name}'.*{hint}"):
        MultiTaskClassifier(**{name: 1})
    clf = MultiTaskClassifier()
    with pytest.raises(ValueError, match=f"Invalid parameter '{name}'.*{hint}"):
        clf.set_params(**{name: 1})
    assert name not in clf.get_params()


def test_a_misspelt_grid_fails_the_search_at_once(data):
    X, Y = data
    search = GridSearchCV(_fast(max_epochs=1), [{"lr": [0.01]}, {"lr_schedul": [1]}])
    with pytest.raises(ValueError, match="did you mean 'lr_schedule'"):
        search.fit(X, Y)


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
    output_weight, _ = clf.net_.module_.heads.task_slices(0)[-2]
    assert output_weight.shape[-1] == 7


class _WidthTrunk(torch.nn.Module):
    """A trunk that, like the built-in ones, asks for the data's width."""

    def __init__(self, in_features, width=3):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, width)

    def forward(self, X):
        return torch.tanh(self.linear(X))


def test_user_module_class_gets_in_features_when_it_asks(data):
    X, Y = data
    clf = _fast(trunk=_WidthTrunk, trunk__width=5).fit(X, Y)
    assert clf.net_.module_.trunk.linear.in_features == X.shape[1]
    assert clf.net_.module_.trunk.linear.out_features == 5
    assert "trunk__in_features" not in clf.get_params()


def test_trunk_in_features_given_explicitly_wins(data):
    X, Y = data
    clf = _fast(trunk=_WidthTrunk, trunk__in_features=X.shape[1] + 1)
    with pytest.raises(ValueError, match="The trunk _WidthTrunk cannot take"):
        clf.fit(X, Y)


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
    clf = _fast(max_epochs=2, task_weights=(0.8, 0.2))
    clf.set_params(callbacks=[BatchTaskScores()]).fit(X, Y)
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
        # On the CPU the dataset reads its rows from the whole X.
        self.valid_X = torch.as_tensor(self.valid.X[self.valid.rows])


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
    output, i = clf.net_.module_.heads.task_slices(0)[-2]
    weight = output[i].detach().clone()
    clf.fit(X, Y)
    assert len(clf.net_.history) == 4
    output, i = clf.net_.module_.heads.task_slices(0)[-2]
    assert not torch.equal(output[i], weight)


def test_warm_start_rejects_new_labels(data):
    X, Y = data
    clf = _fast(max_epochs=1, warm_start=True).fit(X, Y)
    Y_new = Y.assign(group=np.where(Y["group"] == "odd", "odd", "new"))
    with pytest.raises(
        ValueError, match="labels not seen in the first fit: \\['new'\\]"
    ):
        clf.fit(X, Y_new)


def _header(out):
    """The column names of a printed epoch table."""
    return out.splitlines()[0].split()


def test_verbose_0_prints_nothing(data, capsys):
    X, Y = data
    _fast(max_epochs=2, n_iter_no_change=1, tol=10.0).fit(X, Y)
    assert capsys.readouterr() == ("", "")


def test_verbose_1_prints_a_compact_epoch_table(data, capsys):
    X, Y = data
    _fast(max_epochs=2, verbose=1, validation_fraction=0.25).fit(X, Y)
    out, err = capsys.readouterr()
    # Two tasks: each task's validation accuracy, no other per-task column.
    assert _header(out) == [
        "epoch",
        "train_loss",
        "valid_loss",
        "train_acc",
        "valid_acc",
        "valid_acc_item",
        "valid_acc_group",
        "dur",
    ]
    assert len(out.splitlines()) == 2 + 2 and err == ""
    # One task: its accuracy is the mean's.
    _fast(max_epochs=1, verbose=1).fit(X, Y["item"])
    assert _header(capsys.readouterr().out) == [
        "epoch",
        "train_loss",
        "train_acc",
        "dur",
    ]


def test_verbose_1_with_many_tasks_prints_means_only(data, capsys):
    X, Y = data
    Y4 = Y.assign(item2=Y["item"], group2=Y["group"])
    clf = _fast(max_epochs=1, verbose=1, loss_weighting="uncertainty").fit(X, Y4)
    header = _header(capsys.readouterr().out)
    assert header == ["epoch", "train_loss", "train_acc", "dur"]
    # The per-task values are in the history.
    assert {"train_acc_item2", "loss_weight_group2"} <= set(clf.net_.history[-1])


def test_verbose_1_says_why_training_stopped(data, capsys):
    X, Y = data
    _fast(max_epochs=10, n_iter_no_change=1, tol=10.0, verbose=1).fit(X, Y)
    assert "Stopping since train_objective has not improved" in capsys.readouterr().out


def test_verbose_2_adds_a_progress_bar_per_epoch(data, capsys):
    X, Y = data
    clf = _fast(max_epochs=2, n_iter_no_change=None, verbose=2, warm_start=True)
    clf.fit(X, Y)
    out, err = capsys.readouterr()
    assert _header(out)[:2] == ["epoch", "train_loss"]
    # tqdm writes to stderr: the epoch of this fit, over its 8 batches (240
    # rows, 32 a batch), with the time left.
    assert "epoch 1/2" in err and "epoch 2/2" in err and "0/8 [00:00<?" in err
    assert "pbar_" not in vars(dict(clf.net_.callbacks_)["progress_bar"])
    clf.set_params(verbose=0).fit(X, Y)
    assert "progress_bar" not in dict(clf.net_.callbacks_)
    assert capsys.readouterr() == ("", "")


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


class _DtypeTrunk(torch.nn.Module):
    """A linear trunk that records the dtype of its output, in training or not."""

    def __init__(self, in_features):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, 8)
        self.seen = set()

    def forward(self, X):
        out = self.linear(X)
        self.seen.add((self.training, out.dtype))
        return torch.relu(out)


@pytest.mark.parametrize(
    "mixed_precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_mixed_precision_runs_the_forward_pass_in_half(data, mixed_precision, dtype):
    X, Y = data
    clf = _fast(trunk=_DtypeTrunk, max_epochs=3, mixed_precision=mixed_precision)
    trunk = clf.fit(X, Y).net_.module_.trunk
    assert {seen for seen in trunk.seen if seen[0]} == {(True, dtype)}
    trunk.seen.clear()
    proba = clf.predict_proba(X)
    assert trunk.seen == {(False, dtype)}
    assert all(np.allclose(p.sum(axis=1), 1) for p in proba)
    assert np.isfinite(clf.net_.history[-1, "train_loss"])
    assert hasattr(clf.net_, "grad_scaler_") == (mixed_precision == "fp16")


class _GradNorm(Callback):
    """Records the gradient norm that callbacks see, batch by batch."""

    def on_train_begin(self, net, **kwargs):
        self.norms_ = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad.norm() for _, p in named_parameters if p.grad is not None]
        self.norms_.append(float(torch.stack(grads).norm()))


def test_fp16_gradients_are_unscaled_before_callbacks_and_the_step(data):
    X, Y = data
    kwargs = {"max_epochs": 1, "batch_size": len(X), "optimizer": torch.optim.SGD}
    half = _fast(mixed_precision="fp16", callbacks=[_GradNorm()], **kwargs).fit(X, Y)
    full = _fast(callbacks=[_GradNorm()], **kwargs).fit(X, Y)
    assert half.net_.grad_scaler_.get_scale() > 1
    (seen,) = dict(half.net_.callbacks_)["_GradNorm"].norms_
    (expected,) = dict(full.net_.callbacks_)["_GradNorm"].norms_
    assert seen == pytest.approx(expected, rel=1e-2)
    # The SGD step used the unscaled gradients: it moved as far as full precision.
    for p, q in zip(half.net_.module_.parameters(), full.net_.module_.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-2, atol=1e-3)


def test_fp16_refuses_a_strategy_that_backpropagates_tasks_apart(data):
    X, Y = data
    clf = _fast(mixed_precision="fp16", loss_weighting="gradnorm")
    with pytest.raises(ValueError, match="'fp16' scales one total loss, but GradNorm"):
        clf.fit(X, Y)


def test_compile_hands_the_module_to_torch_compile(data):
    X, Y = data
    compiled = _fast(max_epochs=2, compile=True, compile__backend="eager").fit(X, Y)
    assert isinstance(compiled.net_.module_, torch._dynamo.eval_frame.OptimizedModule)
    plain = _fast(max_epochs=2).fit(X, Y)
    assert_allclose(compiled.predict_proba(X)[0], plain.predict_proba(X)[0], atol=1e-6)


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


@pytest.mark.parametrize(
    "blank, missing_label, shown, because",
    [
        (
            np.nan,
            None,
            "NaN",
            r"missing_label=None \(the default\) means that no label is missing",
        ),
        (
            None,
            None,
            "None",
            r"missing_label=None \(the default\) means that no label is missing",
        ),
        (
            pd.NA,
            None,
            "pd.NA",
            r"missing_label=None \(the default\) means that no label is missing",
        ),
        (np.nan, "?", "NaN", r"missing_label='\?' does not match them"),
    ],
    ids=["NaN", "None", "pandas NA", "another marker"],
)
def test_unmarked_missing_labels_name_y_the_task_and_the_fix(
    data, blank, missing_label, shown, because
):
    X, Y = data
    # An object array keeps None as None; pandas may turn it into NaN.
    Y = Y.to_numpy(dtype=object)
    Y[::2, 1] = blank
    pattern = (
        rf"y has 120 missing labels \({shown}\) in task 'task_1' \(column 1 of "
        rf"y\), but {because}\. Set missing_label=np\.nan"
    )
    with pytest.raises(ValueError, match=pattern):
        _fast(missing_label=missing_label).fit(X, Y)


def test_unmarked_nan_labels_of_a_dataframe_name_its_column(data):
    X, Y = data
    group = Y["group"].map({"even": 0.0, "odd": np.nan})
    with pytest.raises(ValueError, match=r"\(NaN\) in task 'group' \(column 1"):
        _fast().fit(X, Y.assign(group=group))


def test_score_of_unmarked_nan_labels_is_an_error(data):
    X, Y = data
    clf = _fast(max_epochs=1).fit(X, Y)
    group = Y["group"].where(np.arange(len(X)) % 2 == 0)
    with pytest.raises(ValueError, match=r"y has 120 missing labels \(NaN\)"):
        clf.score(X, Y.assign(group=group))


@pytest.mark.parametrize("missing_label", [np.nan, pd.NA], ids=["NaN", "pandas NA"])
def test_nullable_int_labels_predict_ints(two_tasks, missing_label):
    X, _, item, group = two_tasks
    # pandas' nullable ints: one task with NA, one without.
    item = pd.array(item, dtype="Int64")
    item[::4] = pd.NA
    Y = pd.DataFrame({"item": item, "group": pd.array(group == "odd", dtype="Int64")})
    clf = _fast(max_epochs=2, missing_label=missing_label).fit(X, Y)
    pred = clf.predict(X)
    assert pred.dtype == np.int64
    assert [c.dtype for c in clf.classes_] == [np.int64, np.int64]
    np.testing.assert_array_equal(clf.classes_[0], [0, 1, 2, 3])
    assert 0 <= clf.score(X, Y) <= 1
    assert 0 <= task_scorer("item", missing_label=missing_label)(clf, X, Y) <= 1


def test_nullable_int_labels_beside_strings_keep_their_types(two_tasks):
    X, _, item, group = two_tasks
    # scikit-learn's check_array would make the Int64 column float.
    item = pd.array(item, dtype="Int64")
    item[::4] = pd.NA
    Y = pd.DataFrame({"item": item, "group": group})
    clf = _fast(max_epochs=1, missing_label=np.nan).fit(X, Y)
    assert [c.dtype.kind for c in clf.classes_] == ["i", "U"]
    pred = clf.predict(X)
    assert all(isinstance(v, Integral) for v in pred[:, 0])
    assert 0 <= task_scorer("item", missing_label=np.nan)(clf, X, Y) <= 1


def test_early_stopping_warns_of_few_validation_labels_per_class(two_tasks):
    X, _, item, _ = two_tasks
    # A rare class, 1 row in 12: about 2 of the 24 validation rows.
    rare = np.where(np.arange(len(X)) % 12 == 0, "rare", "common")
    Y = pd.DataFrame({"item": item, "rare": rare})
    clf = _fast(early_stopping=True, max_epochs=2)
    with pytest.warns(UserWarning, match=r"early_stopping=True holds out 24 "):
        clf.fit(X, Y)
    with pytest.warns(UserWarning, match=r"task 'rare' has \d of class 'rare'"):
        clf.fit(X, Y)


def test_early_stopping_on_enough_validation_labels_does_not_warn(two_tasks):
    X, _, item, group = two_tasks
    clf = _fast(
        early_stopping=True,
        validation_fraction=0.5,
        max_epochs=2,
        n_iter_no_change=None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf.fit(X, np.column_stack([item, group]))


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
    assert 0 < clf.net_.history[-1, "valid_count_group"] == n_labelled < len(valid)
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
    return clf.net_.history[-1].get(f"train_weight_{task}", 0)


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


# The objective: exact gradients


def _sparse_weighted_problem(class_weight):
    """64 rows in 4 batches of 16: a dense 3-class task, a 2-class task
    labelled on 6 rows of batches 0 and 2 only, uneven integer row weights."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 5))
    dense = rng.randint(3, size=64)
    sparse = np.full(64, -1)
    sparse[[1, 5, 9, 33, 40, 47]] = [0, 1, 1, 0, 1, 1]
    sample_weight = rng.randint(1, 6, size=64).astype(float)
    Y = np.column_stack([dense, sparse])
    # The objective's label weights, computed independently of skmtl.
    weights = np.zeros((64, 2))
    for t in range(2):
        labelled = Y[:, t] >= 0
        classes = np.unique(Y[labelled, t])
        per_class = compute_class_weight(
            class_weight,
            classes=classes,
            y=Y[labelled, t],
            sample_weight=sample_weight[labelled],
        )
        weights[labelled, t] = sample_weight[labelled] * per_class[Y[labelled, t]]
    return X, Y, sample_weight, weights


def _full_batch_objective(module, X, Y, weights, combine):
    logits = module(torch.from_numpy(X))
    objectives = []
    for t, z in enumerate(logits):
        labelled = torch.from_numpy(Y[:, t] >= 0)
        losses = torch.nn.functional.cross_entropy(
            z[labelled], torch.from_numpy(Y[:, t])[labelled], reduction="none"
        )
        w = torch.from_numpy(weights[:, t])[labelled]
        objectives.append((w * losses).sum() / w.sum())
    return combine(torch.stack(objectives))


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize(
    "loss_weighting, combine",
    [
        ("equal", lambda J: 0.3 * J[0] + 0.7 * J[1]),
        ("dwa", lambda J: J.sum()),  # weights of 1 in its first two epochs
        ("gradnorm", lambda J: J.sum()),  # weights of 1 while frozen
    ],
)
def test_mean_batch_gradient_is_the_full_batch_gradient(
    class_weight, loss_weighting, combine
):
    X, Y, sample_weight, weights = _sparse_weighted_problem(class_weight)
    clf, batches = frozen_fit(
        X,
        Y,
        sample_weight,
        trunk__hidden_units=(7,),
        loss_weighting=loss_weighting,
        task_weights=(0.3, 0.7) if loss_weighting == "equal" else None,
        class_weight=class_weight,
    )
    assert len(batches) == 4
    module = clf.net_.module_
    parameters = list(module.parameters())
    objective = _full_batch_objective(module, X, Y, weights, combine)
    expected = torch.autograd.grad(objective, parameters)
    for parameter, full in zip(parameters, expected):
        mean = sum(batch[parameter] for batch in batches) / 4
        torch.testing.assert_close(mean, full, rtol=1e-10, atol=1e-12)
    # Batches 1 and 3 hold no label of the sparse task: zero, finite gradients.
    head = module.heads.task_slices(1)
    for batch in (batches[1], batches[3]):
        assert all(torch.equal(batch[p][i], torch.zeros_like(p[i])) for p, i in head)


def test_uncertainty_weighting_expects_the_full_objective():
    X, Y, sample_weight, weights = _sparse_weighted_problem(None)
    clf, batches = frozen_fit(
        X, Y, sample_weight, trunk__hidden_units=(7,), loss_weighting="uncertainty"
    )
    log_variance = clf.net_.weighting_.log_variance
    objective = _full_batch_objective(
        clf.net_.module_,
        X,
        Y,
        weights,
        lambda J: (torch.exp(-log_variance) * J + log_variance).sum(),
    )
    # Its optimum in s_t is exp(-s_t) = 1 / J_t, for the sparse task too.
    expected = torch.autograd.grad(objective, log_variance)[0]
    mean = sum(batch[log_variance] for batch in batches) / 4
    torch.testing.assert_close(mean, expected, rtol=1e-10, atol=1e-12)


def test_gradient_aggregation_on_a_batch_without_a_task_follows_the_others():
    X, Y, sample_weight, weights = _sparse_weighted_problem(None)
    clf, batches = frozen_fit(
        X, Y, sample_weight, trunk__hidden_units=(7,), loss_weighting="mgda"
    )
    module = clf.net_.module_
    trunk = list(module.trunk.parameters())
    # Batch 1 (rows 16-31) has the dense task only: MGDA of one row is that row,
    # the gradient of the batch's estimate of the task's objective.
    rows = slice(16, 32)
    share = weights[rows, 0].sum() / (16 * weights[:, 0].mean())
    objective = _full_batch_objective(
        module, X[rows], Y[rows], weights[rows], lambda J: share * J[0]
    )
    expected = torch.autograd.grad(objective, trunk)
    for parameter, grad in zip(trunk, expected):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(batches[1][parameter], grad)


@pytest.mark.parametrize("task_weights", [(1, 4), (1, 10), (1, 1e6)])
def test_large_task_weights_with_a_sparse_task_stay_finite(task_weights):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(256, 6))
    Y = np.column_stack([X[:, 0] > 0, np.full(256, -1)]).astype(int)
    Y[:10, 1] = [0, 1] * 5
    clf = _fast(max_epochs=3, task_weights=task_weights, missing_label=-1)
    clf.fit(X, Y)
    assert all(torch.isfinite(p).all() for p in clf.net_.module_.parameters())
    assert all(np.isfinite(p).all() for p in clf.predict_proba(X))


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_the_scale_of_weights_changes_nothing(data, scale):
    X, Y = data
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=len(X))
    plain = _fast(max_epochs=2).fit(X, Y, sample_weight=weights)
    scaled = _fast(max_epochs=2).fit(X, Y, sample_weight=weights * scale)
    for a, b in zip(plain.predict_proba(X), scaled.predict_proba(X)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# Failures are loud and leave nothing broken


class _FailAt(Callback):
    """Raises at the end of the given epoch of a fit."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_train_begin(self, net, **kwargs):
        self.epochs_ = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1
        if self.epochs_ == self.epoch:
            raise RuntimeError("failure in the middle of fit")


def test_a_diverging_loss_stops_fit_naming_the_epoch_and_task(data):
    X, Y = data
    clf = _fast(optimizer=torch.optim.SGD, lr=1e6)
    with pytest.raises(ValueError, match=r"Training diverged: .* in epoch \d+"):
        clf.fit(X * 1e6, Y)
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_a_failed_fit_leaves_an_unfitted_estimator_unfitted(data):
    X, Y = data
    clf = _fast(callbacks=[_FailAt()])
    with pytest.raises(RuntimeError, match="middle of fit"):
        clf.fit(X, Y)
    assert not hasattr(clf, "n_features_in_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.parametrize("loss_weighting", ["equal", "upgrad"])
def test_a_failed_warm_fit_keeps_the_previous_network(data, loss_weighting):
    X, Y = data
    clf = _fast(max_epochs=2, warm_start=True, loss_weighting=loss_weighting)
    clf.fit(X, Y)
    net, proba = clf.net_, clf.predict_proba(X)
    clf.set_params(callbacks=[_FailAt()], max_epochs=3)
    with pytest.raises(RuntimeError, match="middle of fit"):
        clf.fit(X, Y)
    assert clf.net_ is net and len(net.history) == 2
    assert not net.module_.trunk._forward_hooks
    for a, b in zip(proba, clf.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_warm_start_applies_changed_settings(data):
    X, Y = data
    clf = _fast(max_epochs=3, warm_start=True).fit(X, Y)
    clf.set_params(
        max_epochs=1,
        lr=0.5,
        batch_size=50,
        optimizer__betas=(0.5, 0.9),
        loss_weighting="dwa",
    )
    clf.fit(X, Y)
    net = clf.net_
    assert len(net.history) == 4
    assert [g["lr"] for g in net.optimizer_.param_groups] == [0.5]
    assert net.optimizer_.param_groups[0]["betas"] == (0.5, 0.9)
    assert net.history[-1, "batches"][0]["train_batch_size"] == 50
    assert type(net.loss_weighting_).__name__ == "DynamicWeightAverage"
    clf = _fast(max_epochs=1, warm_start=True).fit(X, Y)
    clf.set_params(optimizer=torch.optim.SGD)
    assert isinstance(clf.fit(X, Y).net_.optimizer_, torch.optim.SGD)


class _FirstBatch(Callback):
    """Keeps the first training batch of each fit."""

    def on_train_begin(self, net, **kwargs):
        self.rows = None

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training and self.rows is None:
            self.rows = batch[0][:, 0].tolist()


def test_each_warm_fit_draws_a_new_shuffle(data):
    X, Y = data
    clf = _fast(max_epochs=1, warm_start=True, callbacks=[("first", _FirstBatch())])
    orders = [dict(clf.fit(X, Y).net_.callbacks_)["first"].rows for _ in range(2)]
    assert orders[0] != orders[1]
    again = clone(clf).fit(X, Y)
    assert dict(again.net_.callbacks_)["first"].rows == orders[0]


def test_a_task_whose_labels_are_all_held_out_is_an_error(data):
    X, Y = data
    # One labelled row of the group task: with half the rows held out it may
    # land in validation; seed 1 puts it there.
    Y = Y.assign(group=Y["group"].where(np.arange(len(X)) < 2, "?"))
    clf = _fast(validation_fraction=0.5, missing_label="?", random_state=1)
    with pytest.raises(ValueError, match="Task 'group' has no labelled row .* left"):
        clf.fit(X, Y)


def test_a_task_whose_weights_are_all_zero_is_an_error(data):
    X, Y = data
    clf = _fast(class_weight=[None, {"odd": 0.0, "even": 0.0}])
    with pytest.raises(ValueError, match="Task 'group' has no label with a positive"):
        clf.fit(X, Y)


@pytest.mark.parametrize(
    "y, sample_weight, match",
    [
        (lambda Y: Y[:-1], None, "inconsistent numbers of samples"),
        (lambda Y: Y[["item"]], None, r"missing \['group'\]"),
        (lambda Y: Y.to_numpy()[:, :1], None, "y has 1 tasks, but the model"),
        (lambda Y: Y, np.ones(3), "sample_weight.shape == \\(3,\\)"),
        (lambda Y: Y, -np.ones(240), "Negative values in data passed to"),
        (lambda Y: Y.assign(item="?", group="?"), None, "every label is missing"),
    ],
)
def test_score_validates_its_inputs(data, y, sample_weight, match):
    X, Y = data
    clf = _fast(max_epochs=1, missing_label="?").fit(X, Y)
    with pytest.raises(ValueError, match=match):
        clf.score(X, y(Y), sample_weight=sample_weight)


class _NarrowTrunk(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 4)

    def forward(self, X):
        return self.layer(X)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"trunk": _NarrowTrunk}, ValueError, "The trunk _NarrowTrunk cannot take"),
        (
            {"callbacks": [EarlyStopping()]},
            ValueError,
            "EarlyStopping monitors 'valid_loss', but there is no validation data",
        ),
        ({"missing_label": [-1]}, ValueError, "missing_label must be a scalar"),
        ({"callbacks": [print]}, TypeError, "callbacks must be skorch callbacks"),
        ({"callbacks": [(1, EarlyStopping())]}, TypeError, "must be skorch callbacks"),
        ({"device": "tpu:x"}, ValueError, "Unknown device 'tpu:x'"),
        ({"trunk__hidden_units": (0,)}, ValueError, "hidden_units"),
        ({"head__hidden_units": (-2,)}, ValueError, "hidden_units"),
        ({"callbacks__nope__patience": 3}, ValueError, "nope"),
        ({"task_weights": (1, -1)}, ValueError, "non-negative"),
        ({"task_weights": (0, 0)}, ValueError, "at least one positive"),
    ],
)
def test_clear_errors(data, params, error, match):
    X, Y = data
    with pytest.raises(error, match=match):
        _fast(**params).fit(X, Y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(data):
    X, Y = data
    with pytest.raises(ValueError, match="cuda is not available on this machine"):
        _fast(device="cuda").fit(X, Y)


def test_colliding_task_names_are_an_error(data):
    X, Y = data
    Y = pd.DataFrame({1: Y["item"], "1": Y["group"]})
    with pytest.raises(ValueError, match="task names"):
        _fast().fit(X, Y)


def test_bad_sample_weights_are_refused(data):
    X, Y = data
    for bad in (np.nan, np.inf, -1.0):
        weights = np.ones(len(X))
        weights[0] = bad
        with pytest.raises(ValueError):
            _fast().fit(X, Y, sample_weight=weights)


# Routing and batches


def test_iterator_and_criterion_parameters_route_to_skorch(data):
    X, Y = data
    clf = _fast(
        max_epochs=1,
        iterator_train__shuffle=False,
        iterator_train__drop_last=True,
        criterion__label_smoothing=0.2,
        callbacks=[("first", _FirstBatch())],
    ).fit(X, Y)
    assert (
        dict(clf.net_.callbacks_)["first"].rows == X[:32, 0].astype("float32").tolist()
    )
    sizes = [b["train_batch_size"] for b in clf.net_.history[-1, "batches"]]
    assert sizes == [32] * (len(X) // 32)
    assert clf.net_.criterion_.label_smoothing == 0.2


def test_batch_norm_with_batches_of_one_row_is_a_clear_error(data):
    X, Y = data
    clf = _fast(batch_size=1, trunk__batch_norm=True)
    with pytest.raises(ValueError, match="Batch normalisation needs at least 2 rows"):
        clf.fit(X, Y)


def test_batch_norm_with_a_last_batch_of_one_row(data):
    X, Y = data
    clf = _fast(max_epochs=1, batch_size=len(X) - 1, trunk__batch_norm=True)
    assert clf.fit(X, Y).predict(X).shape == (len(X), 2)


# Portable, lean fitted models


def test_the_fitted_estimator_keeps_no_data(data):
    X, Y = data
    clf = _fast(max_epochs=1, validation_fraction=0.5).fit(X, Y)
    assert clf.net_.train_split is None
    weights = sum(p.numel() * 4 for p in clf.net_.module_.parameters())
    assert len(pickle.dumps(clf)) < 3 * weights + 50_000


def test_predict_runs_where_the_net_is_not_where_it_was_trained(data):
    X, Y = data
    clf = _fast(max_epochs=1).fit(X, Y)
    # As after loading a CUDA model on a machine without CUDA: the estimator's
    # device is gone, the net is on the CPU.
    clf.device = "cuda:7"
    assert clf.predict(X).shape == (len(X), 2)


def test_predictions_do_not_depend_on_the_batch(data):
    X, Y = data
    clf = _fast(max_epochs=2).fit(X, Y)
    whole = clf.predict_proba(X)
    rows = [clf.predict_proba(X[i : i + 1]) for i in range(0, len(X), 7)]
    for t in range(2):
        by_row = np.concatenate([r[t] for r in rows])
        np.testing.assert_allclose(by_row, whole[t][::7], rtol=1e-5, atol=1e-6)


def test_float64_predictions_do_not_depend_on_the_batch(data):
    X, Y = data
    clf = _fast(max_epochs=2, dtype="float64").fit(X, Y)
    assert clf.net_.module_.trunk.layers[0].weight.dtype == torch.float64
    whole = clf.predict_proba(X)
    for t, row in enumerate(clf.predict_proba(X[5:6])):
        np.testing.assert_allclose(row, whole[t][5:6], rtol=1e-12, atol=1e-14)


def test_predict_moves_one_batch_at_a_time(data):
    X, Y = data
    clf = _fast(max_epochs=1).fit(X, Y)
    sizes = []
    infer = clf.net_.infer

    def spy(x, **fit_params):
        sizes.append(len(x))
        return infer(x, **fit_params)

    clf.net_.infer = spy
    clf.predict(X)
    assert max(sizes) <= clf.batch_size + 1 and sum(sizes) == len(X)


def test_stops_once_the_training_loss_stops_improving(data):
    X, Y = data
    clf = MultiTaskClassifier(lr=0.01, batch_size=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, Y)
    losses = clf.net_.history[:, "train_objective"]
    # Under fixed weights the objective is the weighted loss.
    assert_allclose(losses, clf.net_.history[:, "train_loss"], rtol=1e-5)
    assert clf.n_iter_ == len(losses) < clf.max_epochs == 200
    # As MLPClassifier: the last n_iter_no_change + 1 epochs each missed the
    # lowest loss before them by tol, and the one before did not.
    tol, last = clf.tol, clf.n_iter_no_change + 1
    best_before = np.minimum.accumulate(losses)
    misses = [loss > best - tol for loss, best in zip(losses[1:], best_before)]
    assert all(misses[-last:]) and not misses[-last - 1]
    assert clf.best_loss_ == min(losses)
    assert clf.best_epoch_ == np.argmin(losses) + 1
    assert clf.best_validation_score_ is None
    assert dict(clf.net_.callbacks_)["stopping"].stopped_


def test_warns_when_max_epochs_ends_before_convergence(data):
    X, Y = data
    with pytest.warns(ConvergenceWarning, match="max_epochs=2 ran out"):
        clf = _fast(max_epochs=2).fit(X, Y)
    assert clf.n_iter_ == 2


@pytest.mark.parametrize("disable", [{"n_iter_no_change": None}, {"tol": None}])
def test_without_stopping_a_fit_runs_exactly_max_epochs(data, disable):
    X, Y = data
    # With a coarse tolerance the same fit stops at once.
    stopped = _fast(max_epochs=40, tol=10.0, n_iter_no_change=2).fit(X, Y)
    assert stopped.n_iter_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = _fast(**{"max_epochs": 40, "tol": 10.0, "n_iter_no_change": 2, **disable})
        clf.fit(X, Y)
    assert clf.n_iter_ == len(clf.net_.history) == 40
    assert "stopping" not in dict(clf.net_.callbacks_)


class _Weights(Callback):
    """Each epoch's weights."""

    def on_train_begin(self, net, **kwargs):
        self.epochs = []

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(copy.deepcopy(net.module_.state_dict()))


def test_early_stopping_keeps_the_best_validation_epoch(data):
    X, Y = data
    clf = _fast(
        early_stopping=True,
        n_iter_no_change=3,
        lr=0.05,
        max_epochs=100,
        callbacks=[("weights", _Weights())],
    ).fit(X, Y)
    history = clf.net_.history
    # validation_fraction=None holds out 0.1 of the rows.
    batches = history[0, "batches"]
    assert sum(b.get("valid_batch_size", 0) for b in batches) == 24
    scores = history[:, "valid_acc"]
    assert clf.n_iter_ == len(scores) < 100
    assert clf.best_epoch_ == np.argmax(scores) + 1 == clf.n_iter_ - 4
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None
    kept = dict(clf.net_.callbacks_)["weights"].epochs[clf.best_epoch_ - 1]
    last = dict(clf.net_.callbacks_)["weights"].epochs[-1]
    state = clf.net_.module_.state_dict()
    assert any(not torch.equal(state[k], last[k]) for k in state)
    for key, value in state.items():
        torch.testing.assert_close(value, kept[key], rtol=0, atol=0)


def test_early_stopping_without_patience_keeps_the_best_of_all_epochs(data):
    X, Y = data
    clf = _fast(early_stopping=True, n_iter_no_change=None, max_epochs=12, lr=0.05)
    clf.fit(X, Y)
    scores = clf.net_.history[:, "valid_acc"]
    assert clf.n_iter_ == 12
    assert clf.best_epoch_ == np.argmax(scores) + 1
    assert clf.best_validation_score_ == max(scores)


def test_warm_start_applies_new_stopping_settings(data):
    X, Y = data
    clf = _fast(max_epochs=3, n_iter_no_change=None, warm_start=True).fit(X, Y)
    assert "stopping" not in dict(clf.net_.callbacks_)
    # Every epoch after this call's first misses a tolerance of 10.
    clf.set_params(max_epochs=50, n_iter_no_change=2, tol=10.0)
    clf.fit(X, Y)
    assert clf.n_iter_ == 3 + 4
    assert list(dict(clf.net_.callbacks_))[-2:] == ["stopping", "print_log"]
    # The optimizer went on, not restarted.
    steps = sum(
        "train_batch_size" in b for epoch in clf.net_.history for b in epoch["batches"]
    )
    state = next(iter(clf.net_.optimizer_.state.values()))
    assert int(state["step"]) == steps
    clf.set_params(n_iter_no_change=None, max_epochs=2).fit(X, Y)
    assert clf.n_iter_ == 9
    assert "stopping" not in dict(clf.net_.callbacks_)


class _CtrlC(Callback):
    """What a Ctrl-C does in the middle of a batch of an epoch."""

    def __init__(self, epoch=2, batch=2):
        self.epoch = epoch
        self.batch = batch

    def on_batch_end(self, net, training=False, **kwargs):
        epoch = net.history[-1]
        if training and epoch["epoch"] == self.epoch:
            if len(epoch["batches"]) == self.batch:
                raise KeyboardInterrupt


@pytest.mark.parametrize("early_stopping", [False, True])
def test_ctrl_c_mid_epoch_keeps_the_model_trained_so_far(data, early_stopping):
    X, Y = data
    clf = _fast(callbacks=[_CtrlC()], early_stopping=early_stopping)
    with pytest.warns(UserWarning, match="interrupted by the user in epoch 2"):
        clf.fit(X, Y)
    assert clf.n_iter_ == len(clf.net_.history) == 2
    last = clf.net_.history[-1]
    # The interrupted epoch is scored over the batches it finished.
    batches = last["batches"][:2]
    assert last["train_loss"] == pytest.approx(
        sum(b["train_loss"] * b["train_batch_size"] for b in batches)
        / sum(b["train_batch_size"] for b in batches)
    )
    assert "train_acc_item" in last
    if early_stopping:  # epoch 2 has no validation score: epoch 1 is the best
        assert clf.best_epoch_ == 1 and clf.best_loss_ is None
        assert clf.best_validation_score_ == clf.net_.history[0, "valid_acc"]
    else:
        assert clf.best_epoch_ in (1, 2) and clf.best_loss_ is not None
    _assert_same_probas(pickle.loads(pickle.dumps(clf)), clf, X)


def test_ctrl_c_before_any_batch_leaves_no_empty_epoch(data):
    X, Y = data
    clf = _fast(callbacks=[_CtrlC(epoch=1, batch=1)], validation_fraction=0.2)
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, Y)
    assert clf.n_iter_ == 1 and clf.best_epoch_ == 1


def _assert_same_probas(a, b, X):
    for pa, pb in zip(a.predict_proba(X), b.predict_proba(X)):
        np.testing.assert_array_equal(pa, pb)


def test_fits_in_threads_equal_sequential_fits(data):
    from joblib import Parallel, delayed

    X, Y = data

    def fit(seed):
        clf = _fast(max_epochs=3, random_state=seed, trunk__dropout=0.3)
        return clf.fit(X, Y).predict_proba(X)[0]

    sequential = [fit(seed) for seed in range(4)]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    threaded = Parallel(n_jobs=4, backend="threading")(
        delayed(fit)(seed) for seed in range(4)
    )
    assert torch.equal(torch.get_rng_state(), before)
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_the_order_of_the_rows_depends_on_the_seed_alone(data):
    X, Y = data
    orders = []
    for trunk in ({"trunk__hidden_units": (3,)}, {"trunk__hidden_units": (50, 50)}):
        clf = _fast(max_epochs=1, callbacks=[("first", _FirstBatch())], **trunk)
        orders.append(dict(clf.fit(X, Y).net_.callbacks_)["first"].rows)
    assert orders[0] == orders[1]


def test_warm_fits_and_score_match_tasks_by_name(data):
    X, Y = data
    clf = _fast(max_epochs=2, warm_start=True).fit(X, Y)
    assert clf.score(X, Y) == clf.score(X, Y[["group", "item"]])
    swapped = clf.fit(X, Y[["group", "item"]]).predict(X)
    reference = _fast(max_epochs=2, warm_start=True).fit(X, Y).fit(X, Y).predict(X)
    np.testing.assert_array_equal(swapped, reference)
    for other in (Y.rename(columns={"item": "x"}), Y[["item"]]):
        with pytest.raises(ValueError, match="are not the fitted tasks"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataConversionWarning)  # (n, 1)
                clf.fit(X, other)
        with pytest.raises(ValueError, match="are not the fitted tasks"):
            clf.score(X, other)
    # Arrays keep positions.
    assert clf.score(X, Y.to_numpy()) == clf.score(X, Y)


@pytest.mark.parametrize("dtype", [np.float64, torch.float64])
def test_dtype_takes_numpy_and_torch_types(data, dtype):
    X, Y = data
    clf = _fast(max_epochs=1, dtype=dtype).fit(X, Y)
    assert next(clf.net_.module_.parameters()).dtype == torch.float64


def test_mixed_precision_needs_float32(data):
    X, Y = data
    with pytest.raises(ValueError, match="dtype='float32' or mixed_precision=None"):
        _fast(max_epochs=1, mixed_precision="bf16", dtype="float64").fit(X, Y)


@pytest.mark.parametrize("loss_weighting", ["uncertainty", "dwa"])
def test_stopping_monitors_the_mean_task_loss_under_a_strategy(data, loss_weighting):
    X, Y = data
    clf = _fast(loss_weighting=loss_weighting).fit(X, Y)
    history = clf.net_.history
    mean = (
        history[:, "train_loss_item"] + np.array(history[:, "train_loss_group"])
    ) / 2
    assert_allclose(history[:, "train_objective"], mean)
    assert clf.best_loss_ == min(history[:, "train_objective"]) > 0
    assert dict(clf.net_.callbacks_)["stopping"].monitor == "train_objective"


class _BlowUpLastStep(Callback):
    """Makes the last update of epoch 3 non-finite, as a diverging step."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == 3 and len(net.history[-1, "batches"]) == 8:
            with torch.no_grad():
                next(net.module_.parameters()).fill_(float("inf"))


@pytest.mark.parametrize(
    "stopping",
    [{"max_epochs": 3, "n_iter_no_change": None}, {"n_iter_no_change": 1, "tol": 1e9}],
    ids=["max_epochs", "stopped"],
)
def test_non_finite_parameters_are_refused_however_training_ends(data, stopping):
    X, Y = data  # 240 rows in batches of 32: the 8th batch is an epoch's last
    clf = _fast(callbacks=[_BlowUpLastStep()], **stopping)
    with pytest.raises(ValueError, match="with non-finite values"):
        clf.fit(X, Y)
    assert not hasattr(clf, "net_")
