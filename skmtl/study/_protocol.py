"""The Fashion-MNIST study: one shared-trunk net against single-task nets, over seeds.

Every run trains, on the same rows and with the same seed, the multi-task net and
two single-task nets (``MultiOutputClassifier`` of the same estimator), keeps for
each the epoch with the best validation accuracy, and scores it once on the test
set. The single-task item net's predictions mapped to groups are a fourth model:
the group is a function of the item, so that baseline is owed.

Each model's test predictions are kept, one digit per image, beside the test
targets, so that the report can pair the models image by image.
"""

import numpy as np
import torch
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from skorch.callbacks import Callback, EarlyStopping
from tqdm.auto import tqdm

from .._classifier import MultiTaskClassifier
from ..callbacks import BatchTaskScores, TaskGradientSimilarity
from ..datasets import load_fashion_mnist
from ..datasets._fashion_mnist import ITEM_TO_GROUP

__all__ = [
    "ARCHITECTURES",
    "MODELS",
    "RECIPES",
    "SELECTIONS",
    "SHARING",
    "TASKS",
    "decode_labels",
    "encode_labels",
    "load_study_data",
    "model_label",
    "mtl_models",
    "net_result",
    "run_study",
    "study_classifier",
]

TASKS = ("item", "group")

# The multi-task net samples its tasks' gradient cosine on one batch in this many.
RELATION_EVERY = 10

MODELS = {
    "mtl": "MTL: shared trunk, two heads",
    "stl_item": "STL: item net",
    "stl_group": "STL: group net",
    "stl_item_as_group": "STL: item net, items mapped to groups",
}

# How a multi-task net shares its trunk: the architecture's trunk for all
# tasks, or soft sharing (skmtl.trunks) whose experts or columns are each the
# architecture's convolutions and dense layers.
SHARING = {
    "hard": "hard sharing",
    "mmoe": "MMoE",
    "cross_stitch": "cross-stitch",
    "ple": "PLE (CGC)",
}
# How a multi-task net picks its epoch: one for all tasks, by the mean
# validation accuracy, or each task its own (early_stopping="per_task").
SELECTIONS = {"shared": "one epoch", "per_task": "each task its own epoch"}

ARCHITECTURES = {
    # The CNN's defaults are the original study's trunk.
    "study": {"trunk": "cnn", "head__hidden_units": (100,)},
    "small": {
        "trunk": "cnn",
        "trunk__channels": (16, 32),
        "trunk__dense_units": (128,),
        "head__hidden_units": (32,),
    },
}

# How every net of a study is trained; each net gets the same recipe.
RECIPES = {
    # The original study's: Adam with beta1 = 0.5 at a constant rate.
    "original": {"lr": 1e-3, "optimizer__betas": (0.5, 0.999)},
    # What a practitioner adds at the same budget: batch norm, dropout after the
    # dense layers, AdamW, a one-cycle rate, shifted images, label smoothing.
    # Chosen from common practice, not tuned on this study's test set.
    "modern": {
        "lr": 3e-3,
        "trunk__batch_norm": True,
        "trunk__dropout": 0.3,
        "optimizer": torch.optim.AdamW,
        "optimizer__weight_decay": 5e-4,
        "lr_schedule": "onecycle",
        "augment": "shift",
        "criterion__label_smoothing": 0.1,
    },
}


