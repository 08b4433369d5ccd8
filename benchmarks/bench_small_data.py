"""Fit time on small data: MultiTaskClassifier against MLPClassifier and a plain
PyTorch loop of the same net.

scikit-learn's small embedded data sets (digits, wine, breast cancer, iris),
scaled, with one task (the target) and with three tasks derived from it (as in
``bench_defaults.py``). The same net everywhere: one hidden layer of 100 ReLU
units, one linear output per task, Adam at lr 1e-3, batch 200, shuffled each
epoch, exactly ``--epochs`` epochs on every side (no stopping):

- ``skmtl``: ``MultiTaskClassifier(max_epochs=E, n_iter_no_change=None)``;
- ``mlp``: one ``MLPClassifier(max_iter=E, n_iter_no_change=E + 1)`` per task
  (so three of them for three tasks), the peer a scikit-learn user compares with;
- ``plain``: a hand-written PyTorch loop of the shared net, slicing tensors.

``--defaults`` also times each at its defaults with its own stopping
(``MultiTaskClassifier()`` against one ``MLPClassifier()`` per task). One
torch thread and one BLAS thread, a warm-up fit first, the variants
alternating, median of ``--repeats`` runs. Usage::

    python benchmarks/bench_small_data.py [--epochs 100] [--repeats 3] [--defaults]
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from bench_defaults import DATASETS  # benchmarks/, the script's folder
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skmtl import MultiTaskClassifier


def _data(name, n_tasks):
    X, tasks = DATASETS[name]()
    Y = np.column_stack(list(tasks.values())[:n_tasks]).astype(int)
    return StandardScaler().fit_transform(X).astype(np.float32), Y


def _fit_skmtl(X, Y, epochs, defaults):
    params = {} if defaults else {"max_epochs": epochs, "n_iter_no_change": None}
    MultiTaskClassifier(random_state=0, **params).fit(
        X, Y if Y.shape[1] > 1 else Y[:, 0]
    )


def _fit_mlp(X, Y, epochs, defaults):
    params = {} if defaults else {"max_iter": epochs, "n_iter_no_change": epochs + 1}
    for t in range(Y.shape[1]):
        MLPClassifier(random_state=0, **params).fit(X, Y[:, t])


def _fit_plain(X, Y, epochs, defaults):
    torch.manual_seed(0)
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    n_classes = [int(Y[:, t].max()) + 1 for t in range(Y.shape[1])]
    trunk = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 100), torch.nn.ReLU())
    heads = torch.nn.ModuleList(torch.nn.Linear(100, k) for k in n_classes)
    # The fused step, as skmtl takes by default.
    parameters = [*trunk.parameters(), *heads.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3, fused=True)
    ce = torch.nn.functional.cross_entropy
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), 200):
            rows = order[start : start + 200]
            features = trunk(X[rows])
            loss = sum(ce(head(features), Y[rows, t]) for t, head in enumerate(heads))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


VARIANTS = {"skmtl": _fit_skmtl, "mlp": _fit_mlp, "plain": _fit_plain}


def _times(X, Y, epochs, repeats, defaults, variants):
    for fit in variants.values():  # warm-up: imports, first allocations
        fit(X, Y, 1, False)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fit in variants.items():
            start = time.perf_counter()
            fit(X, Y, epochs, defaults)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--defaults", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"exactly {args.epochs} epochs, batch 200, hidden 100, Adam lr 1e-3, one "
        f"torch and one BLAS thread, median of {args.repeats} runs"
    )
    header = (
        f"{'data':<14}{'tasks':>6}{'skmtl (s)':>11}{'mlp (s)':>9}{'plain (s)':>11}"
        f"{'skmtl/mlp':>11}{'skmtl/plain':>13}{'plain/mlp':>11}"
    )
    rows = [(False, "fixed epochs")] + ([(True, "defaults")] if args.defaults else [])
    with threadpool_limits(1):
        for defaults, title in rows:
            print(f"\n{title}\n{header}")
            variants = (
                VARIANTS if not defaults else {k: VARIANTS[k] for k in ("skmtl", "mlp")}
            )
            for name in args.datasets:
                for n_tasks in (1, 3):
                    X, Y = _data(name, n_tasks)
                    t = _times(X, Y, args.epochs, args.repeats, defaults, variants)
                    plain = t.get("plain", float("nan"))
                    print(
                        f"{name:<14}{Y.shape[1]:>6}{t['skmtl']:>11.2f}{t['mlp']:>9.2f}"
                        f"{plain:>11.2f}{t['skmtl'] / t['mlp']:>11.2f}"
                        f"{t['skmtl'] / plain:>13.2f}{plain / t['mlp']:>11.2f}"
                    )


if __name__ == "__main__":
    main()
