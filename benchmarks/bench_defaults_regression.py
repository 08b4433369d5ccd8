"""Defaults against defaults: MultiTaskRegressor() and one MLPRegressor() per task.

Scikit-learn's embedded regression data, each with two or three real targets
in their own units: diabetes (the disease progression a year later, and the
body mass index and the log of the serum triglycerides (s5), both held out of
the features), wine (alcohol, colour intensity and proline, from the other ten
measurements) and linnerud (weight, waist and pulse from three exercises).
Features scaled with StandardScaler fitted on the training part, as their
documentation advises; the targets are left in their units, as a user gives
them: MultiTaskRegressor standardises each target inside, MLPRegressor does
not. Since that alone can decide the comparison, a second baseline fits each
MLPRegressor on the standardised target,
``TransformedTargetRegressor(MLPRegressor(), transformer=StandardScaler())``.

Diabetes and wine: several train/test splits (75/25), and for each split a
few seeds: one ``MultiTaskRegressor(random_state=seed)`` fitted on every task,
one ``MLPRegressor(random_state=seed)`` (alone and in the transformed-target
regressor) fitted on each task alone, on the same rows, each scored by R^2 on
the test part. Linnerud has 20 rows: a split there is a shuffled 5-fold
partition, each model fitted on 16 rows and predicting the 4 left out, and R^2
is computed over the 20 out-of-fold predictions together (R^2 on 4 rows would
be mostly noise). Per task: the mean R^2 of each, the paired differences (MTL
- MLP, MTL - scaled MLP) with a 95% interval (Student's t over the split-seed
pairs), and a verdict: "ahead" or "behind" when the interval excludes 0,
"level" when it holds it. Times: the multi-task fit against the single-task
fits together, summed over runs, after one warm-up fit (torch's first step
imports and initialises).

    python benchmarks/bench_defaults_regression.py [--splits 10] [--seeds 0 1 2 3] \
        [--datasets diabetes wine linnerud] [--set lr=0.003 max_epochs=400]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from bench_defaults import _parse_set, _verdict  # benchmarks/, the script's folder
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_linnerud, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskRegressor


def _diabetes():
    # Unscaled, so that the held-out features are targets in their units.
    X, y = load_diabetes(return_X_y=True, scaled=False)
    tasks = {"progression": y, "bmi": X[:, 2], "s5": X[:, 8]}
    return np.delete(X, [2, 8], axis=1), tasks


def _wine():
    X = load_wine().data
    # Alcohol (%), colour intensity, proline (mg/l): units of 13, 5 and 750.
    held_out = [0, 9, 12]
    tasks = {"alcohol": X[:, 0], "color": X[:, 9], "proline": X[:, 12]}
    return np.delete(X, held_out, axis=1), tasks


def _linnerud():
    X, Y = load_linnerud(return_X_y=True)
    # Weight (lb), waist (in), pulse (per minute) from chins, situps, jumps.
    return X, {"weight": Y[:, 0], "waist": Y[:, 1], "pulse": Y[:, 2]}


DATASETS = {"diabetes": _diabetes, "wine": _wine, "linnerud": _linnerud}
# Data sets too small for a test part: out-of-fold predictions of a 5-fold CV.
POOLED = {"linnerud": 5}


def _baselines(seed):
    return {
        "mlp": lambda: MLPRegressor(random_state=seed),
        "ttr": lambda: TransformedTargetRegressor(
            MLPRegressor(random_state=seed), transformer=StandardScaler()
        ),
    }


def _timed(model, X, y):
    """``model`` fitted on ``X, y``, its time, and whether it warned of convergence."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, time.perf_counter() - start, warned


def _fit_predict(X_train, Y_train, X_test, seed, params):
    """Each model's test predictions, fit times, epochs and warnings."""
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    out = {}
    mtl = MultiTaskRegressor(random_state=seed, **params)
    mtl, seconds, warned = _timed(mtl, X_train, Y_train)
    out["mtl"] = (mtl.predict(X_test), seconds, [mtl.n_iter_], warned)
    for name, make in _baselines(seed).items():
        preds, seconds, iters, warned = [], 0.0, [], False
        for t in range(Y_train.shape[1]):
            model, s, w = _timed(make(), X_train, Y_train[:, t])
            preds.append(model.predict(X_test))
            seconds += s
            mlp = model.regressor_ if name == "ttr" else model
            iters.append(mlp.n_iter_)
            warned |= w
        out[name] = (np.column_stack(preds), seconds, iters, warned)
    return out


