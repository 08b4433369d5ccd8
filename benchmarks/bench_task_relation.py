"""Cost of skmtl.TaskGradientSimilarity on the study's CNN.

The study's multi-task net (conv 32-64-128, dense 1024, heads 100 -> 10 and
100 -> 3, Adam lr 1e-3 beta1 0.5, batch 200) is fitted on Fashion-MNIST training
images for a few epochs without the callback and with it sampling one batch in
``every`` = 50, 10 and 1. Runs alternate between variants, in one process, on
one torch thread, and the median CPU time of each fit (the process's, which other
jobs on a shared machine sway far less than wall time) is reported with its wall
time, its ratio to the fit without the callback, and the extra CPU time per
sampled batch. Every fit must give the same
predictions as the fit without the callback (the callback does not change
training). Usage::

    python benchmarks/bench_task_relation.py [--n-samples 6000] [--epochs 2] \
        [--repeats 3] [--threads 1] [--data-home FOLDER]
"""

import argparse
import math
import statistics
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skmtl import MultiTaskClassifier, TaskGradientSimilarity
from skmtl.datasets import load_fashion_mnist

EVERY = (None, 50, 10, 1)


def _fit(X, Y, every, epochs, batch_size):
    callbacks = [] if every is None else [TaskGradientSimilarity(every=every)]
    clf = MultiTaskClassifier(
        trunk="cnn",
        head__hidden_units=(100,),
        max_epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        optimizer__betas=(0.5, 0.999),
        callbacks=callbacks,
        verbose=0,
        random_state=0,
    )
    start, wall = time.process_time(), time.perf_counter()
    clf.fit(X, Y)
    return time.process_time() - start, time.perf_counter() - wall, clf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-home")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, Y = load_fashion_mnist(return_X_y=True, data_home=args.data_home)
    X, _, Y, _ = train_test_split(
        X, Y, train_size=args.n_samples, stratify=Y[:, 0], random_state=0
    )
    _fit(X[:400], Y[:400], 1, 1, args.batch_size)  # warm-up
    times = {every: [] for every in EVERY}
    walls = {every: [] for every in EVERY}
    reference = None
    for _ in range(args.repeats):
        for every in EVERY:
            seconds, wall, clf = _fit(X, Y, every, args.epochs, args.batch_size)
            times[every].append(seconds)
            walls[every].append(wall)
            proba = clf.predict_proba(X[:500])
            if reference is None:
                reference = proba
            for a, b in zip(reference, proba):
                np.testing.assert_array_equal(a, b)
            if every is not None:
                key = "grad_cosine_task_0_task_1"
                cosines = ", ".join(f"{c:.3f}" for c in clf.net_.history[:, key])

    batches = args.epochs * math.ceil(len(X) / args.batch_size)
    per_epoch = math.ceil(len(X) / args.batch_size)
    base = statistics.median(times[None])
    print(
        f"cnn trunk, {len(X)} images, {args.epochs} epochs, batch {args.batch_size}"
        f" ({batches} batches), {args.threads} torch thread(s),"
        f" median of {args.repeats} runs each"
    )
    print(
        f"{'callback':<12}{'sampled':>8}{'CPU (s)':>9}{'wall (s)':>10}{'ratio':>7}"
        f"{'CPU ms/sample':>15}"
    )
    for every in EVERY:
        median = statistics.median(times[every])
        if every is None:
            name, sampled, extra = "none", 0, ""
        else:
            name = f"every={every}"
            sampled = args.epochs * math.ceil(per_epoch / every)
            extra = f"{1000 * (median - base) / sampled:.0f}"
        wall = statistics.median(walls[every])
        print(
            f"{name:<12}{sampled:>8}{median:>9.2f}{wall:>10.2f}{median / base:>7.2f}"
            f"{extra:>15}"
        )
    print("identical predictions with and without the callback: yes")
    print(f"grad_cosine_task_0_task_1 per epoch (every=1): {cosines}")


if __name__ == "__main__":
    main()