def run_study(
    *,
    epochs=10,
    seeds=3,
    train_size=None,
    test_size=None,
    validation_fraction=0.1,
    task_weights=(0.5, 0.5),
    loss_weighting=None,
    architecture="study",
    recipe="original",
    sharing=("hard",),
    selection=("shared",),
    batch_size=200,
    lr=None,
    device="cpu",
    data_home=None,
    progress=True,
    previous=None,
    on_run=None,
):
    """Train and test the multi-task and single-task nets over several seeds.

    Parameters
    ----------
    epochs : int, default=10
        Epochs per net; the epoch with the best validation accuracy is kept.

    seeds : int, default=3
        Number of runs, seeded 0, 1, ...: weight initialisation, shuffling and
        the validation split.

    train_size, test_size : int, default=None
        Number of training (test) images, drawn stratified by item once for
        all seeds; ``None`` takes all 60,000 (10,000).

    validation_fraction : float, default=0.1
        Fraction of the training images held out to choose the epoch.

    task_weights : tuple of float, default=(0.5, 0.5)
        Loss weights of the item and group tasks in the multi-task net.

    loss_weighting : str or LossWeighting, default=None
        Another strategy for the multi-task net (see :mod:`skmtl.weighting`),
        in place of ``task_weights``.

    architecture : {"study", "small"}, default="study"
        ``"study"``: conv 32-64-128 (3x3, max-pool after the first two), dense
        1024, heads 100 -> k. ``"small"``: conv 16-32, dense 128, heads 32 -> k.

    recipe : {"original", "modern"}, default="original"
        How every net is trained (see :data:`RECIPES`): ``"original"``, Adam
        with beta1 = 0.5 at a constant rate; ``"modern"``, batch norm, dropout,
        AdamW, a one-cycle rate, shifted images and label smoothing.

    sharing : tuple of {"hard", "mmoe", "cross_stitch", "ple"}, default=("hard",)
        The multi-task nets' trunks (see :data:`SHARING`): the architecture's
        trunk shared by both tasks, or soft sharing, each expert of a
        multi-gate mixture (or of a PLE: one of each task's own, one shared)
        or each task's column the architecture's CNN.

    selection : tuple of {"shared", "per_task"}, default=("shared",)
        How each multi-task net keeps its epoch: the best mean validation
        accuracy, or each task its own best (``early_stopping="per_task"``,
        the equal of the single-task nets, which each keep their own). Every
        pair of ``sharing`` and ``selection`` is a multi-task net of the study
        (see :func:`mtl_models`), beside the original ``"mtl"``.

    batch_size : int, default=200
        Mini-batch size.

    lr : float, default=None
        Learning rate (the peak rate with a one-cycle schedule); ``None``
        takes the recipe's, 1e-3 (original) or 3e-3 (modern).

    device : str, default="cpu"
        Torch device.

    data_home : str, default=None
        Where Fashion-MNIST is, see :func:`skmtl.datasets.get_data_home`.

    progress : bool, default=True
        Whether to show a progress bar with an ETA over all epochs.

    previous : dict, default=None
        A study returned earlier (or read from its ``results.json``) with the
        same settings but perhaps fewer seeds, such as one that was
        interrupted: its runs are kept and only the seeds after them trained.

    on_run : callable, default=None
        Called with the study so far (the dict returned, with the runs done)
        after each seed, as the command line uses it to save every finished
        seed of a long study.

    Returns
    -------
    study : dict
        ``config``; ``test_targets``, the test set's item and group labels, one
        digit per image (see :func:`encode_labels`); ``runs``, one dict per seed
        with, per model, the test accuracy and the test predictions (digits, as
        the targets) of each task, the kept epoch, the training seconds and the
        per-epoch and per-batch curves of each task; the multi-task net's also
        has its ``gradient_similarity`` per epoch (see :func:`net_result`).
    """
    config = dict(
        epochs=epochs,
        seeds=seeds,
        train_size=train_size,
        test_size=test_size,
        validation_fraction=validation_fraction,
        task_weights=list(task_weights),
        loss_weighting=None if loss_weighting is None else str(loss_weighting),
        architecture=architecture,
        recipe=recipe,
        sharing=list(sharing),
        selection=list(selection),
        batch_size=batch_size,
        lr=RECIPES[recipe]["lr"] if lr is None else lr,
        device=device,
    )
    X, Y, X_test, Y_test = load_study_data(train_size, test_size, data_home)
    mtl_weights = (
        {"task_weights": task_weights}
        if loss_weighting is None
        else {"loss_weighting": loss_weighting}
    )

    mtl_nets = mtl_models(sharing, selection)
    test_targets = {task: encode_labels(Y_test[:, i]) for i, task in enumerate(TASKS)}
    runs = [] if previous is None else _runs_to_keep(previous, config, test_targets)
    total = (seeds - len(runs)) * (len(mtl_nets) + 2) * epochs
    with tqdm(total=total, unit="epoch", disable=not progress) as bar:
        for seed in range(len(runs), seeds):
            settings = dict(
                architecture=architecture,
                recipe=recipe,
                epochs=epochs,
                batch_size=batch_size,
                lr=config["lr"],
                validation_fraction=validation_fraction,
                device=device,
                random_state=seed,
                callbacks=[("progress", _EpochProgress(bar))],
            )
            run, predictions = {"seed": seed}, {}
            for model, (share, select) in mtl_nets.items():
                bar.set_description(f"seed {seed}: {model}")
                net = study_classifier(sharing=share, selection=select, **settings)
                # Watching the task gradients changes no weight
                # (tests/test_callbacks.py).
                relation = (
                    "task_relation",
                    TaskGradientSimilarity(every=RELATION_EVERY),
                )
                mtl = net.set_params(callbacks=[*net.callbacks, relation])
                mtl.set_params(**mtl_weights).fit(X, Y)
                Y_mtl = mtl.predict(X_test)
                run[model] = net_result(mtl, {"item": 0, "group": 1}, Y_mtl, Y_test)
                predictions[model] = {"item": Y_mtl[:, 0], "group": Y_mtl[:, 1]}
            bar.set_description(f"seed {seed}: STL")
            stl = MultiOutputClassifier(study_classifier(**settings)).fit(X, Y)
            item_net, group_net = stl.estimators_

            item_pred, group_pred = item_net.predict(X_test), group_net.predict(X_test)
            mapped_pred = ITEM_TO_GROUP[item_pred]
            run.update(
                {
                    "stl_item": net_result(
                        item_net, {"item": 0}, item_pred[:, None], Y_test
                    ),
                    "stl_group": net_result(
                        group_net, {"group": 0}, group_pred[:, None], Y_test
                    ),
                    "stl_item_as_group": {
                        "test_accuracy": {
                            "group": accuracy_score(Y_test[:, 1], mapped_pred)
                        }
                    },
                }
            )
            predictions.update(
                {
                    "stl_item": {"item": item_pred},
                    "stl_group": {"group": group_pred},
                    "stl_item_as_group": {"group": mapped_pred},
                }
            )
            for model, by_task in predictions.items():
                run[model]["test_predictions"] = {
                    task: encode_labels(pred) for task, pred in by_task.items()
                }
            runs.append(run)
            if on_run is not None:
                on_run({"config": config, "test_targets": test_targets, "runs": runs})
    return {"config": config, "test_targets": test_targets, "runs": runs}


