"""Wall time of one grid search: sequential, on joblib's processes, Dask and Ray.

An 8-candidate x 3-fold ``GridSearchCV`` of ``MultiTaskClassifier`` with a small
CNN trunk (conv 8-16, dense 64) on Fashion-MNIST training images (item and
group), each fit a fixed number of epochs (``tol=None``) so that all cost the
same, without the final refit (``refit=False``), which runs in the calling
process whatever the backend. The search runs on each backend in turn:

- ``sequential``: ``n_jobs=1``, torch with its default threads (every core), as
  a user's plain search runs; the baseline;
- ``sequential-1``: the same on one torch thread, as each worker computes: the
  baseline of the workers' parallel efficiency, and of exact equality;
- ``loky``: joblib's default process backend, ``n_jobs=--workers``;
- ``dask``: a local Dask cluster of ``--workers`` worker processes, one thread
  each, through ``joblib.parallel_config(backend="dask")``, started without the
  ``MALLOC_TRIM_THRESHOLD_`` that Dask sets in its workers by default (which
  fixes glibc's thresholds, so that torch's batch-sized buffers are mapped and
  unmapped at every batch: twice the time of a fit here);
  ``--dask-default-environ`` keeps it, to measure it;
- ``ray``: Ray's joblib backend on a local Ray of ``--workers`` CPUs (needs
  ``skmtl[ray]``; not run by default).

Before each search, a few tasks sent to the same backend start its workers,
import skmtl there and read torch's number of threads. Printed for each backend:
those threads; the time of those tasks the first time (``start``: a worker
pool's start and imports; the Dask cluster's and Ray's own starts are printed
apart); the search's wall time, and its speed-up over the sequential search of
the same run and over ``sequential-1``; and whether its ``cv_results_`` test
scores equal those of ``sequential-1`` (of ``sequential`` without it). Loky's
and Dask's workers outlive a call; Ray's joblib backend starts new ones
(actors) for each, so its search time includes their start. With
``--repeats`` the backends alternate and the median search time is reported.
Usage::

    python benchmarks/bench_search_parallel.py [--n-images 12000] [--epochs 3] \
        [--workers 2] [--repeats 1] [--dask-default-environ] \
        [--backends sequential sequential-1 loky dask ray]
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

BACKENDS = ("sequential", "sequential-1", "loky", "dask", "ray")
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
def _dask(workers, default_environ):
    import dask
    from distributed import Client, LocalCluster

    # None unsets a variable of Dask's worker environment.
    trim = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
    environ = {} if default_environ else {trim: None}
    start = time.perf_counter()
    with dask.config.set(environ):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
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


@contextmanager
def _torch_threads(n):
    before = torch.get_num_threads()
    torch.set_num_threads(n or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _search(X, Y, epochs, config, n_jobs, threads=None):
    search = GridSearchCV(
        _classifier(epochs), PARAM_GRID, cv=3, refit=False, n_jobs=n_jobs
    )
    with joblib.parallel_config(**config), _torch_threads(threads):
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
        default=["sequential", "sequential-1", "loky", "dask"],
    )
    parser.add_argument(
        "--dask-default-environ",
        action="store_true",
        help="keep the MALLOC_TRIM_THRESHOLD_ that Dask sets in its workers",
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
            "sequential-1": ({"backend": "loky"}, 1),
            "loky": ({"backend": "loky"}, args.workers),
        }
        if "dask" in args.backends:
            dask = _dask(args.workers, args.dask_default_environ)
            configs["dask"] = (stack.enter_context(dask), args.workers)
        if "ray" in args.backends:
            configs["ray"] = (stack.enter_context(_ray(args.workers)), args.workers)
        rows = {}
        for _ in range(args.repeats):
            for backend in args.backends:
                config, n_jobs = configs[backend]
                start, elapsed, threads, results = _search(
                    X,
                    Y,
                    args.epochs,
                    config,
                    n_jobs,
                    1 if backend == "sequential-1" else None,
                )
                seconds[backend].append(elapsed)
                starts[backend].append(start)
                rows[backend] = (n_jobs, threads, _scores(results))
    exact = "sequential-1" if "sequential-1" in rows else "sequential"
    reference = rows[exact][2] if exact in rows else None
    bases = [b for b in ("sequential", "sequential-1") if b in seconds]
    print(
        f"{'backend':12} {'workers':>7} {'torch threads':>13} {'start (s)':>9} "
        f"{'search (s)':>10} "
        + " ".join(f"{'vs ' + b:>15}" for b in bases)
        + f"  same scores as {exact}"
    )
    for backend, (n_jobs, threads, scores) in rows.items():
        median = statistics.median(seconds[backend])
        speed_ups = " ".join(
            f"{statistics.median(seconds[b]) / median:15.2f}" for b in bases
        )
        same = "-" if backend == exact else _same_scores(scores, reference)
        threads = ",".join(map(str, threads))
        print(
            f"{backend:12} {n_jobs:7} {threads:>13} {starts[backend][0]:9.1f} "
            f"{median:10.1f} {speed_ups}  {same}"
        )


if __name__ == "__main__":
    main()
