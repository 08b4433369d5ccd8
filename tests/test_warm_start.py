"""Warm starts: the table of parameters, applied parameter by parameter."""

import copy
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import make_scorer, recall_score
from skorch.callbacks import Callback, EpochScoring

from skmtl import (
    MultiTaskClassifier,
    MultiTaskEstimator,
    MultiTaskNet,
    MultiTaskRegressor,
)
from skmtl._routing import PREFIXES
from skmtl._warm_start import LIVE, RESTART, STRUCTURAL, WARM_START, rule, same
from skmtl.augmentation import ImageAugmentation
from skmtl.weighting import GradNorm

# One change of each row of the table: (parameter, new value).
CHANGES = {
    "trunk": ("trunk", "cnn"),
    "trunk__*": ("trunk__hidden_units", (7,)),
    "head__*": ("head__hidden_units", (3,)),
    "dtype": ("dtype", "float64"),
    "device": ("device", "meta"),
    "compile": ("compile", True),
    "compile__*": ("compile__backend", "eager"),
    "loss_weighting": ("loss_weighting", "uncertainty"),
    "task_weights": ("task_weights", np.array([0.3, 0.7])),
    "optimizer": ("optimizer", torch.optim.SGD),
    "mixed_precision": ("mixed_precision", "bf16"),
    "callbacks": ("callbacks", [("noop", Callback())]),
    "callbacks__*": ("callbacks__print_log__floatfmt", ".2f"),
    "tol": ("tol", 0.5),
    "n_iter_no_change": ("n_iter_no_change", 1),
    "early_stopping": ("early_stopping", True),
    "lr_schedule": ("lr_schedule", "cosine"),
    "max_epochs": ("max_epochs", 1),
    "batch_size": ("batch_size", 7),
    "lr": ("lr", 0.05),
    "optimizer__*": ("optimizer__weight_decay", 0.01),
    "iterator_train__*": ("iterator_train__shuffle", False),
    "iterator_valid__*": ("iterator_valid__batch_size", 5),
    "criterion__*": ("criterion__label_smoothing", 0.1),
    "augment": ("augment", ImageAugmentation(input_shape=(1, 4, 4))),
    "missing_label": ("missing_label", -1),
    "class_weight": ("class_weight", "balanced"),
    "validation_fraction": ("validation_fraction", 0.25),
    "verbose": ("verbose", 1),
    "random_state": ("random_state", 1),
    "warm_start": ("warm_start", False),
    # Of MultiTaskRegressor and MultiTaskEstimator, tested by
    # test_regression_rows_do_what_the_table_says.
    "loss": ("loss", "huber"),
    "target_scaling": ("target_scaling", False),
    "tasks": ("tasks", ["classification", "regression"]),
}
# The rows of MultiTaskClassifier's parameters, which the tests below change.
CLASSIFIER_ROWS = sorted(
    row
    for row in CHANGES
    if row.endswith("*") or row in MultiTaskClassifier._get_param_names()
)


@pytest.fixture(scope="module")
def data():
    """16 features, so that augmentation reads each row as a 4x4 image."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(48, 16)).astype(np.float32)
    return X, np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)


def _warm(estimator=MultiTaskClassifier, **params):
    defaults = {
        "max_epochs": 2,
        "batch_size": 16,
        "n_iter_no_change": None,
        "warm_start": True,
        "random_state": 0,
    }
    return estimator(**{**defaults, **params})


def _step(net):
    """The optimizer's step count for the first weight of the network."""
    state = net.optimizer_.state.get(next(net.module_.parameters()), {})
    return int(state["step"]) if "step" in state else None


def _train_batches(epochs):
    return sum(epoch["train_batch_count"] for epoch in epochs)


def _same_predictions(a, b, X):
    for pa, pb in zip(a.predict_proba(X), b.predict_proba(X)):
        np.testing.assert_array_equal(pa, pb)


def test_the_table_has_a_row_for_every_parameter_and_prefix():
    estimators = (MultiTaskClassifier, MultiTaskRegressor, MultiTaskEstimator)
    names = set().union(*(e._get_param_names() for e in estimators))
    rows = names | {p + "*" for p in PREFIXES}
    assert set(WARM_START) == rows
    assert set(CHANGES) == rows
    assert {r.kind for r in WARM_START.values()} == {LIVE, RESTART, STRUCTURAL}
    assert rule("trunk__hidden_units") is WARM_START["trunk__*"]


def test_the_user_guide_shows_the_table():
    guide = (
        Path(__file__).parents[1] / "docs" / "user_guide" / "training.md"
    ).read_text()
    shown = {}
    for line in guide.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[1] in (LIVE, RESTART, STRUCTURAL):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                shown[name.replace("<prefix>", "")] = cells[1]
    assert shown == {name: row.kind for name, row in WARM_START.items()}


