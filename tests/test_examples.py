"""The gallery's examples run, headless, and print what they should.

``make docs`` executes them, but CI builds the site without running them
(``-D plot_gallery=0``), so each ``examples/plot_*.py`` runs here in its own
process, with the Agg backend and one torch thread. The digits examples read
``SKMTL_EXAMPLE_EPOCHS`` and run a few epochs here (seeded, as in the gallery);
the partial-labels example runs as written, on the real Fashion-MNIST files, and
so do the mixed-tasks example (the penguins, in about 20 s) and the
soft-sharing one (digits, in about 30 s), whose texts state their figures.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
_EPOCHS = "5"


def _accuracies(out):
    return [float(a) for a in re.findall(r"accuracy:?\s+([0-9.]+)", out)]


def _check_multitask_vs_single_task(out):
    lines = re.findall(r"(multi-task net|one net per task): accuracy (.*); fit", out)
    assert [name for name, _ in lines] == ["multi-task net", "one net per task"]
    for _, scores in lines:
        means = dict(re.findall(r"(\w+) ([0-9.]+) \+-", scores))
        assert set(means) == {"digit", "odd", "both"}
        means = {task: float(m) for task, m in means.items()}
        assert means["digit"] > 0.5 and means["odd"] > 0.6
        # every task right is no more frequent than one task right
        assert means["both"] <= min(means["digit"], means["odd"])


def _check_grid_search_architectures(out):
    candidates = re.findall(r"(mlp|cnn) \(.*\): digit accuracy ([0-9.]+)", out)
    assert [kind for kind, _ in candidates] == ["mlp"] * 3 + ["cnn"] * 2
    best = float(re.search(r"best digit accuracy: ([0-9.]+)", out)[1])
    assert best == max(float(a) for _, a in candidates) > 0.5


def _check_loss_weighting(out):
    names = re.findall(r"^\s*(\w+): digit accuracy", out, re.MULTILINE)
    assert names == [
        "equal",
        "uncertainty",
        "dwa",
        "gradnorm",
        "random",
        "pcgrad",
        "upgrad",
    ]
    assert all(0.4 < a <= 1 for a in _accuracies(out))
    shares = dict(re.findall(r"(\w+): digit's share of the weights .* ([0-9.]+)", out))
    assert float(shares["equal"]) == 0.5
    assert all(0 < float(s) < 1 for s in shares.values())


def _check_training_history(out):
    assert "valid_acc_task_0" in out and "train_loss_task_1" in out
    best = re.findall(r"best validation accuracy ([0-9.]+) at epoch (\d+)", out)
    assert len(best) == 2
    assert all(float(a) > 0.5 and 1 <= int(e) <= int(_EPOCHS) for a, e in best)


def _check_custom_trunk(out):
    candidates = r"'trunk__n_blocks': \d, 'trunk__width': \d+\}: digit"
    assert len(re.findall(candidates, out)) == 4
    assert "(trunk): ResidualMLP(" in out
    assert all(0.4 < a <= 1 for a in _accuracies(out))


def _check_partial_labels(out):
    kept = re.search(r"group labels kept: (\d+)% of 5000 images", out)
    assert 8 <= int(kept[1]) <= 12
    accuracies = _accuracies(out)
    assert len(accuracies) == 2
    assert all(0.5 < a <= 1 for a in accuracies)


def _check_persistence(out):
    assert "refused: UntrustedTypesFoundException" in out
    assert "loaded model predicts as the saved one: True" in out
    assert "epochs in the loaded history: 5" in out


def _check_mixed_tasks(out):
    lines = re.findall(
        r"(multi-task net|one net per task): species accuracy ([0-9.]+) \+- [0-9.]+,"
        r" body_mass_g R2 (-?[0-9.]+) \+-",
        out,
    )
    assert [name for name, *_ in lines] == ["multi-task net", "one net per task"]
    for _, accuracy, r2 in lines:  # what the example's text says of them
        assert 0.95 < float(accuracy) <= 1 and 0.75 < float(r2) < 0.9
    diffs = re.findall(r"multi-task minus one net per task, (\w+): ([-+][0-9.]+)", out)
    assert [task for task, _ in diffs] == ["species", "body_mass_g"]
    assert all(abs(float(d)) < 0.02 for _, d in diffs)  # "level"
    assert "object (3, 2)" in out
    predicted = re.findall(r"predicted (\w+), \d+ g; measured (\w+), \d+ g", out)
    assert len(predicted) == 3
    assert "mass: None" in out


def _check_soft_sharing(out):
    sizes = dict(
        re.findall(r"^ *(.+?): digit [0-9.]+, .*; ([0-9,]+) parameters$", out, re.M)
    )
    sizes = {name: int(n.replace(",", "")) for name, n in sizes.items()}
    assert len(sizes) == 6
    # "about 3.6 times", "3.5 times", "about 2.6 times" the hard-shared net's.
    assert round(sizes["MMoE"] / sizes["hard, one epoch"], 1) == 3.6
    assert round(sizes["PLE"] / sizes["hard, one epoch"], 1) == 3.5
    assert round(sizes["cross-stitch"] / sizes["hard, one epoch"], 1) == 2.6
    lines = re.findall(r"^(\w+), minus one net per task: (.*)$", out, re.M)
    assert [task for task, _ in lines] == ["digit", "odd", "ge5"]
    for _, line in lines:  # "within 0.01 of one net per task on every task"
        values = [float(v) for v in re.findall(r"([-+][0-9.]+)", line)]
        assert len(values) == 5 and all(abs(v) < 0.01 for v in values)


CHECKS = {
    "plot_multitask_vs_single_task.py": _check_multitask_vs_single_task,
    "plot_grid_search_architectures.py": _check_grid_search_architectures,
    "plot_loss_weighting.py": _check_loss_weighting,
    "plot_training_history.py": _check_training_history,
    "plot_custom_trunk.py": _check_custom_trunk,
    "plot_partial_labels.py": _check_partial_labels,
    "plot_persistence.py": _check_persistence,
    "plot_mixed_tasks.py": _check_mixed_tasks,
    "plot_soft_sharing.py": _check_soft_sharing,
}


def test_every_example_is_checked():
    assert sorted(CHECKS) == sorted(p.name for p in EXAMPLES.glob("plot_*.py"))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs(name, request, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env["SKMTL_EXAMPLE_EPOCHS"] = _EPOCHS
    if name == "plot_partial_labels.py":  # the real files, or skip
        env["SKMTL_DATA"] = str(request.getfixturevalue("fashion_mnist_home"))
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        cwd=tmp_path,  # an example that wrote a file would write it here
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    print(run.stdout)  # shown on failure
    CHECKS[name](run.stdout)
    assert not list(tmp_path.iterdir())  # nothing left behind
