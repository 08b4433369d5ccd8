"""augment: training-time augmentation of image batches."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier
from skmtl.augmentation import ImageAugmentation


def _images(n=6, shape=(2, 5, 7)):
    # Distinct positive values: a value 0 can only come from the padding.
    return torch.arange(1, n * np.prod(shape) + 1, dtype=torch.float32).reshape(n, -1)


def _translated(image, dy, dx):
    """An image (c, h, w) moved down dy and right dx pixels, zero-padded."""
    out = torch.zeros_like(image)
    _, h, w = image.shape
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_shift_translates_each_image_and_pads_with_zeros():
    shape = (2, 5, 7)
    X = _images(50, shape)
    torch.manual_seed(0)
    out = ImageAugmentation(shift=2, input_shape=shape)(X)
    assert out.shape == X.shape
    originals, shifted = X.reshape(-1, *shape), out.reshape(-1, *shape)
    offsets = set()
    for image, result in zip(originals, shifted):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(_translated(image, dy, dx), result)
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    # Each image draws its own shift.
    assert len(offsets) > 5


def test_flip_mirrors_the_width_axis():
    shape = (1, 3, 4)
    X = _images(40, shape)
    torch.manual_seed(0)
    out = ImageAugmentation(shift=0, flip=True, input_shape=shape)(X)
    originals, results = X.reshape(-1, *shape), out.reshape(-1, *shape)
    flipped = [torch.equal(r, o.flip(-1)) for o, r in zip(originals, results)]
    kept = [torch.equal(r, o) for o, r in zip(originals, results)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(X)


def test_no_shift_no_flip_is_the_identity():
    X = _images()
    np.testing.assert_array_equal(
        ImageAugmentation(shift=0, input_shape=(2, 5, 7))(X), X
    )


@pytest.mark.parametrize(
    "augment, match",
    [
        (ImageAugmentation(shift=-1, input_shape=(2, 5, 7)), "shift"),
        (ImageAugmentation(input_shape=(2, 5, 5)), "input_shape"),
        (ImageAugmentation(), "shape"),
    ],
)
def test_bad_settings_raise(augment, match):
    with pytest.raises(ValueError, match=match):
        augment(_images())


@pytest.fixture
def images():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 36)).astype(np.float32)
    return X, np.column_stack([X[:, 0] > 0.5, X[:, 7] > 0.5])


def _cnn(**params):
    return MultiTaskClassifier(
        "cnn",
        trunk__channels=(4,),
        trunk__pool_after=(),
        trunk__dense_units=(8,),
        max_epochs=2,
        batch_size=20,
        n_iter_no_change=None,
        random_state=0,
        **params,
    )


class _Spy(ImageAugmentation):
    """Records the batches it augments."""

    def __call__(self, X, input_shape=None):
        out = super().__call__(X, input_shape)
        _Spy.seen.append((X.clone(), out.clone()))
        return out


def _forward_inputs(clf):
    """The batches that reach the trunk, from now on."""
    seen = []
    clf.net_.module_.trunk.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].clone())
    )
    return seen


def test_training_batches_change_validation_and_predict_ones_do_not(images):
    X, Y = images
    _Spy.seen = []
    clf = _cnn(augment=_Spy(shift=1), validation_fraction=0.2).fit(X, Y)
    # The CNN's square single-channel images.
    assert clf.net_.augment.input_shape == (1, 6, 6)
    assert len(_Spy.seen) == 2 * 3  # 48 training rows in batches of 20, 20, 8
    assert any(not torch.equal(before, after) for before, after in _Spy.seen)
    valid = [b for e in clf.net_.history for b in e["batches"] if "valid_loss" in b]
    assert valid  # validation ran, without augmenting: 6 calls only

    _Spy.seen = []
    seen = _forward_inputs(clf)
    clf.predict_proba(X)
    assert _Spy.seen == []
    np.testing.assert_array_equal(torch.cat(seen).numpy(), X)


def test_same_random_state_gives_identical_fits(images):
    X, Y = images
    a = _cnn(augment="shift_flip").fit(X, Y).predict_proba(X)
    b = _cnn(augment="shift_flip").fit(X, Y).predict_proba(X)
    plain = _cnn().fit(X, Y).predict_proba(X)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    assert not all(np.array_equal(pa, pp) for pa, pp in zip(a, plain))


def test_shape_from_trunk_input_shape_or_the_augmentation(images):
    X, Y = images
    clf = _cnn(augment="shift", trunk__input_shape=(4, 3, 3)).fit(X, Y)
    assert clf.net_.augment.input_shape == (4, 3, 3)
    mlp = MultiTaskClassifier(
        max_epochs=1, augment=ImageAugmentation(input_shape=(1, 6, 6))
    ).fit(X, Y)
    assert mlp.net_.augment.input_shape == (1, 6, 6)


class _ImageTrunk(torch.nn.Module):
    def __init__(self, in_features, input_shape=None):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, 4)

    def forward(self, X):
        return self.linear(X)


def test_other_trunks_need_the_shape_and_the_advice_fits_the_trunk(images):
    X, Y = images
    with pytest.raises(ValueError, match="needs the images' shape") as error:
        MultiTaskClassifier(max_epochs=1, augment="shift").fit(X, Y)
    # The MLP takes no input_shape: only the augmentation can be told.
    assert "trunk__input_shape" not in str(error.value)
    assert "ImageAugmentation(input_shape=" in str(error.value)
    with pytest.raises(ValueError, match="trunk__input_shape"):
        MultiTaskClassifier(max_epochs=1, augment="shift", trunk=_ImageTrunk).fit(X, Y)


def test_augmentation_is_searchable_and_warm_started(images):
    X, Y = images
    clf = _cnn(augment=ImageAugmentation(shift=1))
    assert clone(clf).get_params()["augment__shift"] == 1
    search = GridSearchCV(
        clf, {"augment__shift": [0, 2], "augment__flip": [False, True]}, cv=2
    ).fit(X, Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    clf.set_params(warm_start=True).fit(X, Y)
    clf.set_params(augment=None).fit(X, Y)
    assert clf.net_.augment is None
    clf.set_params(augment="shift")
    clf.fit(X, Y)
    assert clf.net_.augment.shift == 2
