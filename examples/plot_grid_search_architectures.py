"""
Searching over architectures with GridSearchCV
==============================================

The trunk of a :class:`~skmtl.MultiTaskClassifier` is a parameter like any
other, and so are the trunk's own parameters, routed with the ``trunk__``
prefix. An MLP and a CNN take different parameters, so the search space is a
list of grids, one per kind of trunk, as for a ``Pipeline`` whose steps differ.

The data are scikit-learn's handwritten digits (8x8 images), with two tasks:
the digit and whether it is odd. The search refits the candidate with the best
digit accuracy.
"""

# %%
# Data
# ----
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold

from skmtl import MultiTaskClassifier
from skmtl.metrics import task_scorer

X, digit = load_digits(return_X_y=True)
X = X / 16
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd
EPOCHS = int(os.environ.get("SKMTL_EXAMPLE_EPOCHS", 15))  # the tests run fewer

# %%
# One grid per kind of trunk
# --------------------------
# Each dict names its trunk and the parameters that trunk takes; a parameter
# listed in one dict is left at its default in the others. The CNN reads each
# row as a square image (8x8 here); ``padding="same"`` keeps the maps large
# enough for its two poolings.
param_grid = [
    {"trunk": ["mlp"], "trunk__hidden_units": [(16,), (64,), (128, 64)]},
    {
        "trunk": ["cnn"],
        "trunk__channels": [(8,), (8, 16)],
        "trunk__dense_units": [(64,)],
        "trunk__padding": ["same"],
    },
]
base = MultiTaskClassifier(
    batch_size=64, max_epochs=EPOCHS, n_iter_no_change=None, random_state=0
)
search = GridSearchCV(
    base,
    param_grid,
    scoring={"digit": task_scorer(0), "odd": task_scorer(1)},
    refit="digit",
    cv=KFold(n_splits=3, shuffle=True, random_state=0),
).fit(X, Y)
print("best:", search.best_params_)
print(f"best digit accuracy: {search.best_score_:.3f}")

# %%
# Every candidate, on both tasks
# ------------------------------
results = search.cv_results_


def describe(params):
    if params["trunk"] == "mlp":
        return f"mlp {params['trunk__hidden_units']}"
    return f"cnn {params['trunk__channels']}"


labels = [describe(p) for p in results["params"]]
for label, d, o in zip(
    labels, results["mean_test_digit"], results["mean_test_odd"], strict=True
):
    print(f"{label:>14}: digit accuracy {d:.3f}, odd accuracy {o:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
y = np.arange(len(labels))
for offset, task in ((-0.2, "digit"), (0.2, "odd")):
    ax.barh(
        y + offset,
        results[f"mean_test_{task}"],
        0.4,
        xerr=results[f"std_test_{task}"],
        label=task,
        capsize=3,
    )
ax.set_yticks(y, labels)
ax.set_xlim(0.5, 1.0)
ax.set_xlabel("test accuracy (3-fold CV)")
fig.legend(loc="outside right upper")  # beside the bars, not on them
plt.show()
