import json

import matplotlib.image
import numpy as np
import pytest

from skmtl.datasets._fashion_mnist import ITEM_TO_GROUP
from skmtl.study import RECIPES, study_classifier
from skmtl.study.__main__ import main
from skmtl.study._protocol import MODELS, decode_labels


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory, fashion_mnist_home):
    output = tmp_path_factory.mktemp("study")
    main(["--quick", "--output", str(output), "--data-home", str(fashion_mnist_home)])
    return output, json.loads((output / "results.json").read_text())


def test_quick_study_writes_results_table_and_plots(quick_study):
    output, _ = quick_study
    for name in (
        "validation_accuracy",
        "training_accuracy",
        "training_loss",
        "training_history",
        "gradient_similarity",
    ):
        image = matplotlib.image.imread(output / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 100
    table = (output / "results.md").read_text()
    assert "| MTL: shared trunk, two heads |" in table
    assert "| STL: item net, items mapped to groups | - |" in table


def test_quick_study_draws_without_pyplot(quick_study):
    import matplotlib.pyplot as plt

    # The figures are saved, not left open in pyplot.
    assert plt.get_fignums() == []


def test_quick_study_runs_every_model_on_every_seed(quick_study):
    _, results = quick_study
    assert results["config"]["seeds"] == 2 and results["config"]["epochs"] == 2
    assert [run["seed"] for run in results["runs"]] == [0, 1]
    for run in results["runs"]:
        assert set(run["mtl"]["test_accuracy"]) == {"item", "group"}
        assert set(run["stl_item"]["test_accuracy"]) == {"item"}
        assert set(run["stl_group"]["test_accuracy"]) == {"group"}
        for model in ("mtl", "stl_item", "stl_group"):
            assert run[model]["best_epoch"] in (1, 2)
            for curve in run[model]["curves"].values():
                assert len(curve["valid_accuracy"]) == 2
                assert len(curve["valid_loss"]) == len(curve["loss_weight"]) == 2
                # 2000 images, 10% held out, batch 200: 9 batches per epoch.
                assert len(curve["batch_train_loss"]) == 2 * 9
        similarity = run["mtl"]["gradient_similarity"]
        assert all(-1 <= c <= 1 for c in similarity["cosine"])
        assert all(0 <= c <= 1 for c in similarity["conflict"])
        assert len(similarity["cosine"]) == 2
        # Better than chance after two epochs on real images.
        assert run["mtl"]["test_accuracy"]["item"] > 0.4
        assert run["stl_group"]["test_accuracy"]["group"] > 0.5


def test_quick_study_seeds_differ_and_summary_matches_runs(quick_study):
    _, results = quick_study
    runs, summary = results["runs"], results["summary"]
    items = [run["mtl"]["test_accuracy"]["item"] for run in runs]
    assert items[0] != items[1]
    assert summary["accuracy"]["mtl"]["item"]["mean"] == pytest.approx(np.mean(items))
    mapped = summary["differences"][2]
    assert mapped["against"] == "stl_item_as_group"
    expected = np.mean(
        [
            run["mtl"]["test_accuracy"]["group"]
            - run["stl_item_as_group"]["test_accuracy"]["group"]
            for run in runs
        ]
    )
    assert mapped["mean"] == pytest.approx(expected)


def test_quick_study_keeps_test_predictions_and_pairs_them(quick_study):
    output, results = quick_study
    targets = {t: decode_labels(d) for t, d in results["test_targets"].items()}
    assert set(targets) == {"item", "group"} and len(targets["item"]) == 1000
    np.testing.assert_array_equal(ITEM_TO_GROUP[targets["item"]], targets["group"])
    for run in results["runs"]:
        for model, scores in ((m, run[m]["test_accuracy"]) for m in MODELS):
            assert set(run[model]["test_predictions"]) == set(scores)
            for task, digits in run[model]["test_predictions"].items():
                accuracy = np.mean(decode_labels(digits) == targets[task])
                assert accuracy == pytest.approx(scores[task])
    summary = results["summary"]
    assert summary["bootstrap"]["replicates"] == 2000
    for d in summary["differences"]:
        assert [m["seed"] for m in d["mcnemar"]] == [0, 1]
        assert all(0 < m["p"] <= 1 for m in d["mcnemar"])
        low, high = d["bootstrap_ci95"]
        assert low <= d["mean"] <= high
        assert d["survives"] == (low > 0 or high < 0)
    table = (output / "results.md").read_text()
    assert "bootstrap 95% CI (seeds x images)" in table
    assert "Which differences survive:" in table


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_each_recipe_builds_a_net_that_trains(recipe):
    clf = study_classifier(architecture="small", recipe=recipe, epochs=1)
    expected = {k: v for k, v in RECIPES[recipe].items() if k != "lr"}
    assert expected.items() <= clf.get_params().items()
    assert clf.lr == RECIPES[recipe]["lr"]
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 784)).astype(np.float32)
    Y = np.column_stack([np.arange(60) % 10, np.arange(60) % 3])
    clf.fit(X, Y)
    assert np.isfinite(clf.net_.history[:, "train_loss"]).all()


