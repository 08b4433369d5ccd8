"""
A custom torch trunk
====================

Besides ``"mlp"`` and ``"cnn"``, the trunk of a
:class:`~skmtl.MultiTaskClassifier` can be any ``torch.nn.Module`` class. It is
instantiated at ``fit`` with the ``trunk__*`` parameters, and with
``in_features``, the data's number of columns, when its ``__init__`` takes that
argument, as the built-in trunks do; give every other argument a default. It
must map a batch of rows, a float tensor of shape ``(n, n_features)``, to
``(n, width)``; the heads are built on that width, found by running the trunk
once.

Here the trunk is a small residual network for scikit-learn's 8x8 digits, with
two tasks: the digit and whether it is odd.
"""

# %%
# The module
# ----------
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold
from torch import nn

from skmtl import MultiTaskClassifier
from skmtl.metrics import task_scorer


class ResidualMLP(nn.Module):
    """A linear layer to ``width`` units, then ``n_blocks`` residual blocks.

    ``in_features``, the data's width, comes from the classifier at ``fit``.
    """

    def __init__(self, in_features, width=64, n_blocks=2):
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU())
            for _ in range(n_blocks)
        )

    def forward(self, x):
        x = torch.relu(self.stem(x))
        for block in self.blocks:
            x = x + block(x)
        return x


# %%
# Fit it, and search its parameters
# ----------------------------------
# ``trunk__width`` and ``trunk__n_blocks`` reach the module's constructor; as
# routed parameters, ``GridSearchCV`` can search them.
X, digit = load_digits(return_X_y=True)
X = X / 16
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd
EPOCHS = int(os.environ.get("SKMTL_EXAMPLE_EPOCHS", 15))  # the tests run fewer

clf = MultiTaskClassifier(
    trunk=ResidualMLP,
    trunk__width=32,
    batch_size=64,
    max_epochs=EPOCHS,
    n_iter_no_change=None,
    random_state=0,
)
search = GridSearchCV(
    clf,
    {"trunk__width": [32, 64], "trunk__n_blocks": [1, 3]},
    scoring={"digit": task_scorer(0), "odd": task_scorer(1)},
    refit="digit",
    cv=KFold(n_splits=3, shuffle=True, random_state=0),
).fit(X, Y)
results = search.cv_results_
for params, d, o in zip(
    results["params"],
    results["mean_test_digit"],
    results["mean_test_odd"],
    strict=True,
):
    print(f"{params}: digit accuracy {d:.3f}, odd accuracy {o:.3f}")

fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
labels = [
    f"width {p['trunk__width']}, {p['trunk__n_blocks']} block(s)"
    for p in results["params"]
]
y = np.arange(len(labels))
ax.barh(y - 0.2, results["mean_test_digit"], 0.4, label="digit")
ax.barh(y + 0.2, results["mean_test_odd"], 0.4, label="odd")
ax.set_yticks(y, labels)
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("mean cross-validated accuracy")
fig.legend(loc="outside right upper")  # beside the bars, not on them
plt.show()

# %%
# The fitted network
# ------------------
# ``net_.module_`` holds the trunk, an instance of the class, and one head per
# task.
best = search.best_estimator_
print("best:", search.best_params_)
print(best.net_.module_)
