"""
Multi-task vs single-task nets, scored per task
===============================================

One :class:`~skmtl.MultiTaskClassifier` learns two tasks with a shared trunk;
``MultiOutputClassifier`` wrapped around the same estimator trains one net per
task. Both go through ``cross_validate`` on the same folds, scored on each task
with :func:`skmtl.metrics.task_scorer`.

The data are scikit-learn's 1797 handwritten digits (8x8 images); the two tasks
are the digit (10 classes) and whether it is odd (2 classes).
"""

# %%
# Two tasks from the digits
# -------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, cross_validate
from sklearn.multioutput import MultiOutputClassifier

from skmtl import MultiTaskClassifier
from skmtl.metrics import subset_accuracy_scorer, task_scorer

X, digit = load_digits(return_X_y=True)
X = X / 16  # pixel intensities in [0, 1]
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd
EPOCHS = int(os.environ.get("SKMTL_EXAMPLE_EPOCHS", 20))  # the tests run fewer
print(X.shape, Y.shape)

# %%
# The same net, shared or one per task
# ------------------------------------
# A small MLP trunk, trained for a fixed 20 epochs (``n_iter_no_change=None``).
# ``MultiOutputClassifier`` fits a clone of it on each column of ``Y`` alone.
mtl = MultiTaskClassifier(
    trunk__hidden_units=(64,),
    batch_size=64,
    max_epochs=EPOCHS,
    n_iter_no_change=None,
    random_state=0,
)
models = {"multi-task net": mtl, "one net per task": MultiOutputClassifier(mtl)}

# %%
# Cross-validation with per-task scorers
# --------------------------------------
# ``task_scorer(t)`` scores task ``t`` alone, for either model;
# ``subset_accuracy_scorer`` the fraction of images with every task right.
scoring = {
    "digit": task_scorer(0),
    "odd": task_scorer(1),
    "both": subset_accuracy_scorer,
}
cv = KFold(n_splits=5, shuffle=True, random_state=0)
results = {
    name: cross_validate(model, X, Y, cv=cv, scoring=scoring)
    for name, model in models.items()
}
for name, scores in results.items():
    test = {task: scores[f"test_{task}"] for task in scoring}
    line = ", ".join(f"{t} {s.mean():.3f} +- {s.std():.3f}" for t, s in test.items())
    print(f"{name:>16}: accuracy {line}; fit {scores['fit_time'].mean():.1f} s")

# %%
# Test accuracy per task over the five folds
# ------------------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
width = 0.38
for i, (name, scores) in enumerate(results.items()):
    means = [scores[f"test_{task}"].mean() for task in scoring]
    stds = [scores[f"test_{task}"].std() for task in scoring]
    ax.bar(
        np.arange(len(scoring)) + (i - 0.5) * width,
        means,
        width,
        yerr=stds,
        label=name,
        capsize=3,
    )
ax.set_xticks(np.arange(len(scoring)), list(scoring))
ax.set_ylim(0.8, 1.0)
ax.set_ylabel("test accuracy (5-fold CV)")
ax.legend(loc="upper right", ncols=2)  # above the bars
fig.tight_layout()
plt.show()

# %%
# Here the shared trunk does not pay: the multi-task net matches the single-task
# net on the digit but is behind it on parity, so fewer images have both right.
# It does train one net instead of two, in less time. Whether sharing helps
# depends on the tasks, the trunk and the amount of data: this is the comparison
# to run on your own, with the same folds and scorers for both models.
