"""
Comparing loss weighting strategies
===================================

A multi-task net minimises one number made of its task losses. By default each
task's loss weighs ``1 / n_tasks``; ``loss_weighting`` replaces the fixed weights
with a strategy from :mod:`skmtl.weighting`: uncertainty weighting, dynamic
weight average (DWA), GradNorm, random weights, or a Jacobian-descent aggregator
such as PCGrad or UPGrad (from torchjd).

Each strategy trains the same net on scikit-learn's handwritten digits, with
two tasks: the digit and whether it is odd. They are compared on a held-out
quarter of the images, task by task.
"""

# %%
# Data and the net
# ----------------
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skmtl import MultiTaskClassifier

X, digit = load_digits(return_X_y=True)
X = X / 16
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd
EPOCHS = int(os.environ.get("SKMTL_EXAMPLE_EPOCHS", 20))  # the tests run fewer
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)

net = MultiTaskClassifier(
    trunk__hidden_units=(64,),
    batch_size=64,
    max_epochs=EPOCHS,
    n_iter_no_change=None,
    random_state=0,
)

# %%
# One fit per strategy
# --------------------
# ``None`` is the fixed equal weighting. The same ``random_state`` gives every
# strategy the same initial weights and the same batches.
strategies = [None, "uncertainty", "dwa", "gradnorm", "random", "pcgrad", "upgrad"]
fitted, accuracy = {}, {}
for strategy in strategies:
    name = strategy or "equal"
    fitted[name] = clf = clone(net).set_params(loss_weighting=strategy)
    clf.fit(X_train, Y_train)
    accuracy[name] = (clf.predict(X_test) == Y_test).mean(axis=0)
    digit_acc, odd_acc = accuracy[name]
    print(f"{name:>12}: digit accuracy {digit_acc:.3f}, odd accuracy {odd_acc:.3f}")

# %%
# The weights a strategy gives the tasks
# --------------------------------------
# Each epoch, the history records the weight of each task's loss as
# ``loss_weight_<task>`` (a numpy ``Y`` names its tasks ``task_0``,
# ``task_1``). Strategies scale their weights differently (DWA's sum to the
# number of tasks, uncertainty weighting's are ``exp(-s_t)``), so the right
# panel shows the digit's share of the two weights: 0.5 is equal weighting.


def digit_share(clf):
    history = clf.net_.history
    w_digit = np.array(history[:, "loss_weight_task_0"])
    w_odd = np.array(history[:, "loss_weight_task_1"])
    return w_digit / (w_digit + w_odd)


for name, clf in fitted.items():
    print(
        f"{name:>12}: digit's share of the weights in the last epoch "
        f"{digit_share(clf)[-1]:.2f}"
    )

fig, (ax_acc, ax_w) = plt.subplots(1, 2, figsize=(10, 3.8))
names = list(accuracy)
x = np.arange(len(names))
for offset, (t, task) in zip((-0.2, 0.2), enumerate(("digit", "odd"))):
    ax_acc.bar(x + offset, [accuracy[n][t] for n in names], 0.4, label=task)
ax_acc.set_xticks(x, names, rotation=45, ha="right")
ax_acc.set_ylim(0.8, 1.0)
ax_acc.set_ylabel("held-out accuracy")
ax_acc.legend(loc="upper right", ncols=2)  # above the bars

for name in ("equal", "uncertainty", "dwa", "gradnorm", "upgrad"):
    share = digit_share(fitted[name])
    ax_w.plot(np.arange(1, len(share) + 1), share, label=name)
ax_w.set_xlabel("epoch")
ax_w.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
ax_w.set_ylabel("digit's share of the loss weights")
ax_w.legend()
fig.tight_layout()
plt.show()

# %%
# On this easy pair of tasks, every strategy ends within a few of the 450
# held-out images of equal weighting (one image is 0.002 of accuracy), though
# uncertainty weighting and GradNorm shift weight towards the parity task.
# Strategies matter more when tasks differ in scale or conflict;
# ``benchmarks/README.md`` compares them on the Fashion-MNIST study.
