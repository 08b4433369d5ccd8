"""The study that motivates skmtl: multi-task vs single-task nets on Fashion-MNIST.

Run it with ``python -m skmtl.study`` (``--help`` for the options).
"""

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
