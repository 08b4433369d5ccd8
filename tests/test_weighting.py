import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn
from torchjd.aggregation import CAGrad, Mean

from skmtl import MultiTaskClassifier, TaskLosses
from skmtl.metrics import task_scorer
from skmtl.modules import MLP, MultiTaskModule
from skmtl.trunks import CrossStitch, MMoE, shared_parameters
from skmtl.weighting import (
    NAMES,
    DynamicWeightAverage,
    FixedWeights,
    GradientAggregation,
    GradNorm,
    RandomWeighting,
    UncertaintyWeighting,
    dwa_weights,
    make_loss_weighting,
)

from ._frozen import frozen_fit


def _fast(**params):
    return MultiTaskClassifier(
        **{"max_epochs": 3, "lr": 0.01, "batch_size": 32, "random_state": 0, **params}
    )


def _all_present(losses):
    """Task losses of a batch with a label for every task."""
    losses = tuple(losses)
    losses = torch.stack(losses)
    return TaskLosses(losses, losses, torch.ones(len(losses), dtype=bool))


@pytest.fixture
def data(two_tasks):
    X, Y, _, _ = two_tasks
    return X, Y.astype(str)


def test_names_and_objects_make_strategies():
    assert isinstance(make_loss_weighting(None), FixedWeights)
    assert make_loss_weighting("equal", (0.2, 0.8)).weights == (0.2, 0.8)
    assert isinstance(make_loss_weighting("dwa"), DynamicWeightAverage)
    assert make_loss_weighting("pcgrad").aggregator == "pcgrad"
    strategy = GradNorm(alpha=0.5)
    assert make_loss_weighting(strategy) is strategy


def test_task_weights_only_with_fixed_weights():
    with pytest.raises(
        ValueError, match="cannot be combined with loss_weighting='dwa'"
    ):
        make_loss_weighting("dwa", (0.5, 0.5))


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown loss_weighting 'nash'"):
        make_loss_weighting("nash")
    with pytest.raises(ValueError, match="Unknown aggregator 'pcgard'"):
        GradientAggregation("pcgard").initialize()


def test_uncertainty_weighting_effective_weight_is_exp_minus_s():
    strategy = UncertaintyWeighting()
    net = SimpleNamespace(weighting_=strategy.setup(2))
    with torch.no_grad():
        net.weighting_.log_variance.copy_(torch.tensor([0.0, np.log(2.0)]))
    losses = [torch.tensor(3.0), torch.tensor(4.0)]
    total = strategy.combine(_all_present(losses), net, training=True)
    assert total.item() == pytest.approx(3.0 + 0.5 * 4.0 + np.log(2.0))
    state = strategy.state(net)
    assert state["loss_weight"] == pytest.approx([1.0, 0.5])
    assert state["log_variance"] == pytest.approx([0.0, np.log(2.0)])


def test_dwa_weights():
    assert dwa_weights([], 2.0, 3) == [1.0, 1.0, 1.0]
    assert dwa_weights([[1.0, 2.0]], 2.0, 2) == [1.0, 1.0]
    equal = dwa_weights([[2.0, 4.0], [1.0, 2.0]], 2.0, 2)
    assert equal == pytest.approx([1.0, 1.0])
    # Task 1's loss fell less (ratio 1 against 0.5): it gets more weight.
    slower = dwa_weights([[2.0, 2.0], [1.0, 2.0]], 2.0, 2)
    assert slower[1] > slower[0] and sum(slower) == pytest.approx(2.0)
    expected = 2 * np.exp([0.25, 0.5]) / np.exp([0.25, 0.5]).sum()
    assert slower == pytest.approx(expected)
    assert dwa_weights([[2.0, 2.0], [1.0, 2.0]], 1e6, 2) == pytest.approx([1.0, 1.0])


