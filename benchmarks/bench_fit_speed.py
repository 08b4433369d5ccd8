"""Speed and peak memory of MultiTaskClassifier's fit and predict against a plain loop.

The study's CNN (conv 32-64-128, dense 1024, heads 100 -> 10 and 100 -> 3, loss
0.5 * L1 + 0.5 * L2, Adam lr 1e-3 beta1 0.5, its fused step as skmtl's default) is
trained on Fashion-MNIST training images for a few epochs at batch 200, then
predicts the classes of the same images, three ways:

- ``plain``: a hand-written PyTorch loop slicing tensors that sit on the device
  (the baseline), and a ``no_grad`` loop over batches taking each task's argmax;
- ``skmtl``: ``MultiTaskClassifier.fit`` and ``predict``;
- ``skorch-dataloader``: the same skorch net fed by skorch's default per-sample
  Dataset and torch's DataLoader, which skmtl replaces with tensor slicing (fit
  only).

``--trunk mlp`` swaps the CNN for a small MLP (100 units), where the cost of
loading batches and of the per-batch bookkeeping weighs more against the cost of
computing them. ``--device cuda`` runs every variant on the GPU (the issue's GPU
benchmark; times include a ``torch.cuda.synchronize``), and ``--mixed-precision
bf16`` (or ``fp16``) runs both the plain loop and skmtl under autocast.

The data are loaded once and handed to each run through a file. Each run is a
fresh process, so its peak resident memory is its own; runs alternate between
variants, and the median time of each is reported with its ratio to ``plain``. Usage::

    python benchmarks/bench_fit_speed.py [--n-samples 12000] [--epochs 3] [--trunk cnn]
        [--device cuda] [--mixed-precision bf16]
"""

import argparse
import contextlib
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
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _save_data(n_samples, path):
    X, Y = load_fashion_mnist(return_X_y=True)
    X, _, Y, _ = train_test_split(
        X, Y, train_size=n_samples, stratify=Y[:, 0], random_state=0
    )
    np.savez(path, X=X, Y=Y)


def _module(trunk):
    trunk = CNN(784) if trunk == "cnn" else MLP(784, (100,))
    return MultiTaskModule(trunk, 784, [10, 3], hidden_units=(100,))


def _autocast(device, mixed_precision):
    if mixed_precision is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_AUTOCAST[mixed_precision])


def _fit_plain(X, Y, trunk, epochs, batch_size, device, mixed_precision):
    torch.manual_seed(0)
    module = _module(trunk).to(device)
    # The fused step, as MultiTaskClassifier takes by default.
    optimizer = torch.optim.Adam(
        module.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True
    )
    scaler = None
    if mixed_precision == "fp16":
        scaler = torch.amp.GradScaler(torch.device(device).type)
    X, Y = torch.as_tensor(X, device=device), torch.as_tensor(Y, device=device)
    ce = torch.nn.functional.cross_entropy
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), device=device)
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            with _autocast(device, mixed_precision):
                item, group = module(X[rows])
            loss = 0.5 * ce(item.float(), Y[rows, 0]) + 0.5 * ce(
                group.float(), Y[rows, 1]
            )
            optimizer.zero_grad()
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
    return module


def _predict_plain(module, X, batch_size, device, mixed_precision):
    module.eval()
    X = torch.as_tensor(X, device=device)
    predictions = []
    with torch.no_grad(), _autocast(device, mixed_precision):
        for start in range(0, len(X), batch_size):
            logits = module(X[start : start + batch_size])
            predictions.append(torch.stack([z.argmax(1) for z in logits], dim=1))
    return torch.cat(predictions).cpu().numpy()


def _fit_skmtl(X, Y, trunk, epochs, batch_size, device, mixed_precision):
    params = {} if trunk == "cnn" else {"trunk__hidden_units": (100,)}
    return MultiTaskClassifier(
        trunk,
        **params,
        head__hidden_units=(100,),
        task_weights=(0.5, 0.5),
        max_epochs=epochs,
        n_iter_no_change=None,  # exactly `epochs`, as the other variants
        batch_size=batch_size,
        lr=1e-3,
        optimizer__betas=(0.5, 0.999),
        device=device,
        mixed_precision=mixed_precision,
        random_state=0,
    ).fit(X, Y)


