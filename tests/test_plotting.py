import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier, MultiTaskEstimator, TrainingHistoryDisplay

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def agg():
    """Draw without a display, and close the figures the test made."""
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    matplotlib.use("Agg")
    yield
    plt.close("all")
    matplotlib.use(backend)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6)).astype("float32")
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5])
    return X, Y.astype(int)


def _fit(data, **params):
    X, Y = data
    params = {"max_epochs": 4, "n_iter_no_change": None, "random_state": 0, **params}
    return MultiTaskClassifier(**params).fit(X, Y)


def test_lines_show_the_history(data):
    clf = _fit(data, validation_fraction=0.25)
    display = TrainingHistoryDisplay.from_estimator(clf, mark_best=False)
    history = clf.net_.history
    # Rows loss and accuracy, one column per task; fixed weights: no weight row.
    assert display.axes_.shape == (2, 3)
    assert len(display.figure_.axes) == 6
    assert display.best_epoch_lines_ is None
    assert not any(key.startswith("loss_weight") for key in display.lines_)
    for name in clf.task_names_:
        for key in [
            f"{p}_{name}"
            for p in ("train_loss", "valid_loss", "train_acc", "valid_acc")
        ]:
            x, y = display.lines_[key].get_data()
            np.testing.assert_array_equal(x, history[:, "epoch"])
            np.testing.assert_allclose(y, history[:, key])
    column = clf.task_names_.index("task_1")
    assert display.lines_["valid_acc_task_1"].axes is display.axes_[1, column]
    assert display.axes_[0, column].get_title() == "task_1"
    assert display.axes_[-1, 0].get_xlabel() == "epoch"


def test_without_validation_only_training_lines(data):
    display = TrainingHistoryDisplay.from_estimator(_fit(data), tasks=["task_2", 0])
    assert display.task_names == ["task_2", "task_0"]
    assert display.axes_.shape == (2, 2)
    assert sorted(display.lines_) == [
        "train_acc_task_0",
        "train_acc_task_2",
        "train_loss_task_0",
        "train_loss_task_2",
    ]


@pytest.mark.parametrize("strategy", ["dwa", "uncertainty"])
def test_weights_panel_for_a_changing_strategy(data, strategy):
    clf = _fit(data, loss_weighting=strategy)
    display = TrainingHistoryDisplay.from_estimator(clf)
    assert display.axes_.shape == (3, 3)
    for t, name in enumerate(clf.task_names_):
        line = display.lines_[f"loss_weight_{name}"]
        assert line.axes is display.axes_[2, t]
        np.testing.assert_allclose(
            line.get_ydata(), clf.net_.history[:, f"loss_weight_{name}"]
        )


def test_best_epoch_marked_on_every_panel(data):
    clf = _fit(data, early_stopping=True, validation_fraction=0.25)
    display = TrainingHistoryDisplay.from_estimator(clf)
    assert display.best_epoch == clf.best_epoch_
    assert display.best_epoch_lines_.shape == display.axes_.shape
    for line in display.best_epoch_lines_.flat:
        np.testing.assert_array_equal(line.get_xdata(), [clf.best_epoch_] * 2)


def test_plot_on_given_axes_and_pipeline(data):
    import matplotlib.pyplot as plt

    X, Y = data
    pipe = make_pipeline(StandardScaler(), MultiTaskClassifier(max_epochs=2)).fit(X, Y)
    fig, axes = plt.subplots(2, 3)
    display = TrainingHistoryDisplay.from_estimator(
        pipe, ax=axes, line_kw={"linewidth": 3}
    )
    assert display.figure_ is fig and display.axes_[1, 2] is axes[1, 2]
    assert display.lines_["train_loss_task_0"].get_linewidth() == 3
    with pytest.raises(ValueError, match="2 x 3 axes"):
        TrainingHistoryDisplay.from_estimator(pipe, ax=axes[:, :2])


def test_a_regression_task_shows_its_r2(data):
    X, Y = data
    mixed = np.column_stack([Y[:, 0], X[:, 0] * 2.0]).astype(object)
    est = MultiTaskEstimator(
        ["classification", "regression"],
        max_epochs=3,
        validation_fraction=0.25,
        random_state=0,
    ).fit(X, mixed)
    display = TrainingHistoryDisplay.from_estimator(est)
    assert {"train_acc_task_0", "valid_r2_task_1"} <= set(display.lines_)
    assert "train_acc_task_1" not in display.lines_
    labels = [panel.get_ylabel() for panel in display.axes_[1]]
    assert labels == ["accuracy", "R²"]


def test_constructor_takes_values():
    display = TrainingHistoryDisplay(
        [1, 2, 3],
        {"train_loss_a": [3.0, 2.0, 1.0], "loss_weight_a": [1.0, 1.0, 1.0]},
        ["a"],
        best_epoch=2,
        estimator_name="net",
    ).plot()
    assert display.axes_.shape == (2, 1)  # constant weights: no weight row
    assert display.figure_._suptitle.get_text() == "Training history of net"
    with pytest.raises(ValueError, match="shape"):
        TrainingHistoryDisplay([1, 2], {"train_loss_a": [1.0]}, ["a"]).plot()


def test_unfitted_estimator_and_unknown_task(data):
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(MultiTaskClassifier())
    with pytest.raises(ValueError, match="Unknown task 'item'"):
        TrainingHistoryDisplay.from_estimator(_fit(data, max_epochs=1), tasks=["item"])


@pytest.mark.parametrize("task", [True, np.bool_(False), 1.0, None])
def test_a_task_that_is_neither_a_name_nor_an_index_is_refused(data, task):
    clf = _fit(data, max_epochs=1)
    with pytest.raises(TypeError, match="task names \\(str\\) or indices \\(int\\)"):
        TrainingHistoryDisplay.from_estimator(clf, tasks=[task])


def test_importing_skmtl_does_not_import_matplotlib():
    code = "import sys, skmtl, skmtl.plotting; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
