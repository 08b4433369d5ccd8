"""The study's per-image statistics: McNemar per seed, bootstrap over seeds x images."""

import numpy as np
import pytest
from scipy import stats

from skmtl.datasets._fashion_mnist import ITEM_TO_GROUP
from skmtl.study import summarize, to_markdown
from skmtl.study._protocol import decode_labels, encode_labels
from skmtl.study._report import mcnemar, paired_bootstrap


def _correct(n_seeds, n_images, accuracy, rng):
    return rng.random((n_seeds, n_images)) < accuracy


def test_labels_round_trip_as_one_digit_each():
    labels = np.array([0, 9, 3, 3, 1])
    assert encode_labels(labels) == "09331"
    np.testing.assert_array_equal(decode_labels("09331"), labels)
    assert encode_labels([]) == ""
    with pytest.raises(ValueError, match="0 to 9"):
        encode_labels([10])


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_images():
    # 5 both right, 6 only a, 1 only b, 3 both wrong.
    a = np.array([1] * 5 + [1] * 6 + [0] * 1 + [0] * 3, dtype=bool)
    b = np.array([1] * 5 + [0] * 6 + [1] * 1 + [0] * 3, dtype=bool)
    result = mcnemar(a, b)
    assert (result["a_only"], result["b_only"]) == (6, 1)
    assert result["p"] == pytest.approx(stats.binomtest(6, 7, 0.5).pvalue)
    # Two-sided: P(X >= 6) + P(X <= 1) for X ~ Binomial(7, 1/2).
    assert result["p"] == pytest.approx(2 * (7 + 1) / 2**7)
    # Symmetric, and 1 when the two agree on every image.
    assert mcnemar(b, a)["p"] == pytest.approx(result["p"])
    assert mcnemar(a, a) == {"a_only": 0, "b_only": 0, "p": 1.0}


def test_bootstrap_interval_holds_the_observed_difference_and_narrows_with_images():
    rng = np.random.default_rng(0)
    widths = []
    for n_images in (1000, 10000):
        a = _correct(3, n_images, 0.91, rng)
        b = _correct(3, n_images, 0.90, rng)
        low, high = paired_bootstrap(a, b, replicates=500)
        assert low < a.mean() - b.mean() < high
        widths.append(high - low)
    # Test-set noise only here: the width goes as 1 / sqrt(images).
    assert widths[1] < 0.5 * widths[0]


def test_bootstrap_sees_seed_noise():
    # a gains 100 of 2000 images on seed 0, loses 100 on seed 1, ties on seed 2:
    # the images alone would give an interval about 0.01 wide, the seeds' spread
    # (differences +0.05, -0.05, 0) a much wider one.
    b = np.tile(np.arange(2000) % 5 != 0, (3, 1))
    a = b.copy()
    a[0, np.flatnonzero(~b[0])[:100]] = True
    a[1, np.flatnonzero(b[1])[:100]] = False
    low, high = paired_bootstrap(a, b, replicates=500)
    assert low < -0.02 and high > 0.02


def test_bootstrap_is_deterministic_given_its_seed():
    rng = np.random.default_rng(2)
    a, b = _correct(3, 1000, 0.9, rng), _correct(3, 1000, 0.9, rng)
    assert paired_bootstrap(a, b, replicates=300) == paired_bootstrap(
        a, b, replicates=300
    )
    assert paired_bootstrap(a, b, replicates=300, random_state=1) != (
        paired_bootstrap(a, b, replicates=300)
    )


def test_bootstrap_pairs_the_images():
    # Identical models on every seed: every replicate's difference is 0.
    a = _correct(2, 500, 0.8, np.random.default_rng(3))
    assert paired_bootstrap(a, a, replicates=100) == [0.0, 0.0]
    with pytest.raises(ValueError, match="one shape"):
        paired_bootstrap(a, a[:, :10])
    with pytest.raises(ValueError, match="one shape"):
        paired_bootstrap(a[0], a[0])


