"""Summaries of a study over seeds: mean +- sd, paired differences, Markdown.

Two kinds of noise sit in a test accuracy: the training run's (seed) and the
test set's (which 10,000 images were drawn). The Student t interval over seeds
sees the first only; McNemar's test per seed sees the second only; the
two-level bootstrap over seeds and test images sees both.
"""

import numpy as np
from scipy import stats

from ._protocol import TASKS, decode_labels, model_label

__all__ = ["mcnemar", "paired_bootstrap", "study_models", "summarize", "to_markdown"]

# The two-level bootstrap of the paired differences: replicates and seed.
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0
# Replicates drawn at once: a few (_CHUNK, images) arrays in memory.
_CHUNK = 250

# Each multi-task head against the single-task models of the same task.
COMPARISONS = [
    ("item", "stl_item"),
    ("group", "stl_group"),
    ("group", "stl_item_as_group"),
]


def summarize(study):
    """Mean, sd and paired differences over the seeds of a study.

    Parameters
    ----------
    study : dict
        What :func:`~skmtl.study.run_study` returns.

    Returns
    -------
    summary : dict
        ``accuracy[model][task]``, ``train_seconds[model]`` and
        ``best_epoch[model]``, each with ``mean``, ``sd`` and the per-seed
        ``values``; ``differences``, one per comparison of the multi-task net
        with a single-task model on a task: the per-seed MTL - STL test accuracy
        differences, their mean, its 95% confidence interval (Student's t) and
        the number of seeds where MTL is ahead; where the study kept its test
        predictions, also ``mcnemar`` (per seed: the images only MTL gets
        right, only the single-task model gets right, and the exact McNemar
        p-value), ``bootstrap_ci95`` (the two-level bootstrap's 95% interval of
        the mean difference, over seeds and test images) and ``survives``
        (whether that interval excludes 0); ``None`` otherwise. ``bootstrap``
        holds the bootstrap's replicates and seed.
    """
    runs = study["runs"]
    summary = {"accuracy": {}, "train_seconds": {}, "best_epoch": {}}
    summary["n_parameters"] = {}
    for model in study_models(study):
        summary["accuracy"][model] = {
            task: _spread([run[model]["test_accuracy"][task] for run in runs])
            for task in TASKS
            if task in runs[0][model]["test_accuracy"]
        }
        if "train_seconds" in runs[0][model]:
            for key in ("train_seconds", "best_epoch"):
                summary[key][model] = _spread([run[model][key] for run in runs])
        if "n_parameters" in runs[0][model]:
            summary["n_parameters"][model] = runs[0][model]["n_parameters"]
    summary["bootstrap"] = {
        "replicates": BOOTSTRAP_REPLICATES,
        "seed": BOOTSTRAP_SEED,
    }
    summary["differences"] = []
    comparisons = [
        (model, task, single)
        for model in study_models(study)
        if model.startswith("mtl")
        for task, single in COMPARISONS
    ]
    for model, task, single in comparisons:
        mtl = np.array(summary["accuracy"][model][task]["values"])
        stl = np.array(summary["accuracy"][single][task]["values"])
        diff = mtl - stl
        per_image = {"mcnemar": None, "bootstrap_ci95": None, "survives": None}
        correct_mtl = _correct(study, model, task)
        correct_stl = _correct(study, single, task)
        if correct_mtl is not None and correct_stl is not None:
            low, high = paired_bootstrap(
                correct_mtl,
                correct_stl,
                replicates=BOOTSTRAP_REPLICATES,
                random_state=BOOTSTRAP_SEED,
            )
            per_image = {
                "mcnemar": [
                    _per_seed_mcnemar(run["seed"], a, b)
                    for run, a, b in zip(runs, correct_mtl, correct_stl)
                ],
                "bootstrap_ci95": [low, high],
                "survives": bool(low > 0 or high < 0),
            }
        summary["differences"].append(
            {
                "model": model,
                "task": task,
                "against": single,
                **_spread(diff.tolist()),
                "ci95": _confidence_interval(diff),
                "mtl_ahead": int(np.sum(diff > 0)),
                **per_image,
            }
        )
    return summary


