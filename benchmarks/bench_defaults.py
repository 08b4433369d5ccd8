"""Defaults against defaults: MultiTaskClassifier() and one MLPClassifier() per task.

Small embedded scikit-learn data sets, each with two or three tasks derived from
its target, scaled with StandardScaler as their documentation advises, one fixed
stratified train/test split (75/25), a few seeds. For each data set and seed:
one ``MultiTaskClassifier(random_state=seed)`` fitted on every task, one
``MLPClassifier(random_state=seed)`` fitted on each task alone; the test accuracy
of each task (mean over seeds), and the fit times (the multi-task fit against the
single-task fits together).

    python benchmarks/bench_defaults.py [--seeds 0 1 2] [--datasets digits wine]
"""

import argparse
import time
import warnings

import numpy as np
import torch
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


def _run(name, seed):
    X, tasks = DATASETS[name]()
    Y = np.column_stack(list(tasks.values())).astype(int)
    X_train, X_test, Y_train, Y_test = train_test_split(
        X, Y, test_size=0.25, stratify=Y[:, 0], random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        mtl = MultiTaskClassifier(random_state=seed).fit(X_train, Y_train)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"seeds {args.seeds}; test accuracy is the mean over seeds; times summed")
    header = (
        f"{'data set':14} {'task':11} {'MTL acc':>8} {'MLP acc':>8} {'diff':>7}"
        f" {'MTL ep':>7} {'MLP ep':>7}"
    )
    print(header)
    met, totals = True, {}
    for name in args.datasets:
        runs = [_run(name, seed) for seed in args.seeds]
        mtl_acc = np.mean([r["mtl_acc"] for r in runs], axis=0)
        stl_acc = np.mean([r["stl_acc"] for r in runs], axis=0)
        mtl_ep = np.mean([r["mtl_iter"] for r in runs])
        stl_ep = np.mean([r["stl_iter"] for r in runs], axis=0)
        for t, task in enumerate(runs[0]["tasks"]):
            diff = mtl_acc[t] - stl_acc[t]
            met &= diff >= 0
            print(
                f"{name:14} {task:11} {mtl_acc[t]:8.3f} {stl_acc[t]:8.3f}"
                f" {diff:+7.3f} {mtl_ep if t == 0 else '':>7}"
                f" {stl_ep[t]:7.0f}"
            )
        totals[name] = (
            sum(r["mtl_time"] for r in runs),
            sum(r["stl_time"] for r in runs),
            [r["warned"] for r in runs],
            runs[0]["n_train"],
        )
    print()
    print(
        f"{'data set':14} {'rows':>5} {'MTL fit (s)':>12} {'MLPs fit (s)':>13}"
        f" {'ratio':>6}  ConvergenceWarning (MTL, MLP) per seed"
    )
    worst = 0.0
    for name, (mtl_time, stl_time, warned, n) in totals.items():
        ratio = mtl_time / stl_time
        worst = max(worst, ratio)
        flags = " ".join(f"{int(a)}{int(b)}" for a, b in warned)
        print(
            f"{name:14} {n:5} {mtl_time:12.2f} {stl_time:13.2f} {ratio:6.2f}  {flags}"
        )
    print()
    print(
        f"matches or beats MLPClassifier on every task: {'yes' if met else 'no'}; "
        f"worst time ratio {worst:.2f} (target <= 3)"
    )


if __name__ == "__main__":
    main()