def test_dwa_in_training_uses_the_history_of_task_losses(data):
    X, Y = data
    history = _fast(max_epochs=4, loss_weighting="dwa").fit(X, Y).net_.history
    assert history[0, "loss_weight_task_0"] == history[1, "loss_weight_task_1"] == 1.0
    losses = [[e[f"train_loss_task_{t}"] for t in (0, 1)] for e in history[1:3]]
    expected = dwa_weights(losses, 2.0, 2)
    assert [history[3, f"loss_weight_task_{t}"] for t in (0, 1)] == pytest.approx(
        expected
    )


def _toy_net(n_in=2):
    """A net-like object: a linear trunk and two linear heads."""
    torch.manual_seed(0)
    module = nn.Module()
    module.trunk = nn.Linear(n_in, 2, bias=False)
    module.heads = nn.ModuleList([nn.Linear(2, 1, bias=False) for _ in range(2)])
    return SimpleNamespace(module_=module, task_names=["a", "b"], device="cpu")


def test_gradnorm_moves_weight_to_the_task_that_trains_slower():
    strategy = GradNorm(alpha=1.5)
    net = _toy_net()
    net.weighting_ = strategy.setup(2)
    x = torch.tensor([[1.0, 1.0]])
    # Equal heads: both tasks start with the same gradient norm.
    with torch.no_grad():
        net.module_.heads[1].weight.copy_(net.module_.heads[0].weight)

    def losses(scale_a, scale_b):
        features = net.module_.trunk(x)
        head_a, head_b = (h(features).sum() for h in net.module_.heads)
        return [scale_a * head_a**2, scale_b * head_b**2]

    first = losses(1.0, 1.0)
    start = [loss.item() for loss in first]
    strategy.backward(_all_present(first), net)
    for p in net.module_.parameters():
        p.grad = None
    # Task a's loss has fallen to a tenth of its start, task b's has not moved.
    second = losses(0.1 * start[0] / first[0].item(), 1.0)
    strategy.backward(_all_present(second), net)
    grad = net.weighting_.weight.grad
    assert grad[1] < 0 < grad[0]  # gradient descent raises b's weight, lowers a's
    with torch.no_grad():
        net.weighting_.weight -= 0.1 * grad
    strategy.on_batch_end(net, training=True)
    weight = net.weighting_.weight.detach()
    assert weight[1] > 1 > weight[0]
    assert weight.sum().item() == pytest.approx(2.0)


def test_pcgrad_update_has_no_component_against_either_task():
    strategy = GradientAggregation("pcgrad").initialize()
    net = _toy_net()
    strategy.on_train_begin(net)
    strategy.on_epoch_begin(net)
    trunk, (head_a, head_b) = net.module_.trunk, net.module_.heads
    with torch.no_grad():
        head_a.weight.copy_(torch.tensor([[1.0, 0.2]]))
        head_b.weight.copy_(torch.tensor([[-1.0, 0.5]]))
    x = torch.tensor([[1.0, 2.0]])

    def task_losses():
        features = trunk(x)
        return [head_a(features).sum(), head_b(features).sum()]

    task_grads = []
    for loss in task_losses():
        grad = torch.autograd.grad(loss, trunk.weight, retain_graph=True)[0]
        task_grads.append(grad.flatten())
    assert task_grads[0] @ task_grads[1] < 0, "the two tasks must conflict"

    strategy.backward(_all_present(task_losses()), net)
    update = trunk.weight.grad.flatten()
    assert update @ task_grads[0] >= -1e-6
    assert update @ task_grads[1] >= -1e-6
    # Each head keeps its own task's gradient.
    torch.testing.assert_close(head_a.weight.grad, trunk(x).detach())
    strategy.on_train_end(net)


def test_random_weighting_draws_weights_that_sum_to_one():
    strategy = RandomWeighting()
    net = _toy_net()
    strategy.on_epoch_begin(net)
    losses = [torch.tensor(1.0), torch.tensor(1.0)]
    totals = [
        strategy.combine(_all_present(losses), net, training=True).item()
        for _ in range(3)
    ]
    assert totals == pytest.approx([1.0] * 3)
    weights = torch.stack(strategy._batch_weights)
    assert len({tuple(w.tolist()) for w in weights}) == 3
    assert strategy.task_weights(net, training=False) == [0.5, 0.5]


