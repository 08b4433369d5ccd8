"""Soft-sharing trunks (skmtl.trunks): MMoE, cross-stitch and PLE."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from torch import nn

from skmtl import (
    MultiTaskClassifier,
    MultiTaskEstimator,
    TaskGradientSimilarity,
    TaskLosses,
)
from skmtl.modules import MLP, MultiTaskModule
from skmtl.trunks import PLE, CrossStitch, MMoE, shared_parameters
from skmtl.weighting import _last_shared_weight

SOFT = ["mmoe", "cross_stitch", "ple"]
TRUNKS = ["mlp", *SOFT]
SMALL = {
    "mlp": {"trunk__hidden_units": (16,)},
    "mmoe": {"trunk__n_experts": 2, "trunk__expert_units": (16,)},
    "cross_stitch": {"trunk__hidden_units": (16,)},
    "ple": {"trunk__n_levels": 2, "trunk__expert_units": (16,)},
}
TRUSTED = ["skmtl._classifier.MultiTaskClassifier", "torch.optim.adam.Adam"]


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits and three tasks: the digit, odd, at least 5."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32")
    return X, np.column_stack([y, y % 2, y >= 5])


@pytest.fixture(scope="module")
def small(digits):
    X, Y = digits
    return X[:200], Y[:200]


def _fast(trunk, **params):
    defaults = {"max_epochs": 2, "lr": 0.01, "batch_size": 50, "random_state": 0}
    return MultiTaskClassifier(trunk, **{**defaults, **SMALL[trunk], **params})


def _count(parameters):
    return sum(p.numel() for p in parameters)


# Shapes, errors, parameter counts


@pytest.mark.parametrize("trunk", [MMoE, CrossStitch, PLE])
@pytest.mark.parametrize("n_tasks", [1, 3])
def test_one_representation_per_task(trunk, n_tasks):
    out = trunk(8, n_tasks)(torch.zeros(5, 8))
    assert out.shape == (5, n_tasks, 100)
    module = MultiTaskModule(trunk(8, n_tasks), 8, [10, 3, 1][:n_tasks])
    assert [z.shape for z in module(torch.zeros(5, 8))] == [
        (5, k) for k in [10, 3, 1][:n_tasks]
    ]


@pytest.mark.parametrize("trunk", [MMoE, CrossStitch, PLE])
def test_a_trunk_for_another_number_of_tasks_is_named(trunk):
    name = trunk.__name__
    message = (
        rf"The trunk {name} returned a representation for 2 tasks, of shape "
        r"\(2, 2, 100\), but there are 3 tasks"
    )
    with pytest.raises(ValueError, match=message):
        MultiTaskModule(trunk(8, 2), 8, [10, 3, 1])


@pytest.mark.parametrize("trunk", SOFT)
def test_the_estimator_gives_the_trunk_the_number_of_tasks(small, trunk):
    X, Y = small
    clf = _fast(trunk, max_epochs=1).fit(X, Y)
    assert clf.net_.module_.trunk.n_tasks == 3
    with pytest.raises(ValueError, match="representation for 2 tasks"):
        _fast(trunk, trunk__n_tasks=2, max_epochs=1).fit(X, Y)


def test_trunk_parameters_are_routed(small):
    X, Y = small
    clf = MultiTaskClassifier(trunk="mmoe", trunk__n_experts=6, max_epochs=1)
    trunk = clf.fit(*small).net_.module_.trunk
    assert isinstance(trunk, MMoE) and len(trunk.experts) == 6
    assert trunk.gates.out_features == 6 * 3
    assert clf.get_params()["trunk__n_experts"] == 6


@pytest.mark.parametrize(
    "trunk, params, message",
    [
        (MMoE, {"n_experts": 0}, "MMoE n_experts must be a positive int; got 0"),
        (MMoE, {"n_tasks": 0}, "MMoE n_tasks must be a positive int; got 0"),
        (MMoE, {"expert_units": ()}, "MMoE expert_units must hold at least one"),
        (MMoE, {"expert_units": (0,)}, r"MMoE expert_units must hold positive"),
        (MMoE, {"dropout": 1.0}, r"MMoE dropout must be a probability"),
        (CrossStitch, {"hidden_units": ()}, "CrossStitch hidden_units must hold at"),
        (PLE, {"n_levels": 0}, "PLE n_levels must be a positive int; got 0"),
        (PLE, {"n_shared_experts": 0}, "PLE n_shared_experts must be a positive"),
        (PLE, {"n_task_experts": -1}, "PLE n_task_experts must be a non-negative"),
        (PLE, {"n_task_experts": 1.5}, "PLE n_task_experts must be a non-negative"),
        (PLE, {"expert_units": ()}, "PLE expert_units must hold at least one"),
        (
            PLE,
            {
                "expert_units": (),
                "n_levels": 2,
                "backbone": "cnn",
                "backbone_params": {"channels": (2,), "pool_after": ()},
            },
            "PLE expert_units must hold at least one width without a backbone or "
            "above the first level",
        ),
        (CrossStitch, {"backbone": "resnet"}, "Unknown CrossStitch backbone 'resnet'"),
        (CrossStitch, {"backbone": 3}, "CrossStitch backbone must be 'cnn'"),
        (
            MMoE,
            {"backbone_params": {"channels": (4,)}},
            r"MMoE backbone_params configure a backbone; got \['channels'\]",
        ),
    ],
)
def test_bad_parameters_are_named(trunk, params, message):
    with pytest.raises(ValueError, match=message):
        trunk(**{"in_features": 16, "n_tasks": 2, **params})


def test_parameter_counts():
    d, h, T, E = 64, 100, 3, 4
    mlp = _count(MLP(d, (h,)).parameters())
    assert mlp == d * h + h
    assert _count(MMoE(d, T, E, (h,)).parameters()) == E * mlp + (d + 1) * T * E
    # One stitch unit (T x T) after each of the two layers.
    assert _count(CrossStitch(d, T, (h, 50)).parameters()) == (
        T * (mlp + h * 50 + 50) + 2 * T * T
    )
    # Per level, T * k + s experts; gates of k + s outputs per task, and a
    # shared one of T * k + s outputs below the last level.
    k, s = 2, 1
    upper = _count(MLP(h, (h,)).parameters())
    assert _count(PLE(d, T, 2, k, s, (h,)).parameters()) == (
        (T * k + s) * (mlp + upper)
        + (d + 1) * T * (k + s)
        + (h + 1) * T * (k + s)
        + (d + 1) * (T * k + s)
    )


# MMoE


def test_mmoe_of_one_expert_is_that_expert_for_every_task():
    torch.manual_seed(0)
    trunk = MMoE(8, 3, n_experts=1, expert_units=(16, 4)).double()
    X = torch.randn(6, 8, dtype=torch.float64)
    expected = trunk.experts[0](X)
    out = trunk(X)
    for t in range(3):
        torch.testing.assert_close(out[:, t], expected)


def test_mmoe_gates_are_distributions_and_weigh_the_experts():
    torch.manual_seed(0)
    trunk = MMoE(8, 3, n_experts=4, expert_units=(5,)).double()
    with torch.no_grad():  # gates far from uniform
        trunk.gates.weight.mul_(20)
    X = torch.randn(6, 8, dtype=torch.float64)
    gates = trunk.gate_weights(X)
    assert gates.shape == (6, 3, 4)
    assert (gates >= 0).all()
    torch.testing.assert_close(gates.sum(-1), torch.ones(6, 3, dtype=torch.float64))
    experts = [expert(X) for expert in trunk.experts]
    out = trunk(X)
    for t in range(3):
        mixed = sum(gates[:, t, e, None] * experts[e] for e in range(4))
        torch.testing.assert_close(out[:, t], mixed)
    # Each task's gate is its own: task 1's logits are outputs 4 to 7.
    logits = trunk.gates(X)[:, 4:8]
    torch.testing.assert_close(gates[:, 1], logits.softmax(-1))


def test_mmoe_task_loss_reaches_only_its_own_gate():
    trunk = MMoE(8, 3, n_experts=2, expert_units=(5,))
    trunk(torch.randn(6, 8))[:, 1].sum().backward()
    grad = trunk.gates.weight.grad.view(3, 2, 8)
    assert grad[1].abs().sum() > 0
    assert grad[0].abs().sum() == 0 and grad[2].abs().sum() == 0
    assert all(p.grad.abs().sum() > 0 for p in trunk.experts.parameters())


def test_mmoe_shares_the_experts_only():
    trunk = MMoE(8, 3, n_experts=2)
    shared = {id(p) for p in shared_parameters(trunk)}
    assert shared == {id(p) for p in trunk.experts.parameters()}
    assert not shared & {id(p) for p in trunk.gates.parameters()}


# Cross-stitch


def test_cross_stitch_units_start_near_identity():
    trunk = CrossStitch(8, 3, hidden_units=(5, 4))
    assert len(trunk.stitches) == 2
    for alpha in trunk.stitches:
        torch.testing.assert_close(
            alpha.detach(),
            torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]),
        )
    assert CrossStitch(8, 1).stitches[0].item() == 1.0


def _column(trunk, t):
    """Column ``t`` of a cross-stitch trunk as a plain MLP."""
    widths = [layer.weight.shape[1] for layer in trunk.layers]
    mlp = MLP(trunk.layers[0].weight.shape[2], widths).double()
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, layer in zip(linears, trunk.layers):
            linear.weight.copy_(layer.weight[t])
            linear.bias.copy_(layer.bias[t])
    return mlp


def test_cross_stitch_with_identity_units_is_independent_columns():
    torch.manual_seed(0)
    trunk = CrossStitch(8, 3, hidden_units=(5, 4)).double()
    with torch.no_grad():
        for alpha in trunk.stitches:
            alpha.copy_(torch.eye(3))
    X = torch.randn(6, 8, dtype=torch.float64)
    out = trunk(X)
    for t in range(3):
        torch.testing.assert_close(out[:, t], _column(trunk, t)(X))
    # A task's loss trains its own column only.
    out[:, 1].sum().backward()
    for layer in trunk.layers:
        assert layer.weight.grad[1].abs().sum() > 0
        assert layer.weight.grad[[0, 2]].abs().sum() == 0


def test_cross_stitch_units_mix_the_columns():
    torch.manual_seed(0)
    trunk = CrossStitch(8, 2, hidden_units=(5,)).double()
    X = torch.randn(6, 8, dtype=torch.float64)
    columns = torch.stack([_column(trunk, t)(X) for t in range(2)], 1)
    expected = 0.9 * columns + 0.1 * columns.flip(1)
    out = trunk(X)
    torch.testing.assert_close(out, expected)
    # Through the unit, task 0's loss reaches column 1 too.
    out[:, 0].sum().backward()
    assert trunk.layers[0].weight.grad[1].abs().sum() > 0
    assert trunk.stitches[0].grad[0].abs().sum() > 0


def test_cross_stitch_shares_everything_last_layer_last():
    trunk = CrossStitch(8, 2, hidden_units=(5, 4))
    shared = shared_parameters(trunk)
    assert {id(p) for p in shared} == {id(p) for p in trunk.parameters()}
    assert shared[-2:] == [trunk.layers[-1].weight, trunk.layers[-1].bias]


# CNN backbones


# PLE


def _zero_gates(trunk):
    with torch.no_grad():
        for gate in [*trunk.task_gates, *trunk.shared_gates]:
            gate.weight.zero_()
            gate.bias.zero_()
    return trunk


def test_ple_with_even_gates_averages_each_tasks_own_and_the_shared_experts():
    torch.manual_seed(0)
    trunk = _zero_gates(PLE(8, 3, n_levels=2, n_task_experts=2, n_shared_experts=1))
    trunk = trunk.double()
    X = torch.randn(6, 8, dtype=torch.float64)
    first, second = trunk.experts  # each: task 0's 2, task 1's 2, task 2's 2, shared
    below = [expert(X) for expert in first]
    shared = torch.stack(below).mean(0)  # the shared gate mixes all seven
    out = trunk(X)
    for t in range(3):
        task = torch.stack([*below[2 * t : 2 * t + 2], below[6]]).mean(0)
        above = [second[2 * t](task), second[2 * t + 1](task), second[6](shared)]
        torch.testing.assert_close(out[:, t], torch.stack(above).mean(0))


def test_cgc_without_experts_of_the_tasks_own_is_an_mmoe():
    torch.manual_seed(0)
    ple = PLE(8, 3, n_task_experts=0, n_shared_experts=4, expert_units=(5, 4))
    mmoe = MMoE(8, 3, n_experts=4, expert_units=(5, 4))
    for e in range(4):
        mmoe.experts[e][0].load_state_dict(ple.experts[0][e].state_dict())
    mmoe.gates.load_state_dict(ple.task_gates[0].state_dict())
    X = torch.randn(6, 8)
    torch.testing.assert_close(ple(X), mmoe(X))


@pytest.mark.parametrize("n_levels", [1, 2, 3, 4])
@pytest.mark.parametrize("n_task_experts", [0, 1, 2])
def test_ple_shares_the_parameters_more_than_one_task_reaches(n_levels, n_task_experts):
    torch.manual_seed(0)
    trunk = PLE(8, 3, n_levels, n_task_experts, 2, expert_units=(5,)).double()
    X = torch.randn(4, 8, dtype=torch.float64)
    parameters = list(trunk.parameters())
    reached = [  # each task's nonzero gradient, element by element
        [
            torch.zeros_like(p) if g is None else g != 0
            for p, g in zip(
                parameters,
                torch.autograd.grad(
                    trunk(X)[:, t].sum(), parameters, allow_unused=True
                ),
            )
        ]
        for t in range(3)
    ]
    # A parameter is shared when one of its elements has two tasks' gradients
    # (the first gates, one tensor, give each task its own rows).
    expected = [
        p
        for i, p in enumerate(parameters)
        if (sum(reached[t][i].int() for t in range(3)) >= 2).any()
    ]
    assert {id(p) for p in shared_parameters(trunk)} == {id(p) for p in expected}
    # Gates before experts: the last weight is the last shared expert's.
    weights = [p for p in shared_parameters(trunk) if p.ndim == 2]
    assert weights[-1] is trunk.experts[-1][-1].layers[0].weight


@pytest.mark.parametrize("trunk", [MMoE, CrossStitch, PLE])
def test_cnn_backbone_reads_rows_as_images(trunk):
    backbone_params = {"channels": (4,), "pool_after": ()}
    module = trunk(64, 2, backbone="cnn", backbone_params=backbone_params)
    assert module.input_shape == (1, 8, 8)
    assert module(torch.zeros(5, 64)).shape == (5, 2, 100)
    # The experts, the columns, or the first level's experts (one per task,
    # one shared).
    if trunk is CrossStitch:
        parts, cnn = module.backbones, module.backbones[0]
    else:
        parts = module.experts if trunk is MMoE else module.experts[0]
        cnn = parts[0][0]
    assert len(parts) == {MMoE: 4, CrossStitch: 2, PLE: 3}[trunk]
    assert cnn.out_features == 4 * 6 * 6  # no dense layer


@pytest.mark.parametrize("trunk", SOFT)
def test_cnn_backbone_trains_with_shifted_images(small, trunk):
    X, Y = small
    params = {"trunk__backbone": "cnn", "trunk__backbone_params": {"channels": (4,)}}
    clf = _fast(trunk, augment="shift", **params).fit(X, Y)
    assert clf.net_.augment.input_shape == (1, 8, 8)
    assert np.isfinite(clf.net_.history[:, "train_loss"]).all()


# Learning, search, persistence, strategies


@pytest.mark.parametrize("trunk", TRUNKS)
def test_each_trunk_learns_the_digits(digits, trunk):
    X, Y = digits
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)
    clf = MultiTaskClassifier(
        trunk, lr=0.01, max_epochs=15, n_iter_no_change=None, random_state=0
    ).fit(X_train, Y_train)
    accuracy = (clf.predict(X_test) == Y_test).mean(0)
    assert (accuracy > [0.93, 0.93, 0.93]).all(), accuracy


def test_grid_search_over_the_trunks(small):
    X, Y = small
    search = GridSearchCV(
        MultiTaskClassifier(max_epochs=2, lr=0.01, random_state=0),
        {"trunk": TRUNKS},
        cv=KFold(2, shuffle=True, random_state=0),
    ).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert [p["trunk"] for p in search.cv_results_["params"]] == TRUNKS


def _skops(clf, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    assert sio.get_untrusted_types(file=path) == TRUSTED
    return sio.load(path, trusted=TRUSTED)


@pytest.mark.parametrize(
    "load", [lambda clf, _: pickle.loads(pickle.dumps(clf)), _skops]
)
@pytest.mark.parametrize(
    "trunk, params",
    [
        ("mmoe", {}),
        ("cross_stitch", {}),
        ("ple", {}),
        (
            "mmoe",
            {"trunk__backbone": "cnn", "trunk__backbone_params": {"channels": (2,)}},
        ),
    ],
    ids=["mmoe", "cross_stitch", "ple", "mmoe-cnn"],
)
def test_save_and_load(small, tmp_path, load, trunk, params):
    X, Y = small
    clf = _fast(trunk, **params).fit(X, Y)
    restored = load(clf, tmp_path)
    for a, b in zip(clf.predict_proba(X), restored.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    saved, loaded = clf.net_.module_.state_dict(), restored.net_.module_.state_dict()
    assert saved.keys() == loaded.keys()
    for key in saved:
        torch.testing.assert_close(loaded[key], saved[key], rtol=0, atol=0)


STRATEGIES = [
    None,
    "uncertainty",
    "dwa",
    "gradnorm",
    "random",
    "upgrad",
    "pcgrad",
    "mgda",
]


@pytest.mark.parametrize("loss_weighting", STRATEGIES)
@pytest.mark.parametrize("trunk", SOFT)
def test_every_strategy_trains_each_trunk(small, trunk, loss_weighting):
    X, Y = small
    clf = _fast(trunk, loss_weighting=loss_weighting, validation_fraction=0.2)
    history = clf.fit(X, Y).net_.history
    assert np.isfinite(history[:, "train_loss"]).all()
    assert np.isfinite(history[:, "valid_loss"]).all()
    assert all(np.isfinite(p).all() for p in clf.predict_proba(X))


@pytest.mark.parametrize(
    "trunk, where",
    [
        ("mlp", lambda trunk: trunk.layers[0].weight),
        ("mmoe", lambda trunk: trunk.experts[-1][-1].layers[0].weight),
        ("cross_stitch", lambda trunk: trunk.layers[-1].weight),
        # The last level's shared expert.
        ("ple", lambda trunk: trunk.experts[-1][-1].layers[0].weight),
    ],
)
def test_gradnorm_measures_the_last_shared_weight(small, trunk, where):
    clf = _fast(trunk, max_epochs=1, loss_weighting="gradnorm").fit(*small)
    assert _last_shared_weight(clf.net_) is where(clf.net_.module_.trunk)


@pytest.mark.parametrize("trunk", SOFT)
def test_gradient_similarity_on_the_shared_parameters(small, trunk):
    X, Y = small
    similarity = TaskGradientSimilarity(every=1)
    clf = _fast(trunk, callbacks=[similarity]).fit(X, Y)
    cosines = clf.net_.history[:, "grad_cosine_task_0_task_1"]
    assert all(-1 <= c <= 1 for c in cosines)


def test_gradient_similarity_of_mmoe_compares_the_experts_gradients():
    torch.manual_seed(0)
    module = MultiTaskModule(MMoE(6, 2, n_experts=2, expert_units=(5,)), 6, [3, 2])
    net = SimpleNamespace(module_=module.double())
    logits = module(torch.randn(8, 6, dtype=torch.float64))
    losses = torch.stack([(z**2).mean() for z in logits])
    present = torch.ones(2, dtype=bool)
    cosines = TaskGradientSimilarity.cosines(net, TaskLosses(losses, losses, present))
    experts = list(module.trunk.experts.parameters())
    grads = [
        torch.cat(
            [
                g.reshape(-1)
                for g in torch.autograd.grad(loss, experts, retain_graph=True)
            ]
        )
        for loss in losses
    ]
    expected = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    torch.testing.assert_close(cosines[0, 1], expected.detach())


def test_mixed_classification_and_regression_with_mmoe(digits):
    X, Y = digits
    # The digit, and the image's mean ink (a number per row).
    Y_mixed = np.column_stack([Y[:, 0], X.mean(1) * 10]).astype(object)
    est = MultiTaskEstimator(
        ["classification", "regression"],
        trunk="mmoe",
        lr=0.01,
        max_epochs=10,
        n_iter_no_change=None,
        random_state=0,
    ).fit(X[:1000], Y_mixed[:1000])
    predicted = est.predict(X[1000:])
    accuracy = (predicted[:, 0].astype(int) == Y[1000:, 0]).mean()
    target = Y_mixed[1000:, 1].astype(float)
    r2 = (
        1
        - ((predicted[:, 1].astype(float) - target) ** 2).sum()
        / ((target - target.mean()) ** 2).sum()
    )
    assert accuracy > 0.85 and r2 > 0.5, (accuracy, r2)
