"""Epoch time of MultiTaskClassifier.fit on a torch Dataset against the same array.

The Fashion-MNIST training images (60,000 rows of 784 float32 features in [0, 1],
two tasks of 10 and 3 classes; random values of that shape with ``--random``) train
a small MLP (784 -> 100, heads 100 -> k, batch 200) for a few epochs, fed three
ways:

- ``array``: the float32 ndarray, whose batches are sliced from it;
- ``dataset``: a map-style torch ``Dataset`` whose items are the rows of a tensor
  of the same values, read with ``__getitem__``, one item at a time;
- ``getitems``: the same dataset with a ``__getitems__``, torch's batched fetch,
  which reads a batch of items in one indexing operation.

Each fit's epochs are timed by skorch's history (``dur``): the first epoch, in
which every item of a dataset is checked, apart from the later ones, whose
median is the epoch time. Fits alternate between the variants, in one process,
after a warm-up fit; the medians over ``--repeats`` fits are printed with their
ratio to ``array``. Torch's default threads, or ``--threads``: one thread
keeps the figures steady on a machine that other processes load. Usage::

    python benchmarks/bench_dataset.py [--epochs 3] [--repeats 3] [--random]
        [--num-workers 0] [--threads N] [--verbose]
"""

import argparse
import statistics

import numpy as np
import torch
from torch.utils.data import Dataset

from skmtl import MultiTaskClassifier

VARIANTS = ("array", "dataset", "getitems")


class TensorRows(Dataset):
    """The rows of a tensor, read one item at a time."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i]


class BatchedTensorRows(TensorRows):
    """The rows of a tensor, a batch of them read in one indexing operation."""

    def __getitems__(self, indices):
        return list(self.X[indices])


def _data(random):
    if random:
        rng = np.random.RandomState(0)
        X = rng.uniform(size=(60_000, 784)).astype(np.float32)
        Y = np.column_stack([rng.randint(0, 10, 60_000), rng.randint(0, 3, 60_000)])
        return X, Y
    from skmtl.datasets import load_fashion_mnist

    return load_fashion_mnist(return_X_y=True)


def _epoch_times(X, Y, epochs, num_workers):
    clf = MultiTaskClassifier(
        max_epochs=epochs,
        n_iter_no_change=None,
        batch_size=200,
        trunk__hidden_units=(100,),
        iterator_train__num_workers=num_workers,
        random_state=0,
    ).fit(X, Y)
    durations = clf.net_.history[:, "dur"]
    return durations[0], statistics.median(durations[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--random", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads (default: its own)")
    parser.add_argument("--verbose", action="store_true", help="print each fit")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X, Y = _data(args.random)
    T = torch.from_numpy(X)
    inputs = {"array": X, "dataset": TensorRows(T), "getitems": BatchedTensorRows(T)}
    # Torch imports and sets up lazily: a first small fit pays for it.
    _epoch_times(X[:1000], Y[:1000], 2, 0)
    times = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            times[variant].append(
                _epoch_times(inputs[variant], Y, args.epochs, args.num_workers)
            )
            if args.verbose:
                first, later = times[variant][-1]
                print(f"{variant}: {first:.2f} s, then {later:.2f} s", flush=True)
    print(
        f"mlp trunk (100 units), {len(X)} rows of {X.shape[1]} float32 features, "
        f"{args.epochs} epochs, batch 200, num_workers {args.num_workers}, torch "
        f"threads {torch.get_num_threads()}, median of {args.repeats} fits each"
    )
    header = ("variant", "epoch 1 (s)", "ratio", "epoch (s)", "ratio")
    print("{:<10} {:>11} {:>6} {:>10} {:>6}".format(*header))
    base = [statistics.median(t[k] for t in times["array"]) for k in (0, 1)]
    for variant in VARIANTS:
        first, later = (statistics.median(t[k] for t in times[variant]) for k in (0, 1))
        print(
            f"{variant:<10} {first:>11.2f} {first / base[0]:>6.2f} "
            f"{later:>10.2f} {later / base[1]:>6.2f}"
        )


if __name__ == "__main__":
    main()
