"""Loss weighting and gradient aggregation strategies on the Fashion-MNIST study.

Each strategy trains the study's multi-task net (conv 32-64-128, dense 1024, heads
100 -> 10 and 100 -> 3, Adam lr 1e-3 beta1 0.5, batch 200) on the same images and
seeds, is kept at its epoch of best mean validation accuracy (10% of the training
images held out), and is scored once on the test set. Printed, as a Markdown table:
test accuracy per task (mean +- sd over seeds) and the training time per epoch
relative to equal weighting, measured in the same run. Usage::

    python benchmarks/bench_loss_weighting.py [--train-size 12000] [--epochs 10]
        [--seeds 2] [--strategies equal uncertainty ...]
"""

import argparse
import statistics

import numpy as np
from sklearn.base import clone

from skmtl.study import load_study_data, net_result, study_classifier

STRATEGIES = [
    "equal",
    "uncertainty",
    "dwa",
    "gradnorm",
    "random",
    "upgrad",
    "pcgrad",
    "mgda",
    "cagrad",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=12_000)
    parser.add_argument("--test-size", type=int)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    args = parser.parse_args()

    X, Y, X_test, Y_test = load_study_data(args.train_size, args.test_size)
    results = {}
    for strategy in args.strategies:
        runs = []
        for seed in range(args.seeds):
            net = study_classifier(epochs=args.epochs, random_state=seed)
            clf = clone(net).set_params(loss_weighting=strategy).fit(X, Y)
            run = net_result(clf, {"item": 0, "group": 1}, clf.predict(X_test), Y_test)
            run["seconds_per_epoch"] = run["train_seconds"] / args.epochs
            runs.append(run)
            print(
                strategy,
                seed,
                run["test_accuracy"],
                f"{run['seconds_per_epoch']:.1f} s/epoch",
                flush=True,
            )
        results[strategy] = runs

    baseline = statistics.median(
        r["seconds_per_epoch"] for r in results[args.strategies[0]]
    )
    print()
    print(
        f"{len(X)} training images ({len(X) - round(0.1 * len(X))} trained on), "
        f"{len(X_test)} test images, {args.epochs} epochs, seeds 0-{args.seeds - 1}; "
        f"time relative to {args.strategies[0]}."
    )
    print()
    print("| strategy | item | group | mean | time per epoch | relative time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for strategy, runs in results.items():
        cells = []
        for task in ("item", "group", None):
            values = [
                np.mean(list(r["test_accuracy"].values()))
                if task is None
                else r["test_accuracy"][task]
                for r in runs
            ]
            sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
            cells.append(f"{np.mean(values):.4f} +- {sd:.4f}")
        seconds = statistics.median(r["seconds_per_epoch"] for r in runs)
        cells += [f"{seconds:.1f} s", f"{seconds / baseline:.2f}"]
        print(f"| {strategy} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
