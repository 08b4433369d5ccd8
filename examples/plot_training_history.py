"""
Plotting the training history
=============================

A fitted :class:`~skmtl.MultiTaskClassifier` keeps skorch's history in
``clf.net_.history``: per epoch, the total loss and, per task, its loss and
accuracy, on the training rows and, with ``validation_fraction``, on held-out
rows. This example prints them and draws them with
:class:`~skmtl.TrainingHistoryDisplay` to see how each task learns.

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

from skmtl import MultiTaskClassifier, TrainingHistoryDisplay

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
# :class:`~skmtl.TrainingHistoryDisplay` draws one column per task: its loss and
# accuracy, training (blue) and validation (orange). A numpy ``Y`` names its
# tasks ``task_0`` and ``task_1``.
display = TrainingHistoryDisplay.from_estimator(clf)
display.figure_.suptitle("digits: the digit (task_0) and odd (task_1)")
plt.show()
