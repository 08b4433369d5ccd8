"""Time per training batch with many binary tasks, as multi-label data have.

10,000 rows of 20 features and T binary tasks (10, 50, 200), trained by
MultiTaskClassifier (its MLP trunk of 100 units, one head per task) for a few
epochs at batch 200, against a plain PyTorch loop of the same trunk with one
200-output linear head and a binary cross-entropy over all outputs, the cost of
one network for many labels. Per-batch time is the fit's time over its number of
batches; one torch thread, median of ``--repeats`` runs. Usage::

    python benchmarks/bench_many_tasks.py [--tasks 10 50 200] [--epochs 3]
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skmtl import MultiTaskClassifier

N_ROWS, N_FEATURES, BATCH = 10_000, 20, 200


def _data(n_tasks):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    W = rng.normal(size=(N_FEATURES, n_tasks))
    return X, (X @ W > 0).astype(int)


def _fit_skmtl(X, Y, epochs):
    MultiTaskClassifier(
        max_epochs=epochs, n_iter_no_change=None, batch_size=BATCH, random_state=0
    ).fit(X, Y)


def _fit_one_head(X, Y, epochs):
    torch.manual_seed(0)
    X = torch.from_numpy(X)
    Y = torch.from_numpy(Y).float()
    module = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, Y.shape[1]),
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), BATCH):
            rows = order[start : start + BATCH]
            loss = bce(module(X[rows]), Y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    batches = args.epochs * (N_ROWS // BATCH)
    X, Y = _data(200)
    _fit_one_head(X, Y, 1)  # warm-up
    baseline = statistics.median(
        _timed(_fit_one_head, X, Y, args.epochs) for _ in range(args.repeats)
    )
    print(
        f"{N_ROWS} rows, {N_FEATURES} features, batch {BATCH}, {args.epochs} epochs, "
        f"one torch thread, median of {args.repeats} runs"
    )
    print(f"one 200-output head (plain loop): {1e3 * baseline / batches:.2f} ms/batch")
    print(f"{'tasks':>6}{'skmtl ms/batch':>16}{'ratio':>8}")
    for n_tasks in args.tasks:
        X, Y = _data(n_tasks)
        _fit_skmtl(X[:400], Y[:400], 1)  # warm-up
        seconds = statistics.median(
            _timed(_fit_skmtl, X, Y, args.epochs) for _ in range(args.repeats)
        )
        print(f"{n_tasks:>6}{1e3 * seconds / batches:>16.2f}{seconds / baseline:>8.2f}")


def _timed(fit, X, Y, epochs):
    start = time.perf_counter()
    fit(X, Y, epochs)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
