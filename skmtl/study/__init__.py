"""The study that motivates skmtl: multi-task vs single-task nets on Fashion-MNIST.

Run it with ``python -m skmtl.study`` (``--help`` for the options).
"""

from ._plots import plot_study
from ._protocol import run_study
from ._report import summarize, to_markdown

__all__ = ["plot_study", "run_study", "summarize", "to_markdown"]