@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_trains_and_records_its_weights(data, name):
    X, Y = data
    clf = _fast(max_epochs=2, loss_weighting=name, validation_fraction=0.2).fit(X, Y)
    history = clf.net_.history
    assert np.isfinite(history[:, "train_loss"]).all()
    assert np.isfinite(history[:, "valid_loss"]).all()
    assert len(history[:, "loss_weight_task_0"]) == 2
    assert clf.score(X, Y) > 0.3


@pytest.mark.parametrize("name", ["random", "gradnorm", "upgrad"])
def test_strategies_are_deterministic_under_random_state(data, name):
    X, Y = data
    first = _fast(loss_weighting=name).fit(X, Y).predict_proba(X)
    second = _fast(loss_weighting=name).fit(X, Y).predict_proba(X)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_strategy_parameters_are_searchable(data):
    X, Y = data
    clf = _fast(max_epochs=1, loss_weighting=GradNorm())
    assert clf.get_params()["loss_weighting__alpha"] == 1.5
    clf.set_params(loss_weighting__alpha=0.5)
    assert clone(clf).loss_weighting.alpha == 0.5
    search = GridSearchCV(
        clf,
        [
            {"loss_weighting": [GradNorm()], "loss_weighting__alpha": [0.5, 2.0]},
            {"loss_weighting": ["dwa", GradientAggregation(CAGrad(c=0.2))]},
        ],
        scoring=task_scorer(1),
        cv=2,
    ).fit(X, Y)
    assert len(search.cv_results_["params"]) == 4
    assert [str(p) for p in search.cv_results_["param_loss_weighting"]] == [
        "GradNorm()",
        "GradNorm()",
        "dwa",
        "GradientAggregation(aggregator=CAGrad(c=0.2, norm_eps=0.0001))",
    ]


@pytest.mark.parametrize(
    "strategy, expected",
    [
        (GradNorm(), "GradNorm()"),
        (GradNorm(alpha=0.5), "GradNorm(alpha=0.5)"),
        (FixedWeights((0.2, 0.8)), "FixedWeights(weights=(0.2, 0.8))"),
        (DynamicWeightAverage(temperature=3), "DynamicWeightAverage(temperature=3)"),
        (GradientAggregation("pcgrad"), "GradientAggregation(aggregator='pcgrad')"),
        (UncertaintyWeighting(), "UncertaintyWeighting()"),
        (RandomWeighting(), "RandomWeighting()"),
    ],
)
def test_repr_shows_the_changed_constructor_parameters(strategy, expected):
    assert repr(strategy) == expected


def test_repr_shows_every_parameter_when_sklearn_is_told_to():
    with sklearn.config_context(print_changed_only=False):
        assert repr(GradNorm()) == "GradNorm(alpha=1.5)"
        assert repr(UncertaintyWeighting()) == "UncertaintyWeighting()"


def test_repr_ignores_fitted_and_private_state(data):
    X, Y = data
    clf = _fast(max_epochs=1, loss_weighting="upgrad").fit(X, Y)
    assert repr(clf.net_.loss_weighting_) == "GradientAggregation()"


def test_the_strategy_object_given_is_not_trained(data):
    X, Y = data
    strategy = UncertaintyWeighting()
    clf = _fast(loss_weighting=strategy).fit(X, Y)
    assert clf.net_.loss_weighting_ is not strategy
    assert not hasattr(strategy, "weights_")
    log_variance = clf.net_.history[-1, "log_variance_task_1"]
    assert log_variance != 0.0


