"""Searches and cross-validation on joblib's process backend (loky) and on a
local Dask cluster give the sequential results, and torch in each worker uses
the threads its backend gives it, not every core.

Torch takes its number of threads from ``MKL_NUM_THREADS`` (in its builds with
MKL, as on x86) or else ``OMP_NUM_THREADS``, which loky and Dask set in the
workers they start. Exact equality needs the same number of threads on both
sides: another number changes the order of floating-point sums, hence the last
digits of the weights. So each sequential run sets torch to the workers' number
of threads (one each here, with two workers on two cores) and restores it after,
rather than letting it use every core.
"""

import os

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_validate
from torch import nn

from skmtl import MultiTaskClassifier, MultiTaskEstimator

PARAM_GRID = {"lr": [1e-3, 1e-2], "trunk__hidden_units": [(8,), (16,)]}
N_JOBS = 2


class ThreadProbe(nn.Module):
    """A linear trunk that records, when it is built (in ``fit``), torch's
    number of threads and the process.

    Buffers, unlike plain attributes, are part of the weights: they come back
    from a worker, where unpickling the estimator rebuilds its trunk (in the
    parent process) and loads the worker's weights into it.
    """

    def __init__(self, in_features, width=8):
        super().__init__()
        self.register_buffer("threads", torch.tensor(torch.get_num_threads()))
        self.register_buffer("pid", torch.tensor(os.getpid()))
        self.linear = nn.Linear(in_features, width)

    def forward(self, X):
        return self.linear(X)


def _classifier(**params):
    return MultiTaskClassifier(
        trunk__hidden_units=(8,), max_epochs=5, random_state=0, **params
    )


def _search(X, Y, n_jobs=None):
    search = GridSearchCV(_classifier(), PARAM_GRID, cv=3, n_jobs=n_jobs)
    return search.fit(X, Y)


def _cross_validate(X, Y, n_jobs=None):
    return cross_validate(
        _classifier(lr=1e-2), X, Y, cv=3, n_jobs=n_jobs, return_estimator=True
    )


def _cross_validate_mixed(X, Y, n_jobs=None):
    """A classification and a regression task: the item and a number."""
    mixed = np.column_stack([Y[:, 0], X[:, 0] * 3.0]).astype(object)
    estimator = MultiTaskEstimator(
        ["classification", "regression"],
        trunk__hidden_units=(8,),
        max_epochs=5,
        random_state=0,
    )
    return cross_validate(
        estimator, X, mixed, cv=3, n_jobs=n_jobs, return_estimator=True
    )


def _sequential(run, threads, *args):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return run(*args)
    finally:
        torch.set_num_threads(before)


def _assert_same_search(parallel, sequential):
    assert parallel.best_params_ == sequential.best_params_
    assert parallel.cv_results_["params"] == sequential.cv_results_["params"]
    scores = [k for k in sequential.cv_results_ if "test_score" in k]
    assert len(scores) == 3 + 3  # split0-2, mean, std, rank
    for key in scores:
        np.testing.assert_array_equal(
            parallel.cv_results_[key], sequential.cv_results_[key], err_msg=key
        )


def _assert_same_cross_validation(parallel, sequential):
    np.testing.assert_array_equal(parallel["test_score"], sequential["test_score"])
    # The weights, to the last bit, not only the accuracies they round to.
    for par, seq in zip(parallel["estimator"], sequential["estimator"]):
        par_state = par.net_.module_.state_dict()
        seq_state = seq.net_.module_.state_dict()
        assert par_state.keys() == seq_state.keys()
        for key, value in seq_state.items():
            assert torch.equal(par_state[key], value), key


def _assert_trunk_threads(results, threads):
    trunks = [est.net_.module_.trunk for est in results["estimator"]]
    # The fits ran in workers, not in this process.
    assert all(int(trunk.pid) != os.getpid() for trunk in trunks)
    assert [int(trunk.threads) for trunk in trunks] == [threads] * len(trunks)


def _probe_threads(X, Y, n_jobs=None):
    return cross_validate(
        MultiTaskClassifier(ThreadProbe, max_epochs=1, random_state=0),
        X,
        Y,
        cv=2,
        n_jobs=n_jobs,
        return_estimator=True,
    )


