"""Summaries of a study over seeds: mean +- sd, paired differences, Markdown."""

import numpy as np
from scipy import stats

from ._protocol import MODELS, TASKS

__all__ = ["summarize", "to_markdown"]

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
        the number of seeds where MTL is ahead.
    """
    runs = study["runs"]
    summary = {"accuracy": {}, "train_seconds": {}, "best_epoch": {}}
    for model in MODELS:
        summary["accuracy"][model] = {
            task: _spread([run[model]["test_accuracy"][task] for run in runs])
            for task in TASKS
            if task in runs[0][model]["test_accuracy"]
        }
        if "train_seconds" in runs[0][model]:
            for key in ("train_seconds", "best_epoch"):
                summary[key][model] = _spread([run[model][key] for run in runs])
    summary["differences"] = []
    for task, single in COMPARISONS:
        mtl = np.array(summary["accuracy"]["mtl"][task]["values"])
        stl = np.array(summary["accuracy"][single][task]["values"])
        diff = mtl - stl
        summary["differences"].append(
            {
                "task": task,
                "against": single,
                **_spread(diff.tolist()),
                "ci95": _confidence_interval(diff),
                "mtl_ahead": int(np.sum(diff > 0)),
            }
        )
    return summary


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
        "| model | item | group | train time (s) | kept epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for model, label in MODELS.items():
        accuracy = summary["accuracy"][model]
        cells = [_format(accuracy[t], 4) if t in accuracy else "-" for t in TASKS]
        for key, digits in (("train_seconds", 1), ("best_epoch", 1)):
            value = summary[key].get(model)
            cells.append(_format(value, digits) if value else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Paired differences of test accuracy, MTL - single-task, over the same seeds:",
        "",
        "| task | MTL - | mean difference | 95% CI | seeds MTL ahead |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d in summary["differences"]:
        low, high = d["ci95"]
        ci = "n/a" if np.isnan(low) else f"[{low:+.4f}, {high:+.4f}]"
        lines.append(
            f"| {d['task']} | {MODELS[d['against']]} | {d['mean']:+.4f} | {ci} | "
            f"{d['mtl_ahead']}/{n} |"
        )
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


def _format(spread, digits):
    if np.isnan(spread["sd"]):
        return f"{spread['mean']:.{digits}f}"
    return f"{spread['mean']:.{digits}f} +- {spread['sd']:.{digits}f}"
