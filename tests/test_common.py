"""scikit-learn's estimator checks on every estimator of skmtl."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmtl import MultiTaskClassifier


def _fast_estimators():
    # Small data in the checks: a few epochs at a higher rate fit them well.
    yield MultiTaskClassifier(max_epochs=30, batch_size=32, lr=0.01, random_state=0)


@parametrize_with_checks(list(_fast_estimators()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
