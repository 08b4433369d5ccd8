"""Task kinds: their encodings, losses and scores, exactly."""

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score

from skmtl.tasks import Classification, Regression, make_tasks


def _encode(task, labels, missing=None, **kwargs):
    labels = np.asarray(labels)
    missing = (
        np.zeros(len(labels), bool) if missing is None else np.asarray(missing, bool)
    )
    return task.encode(labels, missing, "t", **kwargs)


def test_regression_standardises_the_labelled_targets():
    task, values = _encode(Regression(), [1.0, 3.0, 100.0, 5.0], missing=[0, 0, 1, 0])
    assert task.mean_ == pytest.approx(3.0)
    assert task.scale_ == pytest.approx(np.std([1.0, 3.0, 5.0]))
    np.testing.assert_allclose(values, [-1.5 / 1.2247449, 0, 0, 1.5 / 1.2247449], 1e-6)
    # Decoding inverts the scaling.
    outputs = torch.tensor(values[:, None])
    np.testing.assert_allclose(task.decode(outputs)[[0, 1, 3]], [1.0, 3.0, 5.0])


def test_regression_scaling_weighs_rows_as_repeats():
    weighted, _ = _encode(
        Regression(), [1.0, 2.0, 4.0], sample_weight=np.array([2, 1, 0.0])
    )
    repeated, _ = _encode(Regression(), [1.0, 1.0, 2.0])
    assert weighted.mean_ == pytest.approx(repeated.mean_)
    assert weighted.scale_ == pytest.approx(repeated.scale_)


def test_regression_without_scaling_and_constant_targets():
    task, values = _encode(Regression(target_scaling=False), [1.0, 2.0])
    assert (task.mean_, task.scale_) == (0.0, 1.0)
    np.testing.assert_array_equal(values, [1.0, 2.0])
    task, values = _encode(Regression(), [7.0, 7.0])
    assert (task.mean_, task.scale_) == (7.0, 1.0)


def test_a_warm_encoding_keeps_the_first_scaling():
    first, _ = _encode(Regression(), [0.0, 2.0])
    task, values = _encode(Regression(loss="huber"), [4.0], fitted=first)
    assert (task.mean_, task.scale_, task.loss) == (1.0, 1.0, "huber")
    np.testing.assert_array_equal(values, [3.0])


@pytest.mark.parametrize(
    "task, labels, message",
    [
        (Regression(), ["a", "b"], "its targets are not numbers"),
        (Regression(), [1.0, np.inf], "infinite targets"),
        (Regression(loss="l2"), [1.0, 2.0], "loss must be one of"),
        (Regression(delta=0), [1.0, 2.0], "delta must be a positive number"),
        (Classification(), [1, 1], "only one class"),
    ],
)
def test_bad_targets_are_named(task, labels, message):
    with pytest.raises(ValueError, match=message):
        _encode(task, labels)


def test_a_task_with_every_target_missing_is_refused():
    with pytest.raises(ValueError, match="no targets"):
        _encode(Regression(), [1.0, 2.0], missing=[1, 1])


def test_regression_losses_are_exact():
    outputs = torch.tensor([[[0.5], [2.0], [-1.0]], [[3.0], [0.0], [1.0]]])
    targets = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    tasks = [
        Regression(),
        Regression(loss="absolute_error"),
        Regression(loss="huber", delta=1.0),
    ]
    losses = Regression.group_losses(None, tasks, outputs, targets)
    errors = outputs[..., 0] - targets
    expected = torch.stack(
        [
            errors[:, 0] ** 2,
            errors[:, 1].abs(),
            torch.where(
                errors[:, 2].abs() < 1,
                0.5 * errors[:, 2] ** 2,
                errors[:, 2].abs() - 0.5,
            ),
        ],
        1,
    )
    torch.testing.assert_close(losses, expected)


def test_r2_from_sums_is_scikit_learns():
    rng = np.random.RandomState(0)
    y, f = rng.normal(size=(2, 50))
    labelled = torch.ones(50, 1, dtype=torch.bool)
    sums = Regression.group_sums(
        torch.tensor(f)[:, None, None], torch.tensor(y)[:, None], labelled
    )
    # The sums of two halves add up to the whole's.
    halves = [
        Regression.group_sums(
            torch.tensor(f[part])[:, None, None],
            torch.tensor(y[part])[:, None],
            labelled[part],
        )
        for part in (slice(0, 20), slice(20, 50))
    ]
    torch.testing.assert_close(sum(halves), sums)
    score = Regression.score_of(sums[:, 0].tolist(), 50)
    assert score == pytest.approx(r2_score(y, f), abs=1e-12)
    # Constant targets: 1 when predicted exactly, 0 otherwise, as r2_score.
    flat = Regression.group_sums(
        torch.ones(3, 1, 1), torch.ones(3, 1), torch.ones(3, 1, dtype=torch.bool)
    )
    assert Regression.score_of(flat[:, 0].tolist(), 3) == 1.0


def test_missing_rows_add_nothing_to_the_sums():
    outputs = torch.tensor([[[1.0]], [[5.0]]])
    targets = torch.tensor([[0.0], [123.0]])
    labelled = torch.tensor([[True], [False]])
    sums = Regression.group_sums(outputs, targets, labelled)
    torch.testing.assert_close(sums[:, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_make_tasks_takes_names_and_objects():
    huber = Regression(loss="huber")
    tasks = make_tasks(["classification", huber], 2)
    assert isinstance(tasks[0], Classification) and tasks[1] is huber
    with pytest.raises(ValueError, match="tasks has 1 entries, but y has 2"):
        make_tasks(["regression"], 2)
    with pytest.raises(ValueError, match=r"tasks\[0\] must be"):
        make_tasks(["ranking"], 1)


def test_label_smoothing_per_task_is_torchs():
    torch.manual_seed(0)
    outputs = torch.randn(5, 3, 4)
    targets = torch.tensor([[0, 1, 3], [2, 2, 0], [1, 0, 1], [3, 3, 2], [0, 1, 1]])

    class Net:
        criterion_ = torch.nn.CrossEntropyLoss(reduction="none")

    tasks = [
        Classification(label_smoothing=0.1),
        Classification(),
        Classification(label_smoothing=0.3),
    ]
    losses = Classification.group_losses(Net(), tasks, outputs, targets)
    for t, eps in enumerate([0.1, 0.0, 0.3]):
        expected = torch.nn.functional.cross_entropy(
            outputs[:, t], targets[:, t], reduction="none", label_smoothing=eps
        )
        torch.testing.assert_close(losses[:, t], expected)
    # Without a task's own smoothing, the net's criterion, whatever it is.
    plain = Classification.group_losses(Net(), [Classification()] * 3, outputs, targets)
    torch.testing.assert_close(
        plain[:, 1],
        torch.nn.functional.cross_entropy(
            outputs[:, 1], targets[:, 1], reduction="none"
        ),
    )
    with pytest.raises(ValueError, match="label_smoothing must be"):
        _encode(Classification(label_smoothing=1.0), [0, 1])
