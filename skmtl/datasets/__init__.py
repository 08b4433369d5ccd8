"""Data sets for multi-task learning."""

from ._base import get_data_home
from ._fashion_mnist import load_fashion_mnist

__all__ = ["get_data_home", "load_fashion_mnist"]
