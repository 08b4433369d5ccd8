"""
Hard or soft sharing, and each task at its own best epoch
=========================================================

Three tasks on scikit-learn's handwritten digits: the digit (10 classes),
whether it is odd, and whether it is at least 5. The same budget for every
model, 30 epochs, and the same folds and per-task scorers:

- *hard sharing*, one MLP trunk for all tasks (``trunk="mlp"``), kept at the
  epoch of its best mean validation accuracy (``early_stopping=True``);
- the same, each task kept at its own best validation epoch
  (``early_stopping="per_task"``), the fair equal of single-task nets, which
  each pick their own epoch;
- *soft sharing*: a multi-gate mixture of experts (``trunk="mmoe"``: four
  expert MLPs, a softmax gate per task), cross-stitch columns
  (``trunk="cross_stitch"``: one MLP column per task, mixed after each layer)
  and progressive layered extraction (``trunk="ple"``: an expert MLP of each
  task's own and a shared one, a gate per task over the two), each task at its
  own best epoch;
- one net per task, each at its own best epoch.
"""

# %%
# The tasks and the models
# ------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, cross_validate
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier
from skmtl.metrics import task_scorer

X, digit = load_digits(return_X_y=True)
Y = np.column_stack([digit, digit % 2, digit >= 5])
tasks = ["digit", "odd", "ge5"]

common = dict(lr=0.003, max_epochs=30, n_iter_no_change=None, random_state=0)
models = {
    "hard, one epoch": MultiTaskClassifier(early_stopping=True, **common),
    "hard, epoch per task": MultiTaskClassifier(early_stopping="per_task", **common),
    "MMoE": MultiTaskClassifier("mmoe", early_stopping="per_task", **common),
    "cross-stitch": MultiTaskClassifier(
        "cross_stitch", early_stopping="per_task", **common
    ),
    "PLE": MultiTaskClassifier("ple", early_stopping="per_task", **common),
    "one net per task": MultiOutputClassifier(
        MultiTaskClassifier(early_stopping=True, **common)
    ),
}

# %%
# Cross-validation with per-task scorers
# --------------------------------------
# Five shuffled folds; each model is scored on each task by accuracy. The
# parameter counts are those of the fitted networks (all tasks together).
cv = KFold(5, shuffle=True, random_state=0)
scoring = {task: task_scorer(t) for t, task in enumerate(tasks)}
results, sizes = {}, {}
for name, model in models.items():
    scores = cross_validate(
        make_pipeline(StandardScaler(), model),
        X,
        Y,
        cv=cv,
        scoring=scoring,
        return_estimator=True,
    )
    results[name] = np.array([scores[f"test_{task}"] for task in tasks])
    fitted = scores["estimator"][0][-1]
    nets = [e.net_ for e in getattr(fitted, "estimators_", [fitted])]
    sizes[name] = sum(p.numel() for net in nets for p in net.module_.parameters())
    means = ", ".join(
        f"{task} {results[name][t].mean():.3f}" for t, task in enumerate(tasks)
    )
    print(f"{name:>20}: {means}; {sizes[name]:,} parameters")

# %%
# Per task, over the folds
# ------------------------
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
for t, (ax, task) in enumerate(zip(axes, tasks)):
    for m, name in enumerate(models):
        values = results[name][t]
        ax.plot(np.full(len(values), m), values, "o", alpha=0.4, color=f"C{m}")
        ax.errorbar(m, values.mean(), yerr=values.std(), fmt="_", color="k")
    ax.set(title=task, xticks=range(len(models)))
    ax.set_xticklabels(list(models), rotation=35, ha="right", fontsize="small")
    ax.grid(alpha=0.3, axis="y")
axes[0].set_ylabel("test accuracy (5 folds)")
plt.show()

# %%
# What the numbers say
# --------------------
for t, task in enumerate(tasks):
    base = results["one net per task"][t]
    line = ", ".join(
        f"{name} {np.mean(results[name][t] - base):+.3f}"
        for name in models
        if name != "one net per task"
    )
    print(f"{task}, minus one net per task: {line}")

# %%
# On these digits every model is within 0.01 of one net per task on every
# task: sharing, hard or soft, neither helps nor hurts here, and keeping each
# task at its own epoch changes little (the PLE's +0.008 on "at least 5" is
# the largest gap, within the folds' spread). Soft sharing costs parameters:
# the mixture of experts has about 3.6 times as many as the hard-shared net,
# the PLE 3.5 times, the cross-stitch columns about 2.6 times (as many as the
# three nets of one per task). The study of Fashion-MNIST (``python -m
# skmtl.study``) asks the same question on images, over seeds.