@pytest.mark.parametrize("name", ["uncertainty", "gradnorm", "upgrad", "random"])
def test_fitted_strategies_pickle(data, name):
    X, Y = data
    clf = _fast(max_epochs=1, loss_weighting=name).fit(X, Y)
    restored = pickle.loads(pickle.dumps(clf))
    for a, b in zip(clf.predict_proba(X), restored.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_gradient_aggregation_refuses_a_compiled_net(data):
    X, Y = data
    clf = _fast(
        max_epochs=1, loss_weighting="upgrad", compile=True, compile__backend="eager"
    )
    with pytest.raises(ValueError, match="forward hook.*use compile=False"):
        clf.fit(X, Y)


def test_dwa_counts_a_task_missing_from_an_epoch_as_steady():
    weights = dwa_weights([[1.0, np.nan], [0.5, 2.0]], temperature=2.0, n_tasks=2)
    assert np.isfinite(weights).all()
    # Task a's ratio 0.5 against task b's counted as 1: b gains weight.
    assert weights[1] > 1 > weights[0]
    assert dwa_weights([[1.0, 1.0], [0.5, 0.0]], 2.0, 2) == dwa_weights(
        [[1.0, 1.0], [0.5, 1.0]], 2.0, 2
    )


def test_gradnorm_reference_loss_comes_from_the_first_batch_with_the_task():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(48, 4))
    Y = np.column_stack([rng.randint(3, size=48), np.full(48, -1)])
    Y[[35, 40], 1] = [0, 1]  # the sparse task first appears in the third batch
    clf, _ = frozen_fit(X, Y, loss_weighting="gradnorm")
    logits = clf.net_.module_(torch.from_numpy(X))
    ce = torch.nn.functional.cross_entropy
    first_a = ce(logits[0][:16], torch.from_numpy(Y[:16, 0])).item()
    first_b = ce(logits[1][[35, 40]], torch.tensor([0, 1])).item()
    assert clf.net_.loss_weighting_.initial_losses_ == pytest.approx(
        [first_a, first_b], rel=1e-12
    )
    assert clf.net_.history[-1, "loss_weight_task_1"] == pytest.approx(1.0)


def _soft_net(trunk, n_classes):
    """A bare net around a module: what GradientAggregation.backward reads."""
    module = MultiTaskModule(trunk, 6, n_classes).double()
    names = [f"task_{t}" for t in range(len(n_classes))]
    return SimpleNamespace(module_=module, task_names=names, compile=False)


@pytest.mark.parametrize(
    "make_trunk",
    [
        lambda: MLP(6, (5,)),
        lambda: MMoE(6, 3, n_experts=2, expert_units=(5,)),
        lambda: CrossStitch(6, 3, hidden_units=(5,)),
    ],
    ids=["mlp", "mmoe", "cross_stitch"],
)
def test_mean_aggregation_averages_the_shared_gradients_only(make_trunk):
    # With torchjd's Mean aggregator, the shared parameters get the mean of the
    # task gradients; every other parameter (the heads, an MMoE's gates) gets
    # the gradients of the tasks that reach it, summed: each task's own.
    torch.manual_seed(0)
    trunk = make_trunk()
    net = _soft_net(trunk, [3, 2, 1])
    strategy = GradientAggregation(Mean()).initialize()
    strategy.on_train_begin(net)
    strategy.on_epoch_begin(net)
    X = torch.randn(8, 6, dtype=torch.float64)
    logits = net.module_(X)
    losses = torch.stack([(z**2).mean() * (t + 1) for t, z in enumerate(logits)])
    shared = shared_parameters(net.module_.trunk)
    own = [p for p in net.module_.parameters() if all(p is not s for s in shared)]
    expected_shared = torch.autograd.grad(losses.mean(), shared, retain_graph=True)
    expected_own = torch.autograd.grad(losses.sum(), own, retain_graph=True)
    strategy.backward(TaskLosses(losses, losses, torch.ones(3, dtype=bool)), net)
    strategy.on_train_end(net)
    for p, g in zip([*shared, *own], [*expected_shared, *expected_own]):
        torch.testing.assert_close(p.grad, g)
    if isinstance(trunk, MMoE):
        assert trunk.gates.weight.grad.abs().sum() > 0
