"""Every public name is in the API reference, docs/api.rst, on one page.

The public names are the ``__all__`` of skmtl and of each public module. A name
is listed when docs/api.rst holds it in an ``autosummary`` block under a
``currentmodule`` of its module, or as a ``.. data::`` directive there. A name
that a module re-exports from another (skmtl's callbacks, from skmtl.callbacks)
is listed under one of the two, not both: one page per object.
"""

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).parents[1] / "docs" / "api.rst"
PUBLIC_MODULES = (
    "skmtl",
    "skmtl.tasks",
    "skmtl.modules",
    "skmtl.trunks",
    "skmtl.weighting",
    "skmtl.callbacks",
    "skmtl.plotting",
    "skmtl.metrics",
    "skmtl.augmentation",
    "skmtl.datasets",
    "skmtl.study",
)


def _listed():
    """The names docs/api.rst documents, by module: {module: set of names}."""
    listed, module, in_autosummary = {}, None, False
    for line in API.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module, in_autosummary = match[1], False
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif match := re.match(r"\.\. data:: (\S+)", line):
            listed.setdefault(module, set()).add(match[1])
            in_autosummary = False
        elif in_autosummary and (match := re.match(r"   (~?[\w.]+)$", line)):
            listed.setdefault(module, set()).add(match[1].lstrip("~"))
        elif line and not line.startswith(" "):
            in_autosummary = False  # the block ended
    return listed


def _listed_objects():
    """{id of the object: [where docs/api.rst lists it]}, data names left out
    (a string or a dict is no page of its own)."""
    objects = {}
    for module, names in _listed().items():
        mod = importlib.import_module(module)
        for name in names:
            value = getattr(mod, name, None)
            if callable(value):
                objects.setdefault(id(value), []).append(f"{module}.{name}")
    return objects


def test_api_reference_parses():
    listed = _listed()
    assert set(listed) <= set(PUBLIC_MODULES)
    assert {"skmtl", "skmtl.modules", "skmtl.study"} <= set(listed)
    assert "MultiTaskClassifier" in listed["skmtl"]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_is_listed(module):
    mod = importlib.import_module(module)
    listed, objects = _listed().get(module, set()), _listed_objects()
    missing = {
        name
        for name in mod.__all__
        if name not in listed and id(getattr(mod, name)) not in objects
    }
    assert not missing, f"{module}: not in docs/api.rst: {sorted(missing)}"


def test_each_object_has_one_page():
    twice = [where for where in _listed_objects().values() if len(where) > 1]
    assert not twice, f"listed more than once in docs/api.rst: {twice}"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_listed_name_exists(module):
    mod = importlib.import_module(module)
    unknown = {name for name in _listed().get(module, ()) if not hasattr(mod, name)}
    assert not unknown, f"docs/api.rst lists names {module} lacks: {sorted(unknown)}"
