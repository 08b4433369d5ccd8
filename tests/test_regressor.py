"""MultiTaskRegressor: regression tasks on the multi-task machinery."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskRegressor
from skmtl._batching import split_validation
from skmtl.metrics import mean_task_scorer, task_scorer

_FAST = {"max_epochs": 30, "n_iter_no_change": None, "lr": 0.01, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    """Two related targets of very different scales."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6))
    Y = np.column_stack(
        [X[:, 0] + 0.5 * X[:, 1], 1000 * (X[:, 1] - X[:, 2]) + 5000]
    ) + 0.05 * rng.normal(size=(200, 2))
    return X, Y


def _fit(X, Y, **params):
    return MultiTaskRegressor(**{**_FAST, **params}).fit(X, Y)


def test_it_learns_targets_of_any_scale(data):
    X, Y = data
    reg = _fit(X, Y)
    Y_pred = reg.predict(X)
    assert Y_pred.shape == Y.shape and Y_pred.dtype == np.float64
    assert r2_score(Y, Y_pred, multioutput="raw_values").min() > 0.95
    assert reg.score(X, Y) == pytest.approx(r2_score(Y, Y_pred))


def test_scaled_targets_give_scaled_predictions(data):
    """Target scaling makes the net's training independent of the targets'
    units: an affine change of a target changes its predictions alike."""
    X, Y = data
    base = _fit(X, Y).predict(X)
    moved = _fit(X, Y * [3.0, 0.001] + [10.0, -2.0]).predict(X)
    np.testing.assert_allclose(moved, base * [3.0, 0.001] + [10.0, -2.0], rtol=1e-4)
    # Not so without scaling: the second task's units dominate its loss.
    raw = _fit(X, Y, target_scaling=False, max_epochs=3).predict(X)
    assert not np.allclose(raw, base, rtol=1e-2)


def test_a_1d_target_is_an_ordinary_regressor(data):
    X, Y = data
    reg = _fit(X, Y[:, 0])
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, Y[:, 0]) == pytest.approx(r2_score(Y[:, 0], reg.predict(X)))
    assert not hasattr(reg, "classes_") and not hasattr(reg, "predict_proba")


def test_validation_r2_in_the_history_is_exact(data):
    X, Y = data
    reg = _fit(X, Y, validation_fraction=0.25, dtype="float64", max_epochs=5)
    _, valid = split_validation(
        np.arange(len(X)), 0.25, np.random.RandomState(0).randint(2**31 - 1)
    )
    last = reg.net_.history[-1]
    Y_pred = reg.predict(X[valid])
    for t, name in enumerate(reg.task_names_):
        expected = r2_score(Y[valid, t], Y_pred[:, t])
        assert last[f"valid_r2_{name}"] == pytest.approx(expected, abs=1e-9)
        assert last[f"valid_count_{name}"] == len(valid)
    assert last["valid_r2"] == pytest.approx(r2_score(Y[valid], Y_pred), abs=1e-9)
    assert last["valid_score"] == last["valid_r2"]


def test_missing_targets_are_left_out(data):
    X, Y = data
    Y = Y.copy()
    Y[::4, 0] = np.nan
    reg = _fit(X, Y, missing_label=np.nan)
    assert reg.net_.history[-1, "train_count_task_0"] == 150
    assert np.isfinite(reg.predict(X)).all()
    labelled = ~np.isnan(Y[:, 0])
    expected = np.mean(
        [
            r2_score(Y[labelled, 0], reg.predict(X)[labelled, 0]),
            r2_score(Y[:, 1], reg.predict(X)[:, 1]),
        ]
    )
    assert reg.score(X, Y) == pytest.approx(expected)
    # The scaling is that of the labelled rows.
    assert reg.tasks_[0].mean_ == pytest.approx(np.nanmean(Y[:, 0]))
    with pytest.raises(ValueError, match="missing_label=np.nan"):
        _fit(X, Y)


