import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skmtl import MultiTaskClassifier
from skmtl._optional import EXTRAS, import_optional


def _uninstall(monkeypatch, package):
    """Make ``package`` and its submodules fail to import, as if not installed."""
    for name in [n for n in sys.modules if n.partition(".")[0] == package]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def test_import_optional_returns_the_module():
    assert import_optional("numpy.linalg", "This test", extra="x") is np.linalg


@pytest.mark.parametrize("package", sorted(EXTRAS))
def test_import_optional_names_the_extra(monkeypatch, package):
    _uninstall(monkeypatch, package)
    match = rf"^Thing needs {package}: pip install 'skmtl\[{EXTRAS[package]}\]'"
    with pytest.raises(ImportError, match=match) as excinfo:
        import_optional(package, "Thing")
    assert isinstance(excinfo.value.__cause__, ImportError)


def test_gradient_aggregation_without_torchjd(monkeypatch):
    X = np.random.default_rng(0).normal(size=(20, 3))
    Y = np.column_stack([np.arange(20) % 2, np.arange(20) % 3])
    _uninstall(monkeypatch, "torchjd")
    clf = MultiTaskClassifier(loss_weighting="upgrad", max_epochs=1)
    match = r"GradientAggregation needs torchjd: pip install 'skmtl\[jd\]'"
    with pytest.raises(ImportError, match=match):
        clf.fit(X, Y)
    # The other strategies do without it.
    MultiTaskClassifier(loss_weighting="gradnorm", max_epochs=1).fit(X, Y)


def test_study_without_matplotlib(monkeypatch):
    _uninstall(monkeypatch, "matplotlib")
    monkeypatch.delitem(sys.modules, "skmtl.study", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'skmtl\[study\]'"):
        import skmtl.study  # noqa: F401


def test_core_works_without_any_extra(tmp_path):
    """A lean install imports, fits and scores; each extra's part says what to
    install. In a fresh interpreter, where the optional packages cannot be
    imported (scikit-learn takes a None in sys.modules for an imported pandas,
    hence packages that raise instead)."""
    code = textwrap.dedent(
        """
        import numpy as np

        import skmtl.callbacks, skmtl.datasets, skmtl.modules, skmtl.plotting
        from skmtl import MultiTaskClassifier
        from skmtl.metrics import subset_accuracy_scorer, task_scorer
        from skmtl.weighting import GradNorm

        X = np.random.default_rng(0).normal(size=(30, 4))
        Y = np.column_stack([np.arange(30) % 2, np.arange(30) % 3])
        clf = MultiTaskClassifier(loss_weighting=GradNorm(), max_epochs=2).fit(X, Y)
        subset_accuracy_scorer(clf, X, Y), task_scorer(1)(clf, X, Y)

        def message(action):
            try:
                action()
            except ImportError as err:
                return str(err)

        print(message(lambda: skmtl.datasets.load_fashion_mnist()))
        print(message(lambda: clf.set_params(loss_weighting="pcgrad").fit(X, Y)))
        print(message(lambda: __import__("skmtl.study")))
        display = skmtl.TrainingHistoryDisplay.from_estimator
        print(message(lambda: display(clf)))
        """
    )
    # Packages of the extras that fail to import, found first on the path.
    for package in ("torchjd", "torchvision", "matplotlib", "pandas"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            f"raise ModuleNotFoundError('No module named {package}')\n"
        )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    datasets, jd, study, plot = result.stdout.splitlines()
    assert "load_fashion_mnist needs torchvision" in datasets
    assert "skmtl[datasets]" in datasets
    assert "GradientAggregation needs torchjd" in jd and "skmtl[jd]" in jd
    assert "skmtl.study needs torchvision" in study and "skmtl[study]" in study
    assert "TrainingHistoryDisplay needs matplotlib" in plot and "skmtl[plot]" in plot
