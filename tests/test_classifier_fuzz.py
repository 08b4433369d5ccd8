"""Property-based tests of MultiTaskClassifier: whatever the data, a fit gives a
finite model or a clear error."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skmtl import MultiTaskClassifier

_MARKERS = {"int": -1, "str": "", "float": np.nan}
_STRATEGIES = [None, "uncertainty", "dwa", "gradnorm", "random", "pcgrad", "mgda"]


@st.composite
def problems(draw):
    n = draw(st.integers(2, 30))
    n_features = draw(st.integers(1, 5))
    X_dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, bool]))
    scale = draw(st.sampled_from([1.0, 1e3, 1e6]))
    X = np.random.RandomState(draw(st.integers(0, 2**16))).normal(size=(n, n_features))
    X = (X * scale).astype(X_dtype)
    kind = draw(st.sampled_from(sorted(_MARKERS)))
    n_tasks = draw(st.integers(1, 3))
    columns = []
    for _ in range(n_tasks):
        codes = np.asarray(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
        missing = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        if draw(st.booleans()):
            missing[:] = False
        labels = codes.astype({"int": int, "str": str, "float": float}[kind])
        if kind == "str":
            labels = np.array([f"class {c}" for c in codes], dtype=object)
        column = labels.astype(object)
        column[missing] = _MARKERS[kind]
        columns.append(column)
    Y = np.column_stack(columns)
    if kind != "str":
        Y = Y.astype(float if kind == "float" else int)
    if n_tasks == 1 and draw(st.booleans()):
        Y = Y[:, 0]
    sample_weight = draw(
        st.one_of(
            st.none(),
            st.lists(st.floats(0, 1e3, allow_nan=False), min_size=n, max_size=n).map(
                np.asarray
            ),
        )
    )
    params = {
        "missing_label": _MARKERS[kind],
        "loss_weighting": draw(st.sampled_from(_STRATEGIES)),
        "batch_size": draw(st.integers(1, 16)),
        "max_epochs": draw(st.integers(1, 2)),
        "validation_fraction": draw(st.sampled_from([None, 0.3])),
        "class_weight": draw(st.sampled_from([None, "balanced"])),
        "trunk__batch_norm": draw(st.booleans()),
        "trunk__hidden_units": (4,),
        "random_state": 0,
    }
    return X, Y, sample_weight, params


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(problems())
def test_fit_gives_a_finite_model_or_a_clear_error(problem):
    X, Y, sample_weight, params = problem
    clf = MultiTaskClassifier(**params)
    try:
        clf.fit(X, Y, sample_weight=sample_weight)
    except (ValueError, TypeError) as err:
        assert str(err)
        assert not hasattr(clf, "net_"), "a failed fit must leave no model"
        return
    parameters = list(clf.net_.module_.parameters())
    assert all(torch.isfinite(p).all() for p in parameters)
    probas = clf.predict_proba(X)
    probas = probas if isinstance(probas, list) else [probas]
    assert all(np.isfinite(p).all() and p.shape[0] == len(X) for p in probas)
    predictions = clf.predict(X).reshape(len(X), -1)
    for t, classes in enumerate(clf.classes_ if Y.ndim == 2 else [clf.classes_]):
        assert np.isin(predictions[:, t], classes).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(bad):
    X = np.random.RandomState(0).normal(size=(10, 3))
    y = np.arange(10) % 2
    weights = np.ones(10)
    weights[4] = bad
    with pytest.raises(ValueError, match="sample_weight|NaN|infinity"):
        MultiTaskClassifier(max_epochs=1).fit(X, y, sample_weight=weights)