# joblib's process backend, loky


def _torch_threads(env):
    """Torch's number of threads in a process started with ``env``: from
    ``MKL_NUM_THREADS`` in a build with MKL (x86), else ``OMP_NUM_THREADS``."""
    names = ["OMP_NUM_THREADS"]
    if torch.backends.mkl.is_available():
        names.insert(0, "MKL_NUM_THREADS")
    return int(next(env[name] for name in names if name in env))


def _loky_threads():
    """Threads of torch in each of loky's N_JOBS workers by default: joblib sets
    ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and their kin to their values in
    this process, or else to the cores shared among the workers."""
    default = max(joblib.cpu_count() // N_JOBS, 1)
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return _torch_threads({name: os.environ.get(name, default) for name in names})


def test_loky_search_matches_sequential(two_tasks):
    X, Y, *_ = two_tasks
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = _search(X, Y, n_jobs=N_JOBS)
    _assert_same_search(parallel, _sequential(_search, 1, X, Y))


def test_loky_cross_validate_matches_sequential(two_tasks):
    X, Y, *_ = two_tasks
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = _cross_validate(X, Y, n_jobs=N_JOBS)
    _assert_same_cross_validation(parallel, _sequential(_cross_validate, 1, X, Y))


def test_loky_workers_share_the_cores(two_tasks):
    X, Y, *_ = two_tasks
    with joblib.parallel_config(backend="loky"):
        results = _probe_threads(X, Y, n_jobs=N_JOBS)
    _assert_trunk_threads(results, _loky_threads())


def test_loky_inner_max_num_threads_sets_torch_threads(two_tasks):
    X, Y, *_ = two_tasks
    with joblib.parallel_config(backend="loky", inner_max_num_threads=2):
        results = _probe_threads(X, Y, n_jobs=N_JOBS)
    _assert_trunk_threads(results, 2)


# A local Dask cluster


@pytest.fixture(scope="module")
def dask_client():
    """A client of two single-threaded worker processes, and the number of torch
    threads each worker should have.

    Each worker's nanny sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and their
    kin before starting the worker process, to their values in this process,
    or else in Dask's configuration (1 by default), whatever the number of
    workers; it also leaves them set in this process, which is restored after.
    """
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    pre_spawn = dask.config.get("distributed.nanny.pre-spawn-environ")
    threads = _torch_threads(
        {
            name: os.environ.get(name, value)
            for name, value in pre_spawn.items()
            if value is not None
        }
    )
    saved = {key: os.environ.get(key) for key in pre_spawn}
    cluster = distributed.LocalCluster(
        n_workers=N_JOBS, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        with cluster, distributed.Client(cluster) as client:
            yield client, threads
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_dask_search_matches_sequential(two_tasks, dask_client):
    X, Y, *_ = two_tasks
    _, threads = dask_client
    with joblib.parallel_config(backend="dask"):
        parallel = _search(X, Y)
    _assert_same_search(parallel, _sequential(_search, threads, X, Y))


def test_dask_cross_validate_matches_sequential(two_tasks, dask_client):
    X, Y, *_ = two_tasks
    _, threads = dask_client
    with joblib.parallel_config(backend="dask"):
        parallel = _cross_validate(X, Y)
    _assert_same_cross_validation(parallel, _sequential(_cross_validate, threads, X, Y))


def test_dask_cross_validate_of_mixed_tasks_matches_sequential(two_tasks, dask_client):
    X, Y, *_ = two_tasks
    _, threads = dask_client
    with joblib.parallel_config(backend="dask"):
        parallel = _cross_validate_mixed(X, Y)
    sequential = _sequential(_cross_validate_mixed, threads, X, Y)
    _assert_same_cross_validation(parallel, sequential)


def test_dask_workers_share_the_cores(two_tasks, dask_client):
    X, Y, *_ = two_tasks
    _, threads = dask_client
    with joblib.parallel_config(backend="dask"):
        results = _probe_threads(X, Y)
    _assert_trunk_threads(results, threads)
