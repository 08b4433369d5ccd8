"""The ```python blocks of the user guide's chapters and the README run as written.

The README's quick start, its only block, runs on its own with every warning
an error, and must print the accuracies its text shows, to 0.01.

The user guide is one file per chapter, docs/user_guide/*.md but its index, and
every chapter has blocks. Each file's first block is its setup (imports and
data); every block runs in a
fresh copy of the setup's namespace, so that each runs after the setup alone, as
a reader who copies it would run it. A block fails when it raises, prints
``nan``, gives a NaN score (a float, or a float array in a ``cross_validate``
result or a search's ``cv_results_``, whether assigned to a name or left as a
bare expression's value), or makes scikit-learn warn that a fit or a score failed
(which ``cross_validate`` and ``GridSearchCV`` turn into NaN). A block that is not
meant to run is fenced otherwise (```text, or ```{code-block} python to keep its
highlighting): only the Ray one of the model selection chapter, as the test
environment has no Ray.

The blocks run on one torch thread: the results do not depend on the machine's
core count, and torch's threads do not spin against other processes on a busy
machine (on 2 shared cores, two threads made the README's block over 10 times slower).

Test ids read ``<file>:<line>-<section>``, the line of the block's first line of
code, and tracebacks point to the lines of the Markdown file.
"""

import ast
import copy
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from sklearn.exceptions import FitFailedWarning

ROOT = Path(__file__).parents[1]
GUIDE = ROOT / "docs" / "user_guide"
FILES = tuple(
    str(path.relative_to(ROOT))
    for path in sorted(GUIDE.glob("*.md"))
    if path.name != "index.md"
)
_NAN = re.compile(r"\bnan\b", re.IGNORECASE)
_SKLEARN_NAN_WARNINGS = ("nan", "non-finite", "failed")


def _slug(heading):
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _python_blocks(name):
    """The ```python blocks of a file: (first line of code, section, code)."""
    blocks, section, start, lines, other = [], "top", None, [], False
    for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
        if other:  # in a block of another language
            other = line.strip() != "```"
        elif start is None:
            if line.startswith("#"):
                section = _slug(line.lstrip("#"))
            elif line.strip() == "```python":
                start, lines = number + 1, []
            else:
                other = line.startswith("```")
        elif line.strip() == "```":
            blocks.append((start, section, "\n".join(lines) + "\n"))
            start = None
        else:
            lines.append(line)
    assert start is None, f"{name}: unclosed ```python block at line {start}"
    return blocks


BLOCKS = [
    pytest.param(name, index, code, id=f"{name}:{line}-{section}")
    for name in FILES
    for index, (line, section, code) in enumerate(_python_blocks(name))
]


def test_every_file_has_blocks():
    assert len(FILES) >= 10, f"the user guide's chapters: {FILES}"
    assert {name for name, *_ in (p.values for p in BLOCKS)} == set(FILES)
    assert len(_python_blocks("README.md")) == 1


def _compile(name, code, line):
    """Compile a block so that tracebacks name the file's lines, recording the
    value of each top-level bare expression, as an interactive session shows it."""
    tree = ast.parse(code, filename=name)
    ast.increment_lineno(tree, line - 1)
    for i, statement in enumerate(tree.body):
        if isinstance(statement, ast.Expr):
            call = ast.Call(ast.Name("__record__", ast.Load()), [statement.value], [])
            tree.body[i] = ast.copy_location(ast.Expr(call), statement)
    return compile(ast.fix_missing_locations(tree), str(ROOT / name), "exec")


def _has_nan(value, depth=0):
    """Whether a score-like value holds a NaN: floats, float arrays, and the
    dicts, lists and tuples of them; an object's ``cv_results_``."""
    if depth > 3 or isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and bool(np.isnan(value).any())
    if isinstance(value, dict):
        return any(_has_nan(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v, depth + 1) for v in value[:100])
    if isinstance(getattr(value, "cv_results_", None), dict):
        return _has_nan(value.cv_results_, depth + 1)
    return False


def _run(name, index, code, namespace):
    """Run a block in ``namespace``; return what it printed."""
    line = _python_blocks(name)[index][0]
    recorded = []
    namespace["__record__"] = recorded.append
    before = dict(namespace)
    # Blocks may change scikit-learn's global configuration (metadata routing):
    # restore it after each.
    with sklearn.config_context(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(_compile(name, code, line), namespace)
    del namespace["__record__"]
    failed = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if issubclass(w.category, FitFailedWarning)
        or any(word in str(w.message).lower() for word in _SKLEARN_NAN_WARNINGS)
    ]
    assert not failed, f"a fit or a score failed: {failed}"
    changed = {
        key: value
        for key, value in namespace.items()
        if key not in before or before[key] is not value
    }
    nan = [key for key, value in changed.items() if _has_nan(value)]
    nan += [f"expression {i}" for i, v in enumerate(recorded) if _has_nan(v)]
    assert not nan, f"NaN scores in {nan}"


_SETUPS = {}


def _setup(name):
    """The namespace left by a file's first block, run once per session."""
    if name not in _SETUPS:
        namespace = {"__name__": "__main__"}
        _run(name, 0, _python_blocks(name)[0][2], namespace)
        _SETUPS[name] = namespace
    return _SETUPS[name]


@pytest.fixture(autouse=True)
def headless_matplotlib(monkeypatch):
    """Blocks that plot draw with Agg, without a display, and leave no figure
    open. (The library never sets a backend: the test does.)"""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(autouse=True)
def restore_environ():
    """A block that starts a Dask ``LocalCluster`` leaves ``OMP_NUM_THREADS``
    and its kin set in this process, as Dask does on purpose: the environment
    is restored after each block, for the tests that start processes."""
    saved = dict(os.environ)
    yield
    for key in os.environ.keys() - saved.keys():
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("name", "index", "code"), BLOCKS)
def test_block_runs(
    name, index, code, fashion_mnist_home, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("SKMTL_DATA", str(fashion_mnist_home))
    monkeypatch.chdir(tmp_path)  # blocks may write files
    if index == 0:
        _SETUPS.pop(name, None)
        _setup(name)
    else:
        setup = _setup(name)
        capsys.readouterr()  # what the setup printed, if it ran here
        # A shallow copy: blocks rebind names; none changes the setup's data.
        _run(name, index, code, copy.copy(setup))
    out = capsys.readouterr().out
    print(out)  # shown on failure
    assert not _NAN.search(out), "the block printed nan"


def _numbers(text):
    return [float(n) for n in re.findall(r"\d+\.\d+", text)]


def test_readme_quick_start_prints_its_text_without_warnings(capsys):
    ((line, _, code),) = _python_blocks("README.md")
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(code, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    with sklearn.config_context(), warnings.catch_warnings():
        warnings.simplefilter("error")
        namespace = {"__name__": "__main__", "__record__": lambda value: None}
        exec(_compile("README.md", code, line), namespace)
    out = capsys.readouterr().out
    print(out)  # shown on failure
    assert [row.split(" species")[0] for row in out.splitlines()] == [
        row.split(" species")[0] for row in shown.splitlines()
    ]
    np.testing.assert_allclose(_numbers(out), _numbers(shown), atol=0.01)
