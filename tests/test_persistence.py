"""Saving and loading fitted estimators: pickle, skops, devices, size."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.datasets import make_classification
from skops.io.exceptions import UntrustedTypesFoundException
from skorch.callbacks import EarlyStopping
from skorch.exceptions import DeviceWarning

from skmtl import MultiTaskClassifier
from skmtl.modules import MLP
from skmtl.weighting import GradNorm

TRUSTED = ["skmtl._classifier.MultiTaskClassifier", "torch.optim.adam.Adam"]

CNN = {
    "trunk": "cnn",
    "trunk__channels": (4,),
    "trunk__padding": "same",
    "trunk__pool_after": (),
    "trunk__dense_units": (8,),
    "trunk__batch_norm": True,  # buffers, including an integer one
}


@pytest.fixture(scope="module")
def data():
    """16 features, so that the CNN reads each row as a 4x4 image."""
    X, item = make_classification(
        n_samples=160, n_features=16, n_informative=8, n_classes=3, random_state=0
    )
    return X, np.column_stack([item, np.array(["even", "odd"])[item % 2]])


def _fit(data, **params):
    defaults = {"max_epochs": 3, "lr": 0.01, "batch_size": 32, "random_state": 0}
    return MultiTaskClassifier(**{**defaults, **params}).fit(*data)


def _pickle(clf, tmp_path):
    return pickle.loads(pickle.dumps(clf))


def _skops(clf, tmp_path, trusted=None):
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    return sio.load(path, trusted=trusted or sio.get_untrusted_types(file=path))


def _assert_same_predictions(a, b, X):
    for pa, pb in zip(a.predict_proba(X), b.predict_proba(X)):
        np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _tensors_and_modules(value, seen=None):
    """The torch objects reachable through containers in ``value``."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, torch.Tensor | torch.nn.Module):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple | set):
        return [t for v in value for t in _tensors_and_modules(v, seen)]
    return []


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
@pytest.mark.parametrize("loss_weighting", [None, "uncertainty"])
@pytest.mark.parametrize("trunk", [{}, CNN], ids=["mlp", "cnn"])
def test_round_trip_gives_identical_predictions(
    data, tmp_path, load, loss_weighting, trunk
):
    clf = _fit(data, loss_weighting=loss_weighting, **trunk)
    restored = load(clf, tmp_path)
    _assert_same_predictions(clf, restored, data[0])
    assert restored.net_.history.to_list() == clf.net_.history.to_list()
    for name in clf.net_._modules:
        saved = getattr(clf.net_, name + "_").state_dict()
        loaded = getattr(restored.net_, name + "_").state_dict()
        assert saved.keys() == loaded.keys()
        for key in saved:
            torch.testing.assert_close(loaded[key], saved[key], rtol=0, atol=0)
    if loss_weighting == "uncertainty":
        assert restored.net_.weighting_.log_variance.abs().sum() > 0


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
@pytest.mark.parametrize("loss_weighting", [None, "uncertainty", GradNorm(), "dwa"])
def test_warm_start_after_loading_goes_on_as_the_original(
    data, tmp_path, load, loss_weighting
):
    # Same optimizer state, callback state and history: the same next epochs.
    clf = _fit(data, loss_weighting=loss_weighting, warm_start=True, max_epochs=2)
    restored = load(clf, tmp_path)
    clf.fit(*data)
    restored.fit(*data)
    assert len(restored.net_.history) == 4
    _assert_same_predictions(clf, restored, data[0])


@pytest.mark.parametrize("params", [{}, {"loss_weighting": "uncertainty"}, CNN])
def test_skops_untrusted_types_are_the_estimator_and_its_optimizer(
    data, tmp_path, params
):
    path = tmp_path / "model.skops"
    sio.dump(_fit(data, **params), path)
    assert sio.get_untrusted_types(file=path) == TRUSTED


@pytest.mark.parametrize("trusted", [None, [], TRUSTED[:1], TRUSTED[1:]])
def test_skops_refuses_to_load_untrusted_types(data, tmp_path, trusted):
    path = tmp_path / "model.skops"
    sio.dump(_fit(data, max_epochs=1), path)
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(path, trusted=trusted)


def test_skops_untrusted_types_of_object_parameters(data, tmp_path):
    clf = _fit(
        data,
        trunk=MLP,
        trunk__in_features=16,
        trunk__hidden_units=(8,),
        loss_weighting=GradNorm(alpha=0.5),
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        callbacks=[EarlyStopping(patience=1)],
        validation_fraction=0.25,
    )
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    assert sio.get_untrusted_types(file=path) == [
        "builtins.print",  # EarlyStopping's sink
        "skmtl._classifier.MultiTaskClassifier",
        "skmtl.modules.MLP",
        "skmtl.weighting.GradNorm",
        "skorch.callbacks.training.EarlyStopping",
        "torch.optim.sgd.SGD",
    ]
    restored = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    _assert_same_predictions(clf, restored, data[0])
    assert restored.loss_weighting.alpha == 0.5


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
def test_a_trunk_instance_keeps_its_weights(data, tmp_path, load):
    trunk = MLP(16, (8,))
    clf = _fit(data, trunk=trunk)
    restored = load(clf, tmp_path)
    assert type(restored.trunk) is MLP and restored.trunk is not trunk
    for a, b in zip(trunk.parameters(), restored.trunk.parameters()):
        assert isinstance(b, torch.nn.Parameter)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    _assert_same_predictions(clf, restored, data[0])
    # Refitting starts from the same trunk weights.
    _assert_same_predictions(clf.fit(*data), restored.fit(*data), data[0])