@pytest.mark.parametrize("row", CLASSIFIER_ROWS)
def test_each_change_does_what_the_table_says(data, row, monkeypatch):
    X, Y = data
    name, value = CHANGES[row]
    clf = _warm().fit(X, Y)
    net, proba, step = clf.net_, clf.predict_proba(X), _step(clf.net_)
    trained = copy.deepcopy(net.module_.state_dict())
    clf.set_params(**{name: value})
    if WARM_START[row].kind == STRUCTURAL:
        with pytest.raises(ValueError, match=f"{name} changed since it was fitted"):
            clf.fit(X, Y)
        assert clf.net_ is net
        # The parameters no longer describe the network; loading ignores them.
        _same_predictions(pickle.loads(pickle.dumps(clf)), clf, X)
        for p, q in zip(proba, clf.predict_proba(X)):
            np.testing.assert_array_equal(p, q)
        return

    starts = []
    fit = MultiTaskNet.partial_fit

    def spy(self, *args, **kwargs):
        starts.append(copy.deepcopy(self.module_.state_dict()))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MultiTaskNet, "partial_fit", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0.5 stops, the others may not
        clf.fit(X, Y)
    if row == "warm_start":  # a new network: a fit from scratch
        assert len(clf.net_.history) == 2
        return
    new_epochs = clf.net_.history[len(net.history) :]
    # The trained weights are where the warm fit starts.
    assert starts[0].keys() == trained.keys()
    for key in trained:
        torch.testing.assert_close(starts[0][key].double(), trained[key].double())
    assert len(clf.net_.history) == len(net.history) + len(new_epochs)
    rebuilds = WARM_START[row].rebuilds
    if clf.early_stopping:  # the optimizer's state is the best epoch's
        new_epochs = [e for e in new_epochs if e["epoch"] <= clf.best_epoch_]
    if rebuilds == "optimizer":
        assert _step(clf.net_) in (None, _train_batches(new_epochs))
    else:  # the optimizer keeps its state
        assert _step(clf.net_) == step + _train_batches(new_epochs)
    if rebuilds == "strategy":
        assert clf.net_.loss_weighting_ is not clf.net_.loss_weighting
    _same_predictions(pickle.loads(pickle.dumps(clf)), clf, X)


@pytest.mark.parametrize("save", ["pickle", "skops"])
@pytest.mark.parametrize("row", CLASSIFIER_ROWS)
def test_any_change_after_fit_leaves_what_a_load_gives(data, tmp_path, row, save):
    X, Y = data
    clf = _warm(loss_weighting="gradnorm").fit(X, Y)
    proba = clf.predict_proba(X)
    name, value = CHANGES[row]
    if row == "task_weights":
        clf.set_params(loss_weighting=None)
    clf.set_params(**{name: value})
    if save == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    else:
        path = tmp_path / "model.skops"
        sio.dump(clf, path)
        loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert loaded.get_params()[name] is not None
    for p, q in zip(proba, loaded.predict_proba(X)):
        np.testing.assert_array_equal(p, q)


STRATEGIES = [None, "uncertainty", "gradnorm", "dwa", "upgrad"]


@pytest.mark.parametrize("before", STRATEGIES)
@pytest.mark.parametrize("after", STRATEGIES)
def test_switching_between_any_two_strategies_works_both_ways(data, before, after):
    X, Y = data
    clf = _warm(loss_weighting=before).fit(X, Y)
    step = _step(clf.net_)
    clf.set_params(loss_weighting=after).fit(X, Y)
    net = clf.net_
    learnable = after in ("uncertainty", "gradnorm")
    assert ("weighting" in net._modules) == learnable
    assert hasattr(net, "weighting_") == learnable
    # The network's parameters keep their optimizer state.
    assert _step(net) == step + _train_batches(net.history[2:])
    trained = [p for group in net.optimizer_.param_groups for p in group["params"]]
    if learnable:
        assert any(p is net.weighting_.parameters().__next__() for p in trained)
    _same_predictions(pickle.loads(pickle.dumps(clf)), clf, X)


def test_an_array_of_task_weights_is_compared_by_value(data):
    X, Y = data
    clf = _warm(task_weights=np.array([0.3, 0.7])).fit(X, Y)
    strategy = clf.net_.loss_weighting_
    clf.set_params(task_weights=np.array([0.3, 0.7])).fit(X, Y)
    assert type(clf.net_.loss_weighting_) is type(strategy)
    clf.set_params(task_weights=np.array([0.6, 0.4])).fit(X, Y)
    assert clf.net_.loss_weighting_.weights_ == [0.6, 0.4]


class _Scorer:
    """A scorer object, which compares unequal to its copies."""

    def __call__(self, net, X, y=None):
        return float(len(net.history))


