"""skorch callbacks for multi-task training: how the tasks' gradients relate,
stopping when training has converged, and progress reports that stay readable
with many tasks."""

import copy
import numbers
import time

import torch
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    LRScheduler,
    PrintLog,
    ProgressBar,
)
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR

from .trunks import shared_parameters
from .weighting import _trunk

__all__ = [
    "BatchTaskScores",
    "FitLRScheduler",
    "FitProgressBar",
    "PerTaskStopping",
    "TaskGradientSimilarity",
    "TaskPrintLog",
    "ToleranceStopping",
]


class BatchTaskScores(Callback):
    """Record each batch's per-task scores in the history.

    An epoch of the history always holds each task's scores over the epoch's
    rows (``train_loss_<name>``, ``train_acc_<name>``, ...), but its batches
    only skorch's ``train_loss`` and ``train_batch_size``: with many tasks and
    small batches, the per-task records of every batch would cost more than
    the batch itself. With this callback, each batch also records, for every
    task ``name`` it has a label for, ``<prefix>_loss_<name>`` (the weighted
    mean loss over its labelled rows), ``<prefix>_acc_<name>`` (or
    ``<prefix>_r2_<name>`` for a regression task),
    ``<prefix>_count_<name>`` (the number of labelled rows) and
    ``<prefix>_weight_<name>`` (their total weight): the curves of training
    batch by batch.

    The scores still reach the host once per pass over the data, at its end.

    Examples
    --------
    >>> from skmtl import BatchTaskScores, MultiTaskClassifier
    >>> clf = MultiTaskClassifier(callbacks=[BatchTaskScores()])
    """

    def on_pass_scores(self, net, prefix, batches, scores, **kwargs):
        """Write one pass's batch scores into its batches' records.

        Parameters
        ----------
        net : skmtl.MultiTaskNet
            The net being fitted.

        prefix : {"train", "valid"}
            The pass.

        batches : list of dict
            The history's records of the pass's batches.

        scores : torch.Tensor of shape (n_batches, n_values * n_tasks + 1)
            For each batch, each task's mean loss, total weight, score sums
            and number of labelled rows, then the total loss, as
            :meth:`skmtl.MultiTaskNet.task_records` reads them.
        """
        for batch, values in zip(batches, scores.tolist()):
            for name, record in net.task_records(values):
                for key, value in record.items():
                    batch[f"{prefix}_{key}_{name}"] = value