def _run(name, split, seed, params):
    X, tasks = DATASETS[name]()
    Y = np.column_stack(list(tasks.values())).astype(float)
    if name in POOLED:
        folds = KFold(POOLED[name], shuffle=True, random_state=split).split(X)
        n_train = len(X) - len(X) // POOLED[name]
    else:
        train, test = train_test_split(
            np.arange(len(X)), test_size=0.25, random_state=split
        )
        folds, n_train = [(train, test)], len(train)
    preds = {m: np.empty_like(Y) for m in ("mtl", "mlp", "ttr")}
    times = dict.fromkeys(preds, 0.0)
    iters = {m: [] for m in preds}
    warned = dict.fromkeys(preds, False)
    tested = np.zeros(len(X), dtype=bool)
    for train, test in folds:
        out = _fit_predict(X[train], Y[train], X[test], seed, params)
        for m, (pred, seconds, n_iter, w) in out.items():
            preds[m][test] = pred
            times[m] += seconds
            iters[m].append(n_iter)
            warned[m] |= w
        tested[test] = True
    r2 = {
        m: r2_score(Y[tested], p[tested], multioutput="raw_values")
        for m, p in preds.items()
    }
    return {
        "tasks": list(tasks),
        "r2": r2,
        "time": times,
        "iter": {m: np.mean(i, axis=0) for m, i in iters.items()},
        "warned": [warned[m] for m in preds],
        "n_train": n_train,
    }


def _warm_up():
    X = np.random.RandomState(0).normal(size=(50, 3))
    MultiTaskRegressor(max_epochs=2, n_iter_no_change=None).fit(X, X)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--set", nargs="*", default=[], help="MultiTaskRegressor parameters"
    )
    args = parser.parse_args()
    params = _parse_set(args.set)
    torch.set_num_threads(1)
    _warm_up()
    print(
        f"{args.splits} splits x seeds {args.seeds}; MultiTaskRegressor({params}); "
        "R^2: mean over runs; MLP: MLPRegressor() on the raw target, "
        "sMLP: on the standardised target; diff: MTL - baseline, 95% interval "
        "over runs"
    )
    print(
        f"{'data set':9} {'task':11} {'MTL R2':>7} {'MLP R2':>7} {'sMLP R2':>7}"
        f" {'diff vs MLP':>18} {'verdict':>7} {'diff vs sMLP':>16} {'verdict':>7}"
        f" {'MTL ep':>6} {'MLP ep':>6} {'sMLP ep':>7}"
    )
    behind, totals = {"mlp": [], "ttr": []}, {}
    for name in args.datasets:
        runs = [
            _run(name, split, seed, params)
            for split in range(args.splits)
            for seed in args.seeds
        ]
        r2 = {m: np.array([r["r2"][m] for r in runs]) for m in ("mtl", "mlp", "ttr")}
        ep = {m: np.mean([r["iter"][m] for r in runs], axis=0) for m in r2}
        for t, task in enumerate(runs[0]["tasks"]):
            cells = []
            for m in ("mlp", "ttr"):
                mean, half, verdict = _verdict(r2["mtl"][:, t] - r2[m][:, t])
                if verdict == "behind":
                    behind[m].append(f"{name} {task}")
                cells.append((f"{mean:+.3f} +- {half:.3f}", verdict))
            mtl_ep = f"{ep['mtl'][0]:.1f}" if t == 0 else ""
            print(
                f"{name:9} {task:11} {r2['mtl'][:, t].mean():7.3f}"
                f" {r2['mlp'][:, t].mean():7.3f} {r2['ttr'][:, t].mean():7.3f}"
                f" {cells[0][0]:>18} {cells[0][1]:>7}"
                f" {cells[1][0]:>16} {cells[1][1]:>7}"
                f" {mtl_ep:>6} {ep['mlp'][t]:6.0f} {ep['ttr'][t]:7.0f}"
            )
        totals[name] = (
            {m: sum(r["time"][m] for r in runs) for m in r2},
            np.mean([r["warned"] for r in runs], axis=0),
            runs[0]["n_train"],
        )
    print()
    print(
        f"{'data set':9} {'rows':>5} {'MTL fit (s)':>12} {'MLPs fit (s)':>13}"
        f" {'ratio':>6} {'sMLPs fit (s)':>14} {'ratio':>6}"
        "  share of runs with a ConvergenceWarning (MTL, MLP, sMLP)"
    )
    worst = 0.0
    for name, (seconds, warned, n) in totals.items():
        ratio = seconds["mtl"] / seconds["mlp"]
        worst = max(worst, ratio)
        print(
            f"{name:9} {n:5} {seconds['mtl']:12.2f} {seconds['mlp']:13.2f}"
            f" {ratio:6.2f} {seconds['ttr']:14.2f}"
            f" {seconds['mtl'] / seconds['ttr']:6.2f}"
            f"  {warned[0]:.2f}, {warned[1]:.2f}, {warned[2]:.2f}"
        )
    print()
    for m, label in (("mlp", "MLPRegressor"), ("ttr", "MLPRegressor on scaled y")):
        tasks = behind[m]
        print(
            f"no task behind {label}: "
            f"{'yes' if not tasks else 'no (' + ', '.join(tasks) + ')'}"
        )
    print(f"worst time ratio against MLPRegressor {worst:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
