"""Data sets for multi-task learning."""

from ._base import get_data_home
from ._fashion_mnist import load_fashion_mnist
from ._penguins import load_penguins

__all__ = ["get_data_home", "load_fashion_mnist", "load_penguins"]