def test_the_targets_of_missing_rows_do_not_matter(data):
    """A missing target, weighted 0, adds nothing to the loss nor to its
    gradients, whatever the net is given there: 0, NaN or another number."""
    X, Y = data
    reg = _fit(X, Y, max_epochs=1)
    net = reg.net_
    Xt = torch.as_tensor(X[:20], dtype=torch.float32)
    weights = torch.ones(20, 2)
    weights[::2, 1] = 0
    results = []
    for filler in (0.0, float("nan"), 123.0):
        targets = torch.as_tensor(Y[:20], dtype=torch.float32).clone()
        targets[::2, 1] = filler
        net.module_.zero_grad()
        losses = net.get_task_losses(
            net.module_(Xt), {"labels": targets, "weights": weights}
        ).losses
        losses.sum().backward()
        grads = [p.grad.clone() for p in net.module_.parameters()]
        results.append((losses.detach(), grads))
    for losses, grads in results[1:]:
        torch.testing.assert_close(losses, results[0][0])
        for g, g0 in zip(grads, results[0][1]):
            torch.testing.assert_close(g, g0)


def test_each_task_has_its_own_loss(data):
    X, Y = data
    reg = _fit(X, Y, loss=["huber", "absolute_error"], max_epochs=5)
    assert [task.loss for task in reg.net_.tasks] == ["huber", "absolute_error"]
    assert reg.score(X, Y) > 0.5
    with pytest.raises(ValueError, match="loss has 3 entries for 2 tasks"):
        _fit(X, Y, loss=["huber"] * 3)
    with pytest.raises(ValueError, match="loss must be one of"):
        _fit(X, Y, loss="hinge")


