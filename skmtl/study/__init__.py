"""The study that motivates skmtl: multi-task vs single-task nets on Fashion-MNIST.

Run it with ``python -m skmtl.study`` (``--help`` for the options). It needs the
optional dependencies of the ``study`` extra: ``pip install 'skmtl[study]'``.
"""

# The optional dependencies are checked before the imports.
# ruff: noqa: E402

from .._optional import import_optional

# The study's modules import these at their top: say which extra to install.
for _module in ("torchvision", "matplotlib", "tqdm"):
    import_optional(_module, "skmtl.study", extra="study")

from ._plots import plot_study
from ._protocol import (
    RECIPES,
    load_study_data,
    net_result,
    run_study,
    study_classifier,
)
from ._report import summarize, to_markdown

__all__ = [
    "RECIPES",
    "load_study_data",
    "net_result",
    "plot_study",
    "run_study",
    "study_classifier",
    "summarize",
    "to_markdown",
]