class TaskGradientSimilarity(Callback):
    """Record how the tasks' gradients on the shared trunk relate.

    Every ``every``-th training batch of an epoch (the first, the
    ``every + 1``-th, ...), the gradient of each task's loss with respect to the
    trunk's shared parameters (those of ``net.module_.trunk`` that
    :func:`skmtl.trunks.shared_parameters` gives, all of an MLP's, as one
    vector) is computed, and for every pair of tasks present in the batch, their cosine
    similarity. Gradients that point the same way (cosine near 1) mean that the
    tasks' updates of the shared features agree; a negative cosine means that
    they conflict, one task's step raising the other's loss to first order.
    This is the measure of task relatedness of Du et al. (2018), the cosine
    similarity of the tasks' gradients on the shared parameters, and the
    definition of conflicting gradients (cosine < 0) of Yu et al. (2020).

    At the end of each epoch, the history records, for every pair of tasks
    ``a``, ``b`` (in the order of ``net.task_names``):

    - ``grad_cosine_<a>_<b>``: the mean cosine over the sampled batches;
    - ``grad_conflict_<a>_<b>``: the fraction of them where the cosine is < 0;

    and ``grad_similarity_dur``, the seconds the callback took in the epoch (on
    a GPU, including the wait for each sampled batch's forward pass). Task
    names that would give two pairs one key (tasks ``x``, ``x_y``, ``y_z``
    and ``z``: ``x_y_z`` twice) raise a ``ValueError`` when training begins.

    Only batches holding labels of both tasks count, and only those where
    neither gradient is zero; an epoch without such a batch records NaN. The
    gradients are those of the task losses that training minimises (the
    unbiased batch estimates of :class:`~skmtl.MultiTaskNet`), before any loss
    weighting, which scales them but changes no cosine; they are computed
    with :func:`torch.autograd.grad` on the batch's own graph, before its
    backward pass, so that training is unchanged: the same weights, with any
    loss weighting strategy. Each sampled batch costs one more backward pass
    per task, through its head and the trunk.

    Parameters
    ----------
    every : int, default=10
        Sample one training batch in this many.

    See Also
    --------
    skmtl.MultiTaskNet.notify_task_losses : The hook that feeds the callback.
    skmtl.weighting.GradientAggregation : Training that resolves conflicts.

    References
    ----------
    Y. Du, W. M. Czarnecki, S. M. Jayakumar, M. Farajtabar, R. Pascanu and
    B. Lakshminarayanan, "Adapting auxiliary losses using gradient
    similarity", arXiv:1812.02224, 2018.

    T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman and C. Finn, "Gradient
    surgery for multi-task learning", NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskClassifier, TaskGradientSimilarity
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(60, 4)).astype("float32")
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0])
    >>> clf = MultiTaskClassifier(
    ...     max_epochs=2,
    ...     batch_size=20,
    ...     callbacks=[TaskGradientSimilarity(every=1)],
    ...     random_state=0,
    ... ).fit(X, Y)
    >>> cosine = clf.net_.history[:, "grad_cosine_task_0_task_1"]
    >>> conflict = clf.net_.history[:, "grad_conflict_task_0_task_1"]
    >>> len(cosine), all(-1 <= c <= 1 for c in cosine)
    (2, True)
    >>> all(0 <= c <= 1 for c in conflict)
    True
    """

    def __init__(self, every=10):
        self.every = every

    def initialize(self):
        every = self.every
        if not isinstance(every, numbers.Integral) or isinstance(every, bool):
            raise TypeError(f"every must be an int, got {every!r}.")
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}.")
        self._samples = []
        self._batch = 0
        self._seconds = 0.0
        return self

    def on_train_begin(self, net, **kwargs):
        # Fails early, with a clear message, on a net without a trunk.
        _trunk(net, "TaskGradientSimilarity")
        _pair_keys(net.task_names)
        self._samples = []

    def on_epoch_begin(self, net, **kwargs):
        self._samples = []
        self._batch = 0
        self._seconds = 0.0

    def on_task_losses(self, net, task_losses, **kwargs):
        """Sample the batch's task gradients (called by the net, see
        :meth:`skmtl.MultiTaskNet.notify_task_losses`)."""
        due = self._batch % self.every == 0
        self._batch += 1
        if due:
            start = time.perf_counter()
            self._samples.append(self.cosines(net, task_losses))
            self._seconds += time.perf_counter() - start

    @staticmethod
    def cosines(net, task_losses):
        """The cosines of the task gradients on the trunk, for one batch.

        Parameters
        ----------
        net : skmtl.MultiTaskNet
            An initialised net whose module has a ``trunk``.

        task_losses : skmtl.TaskLosses
            The batch's task losses, their graphs intact (they are kept).

        Returns
        -------
        cosines : torch.Tensor of shape (n_tasks, n_tasks)
            Symmetric; NaN for a task absent from the batch or with a zero
            gradient.
        """
        trunk = _trunk(net, "TaskGradientSimilarity")
        shared = shared_parameters(trunk)
        n_tasks = len(task_losses.losses)
        active = [t for t, here in enumerate(task_losses.present.tolist()) if here]
        dtype = shared[0].dtype if shared else torch.get_default_dtype()
        cosines = torch.full((n_tasks, n_tasks), torch.nan, dtype=dtype)
        if len(active) < 2 or not shared:
            return cosines
        rows = []
        for t in active:
            grads = torch.autograd.grad(
                task_losses.losses[t], shared, retain_graph=True, allow_unused=True
            )
            rows.append(
                torch.cat(
                    [
                        (torch.zeros_like(p) if g is None else g).reshape(-1)
                        for g, p in zip(grads, shared)
                    ]
                )
            )
        grads = torch.stack(rows)
        norms = grads.norm(dim=1)
        norms = torch.where(norms > 0, norms, torch.nan)
        active_cosines = (grads @ grads.T) / (norms[:, None] * norms[None, :])
        active_cosines = active_cosines.clamp(-1, 1)  # NaN stays NaN
        index = torch.tensor(active)
        cosines[index[:, None], index[None, :]] = active_cosines.detach().cpu()
        return cosines

    def on_epoch_end(self, net, **kwargs):
        names = net.task_names
        if self._samples:
            samples = torch.stack(self._samples).double()
        else:
            samples = torch.full((0, len(names), len(names)), torch.nan)
        self._samples = []
        for (a, b), pair in _pair_keys(names).items():
            values = samples[:, a, b]
            values = values[~values.isnan()]
            if len(values):
                cosine = values.mean().item()
                conflict = (values < 0).double().mean().item()
            else:
                cosine = conflict = float("nan")
            net.history.record(f"grad_cosine_{pair}", cosine)
            net.history.record(f"grad_conflict_{pair}", conflict)
        net.history.record("grad_similarity_dur", self._seconds)

    def on_train_end(self, net, **kwargs):
        self._samples = []  # a fitted net keeps no tensors