def test_a_loss_changes_training():
    """A few far outliers pull the squared error, not the absolute error."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = X[:, 0].copy()
    y[:15] += 50
    clean = slice(15, None)
    squared = _fit(X, y, max_epochs=60).predict(X)
    absolute = _fit(X, y, loss="absolute_error", max_epochs=60).predict(X)
    error = {
        name: np.abs(pred[clean] - X[clean, 0]).mean()
        for name, pred in (("squared", squared), ("absolute", absolute))
    }
    assert error["absolute"] < error["squared"]


@pytest.mark.parametrize(
    "strategy",
    [None, "uncertainty", "dwa", "gradnorm", "random", "upgrad", "pcgrad"],
)
def test_every_strategy_trains_regression_tasks(data, strategy):
    pytest.importorskip("torchjd")
    X, Y = data
    reg = _fit(X, Y, loss_weighting=strategy, max_epochs=15)
    assert reg.score(X, Y) > 0.5


def test_uncertainty_weighting_is_twice_kendalls_regression_form():
    """exp(-s) L + s = 2 (L / (2 sigma^2) + log sigma), with sigma^2 = exp(s)."""
    from skmtl._net import TaskLosses
    from skmtl.weighting import UncertaintyWeighting

    class Net:
        pass

    net = Net()
    strategy = UncertaintyWeighting()
    net.weighting_ = strategy.setup(2)
    log_variance = torch.tensor([0.3, -1.2])
    with torch.no_grad():
        net.weighting_.log_variance.copy_(log_variance)
    losses = torch.tensor([2.0, 0.5])
    total = strategy.combine(
        TaskLosses(losses, losses, torch.ones(2, dtype=bool)), net, True
    )
    sigma = torch.exp(log_variance / 2)
    kendall = (losses / (2 * sigma**2) + torch.log(sigma)).sum()
    torch.testing.assert_close(total, 2 * kendall)


def test_sample_weights_weigh_rows(data):
    X, Y = data
    weights = np.r_[np.zeros(100), np.ones(100)]
    weighted = MultiTaskRegressor(**{**_FAST, "max_epochs": 3})
    weighted.fit(X, Y, sample_weight=weights)
    dropped = _fit(X[100:], Y[100:], max_epochs=3)
    assert weighted.tasks_[1].mean_ == pytest.approx(dropped.tasks_[1].mean_)


def test_early_stopping_keeps_the_best_validation_r2(data):
    X, Y = data
    reg = _fit(X, Y, early_stopping=True, n_iter_no_change=3, max_epochs=40)
    scores = reg.net_.history[:, "valid_score"]
    assert reg.best_validation_score_ == pytest.approx(max(scores))
    assert reg.net_.history[reg.best_epoch_ - 1, "valid_score"] == max(scores)


def test_dataframe_targets_name_the_tasks(data):
    X, Y = data
    frame = pd.DataFrame(Y, columns=["small", "large"])
    reg = _fit(X, frame, max_epochs=3)
    assert reg.task_names_ == ["small", "large"]
    assert "train_r2_large" in reg.net_.history[-1]
    assert reg.score(X, frame[["large", "small"]]) == pytest.approx(reg.score(X, Y))


def test_task_scorers_score_regression_tasks_by_r2(data):
    X, Y = data
    reg = _fit(X, Y, max_epochs=5)
    Y_pred = reg.predict(X)
    assert task_scorer(1)(reg, X, Y) == pytest.approx(r2_score(Y[:, 1], Y_pred[:, 1]))
    mae = task_scorer(0, "neg_mean_absolute_error")(reg, X, Y)
    assert mae == pytest.approx(-np.abs(Y[:, 0] - Y_pred[:, 0]).mean())
    assert mean_task_scorer()(reg, X, Y) == pytest.approx(reg.score(X, Y))


def test_save_and_load(data, tmp_path):
    X, Y = data
    reg = _fit(X, Y, max_epochs=3)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(reg)).predict(X), reg.predict(X)
    )
    path = tmp_path / "reg.skops"
    sio.dump(reg, path)
    assert sio.get_untrusted_types(file=path) == [
        "skmtl._regressor.MultiTaskRegressor",
        "torch.optim.adam.Adam",
    ]
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.tasks_[1].mean_ == reg.tasks_[1].mean_


def test_memmap_features(data, tmp_path):
    X, Y = data
    stored = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=X.shape
    )
    stored[:] = X
    reg = _fit(stored, Y, max_epochs=3)
    np.testing.assert_allclose(
        reg.predict(stored), _fit(X.astype(np.float32), Y, max_epochs=3).predict(X)
    )


def test_the_trunk_feeds_another_estimator(data):
    X, Y = data
    reg = _fit(X, Y, max_epochs=5, trunk__hidden_units=(16,))
    features = reg.transform(X)
    assert features.shape == (200, 16) and features.dtype == np.float32
    names = reg.get_feature_names_out()
    assert list(names[:2]) == ["multitaskregressor0", "multitaskregressor1"]
    pipe = make_pipeline(
        StandardScaler(), MultiTaskRegressor(**{**_FAST, "max_epochs": 5}), Ridge()
    ).fit(X, Y)
    assert pipe.score(X, Y) > 0.5
    assert pipe[:-1].get_feature_names_out().shape == (100,)


def test_a_search_over_losses_and_the_print_log(data):
    X, Y = data
    lines = []
    search = GridSearchCV(
        MultiTaskRegressor(
            **{**_FAST, "max_epochs": 3},
            callbacks__print_log__sink=lines.append,
        ),
        {"loss": ["squared_error", "huber"]},
        cv=2,
    ).fit(X, Y)
    assert set(search.cv_results_["param_loss"]) == {"squared_error", "huber"}
    assert lines[0].split()[:5] == [
        "epoch",
        "train_loss",
        "train_r2",
        "train_r2_task_0",
        "train_r2_task_1",
    ]


def test_real_data_beats_the_mean():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = MultiTaskRegressor(max_epochs=20, n_iter_no_change=None, random_state=0)
        reg.fit(scaler.transform(X_train), y_train)
    assert reg.score(scaler.transform(X_test), y_test) > 0
