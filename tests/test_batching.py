import torch
from skorch.dataset import Dataset

from skmtl import TensorBatchIterator


def _dataset(n=10, with_y=True):
    X = torch.arange(n * 2, dtype=torch.float32).view(n, 2)
    return Dataset(X, torch.arange(n) if with_y else None)


def test_batches_in_order_cover_every_row_once():
    batches = list(TensorBatchIterator(_dataset(), batch_size=4))
    assert [len(X) for X, _ in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(10))
    assert len(TensorBatchIterator(_dataset(), batch_size=4)) == 3


def test_shuffle_permutes_rows_and_keeps_pairs():
    iterator = TensorBatchIterator(
        _dataset(),
        batch_size=3,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    X, y = (torch.cat(parts) for parts in zip(*iterator))
    assert sorted(y.tolist()) == list(range(10))
    assert not torch.equal(y, torch.arange(10))
    assert torch.equal(X[:, 0], 2 * y.float())


def test_a_new_order_each_epoch_reproducible_by_seed():
    def orders(seed):
        generator = torch.Generator().manual_seed(seed)
        iterator = TensorBatchIterator(
            _dataset(), batch_size=10, shuffle=True, generator=generator
        )
        return [next(iter(iterator))[1].tolist() for _ in range(2)]

    first, second = orders(0)
    assert first != second
    assert orders(0) == [first, second]


def test_without_targets_yields_none():
    _, y = next(iter(TensorBatchIterator(_dataset(with_y=False), batch_size=4)))
    assert y is None


def test_a_last_batch_of_one_row_joins_the_one_before():
    batches = list(TensorBatchIterator(_dataset(n=9), batch_size=4))
    assert [len(X) for X, _ in batches] == [4, 5]
    assert len(TensorBatchIterator(_dataset(n=9), batch_size=4)) == 2
    assert [len(X) for X, _ in TensorBatchIterator(_dataset(n=1), batch_size=4)] == [1]


def test_drop_last_leaves_out_a_short_last_batch():
    iterator = TensorBatchIterator(_dataset(), batch_size=4, drop_last=True)
    assert [len(X) for X, _ in iterator] == [4, 4]
    assert len(iterator) == 2
