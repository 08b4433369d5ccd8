"""Trunks for soft parameter sharing: one representation per task.

Hard sharing (:class:`~skmtl.modules.MLP`, :class:`~skmtl.modules.CNN`) gives
every head the same features. The trunks here give each task its own, ``(n,
n_tasks, width)``, built from parameters that the tasks share in part:

- :class:`MMoE`, a multi-gate mixture of experts: shared experts, and one
  gate per task that mixes them;
- :class:`CrossStitch`, one column per task, the columns' activations mixed
  after each layer by learned cross-stitch units;
- :class:`PLE`, progressive layered extraction: each task's experts beside
  shared ones, a gate per task over its own and the shared, in levels.

Each takes ``in_features`` and ``n_tasks``, which the estimators fill in from
the data (``trunk="mmoe"``, ``trunk="cross_stitch"``, ``trunk="ple"``, with
``trunk__*`` for the other parameters), and says which of its parameters are
shared by the tasks, :meth:`~MMoE.shared_parameters`: those on which the
gradient aggregators of :mod:`skmtl.weighting` resolve conflicts, where
GradNorm measures gradients and where :class:`~skmtl.TaskGradientSimilarity`
compares them. A trunk of your own may define the method too; without it, all
of a trunk's parameters are shared.
"""

import torch
from torch import nn

from .modules import (
    CNN,
    MLP,
    StackedLinear,
    _activation,
    _check_dropout,
    _check_widths,
    _is_positive_int,
)

__all__ = ["CrossStitch", "MMoE", "PLE", "shared_parameters"]

_BACKBONES = {"cnn": CNN}


def shared_parameters(trunk):
    """The parameters of a trunk that the tasks share, those that require a
    gradient: its ``shared_parameters()`` where it has the method (as :class:`MMoE` and
    :class:`CrossStitch` do), else all of its parameters.

    Parameters
    ----------
    trunk : torch.nn.Module

    Returns
    -------
    parameters : list of torch.nn.Parameter
        In the order the trunk gives them.
    """
    own = getattr(trunk, "shared_parameters", None)
    parameters = trunk.parameters() if own is None else own()
    return [p for p in parameters if p.requires_grad]


def _check_n_tasks(n_tasks, owner):
    if not _is_positive_int(n_tasks):
        raise ValueError(f"{owner} n_tasks must be a positive int; got {n_tasks!r}.")


def _backbone(backbone, backbone_params, in_features, owner):
    """A new backbone module, or None; the convolutions of a ``"cnn"`` end
    without dense layers unless ``backbone_params`` asks for some."""
    if backbone is None:
        if backbone_params:
            raise ValueError(
                f"{owner} backbone_params configure a backbone; got "
                f"{sorted(backbone_params)} and backbone=None."
            )
        return None
    params = dict(backbone_params or {})
    if isinstance(backbone, str):
        if backbone not in _BACKBONES:
            raise ValueError(
                f"Unknown {owner} backbone {backbone!r}; expected one of "
                f"{sorted(_BACKBONES)}, a torch.nn.Module class or None."
            )
        if backbone == "cnn":
            params = {"dense_units": (), **params}
        backbone = _BACKBONES[backbone]
    elif not (isinstance(backbone, type) and issubclass(backbone, nn.Module)):
        raise ValueError(
            f"{owner} backbone must be 'cnn', a torch.nn.Module class or None; "
            f"got {backbone!r}."
        )
    module = backbone(in_features, **params)
    if not hasattr(module, "out_features"):
        raise ValueError(
            f"{owner} backbone {backbone.__name__} must have an out_features "
            "attribute, the width of its output, as skmtl.modules.CNN has."
        )
    return module


