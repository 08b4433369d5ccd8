"""Fits whose parameters never move, to read each batch's exact gradients."""

import torch
from skorch.callbacks import Callback

from skmtl import MultiTaskClassifier


class FrozenGradients(Callback):
    """Keeps each training batch's gradients, then zeroes them, so that plain
    SGD leaves the parameters where they started."""

    def on_train_begin(self, net, **kwargs):
        self.batches = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = {}
        for _, parameter in named_parameters:
            if parameter.grad is not None:
                grads[parameter] = parameter.grad.clone()
                parameter.grad.zero_()
        self.batches.append(grads)


def frozen_fit(X, Y, sample_weight=None, **params):
    """A one-epoch, float64, unshuffled fit at the initial parameters; returns
    the estimator and each batch's gradients, keyed by parameter."""
    clf = MultiTaskClassifier(
        **{
            "missing_label": -1,
            "dtype": "float64",
            "optimizer": torch.optim.SGD,
            "max_epochs": 1,
            "batch_size": 16,
            "iterator_train__shuffle": False,
            "callbacks": [("frozen", FrozenGradients())],
            "random_state": 0,
            **params,
        }
    ).fit(X, Y, sample_weight=sample_weight)
    return clf, dict(clf.net_.callbacks_)["frozen"].batches