def test_skops_lists_the_classes_of_a_trunk_instance(data, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(_fit(data, trunk=MLP(16, (8,)), max_epochs=1), path)
    assert sio.get_untrusted_types(file=path) == sorted(
        TRUSTED
        + [
            "skmtl.modules.MLP",
            "torch.nn.modules.activation.ReLU",
            "torch.nn.modules.container.Sequential",
            "torch.nn.modules.linear.Linear",
        ]
    )


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
def test_unfitted_estimator_round_trip(tmp_path, load):
    clf = MultiTaskClassifier(trunk__hidden_units=(5,), lr=0.1)
    restored = load(clf, tmp_path)
    assert restored.get_params() == clf.get_params()
    assert not hasattr(restored, "net_")


def test_saved_state_holds_no_tensor_module_or_data(data):
    clf = _fit(data, validation_fraction=0.25, loss_weighting="uncertainty")
    state = clf.__getstate__()
    assert _tensors_and_modules(state) == []
    # The estimator itself is left as it was.
    assert type(clf.net_).__name__ == "MultiTaskNet"


def test_pickle_size_is_about_the_weights_and_history():
    # 20000 rows and half of them for validation: none of them is saved.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 50)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0])
    clf = MultiTaskClassifier(
        max_epochs=1, batch_size=512, validation_fraction=0.5, random_state=0
    ).fit(X, Y)
    weights = sum(p.numel() * p.element_size() for p in clf.net_.module_.parameters())
    history = len(json.dumps(clf.net_.history.to_list()))
    assert len(pickle.dumps(clf)) < 3 * (weights + history)


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
def test_cuda_model_loads_on_cpu_with_a_warning(data, tmp_path, load, monkeypatch):
    # As if fitted on a GPU: the saved state records device="cuda".
    clf = _fit(data, loss_weighting="uncertainty")
    saved = pickle.loads(pickle.dumps(clf)).set_params(device="cuda")
    saved.fitted_params_["device"] = "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="trained on device 'cuda'.*'cpu'"):
        restored = load(saved, tmp_path)
    assert restored.device == "cpu"
    assert restored.net_.device == "cpu"
    assert all(p.device.type == "cpu" for p in restored.net_.module_.parameters())
    _assert_same_predictions(clf, restored, data[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_fitted_on_cuda_predicts_on_cpu_without_cuda(data, monkeypatch):
    on_gpu = _fit(data, device="cuda", loss_weighting="uncertainty")
    saved = pickle.dumps(on_gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning):
        restored = pickle.loads(saved)
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    for a, b in zip(on_gpu.predict_proba(data[0]), restored.predict_proba(data[0])):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_loading_leaves_torch_global_random_state_alone(data):
    saved = pickle.dumps(_fit(data, max_epochs=1))
    before = torch.get_rng_state()
    pickle.loads(saved)
    assert torch.equal(torch.get_rng_state(), before)


def test_parameters_changed_after_fit_change_nothing_a_load_gives(data):
    clf = _fit(data, max_epochs=1)
    proba = clf.predict_proba(data[0])
    clf.set_params(trunk__hidden_units=(7,), trunk="cnn", dtype="float64")
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.get_params()["trunk"] == "cnn"  # what the next fit does
    for p, q in zip(proba, loaded.predict_proba(data[0])):
        np.testing.assert_array_equal(p, q)


def test_a_file_saved_before_the_snapshot_loads_with_its_parameters(data):
    clf = _fit(data, max_epochs=1)
    state = clf.__getstate__()
    del state["fitted_params_"], state["_named_tasks"]
    restored = MultiTaskClassifier.__new__(MultiTaskClassifier)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    _assert_same_predictions(clf, restored, data[0])
    assert restored.score(*data) == clf.score(*data)


@pytest.mark.parametrize("load", [_pickle, _skops], ids=["pickle", "skops"])
def test_tensor_parameters_are_saved_as_plain_data(data, tmp_path, load):
    clf = _fit(data, max_epochs=1, task_weights=torch.tensor([0.3, 0.7]))
    loaded = load(clf, tmp_path)
    assert torch.equal(loaded.task_weights, clf.task_weights)
    assert torch.equal(loaded.fitted_params_["task_weights"], clf.task_weights)
    _assert_same_predictions(clf, loaded, data[0])


def test_a_model_saved_with_separate_heads_loads_and_predicts_the_same():
    # Pickled by skmtl before the heads were stacked (net state format 1):
    # three tasks (3, 2 and 3 classes), heads with a hidden layer of 5 units.
    data = Path(__file__).parent / "data"
    expected = np.load(data / "format1_expected.npz")
    with pytest.warns(UserWarning, match="optimizer's state"):
        with open(data / "format1.pkl", "rb") as file:
            clf = pickle.load(file)  # noqa: S301 - the project's own file
    assert clf.net_.module_.heads.groups == [(0, 2), (1,)]
    proba = np.concatenate(clf.predict_proba(expected["X"]), axis=1)
    np.testing.assert_allclose(proba, expected["proba"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(expected["X"]), expected["pred"])
    # Saved again, it keeps the new layout, and a warm fit goes on.
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(expected["X"])[1], proba[:, 3:5])
    again.set_params(warm_start=True, max_epochs=1).fit(expected["X"], expected["Y"])
