"""
Plotting the training history
=============================

A fitted :class:`~skmtl.MultiTaskClassifier` keeps skorch's history in
``clf.net_.history``: per epoch, the total loss and, per task, its loss and
accuracy, on the training rows and, with ``validation_fraction``, on held-out
rows. This example plots them to see how each task learns.

The data are scikit-learn's handwritten digits with two tasks: the digit and
whether it is odd.
"""

# %%
# Fit with a validation split
# ---------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skmtl import MultiTaskClassifier

X, digit = load_digits(return_X_y=True)
X = X / 16
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd
EPOCHS = int(os.environ.get("SKMTL_EXAMPLE_EPOCHS", 40))  # the tests run fewer

clf = MultiTaskClassifier(
    trunk__hidden_units=(64,),
    batch_size=64,
    validation_fraction=0.2,  # scored after each epoch
    max_epochs=EPOCHS,
    n_iter_no_change=None,
    random_state=0,
).fit(X, Y)

history = clf.net_.history
print("keys of an epoch:", sorted(k for k in history[-1] if not k.endswith("_best")))
for task, name in (("task_0", "digit"), ("task_1", "odd")):
    valid_acc = history[:, f"valid_acc_{task}"]
    best = int(np.argmax(valid_acc))
    print(f"{name}: best validation accuracy {valid_acc[best]:.3f} at epoch {best + 1}")

# %%
# Loss and accuracy per task, per epoch
# -------------------------------------
# A numpy ``Y`` names its tasks ``task_0`` and ``task_1``.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, metric in zip(axes, ("loss", "acc")):
    for task, name, colour in (("task_0", "digit", "C0"), ("task_1", "odd", "C1")):
        for split, style in (("train", "-"), ("valid", "--")):
            values = history[:, f"{split}_{metric}_{task}"]
            ax.plot(
                history[:, "epoch"], values, colour, ls=style, label=f"{name}, {split}"
            )
axes[0].set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0.5, 1.0))
axes[1].legend(loc="lower right")
fig.tight_layout()
plt.show()