def study_models(study):
    """The models of a study, in the order its runs hold them: the multi-task
    nets, then the single-task ones."""
    return [key for key in study["runs"][0] if key != "seed"]


def mcnemar(correct_a, correct_b):
    """Exact McNemar test of two classifiers scored on the same samples.

    Only the discordant samples count: under the null hypothesis of equal
    accuracy, each is as likely to be one that only ``a`` gets right as one
    that only ``b`` gets right, so their split is Binomial(discordant, 1/2).

    Parameters
    ----------
    correct_a, correct_b : array-like of bool of shape (n_samples,)
        Whether each classifier gets each sample right.

    Returns
    -------
    result : dict
        ``a_only`` and ``b_only``, the samples only ``a`` (``b``) gets right,
        and ``p``, the two-sided exact p-value (1 without discordant samples).
    """
    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    a_only = int(np.sum(correct_a & ~correct_b))
    b_only = int(np.sum(~correct_a & correct_b))
    if a_only + b_only == 0:
        p = 1.0
    else:
        p = float(stats.binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p": p}


def paired_bootstrap(
    correct_a, correct_b, *, replicates=BOOTSTRAP_REPLICATES, random_state=0
):
    """95% interval of a mean accuracy difference over seeds and test images.

    Each replicate draws, with replacement, as many seeds as there are and as
    many test images as there are, independently (seeds and images are
    crossed: every seed is scored on the same images), and takes the mean of
    ``a - b`` over the drawn seeds and images; the same images for both
    classifiers and every drawn seed, so the pairing is kept. The interval is
    the replicates' 2.5 and 97.5 percentiles.

    Parameters
    ----------
    correct_a, correct_b : array-like of bool of shape (n_seeds, n_images)
        Whether each classifier, trained with each seed, gets each test image
        right.

    replicates : int, default=2000
        Number of bootstrap replicates.

    random_state : int, default=0
        Seed of the resampling; the interval is a function of it and the data.

    Returns
    -------
    ci95 : list of 2 float
        Low and high ends of the interval.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            "correct_a and correct_b must be of one shape (seeds, images)."
        )
    # float32 holds these integer sums exactly (below 2**24).
    diff = a.astype(np.float32) - b.astype(np.float32)
    n_seeds, n_images = diff.shape
    rng = np.random.default_rng(random_state)
    seed_draws = rng.integers(n_seeds, size=(replicates, n_seeds))
    # Per replicate and seed, the sum of the differences over the drawn images:
    # how often each image is drawn, times its difference.
    sums = np.empty((replicates, n_seeds))
    for start in range(0, replicates, _CHUNK):
        size = min(_CHUNK, replicates - start)
        images = rng.integers(n_images, size=(size, n_images))
        images += np.arange(size)[:, None] * n_images
        counts = np.bincount(images.ravel(), minlength=size * n_images)
        counts = counts.reshape(size, n_images).astype(np.float32)
        sums[start : start + size] = counts @ diff.T
    means = np.take_along_axis(sums, seed_draws, axis=1).sum(axis=1)
    means /= n_seeds * n_images
    low, high = np.quantile(means, [0.025, 0.975])
    return [float(low), float(high)]


def _per_seed_mcnemar(seed, correct_mtl, correct_stl):
    result = mcnemar(correct_mtl, correct_stl)
    return {
        "seed": seed,
        "mtl_only": result["a_only"],
        "stl_only": result["b_only"],
        "p": result["p"],
    }


def _correct(study, model, task):
    # Per seed and test image, whether the model gets the task right; None for
    # studies that did not keep their test predictions.
    targets = study.get("test_targets", {}).get(task)
    if targets is None:
        return None
    predictions = [
        run[model].get("test_predictions", {}).get(task) for run in study["runs"]
    ]
    if any(p is None for p in predictions):
        return None
    targets = decode_labels(targets)
    return np.array([decode_labels(p) == targets for p in predictions])


def to_markdown(study, summary):
    """Markdown tables of a study's test accuracies, differences and costs."""
    config = study["config"]
    n = len(study["runs"])
    lines = [
        f"Test accuracy, mean +- sd over {n} seed(s); each net kept at its epoch "
        f"of best validation accuracy ({config['epochs']} epochs, "
        f"{config['architecture']} architecture, train size "
        f"{config['train_size'] or 60000}, test size {config['test_size'] or 10000}).",
        "",
        "| model | item | group | train time (s) | kept epoch | parameters |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for model in study_models(study):
        accuracy = summary["accuracy"][model]
        cells = [_format(accuracy[t], 4) if t in accuracy else "-" for t in TASKS]
        for key, digits in (("train_seconds", 1), ("best_epoch", 1)):
            value = summary[key].get(model)
            cells.append(_format(value, digits) if value else "-")
        size = summary.get("n_parameters", {}).get(model)
        cells.append(f"{size:,}" if size else "-")
        lines.append(f"| {model_label(model)} | " + " | ".join(cells) + " |")
    bootstrap = summary.get("bootstrap", {})
    lines += [
        "",
        "Paired differences of test accuracy, MTL - single-task, over the same seeds "
        "and test images: 95% CI over seeds (Student's t; seed noise only); exact "
        "McNemar p-value per seed (test-set noise only); 95% CI of a two-level "
        f"bootstrap ({bootstrap.get('replicates', '-')} replicates resampling seeds "
        "and test images, the same images for both models; seed and test-set "
        "noise):",
        "",
        "| multi-task net | task | MTL - | mean difference | 95% CI (seeds) "
        "| seeds MTL ahead | McNemar p per seed | bootstrap 95% CI (seeds x images) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for d in summary["differences"]:
        low, high = d["ci95"]
        ci = "n/a" if np.isnan(low) else f"[{low:+.4f}, {high:+.4f}]"
        if n < 3 and not np.isnan(low):
            # Student's t with one degree of freedom: 12.7 standard errors.
            ci += f" ({n} seeds: too few to say anything)"
        against = model_label(d["against"])
        model = model_label(d.get("model", "mtl"))
        if d.get("mcnemar") is None:
            p_values, boot = "n/a", "n/a"
        else:
            p_values = ", ".join(_format_p(m["p"]) for m in d["mcnemar"])
            boot = "[{:+.4f}, {:+.4f}]".format(*d["bootstrap_ci95"])
            ahead = sum(
                m["p"] < 0.05 and m["mtl_only"] > m["stl_only"] for m in d["mcnemar"]
            )
            behind = sum(
                m["p"] < 0.05 and m["mtl_only"] < m["stl_only"] for m in d["mcnemar"]
            )
            verdicts.append(
                f"- {model}, {d['task']}, MTL - {against}: {d['mean']:+.4f}; the "
                "bootstrap "
                f"interval {boot} "
                + (
                    "excludes 0: the difference survives seed and test-set noise"
                    if d["survives"]
                    else "contains 0: the difference does not survive seed and "
                    "test-set noise"
                )
                + f" (McNemar p < 0.05 on {ahead}/{n} seeds with MTL ahead, "
                f"{behind}/{n} with it behind)."
            )
        lines.append(
            f"| {model} | {d['task']} | {against} | {d['mean']:+.4f} | {ci} | "
            f"{d['mtl_ahead']}/{n} | {p_values} | {boot} |"
        )
    if verdicts:
        lines += ["", "Which differences survive:", "", *verdicts]
    return "\n".join(lines) + "\n"


def _spread(values):
    values = [float(v) for v in values]
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return {"mean": float(np.mean(values)), "sd": sd, "values": values}


def _confidence_interval(diff):
    if len(diff) < 2:
        return [float("nan"), float("nan")]
    low, high = stats.t.interval(
        0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff)
    )
    return [float(low), float(high)]


def _format_p(p):
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _format(spread, digits):
    if np.isnan(spread["sd"]):
        return f"{spread['mean']:.{digits}f}"
    return f"{spread['mean']:.{digits}f} +- {spread['sd']:.{digits}f}"