def _study(n_seeds=3, n_images=2000, keep_predictions=True):
    # A study as run_study returns it, without the curves, from random labels.
    rng = np.random.default_rng(4)
    item = rng.integers(10, size=n_images)
    group = ITEM_TO_GROUP[item]

    def noisy(labels, classes, accuracy):
        wrong = rng.random(n_images) > accuracy
        return np.where(wrong, (labels + 1) % classes, labels)

    runs = []
    for seed in range(n_seeds):
        item_pred = noisy(item, 10, 0.90)
        predictions = {
            "mtl": {"item": noisy(item, 10, 0.90), "group": noisy(group, 3, 0.95)},
            "stl_item": {"item": item_pred},
            "stl_group": {"group": noisy(group, 3, 0.93)},
            "stl_item_as_group": {"group": ITEM_TO_GROUP[item_pred]},
        }
        run = {"seed": seed}
        for model, by_task in predictions.items():
            targets = {"item": item, "group": group}
            run[model] = {
                "test_accuracy": {
                    t: float(np.mean(p == targets[t])) for t, p in by_task.items()
                }
            }
            if keep_predictions:
                run[model]["test_predictions"] = {
                    t: encode_labels(p) for t, p in by_task.items()
                }
        runs.append(run)
    study = {"config": {"epochs": 1, "architecture": "small"}, "runs": runs}
    study["config"].update(train_size=None, test_size=n_images)
    if keep_predictions:
        study["test_targets"] = {
            "item": encode_labels(item),
            "group": encode_labels(group),
        }
    return study


def test_summary_pairs_each_comparison_image_by_image():
    study = _study()
    summary = summarize(study)
    assert summary["bootstrap"] == {"replicates": 2000, "seed": 0}
    for d in summary["differences"]:
        assert len(d["mcnemar"]) == 3
        for run, m in zip(study["runs"], d["mcnemar"]):
            assert m["seed"] == run["seed"]
            # The discordant images make the accuracy difference.
            diff = (
                run["mtl"]["test_accuracy"][d["task"]]
                - run[d["against"]]["test_accuracy"][d["task"]]
            )
            assert (m["mtl_only"] - m["stl_only"]) / 2000 == pytest.approx(diff)
            assert 0 < m["p"] <= 1
        low, high = d["bootstrap_ci95"]
        assert low < d["mean"] < high
        assert d["survives"] == (low > 0 or high < 0)
    # MTL's group head (0.95) against the group net (0.93) on 3 x 2000 images.
    assert summary["differences"][1]["survives"]
    assert summary == summarize(study)

    table = to_markdown(study, summary)
    assert "| McNemar p per seed | bootstrap 95% CI (seeds x images) |" in table
    assert "Which differences survive:" in table
    assert table.count("noise (McNemar p < 0.05 on ") == 3
    assert "the difference survives seed and test-set noise" in table
    # Each seed's significant test counted on the side it favours.
    for d in summary["differences"]:
        ahead = sum(
            m["p"] < 0.05 and m["mtl_only"] > m["stl_only"] for m in d["mcnemar"]
        )
        behind = sum(
            m["p"] < 0.05 and m["mtl_only"] < m["stl_only"] for m in d["mcnemar"]
        )
        assert f"{ahead}/3 seeds with MTL ahead, {behind}/3 with it behind" in table


def test_two_seeds_give_an_interval_flagged_as_too_few():
    study = _study(n_seeds=2)
    table = to_markdown(study, summarize(study))
    assert table.count("(2 seeds: too few to say anything)") == 3
    assert "too few" not in to_markdown(_study(), summarize(_study()))


def test_summary_of_a_study_without_predictions_has_no_per_image_tests():
    study = _study(keep_predictions=False)
    summary = summarize(study)
    for d in summary["differences"]:
        assert d["mcnemar"] is None and d["bootstrap_ci95"] is None
        assert d["survives"] is None
    table = to_markdown(study, summary)
    assert "| n/a | n/a |" in table and "Which differences survive" not in table
