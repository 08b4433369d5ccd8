"""Wall time of one grid search: sequential, on joblib's processes, Dask and Ray.

An 8-candidate x 3-fold ``GridSearchCV`` of ``MultiTaskClassifier`` with a small
CNN trunk (conv 8-16, dense 64) on Fashion-MNIST training images (item and
group), each fit a fixed number of epochs (``tol=None``) so that all cost the
same, without the final refit (``refit=False``), which runs in the calling
process whatever the backend. The search runs on each backend in turn:

- ``sequential``: ``n_jobs=1``, torch with its default threads (every core), as
  a user's plain search runs; the baseline;
- ``loky``: joblib's default process backend, ``n_jobs=--workers``;
- ``dask``: a local Dask cluster of ``--workers`` worker processes, one thread
  each, through ``joblib.parallel_config(backend="dask")``;
- ``ray``: Ray's joblib backend on a local Ray of ``--workers`` CPUs (needs
  ``skmtl[ray]``; not run by default).

Before each search, a few tasks sent to the same backend start its workers,
import skmtl there and read torch's number of threads. Printed for each backend:
those threads; the time of those tasks the first time (``start``: a worker
pool's start and imports; the Dask cluster's and Ray's own starts are printed
apart); the search's wall time, and its speed-up over the sequential search of
the same run; and whether its ``cv_results_`` test scores equal the sequential
ones. Loky's and Dask's workers outlive a call; Ray's joblib backend starts new
ones (actors) for each, so its search time includes their start. With
``--repeats`` the backends alternate and the median search time is reported.
Usage::

    python benchmarks/bench_search_parallel.py [--n-images 12000] [--epochs 3] \
        [--workers 2] [--repeats 1] [--backends sequential loky dask ray]
"""

import argparse
import statistics
import time
from contextlib import ExitStack, contextmanager

import joblib
import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV, train_test_split

from skmtl import MultiTaskClassifier
from skmtl.datasets import load_fashion_mnist

BACKENDS = ("sequential", "loky", "dask", "ray")
PARAM_GRID = {
    "lr": [1e-3, 3e-3],
    "task_weights": [(0.5, 0.5), (0.8, 0.2)],
    "trunk__dropout": [0.0, 0.25],
}


def _classifier(epochs):
    return MultiTaskClassifier(
        "cnn",
        trunk__channels=(8, 16),
        trunk__dense_units=(64,),
        max_epochs=epochs,
        tol=None,
        random_state=0,
    )


def _worker_threads():
    import skmtl  # noqa: F401  (a worker's imports count in its start)

    return torch.get_num_threads()


@contextmanager
def _dask(workers):
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster):
        print(f"dask cluster started in {time.perf_counter() - start:.1f} s")
        yield {"backend": "dask"}


@contextmanager
def _ray(workers):
    import ray
    from ray.util.joblib import register_ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    register_ray()
    print(f"ray started in {time.perf_counter() - start:.1f} s")
    try:
        yield {"backend": "ray"}
    finally:
        ray.shutdown()


def _search(X, Y, epochs, config, n_jobs):
    search = GridSearchCV(
        _classifier(epochs), PARAM_GRID, cv=3, refit=False, n_jobs=n_jobs
    )
    with joblib.parallel_config(**config):
        start = time.perf_counter()
        tasks = (delayed(_worker_threads)() for _ in range(2 * n_jobs))
        threads = Parallel(n_jobs=n_jobs)(tasks)
        started = time.perf_counter()
        search.fit(X, Y)
        end = time.perf_counter()
    return started - start, end - started, sorted(set(threads)), search.cv_results_


def _scores(results):
    return {key: value for key, value in results.items() if "test_score" in key}


def _same_scores(results, reference):
    if reference is None:
        return "-"
    differences = [
        np.max(np.abs(np.asarray(value, float) - reference[key]))
        for key, value in _scores(results).items()
        if not np.array_equal(value, reference[key])
    ]
    return f"no (max diff {max(differences):.2g})" if differences else "yes"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--backends",
        nargs="*",
        choices=BACKENDS,
        default=["sequential", "loky", "dask"],
    )
    parser.add_argument("--data-home")
    args = parser.parse_args(argv)
    X, Y = load_fashion_mnist(data_home=args.data_home, return_X_y=True)
    X, _, Y, _ = train_test_split(
        X, Y, train_size=args.n_images, stratify=Y[:, 0], random_state=0
    )
    n_candidates = np.prod([len(values) for values in PARAM_GRID.values()])
    print(
        f"cnn trunk (conv 8-16, dense 64), {args.n_images} images, {args.epochs} "
        f"epochs, {n_candidates} candidates x 3 folds, {args.repeats} repeats"
    )
    seconds = {backend: [] for backend in args.backends}
    starts = {backend: [] for backend in args.backends}
    with ExitStack() as stack:
        # Clusters start once, before the first search, and stay up between
        # repeats as a worker pool would.
        configs = {
            "sequential": ({"backend": "loky"}, 1),
            "loky": ({"backend": "loky"}, args.workers),
        }
        if "dask" in args.backends:
            configs["dask"] = (stack.enter_context(_dask(args.workers)), args.workers)
        if "ray" in args.backends:
            configs["ray"] = (stack.enter_context(_ray(args.workers)), args.workers)
        rows = {}
        for _ in range(args.repeats):
            for backend in args.backends:
                config, n_jobs = configs[backend]
                start, elapsed, threads, results = _search(
                    X, Y, args.epochs, config, n_jobs
                )
                seconds[backend].append(elapsed)
                starts[backend].append(start)
                rows[backend] = (n_jobs, threads, _scores(results))
    reference = rows["sequential"][2] if "sequential" in rows else None
    base = statistics.median(seconds["sequential"]) if reference else None
    print(
        f"{'backend':11} {'workers':>7} {'torch threads':>13} {'start (s)':>9} "
        f"{'search (s)':>10} {'speed-up':>8}  same scores as sequential"
    )
    for backend, (n_jobs, threads, scores) in rows.items():
        median = statistics.median(seconds[backend])
        speed_up = f"{base / median:8.2f}" if base else "       -"
        same = "-" if backend == "sequential" else _same_scores(scores, reference)
        threads = ",".join(map(str, threads))
        print(
            f"{backend:11} {n_jobs:7} {threads:>13} {starts[backend][0]:9.1f} "
            f"{median:10.1f} {speed_up}  {same}"
        )


if __name__ == "__main__":
    main()
