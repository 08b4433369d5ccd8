"""Partial labels on Fashion-MNIST: one multi-task net against single-task nets.

One task keeps its label on a fraction of the training images only (the others
are marked missing, -1); the other task keeps all its labels. Compared, on the
same images and seeds, for the scarce task's test accuracy:

- ``MTL``: the multi-task net on every image, with ``missing_label=-1``;
- ``STL``: a single-task net on the images that have the scarce task's label,
  trained for ``epochs / fraction`` epochs, so that it takes as many steps as
  the multi-task net;
- ``item net -> group`` (group scarce only): a single-task item net on every
  image, its items mapped to groups, which needs no group label at all.

Each net is the study's CNN, kept at its epoch of best validation accuracy (10%
held out). Prints a Markdown table of mean +- sd over seeds. Usage::

    python benchmarks/bench_partial_labels.py [--train-size 12000] [--epochs 10]
        [--seeds 2] [--fractions 0.05 0.25]
"""

import argparse

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score

from skmtl.datasets._fashion_mnist import ITEM_TO_GROUP
from skmtl.study import load_study_data, study_classifier

TASKS = ("item", "group")


def _partial(Y, task, fraction, seed):
    """``Y`` with the task's label kept on a random ``fraction`` of the rows."""
    rng = np.random.RandomState(seed)
    kept = rng.permutation(len(Y))[: round(fraction * len(Y))]
    Y = Y.copy()
    missing = np.ones(len(Y), dtype=bool)
    missing[kept] = False
    Y[missing, task] = -1
    return Y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=12_000)
    parser.add_argument("--test-size", type=int)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.25])
    args = parser.parse_args()

    X, Y, X_test, Y_test = load_study_data(args.train_size, args.test_size)
    rows = []  # (scarce task, fraction, model, seed, accuracy)
    for seed in range(args.seeds):
        net = study_classifier(epochs=args.epochs, random_state=seed)
        item_net = clone(net).fit(X, Y[:, 0])
        mapped = ITEM_TO_GROUP[item_net.predict(X_test)]
        for fraction in args.fractions:
            rows.append(
                (
                    "group",
                    fraction,
                    "item net -> group",
                    seed,
                    accuracy_score(Y_test[:, 1], mapped),
                )
            )
            for t, task in enumerate(TASKS):
                Y_partial = _partial(Y, t, fraction, seed)
                mtl = clone(net).set_params(missing_label=-1).fit(X, Y_partial)
                stl_epochs = round(args.epochs / fraction)
                stl = study_classifier(epochs=stl_epochs, random_state=seed)
                stl.set_params(missing_label=-1).fit(X, Y_partial[:, t])
                for model, pred in (
                    ("MTL", mtl.predict(X_test)[:, t]),
                    ("STL", stl.predict(X_test)),
                ):
                    accuracy = accuracy_score(Y_test[:, t], pred)
                    rows.append((task, fraction, model, seed, accuracy))
                    print(task, fraction, model, seed, f"{accuracy:.4f}", flush=True)

    print()
    print(
        f"{len(X)} training images, {len(X_test)} test images, {args.epochs} "
        f"epochs (STL: epochs / fraction), seeds 0-{args.seeds - 1}: test accuracy "
        "of the scarce task."
    )
    print()
    print("| scarce task | labelled | MTL | STL | item net -> group |")
    print("| --- | --- | --- | --- | --- |")
    for task in TASKS:
        for fraction in args.fractions:
            cells = []
            for model in ("MTL", "STL", "item net -> group"):
                values = [r[4] for r in rows if r[:3] == (task, fraction, model)]
                if not values:
                    cells.append("-")
                    continue
                sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
                cells.append(f"{np.mean(values):.4f} +- {sd:.4f}")
            print(f"| {task} | {fraction:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
