"""The study's figures: validation accuracy, training accuracy, training loss, the
multi-task net's training history, and how its task gradients relate.

The figures are :class:`matplotlib.figure.Figure` objects saved to files, without
pyplot: drawing them neither needs a display nor changes matplotlib's backend.
matplotlib is imported when they are drawn.
"""

import numpy as np

from ..plotting import TrainingHistoryDisplay
from ._protocol import MODELS, TASKS, model_label

__all__ = ["plot_study"]

_COLOURS = {"mtl": "tab:red", "stl_item": "tab:blue", "stl_group": "tab:green"}
# The other multi-task nets of a study, in turn.
_MORE_COLOURS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")


def _colours(study):
    """A colour for each model of the study with curves."""
    colours = dict(_COLOURS)
    more = iter(_MORE_COLOURS * 4)
    for model in study["runs"][0]:
        if model.startswith("mtl") and model not in colours:
            colours[model] = next(more)
    return colours


def plot_study(study, folder):
    """Write the study's figures as PNG files in ``folder``.

    Each figure has one panel per task and one line per net: the mean over seeds,
    with a band of +- one sd. ``validation_accuracy.png`` is per epoch;
    ``training_accuracy.png`` and ``training_loss.png`` are per batch, smoothed
    by a moving average over a fifth of an epoch, with the x axis in epochs.
    ``training_history.png`` is the multi-task net's history in the first seed,
    drawn by :class:`~skmtl.plotting.TrainingHistoryDisplay`: per task and epoch,
    the training and validation loss and accuracy (and the task weights, if the
    strategy changed them), its kept epoch marked.
    ``gradient_similarity.png``, when the multi-task runs recorded it, shows per
    epoch the cosine of the item and group gradients on the shared trunk and
    the fraction of sampled batches where they conflict (cosine < 0).

    Parameters
    ----------
    study : dict
        What :func:`~skmtl.study.run_study` returns.

    folder : pathlib.Path
        Where to write the files.

    Returns
    -------
    paths : list of pathlib.Path
        The files written.
    """
    figures = [
        ("validation_accuracy", "valid_accuracy", "validation accuracy", False),
        ("training_accuracy", "batch_train_accuracy", "training accuracy", True),
        ("training_loss", "batch_train_loss", "training loss (cross-entropy)", True),
    ]
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    colours = _colours(study)
    paths = []
    for name, curve, label, per_batch in figures:
        fig = Figure(figsize=(11, 4), layout="constrained")
        axes = fig.subplots(1, len(TASKS))
        for ax, task in zip(axes, TASKS):
            for model in colours:
                runs = [run[model] for run in study["runs"]]
                if task not in runs[0].get("curves", {}):
                    continue
                values = np.array([r["curves"][task][curve] for r in runs])
                if per_batch:
                    width = max(1, runs[0]["batches_per_epoch"] // 5)
                    values = _moving_average(values, width)
                    x = (np.arange(values.shape[1]) + width) / runs[0][
                        "batches_per_epoch"
                    ]
                else:
                    x = np.arange(1, values.shape[1] + 1)
                _mean_band(ax, x, values, model_label(model), colours[model])
            ax.set(title=task, xlabel="epoch", ylabel=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        n = len(study["runs"])
        fig.suptitle(f"{label.capitalize()}, mean +- sd over {n} seed(s)")
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=120)
        paths.append(path)
    paths.append(_plot_training_history(study, folder))
    if all("gradient_similarity" in run["mtl"] for run in study["runs"]):
        paths.append(_plot_gradient_similarity(study, folder))
    return paths


def _plot_training_history(study, folder):
    """The multi-task net's history in the first seed, by the display."""
    from matplotlib.figure import Figure

    run = study["runs"][0]
    result = run["mtl"]
    scores = {}
    for task, curves in result["curves"].items():
        for curve, key in (
            ("train_loss", "train_loss"),
            ("valid_loss", "valid_loss"),
            ("train_accuracy", "train_acc"),
            ("valid_accuracy", "valid_acc"),
            ("loss_weight", "loss_weight"),
        ):
            if curve in curves:  # results of older versions lack some
                values = [np.nan if v is None else v for v in curves[curve]]
                scores[f"{key}_{task}"] = np.array(values, dtype=float)
    tasks = list(result["curves"])
    n_epochs = len(scores[f"train_loss_{tasks[0]}"])
    display = TrainingHistoryDisplay(
        np.arange(1, n_epochs + 1), scores, tasks, best_epoch=result["best_epoch"]
    )
    n_rows = len(display._rows())  # 3 when the strategy changed the weights
    fig = Figure(figsize=(11, 3 * n_rows), layout="constrained")
    display.plot(ax=fig.subplots(n_rows, len(tasks), sharex=True, squeeze=False))
    fig.suptitle(f"{MODELS['mtl']}: training history, seed {run['seed']}")
    path = folder / "training_history.png"
    fig.savefig(path, dpi=120)
    return path


def _plot_gradient_similarity(study, folder):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = [run["mtl"]["gradient_similarity"] for run in study["runs"]]
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = [
        ("cosine", "cosine of the task gradients", (-1, 1)),
        ("conflict", "fraction of batches in conflict", (0, 1)),
    ]
    for ax, (key, label, limits) in zip(axes, panels):
        values = np.array([r[key] for r in runs], dtype=float)
        x = np.arange(1, values.shape[1] + 1)
        _mean_band(ax, x, values, MODELS["mtl"], _COLOURS["mtl"])
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set(xlabel="epoch", ylabel=label, ylim=limits)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    n = len(study["runs"])
    fig.suptitle(
        "Item and group gradients on the shared trunk (cosine < 0: conflict), "
        f"mean +- sd over {n} seed(s)"
    )
    path = folder / "gradient_similarity.png"
    fig.savefig(path, dpi=120)
    return path


def _moving_average(values, width):
    kernel = np.ones(width) / width
    return np.array([np.convolve(row, kernel, mode="valid") for row in values])


def _mean_band(ax, x, values, label, colour):
    mean = values.mean(axis=0)
    ax.plot(x, mean, label=label, color=colour)
    if len(values) > 1:
        sd = values.std(axis=0, ddof=1)
        ax.fill_between(x, mean - sd, mean + sd, color=colour, alpha=0.2)