def test_a_callback_holding_a_scorer_keeps_the_optimizer_and_callbacks(data):
    X, Y = data
    callback = EpochScoring(_Scorer(), name="recall", on_train=True, use_caching=False)
    clf = _warm(callbacks=[("recall", callback)]).fit(X, Y)
    before = dict(clf.net_.callbacks_)["recall"]
    step = _step(clf.net_)
    clf.fit(X, Y)
    assert _step(clf.net_) == step + _train_batches(clf.net_.history[2:])
    # The fitted callback goes on (a copy of it, with its state).
    assert dict(clf.net_.callbacks_)["recall"].best_score_ == before.best_score_


def test_a_nested_change_of_a_strategy_restarts_it(data):
    X, Y = data
    clf = _warm(loss_weighting=GradNorm()).fit(X, Y)
    strategy = clf.net_.loss_weighting_
    clf.fit(X, Y)  # unchanged: the fitted strategy goes on
    assert clf.net_.loss_weighting_.initial_losses_ == strategy.initial_losses_
    assert clf.net_.loss_weighting_.alpha == 1.5
    clf.set_params(loss_weighting__alpha=0.5).fit(X, Y)
    assert clf.net_.loss_weighting_.alpha == 0.5
    assert clf.fitted_params_["loss_weighting"].alpha == 0.5


def test_a_parameter_set_back_to_its_default_is_no_change(data):
    X, Y = data
    clf = _warm().fit(X, Y)
    clf.set_params(trunk__hidden_units=(100,), dtype=np.float32).fit(X, Y)
    assert len(clf.net_.history) == 4


def test_a_warm_fit_prints_the_table_header_again(data, capsys):
    X, Y = data
    clf = _warm().fit(X, Y)
    clf.set_params(verbose=1).fit(X, Y)
    assert "epoch" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (np.array([0.3, 0.7]), np.array([0.3, 0.7]), True),
        (np.array([0.3, 0.7]), np.array([0.3, 0.8]), False),
        (np.array([1, 2]), np.array([1.0, 2.0]), False),
        (float("nan"), float("nan"), True),
        ([1, (2, "a")], [1, (2, "a")], True),
        ((1,), [1], False),
        (torch.tensor([1.0]), torch.tensor([1.0]), True),
        (torch.nn.Linear(2, 2), None, True),  # b: a copy of a
        (make_scorer(recall_score), None, True),
        (torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), False),  # other weights
    ],
)
def test_same_compares_values_and_copies(a, b, expected):
    b = copy.deepcopy(a) if b is None else b
    assert same(a, b) is expected


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from(sorted(set(CLASSIFIER_ROWS) - {"warm_start"})),
        min_size=1,
        max_size=4,
    )
)
def test_any_sequence_of_changes_and_warm_fits_keeps_the_state_contract(rows):
    """fit, then changes each followed by a warm fit: a structural change is
    refused and changes nothing; any other goes on training the same net; at
    every step a saved and loaded model predicts as the fitted one."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(48, 16)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    clf = _warm(max_epochs=1).fit(X, Y)
    for row in rows:
        name, value = CHANGES[row]
        epochs = len(clf.net_.history)
        clf.set_params(**{name: value})
        if WARM_START[row].kind == STRUCTURAL:
            with pytest.raises(ValueError, match="changed since it was fitted"):
                clf.fit(X, Y)
            assert len(clf.net_.history) == epochs
            clf.set_params(**{name: clf.fitted_params_.get(name, value)})
            if name not in clf.fitted_params_:  # a routed parameter: unset it
                del vars(clf)[name]
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, Y)
            assert len(clf.net_.history) > epochs
        _same_predictions(pickle.loads(pickle.dumps(clf)), clf, X)


def test_regression_rows_do_what_the_table_says(data):
    X, _ = data
    Y = np.column_stack([X[:, 0], X[:, 1] * 100])
    reg = _warm(estimator=MultiTaskRegressor).fit(X, Y)
    n_epochs = len(reg.net_.history)
    # A live change: the warm fit trains on with the new loss.
    reg.set_params(loss="huber").fit(X, Y)
    assert len(reg.net_.history) == 2 * n_epochs
    assert [task.loss for task in reg.net_.tasks] == ["huber", "huber"]
    assert [task.loss for task in reg.tasks_] == ["huber", "huber"]
    # The scaling that the net's outputs are in is structural.
    reg.set_params(target_scaling=False)
    with pytest.raises(ValueError, match="target_scaling changed since it was fitted"):
        reg.fit(X, Y)
    est = _warm(estimator=MultiTaskEstimator, tasks=["regression", "regression"]).fit(
        X, Y
    )
    est.set_params(tasks=["regression", "classification"])
    with pytest.raises(ValueError, match="tasks changed since it was fitted"):
        est.fit(X, Y)
