"""The examples run, on the real data."""

import re
import runpy
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_partial_labels_example(fashion_mnist_home, monkeypatch, capsys):
    monkeypatch.setenv("SKMTL_DATA", str(fashion_mnist_home))
    runpy.run_path(str(EXAMPLES / "plot_partial_labels.py"), run_name="__main__")
    out = capsys.readouterr().out
    accuracies = [float(a) for a in re.findall(r"accuracy:\s+([0-9.]+)", out)]
    assert len(accuracies) == 2
    assert all(0.5 < a <= 1 for a in accuracies)
