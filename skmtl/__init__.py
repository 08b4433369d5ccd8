"""Multi-task learning with scikit-learn's API, on PyTorch and skorch."""

from ._batching import TensorBatchIterator
from ._classifier import MultiTaskClassifier
from ._estimator import MultiTaskEstimator
from ._net import MultiTaskNet, TaskLosses, TaskScores
from ._regressor import MultiTaskRegressor
from .callbacks import (
    BatchTaskScores,
    FitLRScheduler,
    FitProgressBar,
    PerTaskStopping,
    TaskGradientSimilarity,
    TaskPrintLog,
    ToleranceStopping,
)
from .plotting import TrainingHistoryDisplay

__version__ = "0.1.0"

__all__ = [
    "BatchTaskScores",
    "FitLRScheduler",
    "FitProgressBar",
    "MultiTaskClassifier",
    "MultiTaskEstimator",
    "MultiTaskNet",
    "MultiTaskRegressor",
    "PerTaskStopping",
    "TaskGradientSimilarity",
    "TaskLosses",
    "TaskPrintLog",
    "TaskScores",
    "TensorBatchIterator",
    "ToleranceStopping",
    "TrainingHistoryDisplay",
    "__version__",
]
