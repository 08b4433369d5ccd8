"""Peak extra memory of MultiTaskClassifier.fit and predict on data larger than a batch.

Random Fashion-MNIST-like data (784 features, float32 by default, or uint8 with
``--dtype uint8``; two tasks of 10 and 3 classes) are written to a ``.npy`` file
in a temporary folder, once per row count. Each measurement then runs in a fresh
process, which opens the file and fits or predicts with a small MLP (784 -> 100,
heads 100 -> k, batch 200; ``fit`` trains one epoch, ``predict`` uses a model
fitted on 2,000 rows beforehand), in two ways:

- ``memmap``: the file opened read-only as a :class:`numpy.memmap`, which the
  estimator reads a batch of rows at a time;
- ``array``: the file loaded whole into an in-memory ndarray first.

Peak extra memory is the highest anonymous resident memory (``RssAnon`` in
``/proc/self/status``, sampled every 2 ms by a background thread) during ``fit``
or ``predict``, minus its value just before, after the imports, a warm-up fit
on a few rows (torch imports and sets up lazily), and the loading of the data:
the memory the estimator adds on top of the data it was given. Anonymous memory
leaves out the file-backed pages of a memmap, which the kernel evicts at will
and which the whole resident set (RSS) would count as the file is read. The
ratio divides it by the size of the data. Linux only.

``--compare DIR`` measures another checkout of skmtl (its folder, put first on
``PYTHONPATH``) the same way, e.g. a worktree of the main branch, for the
figures before a change. Usage::

    python benchmarks/bench_memory.py [--rows 60000 600000] [--dtype float32]
        [--compare DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

N_FEATURES = 784
N_CLASSES = (10, 3)
INPUTS = ("memmap", "array")
PHASES = ("fit", "predict")


def _write_data(folder, n_rows, dtype):
    """Random rows in ``folder/X.npy`` and labels in ``Y.npy``, written in chunks."""
    rng = np.random.RandomState(0)
    X = np.lib.format.open_memmap(
        folder / "X.npy", mode="w+", dtype=dtype, shape=(n_rows, N_FEATURES)
    )
    for start in range(0, n_rows, 10_000):
        chunk = rng.randint(0, 256, size=(min(10_000, n_rows - start), N_FEATURES))
        X[start : start + len(chunk)] = chunk if dtype == "uint8" else chunk / 255
    X.flush()
    del X
    Y = np.column_stack([rng.randint(0, k, size=n_rows) for k in N_CLASSES])
    np.save(folder / "Y.npy", Y)


def _rss_anon():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status (Linux only)")


class _PeakSampler:
    """The highest ``RssAnon`` while the block runs, sampled every 2 ms."""

    def __enter__(self):
        self.peak = _rss_anon()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss_anon())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon())


def _classifier():
    from skmtl import MultiTaskClassifier

    return MultiTaskClassifier(
        trunk__hidden_units=(100,),
        head__hidden_units=(100,),
        max_epochs=1,
        n_iter_no_change=None,
        batch_size=200,
        random_state=0,
    )


def _measure(folder, source, phase):
    """Peak extra anonymous memory of one fit or predict, as a JSON line."""
    import gc

    import torch

    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    warm_up = rng.randint(0, 256, size=(50, N_FEATURES)).astype(np.float32)
    _classifier().fit(warm_up, rng.randint(0, 2, size=(50, 2))).predict(warm_up)
    Y = np.load(folder / "Y.npy")
    X = np.load(folder / "X.npy", mmap_mode="r" if source == "memmap" else None)
    clf = _classifier()
    if phase == "predict":
        clf.fit(np.asarray(X[:2000]), Y[:2000])
    gc.collect()
    baseline = _rss_anon()
    start = time.perf_counter()
    with _PeakSampler() as sampler:
        if phase == "fit":
            clf.fit(X, Y)
        else:
            clf.predict(X)
    seconds = time.perf_counter() - start
    print(json.dumps({"extra": sampler.peak - baseline, "seconds": seconds}))


def _run(folder, source, phase, skmtl_path=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if skmtl_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(skmtl_path), *filter(None, [env.get("PYTHONPATH")])]
        )
    command = [sys.executable, __file__, "--measure", source, phase, str(folder)]
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[60_000, 600_000])
    parser.add_argument("--dtype", choices=("float32", "uint8"), default="float32")
    parser.add_argument("--compare", type=Path, help="another checkout of skmtl")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        source, phase, folder = args.measure
        _measure(Path(folder), source, phase)
        return

    versions = [("this", None)] + ([("compare", args.compare)] if args.compare else [])
    print(
        f"{N_FEATURES} {args.dtype} features, MLP 100, batch 200, fit 1 epoch; "
        "peak extra anonymous memory over the data given, each in a fresh process"
    )
    print(
        f"{'skmtl':<8} {'rows':>8} {'data (MiB)':>11} {'input':<7} {'phase':<8}"
        f" {'extra (MiB)':>12} {'ratio':>6} {'time (s)':>9}"
    )
    mib = 2**20
    for n_rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="skmtl-bench-") as tmp:
            folder = Path(tmp)
            _write_data(folder, n_rows, args.dtype)
            size = n_rows * N_FEATURES * np.dtype(args.dtype).itemsize
            for name, path in versions:
                for source in INPUTS:
                    for phase in PHASES:
                        result = _run(folder, source, phase, path)
                        print(
                            f"{name:<8} {n_rows:>8} {size / mib:>11.0f} {source:<7}"
                            f" {phase:<8} {result['extra'] / mib:>12.1f}"
                            f" {result['extra'] / size:>6.2f}"
                            f" {result['seconds']:>9.1f}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
