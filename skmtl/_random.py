"""The randomness of a fit: reproducible in any thread, and leaving torch's
global random state as it was.

The order of the training rows comes from a generator of the fit's own, seeded
from ``random_state`` alone, so that it depends on nothing else (not on how many
numbers the trunk's initialisation drew). What only torch's global generator can
give (weight initialisation, dropout, augmentation, random loss weights, on any
device) is drawn inside :func:`seeded_torch`: one fit at a time per process
seeds that generator, draws from it, and restores it.
"""

import threading
from contextlib import contextmanager

import torch

__all__ = ["data_order_generator", "seeded_torch"]

# Re-entrant, so that a fit inside a fit (a callback fitting an estimator) runs.
_GLOBAL_STATE_LOCK = threading.RLock()


@contextmanager
def seeded_torch(seed):
    """Seed torch's global random state inside the block and restore it after,
    holding the process-wide lock, so that fits in other threads neither draw
    from nor restore this fit's state."""
    # torch.manual_seed seeds every CUDA device: each one's state is restored.
    devices = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    with _GLOBAL_STATE_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def data_order_generator(seed):
    """A host generator for the order of the training rows."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