class MMoE(nn.Module):
    """Multi-gate mixture of experts (Ma et al., KDD 2018).

    ``n_experts`` experts, each an :class:`~skmtl.modules.MLP` (after its own
    backbone, where there is one), read the input; each task ``t`` has a gate,
    a linear layer on the input followed by a softmax over the experts, and its
    representation is the gate-weighted sum of the experts' outputs::

        g_t(x) = softmax(W_t x + b_t)               # (n_experts,)
        h_t(x) = sum_e g_t(x)[e] * expert_e(x)      # (width,)

    Tasks that need different features weigh the experts differently, and
    tasks that agree share them. The experts are shared by every task, the
    gates are each task's own.

    Parameters
    ----------
    in_features : int
        Number of input features.

    n_tasks : int
        Number of tasks, one gate each; the estimators set it.

    n_experts : int, default=4
        Number of experts, at least 1.

    expert_units : tuple of int, default=(100,)
        Widths of each expert's dense layers, each at least 1; empty only with
        a backbone, whose features are then the experts' outputs.

    activation : str or torch.nn.Module class, default="relu"
        Activation after each dense layer, as in :class:`~skmtl.modules.MLP`.

    dropout : float, default=0.0
        Dropout after each dense layer of the experts, in ``[0, 1)``.

    backbone : {"cnn"}, torch.nn.Module class or None, default=None
        A module each expert starts with, of its own: ``"cnn"`` is a
        :class:`~skmtl.modules.CNN` reading each row as an image, its
        convolutions without dense layers (``backbone_params`` may add some).
        A class is instantiated with ``in_features`` and ``backbone_params``
        and must have an ``out_features`` attribute. The gates read the input
        rows as they are.

    backbone_params : dict, default=None
        Parameters of the backbone, such as ``{"channels": (16, 32)}`` or
        ``{"input_shape": (3, 32, 32)}`` for a ``"cnn"``.

    Attributes
    ----------
    experts : torch.nn.ModuleList
        The experts, each a :class:`torch.nn.Sequential` of its backbone (if
        any) and its :class:`~skmtl.modules.MLP`.

    gates : torch.nn.Linear
        Every task's gate, one layer of ``n_tasks * n_experts`` outputs: task
        ``t``'s logits are outputs ``t * n_experts`` to ``(t + 1) * n_experts``.

    out_features : int
        Width of each task's representation.

    input_shape : tuple of int
        The images' shape, with a ``"cnn"`` backbone only.

    Raises
    ------
    ValueError
        If ``n_tasks`` or ``n_experts`` is not a positive int, a width is not,
        ``dropout`` is outside ``[0, 1)``, or the experts would have no layer.

    Notes
    -----
    ``forward`` maps ``(n, in_features)`` to ``(n, n_tasks, out_features)``.
    The trunk holds ``n_experts`` times the parameters of one expert, plus
    ``(in_features + 1) * n_tasks * n_experts`` for the gates.

    References
    ----------
    J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong and E. H. Chi, "Modeling task
    relationships in multi-task learning with multi-gate mixture-of-experts",
    KDD 2018.

    Examples
    --------
    >>> import torch
    >>> from skmtl.trunks import MMoE
    >>> trunk = MMoE(in_features=8, n_tasks=3, n_experts=2, expert_units=(16,))
    >>> trunk(torch.zeros(5, 8)).shape
    torch.Size([5, 3, 16])
    >>> trunk.gate_weights(torch.zeros(5, 8)).sum(-1).allclose(torch.ones(5, 3))
    True
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        n_experts=4,
        expert_units=(100,),
        activation="relu",
        dropout=0.0,
        backbone=None,
        backbone_params=None,
    ):
        super().__init__()
        _check_n_tasks(n_tasks, "MMoE")
        if not _is_positive_int(n_experts):
            raise ValueError(
                f"MMoE n_experts must be a positive int; got {n_experts!r}."
            )
        expert_units = _check_widths("expert_units", expert_units, "(100,)", "MMoE")
        _check_dropout(dropout, "MMoE")
        experts = []
        for _ in range(n_experts):
            layers = []
            width = in_features
            body = _backbone(backbone, backbone_params, in_features, "MMoE")
            if body is not None:
                layers.append(body)
                width = body.out_features
            elif not expert_units:
                raise ValueError(
                    "MMoE expert_units must hold at least one width without a "
                    "backbone; got (): the experts would all be the identity."
                )
            dense = MLP(width, expert_units, activation, dropout)
            experts.append(nn.Sequential(*layers, dense))
        self.experts = nn.ModuleList(experts)
        self.gates = nn.Linear(in_features, n_tasks * n_experts)
        self.n_tasks = n_tasks
        self.n_experts = n_experts
        self.out_features = dense.out_features
        if isinstance(body, CNN):
            self.input_shape = body.input_shape

    def gate_weights(self, X):
        """Each task's weights of the experts for the rows ``X``.

        Parameters
        ----------
        X : torch.Tensor of shape (n, in_features)

        Returns
        -------
        weights : torch.Tensor of shape (n, n_tasks, n_experts)
            Non-negative, summing to 1 over the experts.
        """
        logits = self.gates(X).view(len(X), self.n_tasks, self.n_experts)
        return logits.softmax(-1)

    def forward(self, X):
        outputs = torch.stack([expert(X) for expert in self.experts], 1)
        return self.gate_weights(X) @ outputs  # (n, T, E) @ (n, E, w)

    def shared_parameters(self):
        """The parameters shared by the tasks: the experts'.

        Returns
        -------
        parameters : iterator of torch.nn.Parameter
            In the order of the experts; the gates, each task's own, are not
            among them.
        """
        return self.experts.parameters()


class CrossStitch(nn.Module):
    """Cross-stitch networks (Misra et al., CVPR 2016).

    One column per task, each an :class:`~skmtl.modules.MLP` (after its own
    backbone, where there is one); after each layer, a cross-stitch unit mixes
    the columns' activations linearly, each task's input to its next layer a
    learned combination of every column's::

        h_t <- sum_s alpha[t, s] * h_s

    The units start near independent columns, ``alpha`` 0.9 on the diagonal
    and ``0.1 / (n_tasks - 1)`` off it, as in the paper, and learn how much
    each task takes from the others. Through the units every task's loss
    reaches every column: all the parameters are shared.

    Parameters
    ----------
    in_features : int
        Number of input features.

    n_tasks : int
        Number of tasks, one column each; the estimators set it.

    hidden_units : tuple of int, default=(100,)
        Widths of each column's dense layers, each at least 1, each followed
        by a cross-stitch unit; empty only with a backbone.

    activation : str or torch.nn.Module class, default="relu"
        Activation after each dense layer, as in :class:`~skmtl.modules.MLP`.

    dropout : float, default=0.0
        Dropout after each dense layer, before its cross-stitch unit, in
        ``[0, 1)``.

    backbone : {"cnn"}, torch.nn.Module class or None, default=None
        A module each column starts with, of its own, followed by a
        cross-stitch unit: ``"cnn"`` is a :class:`~skmtl.modules.CNN` reading
        each row as an image, its convolutions without dense layers. A class
        is instantiated with ``in_features`` and ``backbone_params`` and must
        have an ``out_features`` attribute.

    backbone_params : dict, default=None
        Parameters of the backbone, as in :class:`MMoE`.

    Attributes
    ----------
    backbones : torch.nn.ModuleList or None
        Each column's backbone.

    layers : torch.nn.ModuleList of skmtl.modules.StackedLinear
        Each dense layer of every column, stacked: ``layers[i].weight[t]`` is
        column ``t``'s.

    stitches : torch.nn.ParameterList
        The cross-stitch units, one ``(n_tasks, n_tasks)`` matrix ``alpha``
        after the backbone (if any) and after each dense layer.

    out_features : int
        Width of each task's representation.

    input_shape : tuple of int
        The images' shape, with a ``"cnn"`` backbone only.

    Raises
    ------
    ValueError
        If ``n_tasks`` or a width is not a positive int, ``dropout`` is outside
        ``[0, 1)``, or the columns would have no layer.

    Notes
    -----
    ``forward`` maps ``(n, in_features)`` to ``(n, n_tasks, out_features)``.
    The trunk holds ``n_tasks`` times the parameters of one column, plus
    ``n_tasks ** 2`` per cross-stitch unit. Misra et al. mix each channel of
    a convolutional layer with its own ``alpha``; here one ``alpha`` mixes
    whole layers.

    References
    ----------
    I. Misra, A. Shrivastava, A. Gupta and M. Hebert, "Cross-stitch networks
    for multi-task learning", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from skmtl.trunks import CrossStitch
    >>> trunk = CrossStitch(in_features=8, n_tasks=2, hidden_units=(16, 4))
    >>> trunk(torch.zeros(5, 8)).shape
    torch.Size([5, 2, 4])
    >>> trunk.stitches[0]
    Parameter containing:
    tensor([[0.9000, 0.1000],
            [0.1000, 0.9000]], requires_grad=True)
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        hidden_units=(100,),
        activation="relu",
        dropout=0.0,
        backbone=None,
        backbone_params=None,
    ):
        super().__init__()
        _check_n_tasks(n_tasks, "CrossStitch")
        hidden_units = _check_widths(
            "hidden_units", hidden_units, "(100,)", "CrossStitch"
        )
        _check_dropout(dropout, "CrossStitch")
        # One MLP per column checks the widths and draws each column's initial
        # weights as a separate MLP would, one column after the other.
        backbones = [
            _backbone(backbone, backbone_params, in_features, "CrossStitch")
            for _ in range(n_tasks)
        ]
        width = in_features if backbones[0] is None else backbones[0].out_features
        columns = [MLP(width, hidden_units) for _ in range(n_tasks)]
        linears = [
            [m for m in column.modules() if isinstance(m, nn.Linear)]
            for column in columns
        ]
        if backbones[0] is None and not linears[0]:
            raise ValueError(
                "CrossStitch hidden_units must hold at least one width without a "
                "backbone; got (): the columns would have no layer to stitch."
            )
        self.backbones = None if backbones[0] is None else nn.ModuleList(backbones)
        self.layers = nn.ModuleList(
            StackedLinear(list(depth)) for depth in zip(*linears)
        )
        self.activations = nn.ModuleList(_activation(activation) for _ in self.layers)
        self.dropout = nn.Dropout(dropout) if dropout else None
        n_stitches = len(self.layers) + (self.backbones is not None)
        self.stitches = nn.ParameterList(
            nn.Parameter(_near_identity(n_tasks)) for _ in range(n_stitches)
        )
        self.n_tasks = n_tasks
        self.out_features = columns[0].out_features
        if isinstance(backbones[0], CNN):
            self.input_shape = backbones[0].input_shape

    def forward(self, X):
        stitches = iter(self.stitches)
        if self.backbones is None:
            hidden = X  # (n, in): the first layer gives each column its own
        else:
            hidden = _stitch(
                next(stitches), torch.stack([b(X) for b in self.backbones], 1)
            )
        for layer, activation in zip(self.layers, self.activations):
            hidden = activation(layer(hidden))
            if self.dropout is not None:
                hidden = self.dropout(hidden)
            hidden = _stitch(next(stitches), hidden)
        return hidden

    def shared_parameters(self):
        """The parameters shared by the tasks: all of them, as every task's
        loss reaches every column through the cross-stitch units.

        Returns
        -------
        parameters : list of torch.nn.Parameter
            The cross-stitch units first, then the columns' layers, input to
            output, so that the last weight is the last dense layer's (where
            :class:`~skmtl.weighting.GradNorm` measures gradients).
        """
        backbones = [] if self.backbones is None else self.backbones.parameters()
        return [*self.stitches, *backbones, *self.layers.parameters()]


