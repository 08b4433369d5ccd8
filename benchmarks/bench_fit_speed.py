"""Training speed and peak memory of MultiTaskClassifier.fit against a plain loop.

The study's CNN (conv 32-64-128, dense 1024, heads 100 -> 10 and 100 -> 3, loss
0.5 * L1 + 0.5 * L2, Adam lr 1e-3 beta1 0.5) is trained on Fashion-MNIST training
images for a few epochs at batch 200, three ways:

- ``plain``: a hand-written PyTorch loop slicing tensors (the baseline);
- ``skmtl``: ``MultiTaskClassifier.fit``;
- ``skorch-dataloader``: the same skorch net fed by skorch's default per-sample
  Dataset and torch's DataLoader, which skmtl replaces with tensor slicing.

``--trunk mlp`` swaps the CNN for a small MLP (100 units), where the cost of
loading batches weighs more against the cost of computing them.

The data are loaded once and handed to each run through a file. Each run is a
fresh process, so its peak resident memory is its own; runs alternate between
variants, and the median time of each is reported with its ratio to ``plain``. Usage::

    python benchmarks/bench_fit_speed.py [--n-samples 12000] [--epochs 3] [--trunk cnn]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skmtl import MultiTaskClassifier, MultiTaskNet
from skmtl.datasets import load_fashion_mnist
from skmtl.modules import CNN, MLP, MultiTaskModule
from skmtl.weighting import FixedWeights

VARIANTS = ("plain", "skmtl", "skorch-dataloader")


def _save_data(n_samples, path):
    X, Y = load_fashion_mnist(return_X_y=True)
    X, _, Y, _ = train_test_split(
        X, Y, train_size=n_samples, stratify=Y[:, 0], random_state=0
    )
    np.savez(path, X=X, Y=Y)


def _module(trunk):
    trunk = CNN(784) if trunk == "cnn" else MLP(784, (100,))
    return MultiTaskModule(trunk, 784, [10, 3], hidden_units=(100,))


def _fit_plain(X, Y, trunk, epochs, batch_size):
    torch.manual_seed(0)
    module = _module(trunk)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.5, 0.999))
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    ce = torch.nn.functional.cross_entropy
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            item, group = module(X[rows])
            loss = 0.5 * ce(item, Y[rows, 0]) + 0.5 * ce(group, Y[rows, 1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def _fit_skmtl(X, Y, trunk, epochs, batch_size):
    params = {} if trunk == "cnn" else {"trunk__hidden_units": (100,)}
    MultiTaskClassifier(
        trunk,
        **params,
        head__hidden_units=(100,),
        task_weights=(0.5, 0.5),
        max_epochs=epochs,
        n_iter_no_change=None,  # exactly `epochs`, as the other variants
        batch_size=batch_size,
        lr=1e-3,
        optimizer__betas=(0.5, 0.999),
        random_state=0,
    ).fit(X, Y)


def _fit_skorch_dataloader(X, Y, trunk, epochs, batch_size):
    torch.manual_seed(0)
    MultiTaskNet(
        _module(trunk),
        task_names=["item", "group"],
        loss_weighting=FixedWeights([0.5, 0.5]),
        optimizer=torch.optim.Adam,
        optimizer__betas=(0.5, 0.999),
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
    ).fit(X, Y)


def _run_one(variant, data, trunk, epochs, batch_size):
    with np.load(data) as arrays:
        X, Y = arrays["X"], arrays["Y"]
    fit = {
        "plain": _fit_plain,
        "skmtl": _fit_skmtl,
        "skorch-dataloader": _fit_skorch_dataloader,
    }[variant]
    start = time.perf_counter()
    fit(X, Y, trunk, epochs, batch_size)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "seconds": seconds, "peak_mib": peak_mib}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trunk", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        _run_one(args.variant, args.data, args.trunk, args.epochs, args.batch_size)
        return

    runs = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        data = f"{tmp}/data.npz"
        _save_data(args.n_samples, data)
        for _ in range(args.repeats):
            for variant in VARIANTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--variant", variant, "--data", data]
                    + [f"--trunk={args.trunk}", f"--epochs={args.epochs}"]
                    + [f"--batch-size={args.batch_size}"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs[variant].append(json.loads(out.strip().splitlines()[-1]))

    print(
        f"{args.trunk} trunk, {args.n_samples} images, {args.epochs} epochs, "
        f"batch {args.batch_size}, "
        f"median of {args.repeats} runs each"
    )
    print(f"{'variant':<18} {'fit (s)':>8} {'ratio':>6} {'peak RSS (MiB)':>15}")
    baseline = statistics.median(r["seconds"] for r in runs["plain"])
    for variant, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        peak = statistics.median(r["peak_mib"] for r in results)
        print(f"{variant:<18} {seconds:8.2f} {seconds / baseline:6.2f} {peak:15.0f}")


if __name__ == "__main__":
    main()