def _pair_keys(names):
    """Each pair of tasks' ``<a>_<b>`` history suffix, by their positions.

    Raises a ValueError if two pairs share one (tasks x, x_y, y_z and z make
    both (x, y_z) and (x_y, z) ``x_y_z``): one pair's scores would be lost.
    """
    keys = {}
    seen = {}
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            key = f"{names[a]}_{names[b]}"
            if key in seen:
                first = tuple(names[t] for t in seen[key])
                raise ValueError(
                    f"TaskGradientSimilarity would record the task pairs {first} "
                    f"and {(names[a], names[b])} under one key, "
                    f"grad_cosine_{key}; rename the tasks so that no two pairs "
                    "of names joined by '_' are equal."
                )
            seen[key] = (a, b)
            keys[(a, b)] = key
    return keys


class ToleranceStopping(EarlyStopping):
    """skorch's ``EarlyStopping``, counting epochs as scikit-learn's MLPClassifier.

    An epoch is a miss unless its ``monitor`` score beats the best score so far
    by more than ``threshold`` (absolute); training stops after more than
    ``patience`` misses in a row (``patience`` is ``n_iter_no_change``). The
    best score, its epoch ``best_epoch_`` and, with ``load_best``, the weights
    restored at the end follow every improvement, however small. (skorch's
    ``EarlyStopping`` moves its reference only on an improvement larger than
    ``threshold``, so a score that improves slowly but steadily never stops
    it.) The parameters are ``EarlyStopping``'s, ``threshold_mode`` is
    ``"abs"``; a ``patience`` of ``float("inf")`` never stops, which keeps the
    best epoch's weights of a fixed number of epochs.

    With ``load_best``, the state restored is that of every module of the net
    (``module_``, and the strategy's learned parameters ``weighting_`` when it
    has some) and of every optimizer: training from it, in a warm start, goes
    on from the best epoch.
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.best_score_ = None
        self._best_state = None

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1, self.monitor]
        best = self.best_score_
        better = best is None or (
            score < best if self.lower_is_better else score > best
        )
        self.misses_ = 0 if self._is_score_improved(score) else self.misses_ + 1
        if better:
            self.best_score_ = score
            self.dynamic_threshold_ = self._calc_new_threshold(score)
            self.best_epoch_ = net.history[-1, "epoch"]
            if self.load_best:
                self._keep_best_state(net)
        if self.misses_ > self.patience:
            self._sink(
                f"Stopping since {self.monitor} has not improved by "
                f"{self.threshold} in the last {self.misses_} epochs.",
                verbose=net.verbose,
            )
            raise KeyboardInterrupt

    def _keep_best_state(self, net):
        # The strategy's parameters and the optimizer's moments belong to the
        # best epoch as much as the module's weights: all are restored together.
        state = copy.deepcopy(
            {
                "modules": {
                    name: getattr(net, name + "_").state_dict() for name in net._modules
                },
                "optimizers": {
                    name: getattr(net, name + "_").state_dict()
                    for name in net._optimizers
                },
            }
        )
        self._best_state = state
        self.best_model_weights_ = state["modules"]["module"]

    def on_train_end(self, net, **kwargs):
        # A fitted net keeps no second copy of its modules and optimizers.
        state = vars(self).pop("_best_state", None)
        if (
            self.load_best
            and state is not None
            and self.best_epoch_ != net.history[-1, "epoch"]
        ):
            for kind in ("modules", "optimizers"):
                for name, values in state[kind].items():
                    getattr(net, name + "_").load_state_dict(values)
            self._sink(
                f"Restoring best model from epoch {self.best_epoch_}.",
                verbose=net.verbose,
            )

    @property
    def stopped_(self):
        """Whether the last fit stopped on a plateau of the monitored score."""
        return self.misses_ > self.patience


class PerTaskStopping(Callback):
    """Keep each task's best validation epoch, and stop when no task improves.

    Per-task model selection (``early_stopping="per_task"``): after each
    epoch, each task whose validation score (``valid_acc_<task>``, or
    ``valid_r2_<task>`` for a regression task) is its best so far gets a
    snapshot of the whole network as it is then (the heads read the trunk),
    and each task answers from its own snapshot at predict. Tasks whose best
    is the same epoch share one snapshot, and a snapshot no task keeps is
    dropped: at most one copy of the network per task. An epoch is a miss
    for a task unless its score beats the task's best by more than
    ``threshold``; training stops when every task has had more than
    ``patience`` misses in a row. The net itself keeps the last epoch's
    weights; only the snapshots answer at predict.

    Parameters
    ----------
    patience : int or float, default=10
        Training stops once every task has had more misses in a row than
        this; ``float("inf")`` never stops (each task still keeps its best
        epoch).

    threshold : float, default=1e-4
        The improvement that resets a task's misses.

    sink : callable, default=print
        Where the stopping message goes, when the net's ``verbose`` is set.

    Attributes
    ----------
    best_epochs_ : dict of str to int
        Each task's best epoch of the last ``fit``.

    best_scores_ : dict of str to float
        Each task's best validation score.

    snapshots_ : dict of int to dict
        The module's state (``state_dict``) at each epoch that is some task's
        best.

    misses_ : dict of str to int
        Each task's misses in a row.
    """

    def __init__(self, patience=10, threshold=1e-4, sink=print):
        self.patience = patience
        self.threshold = threshold
        self.sink = sink

    def on_train_begin(self, net, **kwargs):
        names = net.task_names
        self.best_epochs_ = dict.fromkeys(names)
        self.best_scores_ = dict.fromkeys(names)
        self.misses_ = dict.fromkeys(names, 0)
        self.snapshots_ = {}

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        number = epoch["epoch"]
        improved = False
        for name, task in zip(net.task_names, net._task_kinds):
            score = epoch[f"valid_{task.score_name}_{name}"]
            best = self.best_scores_[name]
            gained = best is None or score - best > self.threshold
            self.misses_[name] = 0 if gained else self.misses_[name] + 1
            if best is None or score > best:
                self.best_scores_[name], self.best_epochs_[name] = score, number
                improved = True
        if improved:
            state = net.module_.state_dict()
            self.snapshots_[number] = {k: v.detach().clone() for k, v in state.items()}
            kept = set(self.best_epochs_.values())
            for old in [e for e in self.snapshots_ if e not in kept]:
                del self.snapshots_[old]
        if self.stopped_:
            if net.verbose:
                self.sink(
                    "Stopping since no task's validation score has improved by "
                    f"{self.threshold} in the last {self.patience + 1} epochs."
                )
            raise KeyboardInterrupt

    @property
    def stopped_(self):
        """Whether every task has had more than ``patience`` misses in a row."""
        return all(misses > self.patience for misses in self.misses_.values())


class FitLRScheduler(LRScheduler):
    """skorch's :class:`~skorch.callbacks.LRScheduler`, stepped after every
    training batch, whose schedule spans one ``fit``.

    At the start of each ``fit`` (each ``partial_fit``, so each warm fit), the
    schedule starts afresh from the net's ``lr`` over ``net.max_epochs`` times
    the number of training batches per epoch: ``CosineAnnealingLR`` anneals it
    to 0 (``T_max``), ``OneCycleLR`` cycles it with ``max_lr=net.lr`` (and
    cycles the momentum, or Adam's first beta, where the optimizer has one).
    Each batch records its rate as ``event_lr`` in the history. Other keyword
    arguments go to the policy, as with skorch's ``LRScheduler``.

    Parameters
    ----------
    policy : {torch.optim.lr_scheduler.CosineAnnealingLR, OneCycleLR} class
        The schedule.

    event_name : str or None, default="event_lr"
        The key of the rate in each batch's history; ``None`` records nothing.

    **kwargs
        Passed to the policy; they override the computed ones.
    """

    def __init__(self, policy=CosineAnnealingLR, event_name="event_lr", **kwargs):
        super().__init__(policy, event_name=event_name, step_every="batch", **kwargs)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        batches = len(net.get_iterator(net.get_dataset(X, y), training=True))
        self.total_steps_ = net.max_epochs * max(batches, 1)
        super().on_train_begin(net, X=X, y=y, **kwargs)

    def _get_scheduler(self, net, policy, **scheduler_kwargs):
        optimizer = net.optimizer_
        for group in optimizer.param_groups:
            # Left by a previous fit's schedule: this one starts from net.lr.
            group.pop("initial_lr", None)
        scheduler_kwargs["last_epoch"] = -1
        if policy is OneCycleLR:
            defaults = optimizer.defaults
            computed = {
                "max_lr": net.lr,
                "total_steps": self.total_steps_,
                "cycle_momentum": "momentum" in defaults or "betas" in defaults,
            }
        elif policy is CosineAnnealingLR:
            computed = {"T_max": self.total_steps_}
        else:
            computed = {}
        return policy(optimizer, **{**computed, **scheduler_kwargs})


# The columns of every TaskPrintLog table, in this order, when recorded.
_SUMMARY_KEYS = (
    "epoch",
    "train_loss",
    "valid_loss",
    "train_acc",
    "valid_acc",
    "train_r2",
    "valid_r2",
)
# Kept out of the table: what stopping monitors, which is the weighted loss for
# fixed weights, and the cost of a callback.
# The mean score over tasks (the accuracy, R^2, or the mean of both) too.
_HIDDEN_KEYS = (
    "train_objective",
    "valid_objective",
    "train_score",
    "valid_score",
    "grad_similarity_dur",
)


class TaskPrintLog(PrintLog):
    """skorch's :class:`~skorch.callbacks.PrintLog`, with a table that stays
    narrow whatever the number of tasks.

    After each epoch it prints one row of ``epoch``, ``train_loss`` and
    ``valid_loss`` (the weighted total loss), ``train_acc`` and
    ``valid_acc`` (the mean accuracy over the classification tasks),
    ``train_r2`` and ``valid_r2`` (the mean R^2 over the regression tasks),
    the other scores of the history that are not per task (e.g. of an
    ``EpochScoring`` callback), events such as the learning rate, and
    ``dur`` (not ``train_objective``, which stopping monitors: the weighted
    loss under fixed weights). Per-task values, whose keys end with a task's
    name (``train_loss_<task>``, ``loss_weight_<task>``,
    ``grad_cosine_<a>_<b>``, ...), stay in the history and out of the table,
    except each task's score, accuracy or R^2 (on validation data where
    recorded, training data otherwise) when there are between 2 and
    ``max_task_columns`` tasks. Validation columns appear only when
    validation data are scored.
    It prints when the net's ``verbose`` is positive (or to a ``sink`` other
    than ``print``); :class:`~skmtl.MultiTaskNet` uses it as ``"print_log"``.

    Parameters
    ----------
    keys_ignored : str or list of str, default=None
        More history keys to leave out, as in ``PrintLog``.

    sink : callable, default=print
        Where each line goes, as in ``PrintLog``.

    tablefmt : str, default="simple"
        The ``tabulate`` format of the table.

    floatfmt : str, default=".4f"
        The format of the numbers.

    stralign : str, default="right"
        Alignment of string columns.

    max_task_columns : int, default=3
        Show one accuracy column per task when there are at most this many
        tasks (and more than one); 0 never shows them.
    """

    def __init__(
        self,
        keys_ignored=None,
        sink=print,
        tablefmt="simple",
        floatfmt=".4f",
        stralign="right",
        max_task_columns=3,
    ):
        super().__init__(
            keys_ignored=keys_ignored,
            sink=sink,
            tablefmt=tablefmt,
            floatfmt=floatfmt,
            stralign=stralign,
        )
        self.max_task_columns = max_task_columns

    def initialize(self):
        super().initialize()
        self._task_names, self._score_names = [], []
        return self

    def on_epoch_end(self, net, **kwargs):
        if self.sink is print and not net.verbose:
            # Nothing to print: no table to make, and the header stays due for
            # the first row printed (a warm fit with verbose=1).
            return
        self._task_names = list(getattr(net, "task_names", None) or [])
        # A net of another kind than MultiTaskNet: classification tasks.
        tasks = getattr(net, "_task_kinds", None)
        self._score_names = (
            [task.score_name for task in tasks]
            if tasks
            else ["acc"] * len(self._task_names)
        )
        super().on_epoch_end(net, **kwargs)

    def _task_columns(self, keys):
        """The per-task score columns to show: accuracy, or R^2."""
        names = self._task_names
        if not 2 <= len(names) <= self.max_task_columns:
            return []
        columns = {
            prefix: [
                f"{prefix}_{score}_{t}" for score, t in zip(self._score_names, names)
            ]
            for prefix in ("valid", "train")
        }
        prefix = "valid" if all(k in keys for k in columns["valid"]) else "train"
        return [k for k in columns[prefix] if k in keys]

    def _sorted_keys(self, keys):
        keys = list(keys)
        shown = self._task_columns(keys)
        suffixes = tuple(f"_{t}" for t in self._task_names)
        kept = [
            k
            for k in super()._sorted_keys(keys)
            if k in _SUMMARY_KEYS
            or k in shown
            or not (k.endswith(suffixes) or k in _HIDDEN_KEYS)
        ]
        first = [k for k in (*_SUMMARY_KEYS, *shown) if k in kept]
        return first + [k for k in kept if k not in first]


class FitProgressBar(ProgressBar):
    """skorch's :class:`~skorch.callbacks.ProgressBar`, showing the epoch of
    the ``fit``.

    A tqdm bar over the batches of each epoch, training and validation, with
    the time elapsed and the estimated time left in the epoch and the last
    batch's losses, described as ``epoch <k>/<max_epochs>`` counted from the
    start of this ``fit`` (training may stop before ``max_epochs``). It is
    erased at the end of each epoch. tqdm writes to stderr.
    :class:`~skmtl.MultiTaskClassifier` adds it with ``verbose=2``.

    Parameters
    ----------
    batches_per_epoch : int or {"auto", "count"}, default="auto"
        As in ``ProgressBar``; ``"auto"`` counts the batches that the net's
        iterators make.

    detect_notebook : bool, default=True
        Whether to draw a notebook widget in Jupyter.

    postfix_keys : list of str, default=None
        Batch values shown after the bar; ``None``: ``train_loss`` and
        ``valid_loss``.
    """

    def on_train_begin(self, net, **kwargs):
        self._first_epoch = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        epoch = len(net.history) - getattr(self, "_first_epoch", 0)
        self.pbar_.set_description(f"epoch {epoch}/{net.max_epochs}")

    def _get_postfix_dict(self, net):
        # The net keeps each batch's loss on its device until the epoch ends:
        # the bar reads it now, waiting for the device at each batch.
        return {
            key: float(value) for key, value in super()._get_postfix_dict(net).items()
        }

    def on_train_end(self, net, **kwargs):
        # A callback that stops training skips the last epoch's end: close the
        # bar here, and keep no tqdm object in a fitted net.
        bar = vars(self).pop("pbar_", None)
        if bar is not None:
            bar.close()

    def _get_batches_per_epoch_phase(self, net, dataset, training):
        if dataset is None:
            return 0
        return len(net.get_iterator(dataset, training=training))