def _predict_skmtl(clf, X, batch_size, device, mixed_precision):
    return clf.predict(X)


def _fit_skorch_dataloader(X, Y, trunk, epochs, batch_size, device, mixed_precision):
    torch.manual_seed(0)
    return MultiTaskNet(
        _module(trunk),
        task_names=["item", "group"],
        loss_weighting=FixedWeights([0.5, 0.5]),
        optimizer=torch.optim.Adam,
        optimizer__betas=(0.5, 0.999),
        optimizer__fused=True,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        mixed_precision=mixed_precision,
        verbose=0,
    ).fit(X, Y)


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _run_one(variant, data, trunk, epochs, batch_size, device, mixed_precision):
    with np.load(data) as arrays:
        X, Y = arrays["X"], arrays["Y"]
    fit, predict = {
        "plain": (_fit_plain, _predict_plain),
        "skmtl": (_fit_skmtl, _predict_skmtl),
        "skorch-dataloader": (_fit_skorch_dataloader, None),
    }[variant]
    # Start-up costs are no variant's: a CUDA context, and the modules that
    # torch imports at an optimizer's first step.
    warm = torch.zeros(1, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([warm])
    warm.sum().backward()
    optimizer.step()
    _synchronize(device)
    start = time.perf_counter()
    model = fit(X, Y, trunk, epochs, batch_size, device, mixed_precision)
    _synchronize(device)
    seconds = time.perf_counter() - start
    predict_seconds = None
    if predict is not None:
        start = time.perf_counter()
        predict(model, X, batch_size, device, mixed_precision)
        predict_seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"variant": variant, "seconds": seconds, "peak_mib": peak_mib}
    print(json.dumps({**result, "predict_seconds": predict_seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trunk", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mixed-precision", choices=tuple(_AUTOCAST))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        _run_one(
            args.variant,
            args.data,
            args.trunk,
            args.epochs,
            args.batch_size,
            args.device,
            args.mixed_precision,
        )
        return
    options = [f"--trunk={args.trunk}", f"--epochs={args.epochs}"]
    options += [f"--batch-size={args.batch_size}", f"--device={args.device}"]
    if args.mixed_precision:
        options.append(f"--mixed-precision={args.mixed_precision}")

    runs = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        data = f"{tmp}/data.npz"
        _save_data(args.n_samples, data)
        for _ in range(args.repeats):
            for variant in VARIANTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--variant", variant, "--data", data]
                    + options,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs[variant].append(json.loads(out.strip().splitlines()[-1]))

    print(
        f"{args.trunk} trunk, {args.n_samples} images, {args.epochs} epochs, "
        f"batch {args.batch_size}, device {args.device}, "
        f"mixed precision {args.mixed_precision}, "
        f"torch threads {torch.get_num_threads()}, "
        f"median of {args.repeats} runs each"
    )
    print(
        f"{'variant':<18} {'fit (s)':>8} {'ratio':>6} {'predict (s)':>12} "
        f"{'ratio':>6} {'peak RSS (MiB)':>15}"
    )
    fit_baseline = statistics.median(r["seconds"] for r in runs["plain"])
    predict_baseline = statistics.median(r["predict_seconds"] for r in runs["plain"])
    for variant, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        peak = statistics.median(r["peak_mib"] for r in results)
        predict = "-" * 12 + " " + "-" * 6
        if results[0]["predict_seconds"] is not None:
            p = statistics.median(r["predict_seconds"] for r in results)
            predict = f"{p:12.3f} {p / predict_baseline:6.2f}"
        print(
            f"{variant:<18} {seconds:8.2f} {seconds / fit_baseline:6.2f} "
            f"{predict} {peak:15.0f}"
        )


if __name__ == "__main__":
    main()