def _runs_to_keep(previous, config, test_targets):
    """The runs of an earlier study that this one continues, checked to be of
    its settings and test images."""
    differ = sorted(
        key
        for key in {*config, *previous["config"]} - {"seeds"}
        if previous["config"].get(key) != config.get(key)
    )
    if differ:
        raise ValueError(
            "The previous study has other settings than this one: "
            + ", ".join(
                f"{key} {previous['config'].get(key)!r} (now {config.get(key)!r})"
                for key in differ
            )
            + "."
        )
    if previous["test_targets"] != test_targets:
        raise ValueError("The previous study was tested on other images.")
    runs = list(previous["runs"])
    if len(runs) > config["seeds"]:
        raise ValueError(
            f"The previous study has {len(runs)} seeds, more than the "
            f"{config['seeds']} asked for."
        )
    return runs


def encode_labels(labels):
    """Class labels 0-9 as a string of one digit per sample.

    The study keeps every test prediction this way: one character per image
    (10 kB per model, task and seed in ``results.json``), readable, and as
    small as a list of correct/wrong flags while keeping which class was
    predicted.

    Parameters
    ----------
    labels : array-like of int in [0, 9]

    Returns
    -------
    digits : str
    """
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError("Only labels 0 to 9 fit one digit each.")
    return (labels.astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def decode_labels(digits):
    """The labels of :func:`encode_labels`, as an int64 array."""
    codes = np.frombuffer(digits.encode("ascii"), dtype=np.uint8)
    return codes.astype(np.int64) - ord("0")


def load_study_data(train_size=None, test_size=None, data_home=None):
    """Fashion-MNIST's training and test sets, subsampled by item if asked.

    Parameters
    ----------
    train_size, test_size : int, default=None
        Number of images, drawn stratified by item with a fixed seed; ``None``
        keeps them all.

    data_home : str, default=None
        See :func:`skmtl.datasets.get_data_home`.

    Returns
    -------
    X, Y, X_test, Y_test : ndarray
        Images as rows and (item, group) targets.
    """
    X, Y = load_fashion_mnist(subset="train", data_home=data_home, return_X_y=True)
    X_test, Y_test = load_fashion_mnist(
        subset="test", data_home=data_home, return_X_y=True
    )
    return (*_subsample(X, Y, train_size), *_subsample(X_test, Y_test, test_size))


def study_classifier(
    *,
    architecture="study",
    recipe="original",
    sharing="hard",
    selection="shared",
    epochs=10,
    batch_size=200,
    lr=None,
    validation_fraction=0.1,
    device="cpu",
    random_state=None,
    callbacks=(),
):
    """The study's net, kept at its epoch of best mean validation accuracy,
    or each task at its own.

    Parameters are those of :func:`run_study`; ``sharing`` is a key of
    :data:`SHARING`, ``selection`` of :data:`SELECTIONS`. With one epoch for
    all tasks, ``callbacks`` are added to the one that restores the best epoch
    (named ``"best_epoch"``); with an epoch per task,
    ``early_stopping="per_task"`` keeps each task's.

    Returns
    -------
    clf : MultiTaskClassifier
        The architecture's trunk (or experts, or columns) and heads, trained
        by the recipe.
    """
    params = {
        **ARCHITECTURES[architecture],
        **{**RECIPES[recipe], "lr": RECIPES[recipe]["lr"] if lr is None else lr},
    }
    params = _shared_as(sharing, params)
    keep = [("best_epoch", _best_epoch(epochs))]
    if selection == "per_task":
        params["early_stopping"], keep = "per_task", []
    return MultiTaskClassifier(
        **params,
        max_epochs=epochs,
        n_iter_no_change=None,  # exactly `epochs`: the study's own callback
        batch_size=batch_size,
        validation_fraction=validation_fraction,
        callbacks=[
            *keep,
            ("batch_scores", BatchTaskScores()),  # the per-batch curves
            *callbacks,
        ],
        device=device,
        random_state=random_state,
    )


def _shared_as(sharing, params):
    """The parameters of a net of the architecture, its trunk shared as
    ``sharing`` says: each expert or column the architecture's CNN (its
    convolutions, then its dense layers), the heads as they are."""
    if sharing not in SHARING:
        raise ValueError(
            f"Unknown sharing {sharing!r}; expected one of {list(SHARING)}."
        )
    if sharing == "hard":
        return params
    cnn = {k[len("trunk__") :]: v for k, v in params.items() if k.startswith("trunk__")}
    rest = {k: v for k, v in params.items() if not k.startswith("trunk")}
    dense = cnn.pop("dense_units", (1024,))  # the CNN's default
    dropout = cnn.pop("dropout", 0.0)  # after the dense layers, as the CNN's
    units = "hidden_units" if sharing == "cross_stitch" else "expert_units"
    return {
        **rest,
        "trunk": sharing,
        "trunk__backbone": "cnn",
        "trunk__backbone_params": cnn,
        f"trunk__{units}": tuple(dense),
        "trunk__dropout": dropout,
    }


def mtl_models(sharing=("hard",), selection=("shared",)):
    """The multi-task nets of a study, by key: ``(sharing, selection)``.

    The original study's net, hard sharing with one epoch, is always there, as
    ``"mtl"``; every other pair is ``"mtl_<sharing>"``, with ``"_per_task"``
    for an epoch per task.
    """
    models = {"mtl": ("hard", "shared")}
    for share in sharing:
        for select in selection:
            if (share, select) != ("hard", "shared"):
                suffix = "_per_task" if select == "per_task" else ""
                models[f"mtl_{share}{suffix}"] = (share, select)
    return models


def model_label(model):
    """A study model's name in reports and figures."""
    if model in MODELS:
        return MODELS[model]
    share = model.removeprefix("mtl_").removesuffix("_per_task")
    select = "per_task" if model.endswith("_per_task") else "shared"
    return f"MTL: {SHARING[share]}, {SELECTIONS[select]}"


def _subsample(X, Y, size):
    if size is None or size >= len(X):
        return X, Y
    X, _, Y, _ = train_test_split(
        X, Y, train_size=size, stratify=Y[:, 0], random_state=0
    )
    return X, Y


def _best_epoch(epochs):
    # Never stops early (patience > epochs); restores the best epoch's weights.
    return EarlyStopping(
        monitor="valid_acc",
        lower_is_better=False,
        patience=epochs + 1,
        threshold=0,
        threshold_mode="abs",
        load_best=True,
    )


def net_result(clf, tasks, Y_pred, Y_test):
    """Test accuracy, kept epoch, time and curves of one fitted study net.

    Parameters
    ----------
    clf : MultiTaskClassifier
        Fitted with :func:`study_classifier`'s callbacks.

    tasks : dict
        Maps each study task the net predicts ("item", "group") to its column
        in the net's predictions and tasks.

    Y_pred : ndarray of shape (n_test, n_tasks of the net)
        The net's test predictions.

    Y_test : ndarray of shape (n_test, 2)
        The test targets.

    Returns
    -------
    result : dict
        ``test_accuracy`` per task, ``best_epoch``, ``train_seconds`` (skorch's
        epoch durations, less the time of
        :class:`~skmtl.TaskGradientSimilarity`), ``batches_per_epoch`` and
        per-task ``curves``; for a two-task net fitted with that callback,
        also ``gradient_similarity``: the per-epoch ``cosine`` of the tasks'
        gradients on the trunk and the fraction of sampled batches where they
        ``conflict``.
    """
    history = clf.net_.history
    batches = [b for epoch in history for b in epoch["batches"] if "train_loss" in b]
    curves = {}
    for task, column in tasks.items():
        key = clf.task_names_[column]
        curves[task] = {
            "valid_accuracy": history[:, f"valid_acc_{key}"],
            "train_accuracy": history[:, f"train_acc_{key}"],
            "train_loss": history[:, f"train_loss_{key}"],
            "valid_loss": history[:, f"valid_loss_{key}"],
            # The strategy's weight of the task (None where not recorded).
            "loss_weight": [epoch.get(f"loss_weight_{key}") for epoch in history],
            "batch_train_accuracy": [b[f"train_acc_{key}"] for b in batches],
            "batch_train_loss": [b[f"train_loss_{key}"] for b in batches],
        }
    result = {
        "test_accuracy": {
            task: accuracy_score(Y_test[:, TASKS.index(task)], Y_pred[:, column])
            for task, column in tasks.items()
        },
        "best_epoch": _kept_epoch(clf),
        "n_parameters": int(sum(p.numel() for p in clf.net_.module_.parameters())),
        # Without the time spent watching the task gradients, if any.
        "train_seconds": float(
            sum(history[:, "dur"])
            - sum(epoch.get("grad_similarity_dur", 0.0) for epoch in history)
        ),
        "batches_per_epoch": int(history[0, "train_batch_count"]),
        "curves": curves,
    }
    pair = "_".join(clf.task_names_[c] for c in sorted(tasks.values()))
    if len(tasks) == 2 and f"grad_cosine_{pair}" in history[-1]:
        result["gradient_similarity"] = {
            "cosine": history[:, f"grad_cosine_{pair}"],
            "conflict": history[:, f"grad_conflict_{pair}"],
        }
    return result


def _kept_epoch(clf):
    """The epoch a study net keeps: its best mean validation accuracy's, or
    with an epoch per task, the mean of the tasks' epochs."""
    keeper = dict(clf.net_.callbacks_).get("best_epoch")
    if keeper is not None:
        return int(keeper.best_epoch_)
    return float(np.mean(clf.best_epoch_))


class _EpochProgress(Callback):
    """Advance a shared progress bar at the end of each epoch."""

    def __init__(self, bar):
        self.bar = bar

    def __deepcopy__(self, memo):
        # Estimators copy their callbacks; every copy must move the same bar.
        return self

    def __sklearn_clone__(self):
        # clone() rebuilds anything with get_params, as skorch callbacks have.
        return self

    def on_epoch_end(self, net, **kwargs):
        self.bar.update(1)