class PLE(nn.Module):
    """Progressive layered extraction (Tang et al., RecSys 2020).

    Each level holds ``n_task_experts`` experts of each task's own and
    ``n_shared_experts`` shared ones, each an :class:`~skmtl.modules.MLP` (the
    first level's after its own backbone, where there is one). Task ``t``'s
    gate mixes its own experts and the shared ones, and a shared gate mixes
    every expert for the next level's shared experts::

        h_t = sum_e g_t(x_t)[e] * expert_e(...)      # e: t's own and shared
        h_s = sum_e g_s(x_s)[e] * expert_e(...)      # e: every expert

    where each task's experts and gate read that task's input ``x_t`` (the
    previous level's ``h_t``, the rows at the first level), the shared experts
    and gate the shared input ``x_s`` (the previous ``h_s``, or the rows), and
    the last level has no shared gate: its ``h_t`` are the representations.
    With one level this is the customized gate control (CGC) of the paper;
    with no experts of the tasks' own, one level is an :class:`MMoE`.

    Parameters
    ----------
    in_features : int
        Number of input features.

    n_tasks : int
        Number of tasks; the estimators set it.

    n_levels : int, default=1
        Number of extraction levels, at least 1 (1: CGC).

    n_task_experts : int, default=1
        Experts of each task's own per level, at least 0.

    n_shared_experts : int, default=1
        Shared experts per level, at least 1.

    expert_units : tuple of int, default=(100,)
        Widths of each expert's dense layers, each at least 1; empty only with
        a backbone and one level, the backbone's features then the experts'
        outputs.

    activation : str or torch.nn.Module class, default="relu"
        Activation after each dense layer, as in :class:`~skmtl.modules.MLP`.

    dropout : float, default=0.0
        Dropout after each dense layer of the experts, in ``[0, 1)``.

    backbone : {"cnn"}, torch.nn.Module class or None, default=None
        A module each first-level expert starts with, of its own, as in
        :class:`MMoE`; the gates read the input rows as they are.

    backbone_params : dict, default=None
        Parameters of the backbone, as in :class:`MMoE`.

    Attributes
    ----------
    experts : torch.nn.ModuleList of torch.nn.ModuleList
        Each level's experts: task 0's, task 1's, ..., then the shared ones.

    task_gates : torch.nn.ModuleList of torch.nn.Linear or StackedLinear
        Each level's gates of the tasks, of ``n_task_experts +
        n_shared_experts`` outputs each: one :class:`torch.nn.Linear` of every
        task's outputs at the first level (they read the same rows), one
        :class:`~skmtl.modules.StackedLinear` after.

    shared_gates : torch.nn.ModuleList of torch.nn.Linear
        The shared gate of each level but the last.

    out_features : int
        Width of each task's representation.

    input_shape : tuple of int
        The images' shape, with a ``"cnn"`` backbone only.

    Raises
    ------
    ValueError
        If ``n_tasks``, ``n_levels`` or ``n_shared_experts`` is not a positive
        int, ``n_task_experts`` not a non-negative one, a width is not
        positive, ``dropout`` is outside ``[0, 1)``, or an expert would have
        no layer.

    Notes
    -----
    ``forward`` maps ``(n, in_features)`` to ``(n, n_tasks, out_features)``.
    A level holds ``n_tasks * n_task_experts + n_shared_experts`` experts.
    The parameters shared by the tasks (:meth:`shared_parameters`) are those
    that more than one task's loss reaches: the shared experts, and every
    expert below the last level through the shared gates.

    References
    ----------
    H. Tang, J. Liu, M. Zhao and X. Gong, "Progressive layered extraction
    (PLE): a novel multi-task learning (MTL) model for personalized
    recommendations", RecSys 2020.

    Examples
    --------
    >>> import torch
    >>> from skmtl.trunks import PLE
    >>> trunk = PLE(in_features=8, n_tasks=3, n_levels=2, expert_units=(16,))
    >>> trunk(torch.zeros(5, 8)).shape
    torch.Size([5, 3, 16])
    >>> [len(level) for level in trunk.experts]  # 3 tasks' own, 1 shared
    [4, 4]
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        n_levels=1,
        n_task_experts=1,
        n_shared_experts=1,
        expert_units=(100,),
        activation="relu",
        dropout=0.0,
        backbone=None,
        backbone_params=None,
    ):
        super().__init__()
        _check_n_tasks(n_tasks, "PLE")
        for name, value in (
            ("n_levels", n_levels),
            ("n_shared_experts", n_shared_experts),
        ):
            if not _is_positive_int(value):
                raise ValueError(f"PLE {name} must be a positive int; got {value!r}.")
        if not (n_task_experts == 0 or _is_positive_int(n_task_experts)):
            raise ValueError(
                "PLE n_task_experts must be a non-negative int; got "
                f"{n_task_experts!r}."
            )
        expert_units = _check_widths("expert_units", expert_units, "(100,)", "PLE")
        _check_dropout(dropout, "PLE")
        n_experts = n_tasks * n_task_experts + n_shared_experts
        experts, width = [], in_features
        for level in range(n_levels):
            level_experts = []
            for _ in range(n_experts):
                body = None
                if level == 0:
                    body = _backbone(backbone, backbone_params, in_features, "PLE")
                if body is None and not expert_units:
                    raise ValueError(
                        "PLE expert_units must hold at least one width without a "
                        "backbone or above the first level; got (): those "
                        "experts would be the identity."
                    )
                start = width if body is None else body.out_features
                dense = MLP(start, expert_units, activation, dropout)
                level_experts.append(
                    dense if body is None else nn.Sequential(body, dense)
                )
                if isinstance(body, CNN):
                    self.input_shape = body.input_shape
            experts.append(nn.ModuleList(level_experts))
            width = dense.out_features
        self.experts = nn.ModuleList(experts)
        gate_width = n_task_experts + n_shared_experts
        self.task_gates = nn.ModuleList(
            [nn.Linear(in_features, n_tasks * gate_width)]
            + [
                StackedLinear([nn.Linear(width, gate_width) for _ in range(n_tasks)])
                for _ in range(n_levels - 1)
            ]
        )
        self.shared_gates = nn.ModuleList(
            nn.Linear(in_features if level == 0 else width, n_experts)
            for level in range(n_levels - 1)
        )
        self.n_tasks = n_tasks
        self.n_levels = n_levels
        self.n_task_experts = n_task_experts
        self.n_shared_experts = n_shared_experts
        self.out_features = width

    def forward(self, X):
        T, k, n = self.n_tasks, self.n_task_experts, len(X)
        tasks = shared = X  # each task's input, (n, T, w) after the first level
        for level, experts in enumerate(self.experts):
            common = torch.stack([expert(shared) for expert in experts[T * k :]], 1)
            # Task t's gate weighs its own experts (the first k), then the
            # shared ones, whose outputs are not copied for each task.
            gates = self.task_gates[level](tasks).view(n, T, -1).softmax(-1)
            new_tasks = gates[..., k:] @ common  # (n, T, s) @ (n, s, w)
            every = common
            if k:
                own = [
                    expert(tasks if level == 0 else tasks[:, e // k])
                    for e, expert in enumerate(experts[: T * k])
                ]
                own = torch.stack(own, 1)  # (n, T * k, w), task by task
                by_task = own.view(n, T, k, -1)
                new_tasks = new_tasks + (gates[..., None, :k] @ by_task).squeeze(2)
                every = torch.cat([own, common], 1)
            if level < self.n_levels - 1:
                weights = self.shared_gates[level](shared).softmax(-1)
                shared = (weights[:, None] @ every).squeeze(1)
            tasks = new_tasks
        return tasks

    def shared_parameters(self):
        """The parameters shared by the tasks: those more than one task's loss
        reaches.

        Those are the shared experts; below the last level, every expert and
        the shared gate (through the next level's shared experts); and below
        the last two levels, the tasks' gates too where the tasks have experts
        of their own (through those experts above, which the shared gate above
        mixes).

        Returns
        -------
        parameters : list of torch.nn.Parameter
            Level by level, gates before experts, so that the last weight is
            that of the last shared expert's last layer (where
            :class:`~skmtl.weighting.GradNorm` measures gradients).
        """
        last, T, k = self.n_levels - 1, self.n_tasks, self.n_task_experts
        parameters = []
        for level, experts in enumerate(self.experts):
            if level < last - 1 and k:
                parameters += self.task_gates[level].parameters()
            if level < last:
                parameters += self.shared_gates[level].parameters()
                parameters += experts.parameters()
            else:
                parameters += experts[T * k :].parameters()
        return parameters


def _near_identity(n_tasks):
    """A cross-stitch unit's start: 0.9 on the diagonal, the rest of each row
    spread evenly (Misra et al.'s alpha_S = 0.9, alpha_D = 0.1, for two tasks)."""
    if n_tasks == 1:
        return torch.ones(1, 1)
    off = 0.1 / (n_tasks - 1)
    return torch.full((n_tasks, n_tasks), off).fill_diagonal_(0.9)


def _stitch(alpha, hidden):
    """Mix the columns: ``(T, T) x (n, T, w) -> (n, T, w)``."""
    return torch.einsum("ts,nsw->ntw", alpha, hidden)