def test_the_modern_recipe_runs_in_the_quick_study(tmp_path, fashion_mnist_home):
    argv = ["--quick", "--seeds", "1", "--recipe", "modern"]
    main([*argv, "--output", str(tmp_path), "--data-home", str(fashion_mnist_home)])
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["recipe"] == "modern"
    assert results["config"]["lr"] == RECIPES["modern"]["lr"]
    assert results["runs"][0]["mtl"]["test_accuracy"]["item"] > 0.3


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("sharing", ["mmoe", "cross_stitch", "ple"])
def test_soft_sharing_builds_the_architectures_experts_or_columns(sharing, recipe):
    clf = study_classifier(
        architecture="small", recipe=recipe, sharing=sharing, selection="per_task"
    )
    params = clf.get_params()
    assert params["trunk"] == sharing and params["early_stopping"] == "per_task"
    assert params["trunk__backbone"] == "cnn"
    # The architecture's convolutions, then its dense layers.
    assert params["trunk__backbone_params"]["channels"] == (16, 32)
    units = (
        "trunk__hidden_units" if sharing == "cross_stitch" else "trunk__expert_units"
    )
    assert params[units] == (128,)
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 784)).astype(np.float32)
    Y = np.column_stack([np.arange(60) % 10, np.arange(60) % 3])
    clf.set_params(max_epochs=1).fit(X, Y)
    assert np.isfinite(clf.net_.history[:, "train_loss"]).all()


def test_the_study_compares_sharing_and_selection(tmp_path, fashion_mnist_home):
    argv = ["--quick", "--seeds", "1", "--epochs", "1", "--train-size", "600"]
    argv += ["--sharing", "hard,mmoe", "--selection", "shared,per_task"]
    main([*argv, "--output", str(tmp_path), "--data-home", str(fashion_mnist_home)])
    results = json.loads((tmp_path / "results.json").read_text())
    run = results["runs"][0]
    expected = {"mtl", "mtl_hard_per_task", "mtl_mmoe", "mtl_mmoe_per_task"}
    assert expected <= set(run)
    assert results["config"]["sharing"] == ["hard", "mmoe"]
    sizes = {model: run[model]["n_parameters"] for model in expected}
    assert sizes["mtl_mmoe"] > sizes["mtl"] == sizes["mtl_hard_per_task"]
    table = (tmp_path / "results.md").read_text()
    assert "| MTL: MMoE, each task its own epoch |" in table
    models = {d["model"] for d in results["summary"]["differences"]}
    assert models == expected
    with pytest.raises(SystemExit):
        main(["--sharing", "hard,mtan"])


def _without_times(runs):
    return [
        {
            model: (
                {k: v for k, v in result.items() if k != "train_seconds"}
                if isinstance(result, dict)
                else result  # the seed
            )
            for model, result in run.items()
        }
        for run in runs
    ]


def test_a_resumed_study_keeps_its_seeds_and_trains_the_rest_alike(
    tmp_path, fashion_mnist_home
):
    argv = ["--quick", "--epochs", "1", "--train-size", "600"]
    argv += ["--data-home", str(fashion_mnist_home)]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    main([*argv, "--seeds", "2", "--output", str(whole)])
    main([*argv, "--seeds", "1", "--output", str(resumed)])
    first = json.loads((resumed / "results.json").read_text())
    main([*argv, "--seeds", "2", "--resume", "--output", str(resumed)])
    expected = json.loads((whole / "results.json").read_text())
    results = json.loads((resumed / "results.json").read_text())
    # Seed 0 is the first study's, its time included; seed 1, trained after
    # resuming, is the seed 1 of an uninterrupted study.
    assert results["runs"][0] == first["runs"][0]
    assert _without_times(results["runs"]) == _without_times(expected["runs"])
    assert results["config"] == expected["config"]
    assert results["summary"]["accuracy"] == expected["summary"]["accuracy"]


def test_an_interrupted_study_has_saved_its_finished_seeds(
    tmp_path, fashion_mnist_home, monkeypatch
):
    from skmtl.study import _protocol

    fit, calls = _protocol.MultiOutputClassifier.fit, []

    def fit_until_the_second_seed(self, X, Y):
        calls.append(len(calls))
        if len(calls) == 2:  # seed 1's single-task nets, its last fit
            raise KeyboardInterrupt
        return fit(self, X, Y)

    monkeypatch.setattr(
        _protocol.MultiOutputClassifier, "fit", fit_until_the_second_seed
    )
    argv = ["--quick", "--epochs", "1", "--train-size", "600", "--seeds", "2"]
    argv += ["--data-home", str(fashion_mnist_home), "--output", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [run["seed"] for run in saved["runs"]] == [0]
    assert saved["config"]["seeds"] == 2 and "summary" not in saved


def test_a_study_resumes_only_one_of_its_settings(tmp_path, fashion_mnist_home):
    argv = ["--quick", "--epochs", "1", "--train-size", "600", "--seeds", "1"]
    argv += ["--data-home", str(fashion_mnist_home), "--output", str(tmp_path)]
    main(argv)
    with pytest.raises(
        ValueError, match=r"other settings than this one: epochs 1 \(now 2\)"
    ):
        main([*argv, "--epochs", "2", "--resume"])
    with pytest.raises(ValueError, match="has 1 seeds, more than the 0 asked for"):
        main([*argv, "--seeds", "0", "--resume"])
