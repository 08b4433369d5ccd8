"""lr_schedule: a learning rate schedule as a searchable parameter."""

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import LRScheduler

from skmtl import FitLRScheduler, MultiTaskClassifier

LR = 0.01


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 4))
    return X, np.column_stack([X[:, 0] > 0, X[:, 1] > 0])


def _clf(**params):
    # 2 batches of 50 rows per epoch, exactly 3 epochs: 6 steps.
    return MultiTaskClassifier(
        **{
            "max_epochs": 3,
            "batch_size": 50,
            "n_iter_no_change": None,
            "lr": LR,
            "random_state": 0,
            **params,
        }
    )


def _batch_lrs(net, epochs=slice(None)):
    return [
        batch["event_lr"] for epoch in net.history[epochs] for batch in epoch["batches"]
    ]


def _rates(net):
    return [group["lr"] for group in net.optimizer_.param_groups]


def test_no_schedule_keeps_the_rate_constant(data):
    clf = _clf().fit(*data)
    assert "lr_schedule" not in dict(clf.net_.callbacks_)
    assert _rates(clf.net_) == [LR]


def test_cosine_anneals_to_zero_every_batch_over_max_epochs(data):
    clf = _clf(lr_schedule="cosine").fit(*data)
    callback = dict(clf.net_.callbacks_)["lr_schedule"]
    assert isinstance(callback, FitLRScheduler)
    expected = [LR * (1 + math.cos(math.pi * k / 6)) / 2 for k in range(6)]
    np.testing.assert_allclose(_batch_lrs(clf.net_), expected, atol=1e-12)
    np.testing.assert_allclose(_rates(clf.net_), 0.0, atol=1e-12)


def test_onecycle_peaks_at_lr_over_the_fit(data):
    clf = _clf(lr_schedule="onecycle").fit(*data)
    lrs = _batch_lrs(clf.net_)
    assert len(lrs) == 6
    # OneCycleLR's defaults: from lr / 25 up to lr, then down to lr / 25e4.
    assert lrs[0] == pytest.approx(LR / 25)
    assert max(lrs) == pytest.approx(LR, rel=0.01)
    assert lrs[-1] == pytest.approx(LR / 25e4)


def test_a_skorch_scheduler_is_used_as_given_and_copied(data):
    schedule = LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    clf = _clf(lr_schedule=schedule).fit(*data)
    used = dict(clf.net_.callbacks_)["lr_schedule"]
    assert used is not schedule
    assert not hasattr(schedule, "lr_scheduler_")
    np.testing.assert_allclose(clf.net_.history[:, "event_lr"], [LR, LR / 2, LR / 4])


def test_warm_start_restarts_the_schedule_from_the_new_lr(data):
    clf = _clf(lr_schedule="cosine", warm_start=True).fit(*data)
    clf.set_params(lr=2 * LR).fit(*data)
    expected = [2 * LR * (1 + math.cos(math.pi * k / 6)) / 2 for k in range(6)]
    np.testing.assert_allclose(_batch_lrs(clf.net_, slice(3, None)), expected)


def test_warm_start_without_the_schedule_restores_lr_and_momentum(data):
    clf = _clf(lr_schedule="onecycle", warm_start=True).fit(*data)
    assert clf.net_.optimizer_.param_groups[0]["betas"][0] != 0.9
    clf.set_params(lr_schedule=None).fit(*data)
    assert "lr_schedule" not in dict(clf.net_.callbacks_)
    group = clf.net_.optimizer_.param_groups[0]
    assert group["lr"] == LR
    assert group["betas"] == (0.9, 0.999)


def test_warm_start_adds_a_schedule(data):
    clf = _clf(warm_start=True).fit(*data)
    clf.set_params(lr_schedule="cosine").fit(*data)
    assert len(_batch_lrs(clf.net_, slice(3, None))) == 6
    np.testing.assert_allclose(_rates(clf.net_), 0.0, atol=1e-12)


def test_onecycle_with_a_plain_optimizer(data):
    # Adagrad has no momentum to cycle.
    clf = _clf(lr_schedule="onecycle", optimizer=torch.optim.Adagrad).fit(*data)
    assert max(_batch_lrs(clf.net_)) == pytest.approx(LR, rel=0.01)


def test_unknown_schedule_is_rejected(data):
    with pytest.raises(ValueError, match="lr_schedule"):
        _clf(lr_schedule="linear").fit(*data)


def test_schedule_in_grid_search(data):
    schedule = LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    search = GridSearchCV(
        _clf(),
        {"lr_schedule": [None, "cosine", "onecycle", schedule]},
        cv=2,
        error_score="raise",
    ).fit(*data)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert clone(_clf(lr_schedule=schedule)).lr_schedule.step_size == 1
