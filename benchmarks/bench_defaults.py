"""Defaults against defaults: MultiTaskClassifier() and one MLPClassifier() per task.

Small embedded scikit-learn data sets, each with two or three tasks derived
from its target, scaled with StandardScaler (fitted on the training part) as
their documentation advises. Several stratified train/test splits (75/25), and
for each split a few seeds: one ``MultiTaskClassifier(random_state=seed)``
fitted on every task, one ``MLPClassifier(random_state=seed)`` fitted on each
task alone, on the same rows. Per task: the mean test accuracy of each, their
paired difference (MTL - MLP) with a 95% interval (Student's t over the
split-seed pairs; test sets of a few dozen rows make one split's difference
mostly noise), and a verdict: "ahead" or "behind" when the interval excludes 0,
"level" when it holds it. The target is met when no task is behind. Times: the
multi-task fit against the single-task fits together, summed over runs.

    python benchmarks/bench_defaults.py [--splits 5] [--seeds 0 1 2 3] \
        [--datasets digits wine] [--set lr=0.003 batch_size=64]
"""

import argparse
import ast
import time
import warnings

import numpy as np
import torch
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier


def _digits():
    X, y = load_digits(return_X_y=True)
    return X, {"digit": y, "odd": y % 2, "ge5": y >= 5}


def _wine():
    X, y = load_wine(return_X_y=True)
    # The cultivar, whether it is the first, and a property of the wine.
    alcohol = X[:, 0] > np.median(X[:, 0])
    return X[:, 1:], {"cultivar": y, "first": y == 0, "alcohol": alcohol}


def _breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    # The diagnosis, and whether the (held out) worst area is large.
    area = X[:, 23] > np.median(X[:, 23])
    return np.delete(X, 23, axis=1), {"malignant": y, "large": area}


def _iris():
    X, y = load_iris(return_X_y=True)
    # The species, and whether it is setosa, from the sepals and the petal length.
    wide = X[:, 3] > np.median(X[:, 3])
    return X[:, :3], {"species": y, "setosa": y == 0, "wide_petal": wide}


DATASETS = {
    "digits": _digits,
    "wine": _wine,
    "breast_cancer": _breast_cancer,
    "iris": _iris,
}


def _run(name, split, seed, params):
    X, tasks = DATASETS[name]()
    Y = np.column_stack(list(tasks.values())).astype(int)
    X_train, X_test, Y_train, Y_test = train_test_split(
        X, Y, test_size=0.25, stratify=Y[:, 0], random_state=split
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        mtl = MultiTaskClassifier(random_state=seed, **params)
        mtl.fit(X_train, Y_train)
    mtl_time = time.perf_counter() - start
    mtl_acc = (mtl.predict(X_test) == Y_test).mean(axis=0)
    mtl_warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    stl_acc, stl_time, stl_iters, stl_warned = [], 0.0, [], False
    for t in range(Y.shape[1]):
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            stl = MLPClassifier(random_state=seed).fit(X_train, Y_train[:, t])
        stl_time += time.perf_counter() - start
        stl_acc.append(stl.score(X_test, Y_test[:, t]))
        stl_iters.append(stl.n_iter_)
        stl_warned |= any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return {
        "tasks": list(tasks),
        "mtl_acc": mtl_acc,
        "stl_acc": np.array(stl_acc),
        "mtl_time": mtl_time,
        "stl_time": stl_time,
        "mtl_iter": mtl.n_iter_,
        "stl_iter": stl_iters,
        "warned": (mtl_warned, stl_warned),
        "n_train": len(X_train),
    }


def _parse_set(items):
    """``name=value`` pairs as estimator parameters."""
    params = {}
    for item in items:
        name, value = item.split("=", 1)
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value
    return params


def _verdict(diffs):
    """Mean paired difference, its 95% half-width (Student's t), and the verdict."""
    diffs = np.asarray(diffs)
    mean = diffs.mean()
    if len(diffs) < 2 or np.all(diffs == mean):
        half = 0.0
    else:
        sem = diffs.std(ddof=1) / np.sqrt(len(diffs))
        half = stats.t.ppf(0.975, len(diffs) - 1) * sem
    if mean - half > 0:
        return mean, half, "ahead"
    if mean + half < 0:
        return mean, half, "behind"
    return mean, half, "level"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--set", nargs="*", default=[], help="MultiTaskClassifier parameters"
    )
    args = parser.parse_args()
    params = _parse_set(args.set)
    torch.set_num_threads(1)
    print(
        f"{args.splits} splits x seeds {args.seeds}; MultiTaskClassifier({params}); "
        "accuracy: mean over runs; diff: MTL - MLP, 95% interval over runs"
    )
    header = (
        f"{'data set':14} {'task':11} {'MTL acc':>8} {'MLP acc':>8}"
        f" {'diff':>16} {'verdict':>7} {'MTL ep':>7} {'MLP ep':>7}"
    )
    print(header)
    behind, totals = [], {}
    for name in args.datasets:
        runs = [
            _run(name, split, seed, params)
            for split in range(args.splits)
            for seed in args.seeds
        ]
        mtl_acc = np.array([r["mtl_acc"] for r in runs])
        stl_acc = np.array([r["stl_acc"] for r in runs])
        mtl_ep = np.mean([r["mtl_iter"] for r in runs])
        stl_ep = np.mean([r["stl_iter"] for r in runs], axis=0)
        for t, task in enumerate(runs[0]["tasks"]):
            mean, half, verdict = _verdict(mtl_acc[:, t] - stl_acc[:, t])
            if verdict == "behind":
                behind.append(f"{name} {task}")
            interval = f"{mean:+.3f} +- {half:.3f}"
            print(
                f"{name:14} {task:11} {mtl_acc[:, t].mean():8.3f}"
                f" {stl_acc[:, t].mean():8.3f} {interval:>16} {verdict:>7}"
                f" {mtl_ep if t == 0 else '':>7} {stl_ep[t]:7.0f}"
            )
        totals[name] = (
            sum(r["mtl_time"] for r in runs),
            sum(r["stl_time"] for r in runs),
            np.mean([r["warned"] for r in runs], axis=0),
            runs[0]["n_train"],
        )
    print()
    print(
        f"{'data set':14} {'rows':>5} {'MTL fit (s)':>12} {'MLPs fit (s)':>13}"
        f" {'ratio':>6}  share of runs with a ConvergenceWarning (MTL, MLP)"
    )
    worst = 0.0
    for name, (mtl_time, stl_time, warned, n) in totals.items():
        ratio = mtl_time / stl_time
        worst = max(worst, ratio)
        print(
            f"{name:14} {n:5} {mtl_time:12.2f} {stl_time:13.2f} {ratio:6.2f}"
            f"  {warned[0]:.2f}, {warned[1]:.2f}"
        )
    print()
    print(
        "no task behind MLPClassifier: "
        f"{'yes' if not behind else 'no (' + ', '.join(behind) + ')'}; "
        f"worst time ratio {worst:.2f} (target <= 3)"
    )


if __name__ == "__main__":
    main()
