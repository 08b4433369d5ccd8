"""Time per epoch of the study's recipes, and what each part of the modern one costs.

The study's multi-task net (``skmtl.study.study_classifier``, architecture
"study") is fitted on Fashion-MNIST training images for a few epochs under the
original recipe, the modern recipe, and the modern recipe with one of its parts
taken out. Runs alternate between variants, in one process; the median
seconds per epoch (skorch's ``dur``, validation included, first epoch dropped)
of each variant is printed with its ratio to the original recipe's, measured in
the same run. The issue's budget is a modern epoch within 1.3x an original one.
Usage::

    python benchmarks/bench_recipe_time.py [--n-samples 12000] [--epochs 3] \
        [--repeats 2] [--data-home FOLDER]
"""

import argparse
import statistics

from skmtl.study import RECIPES, load_study_data, study_classifier

WITHOUT = {
    "batch norm": {"trunk__batch_norm": False},
    "dropout": {"trunk__dropout": 0.0},
    "augment": {"augment": None},
    "label smoothing": {"criterion__label_smoothing": 0.0},
    "onecycle": {"lr_schedule": None},
}


def variants():
    yield "original", "original", {}
    yield "modern", "modern", {}
    for part, params in WITHOUT.items():
        yield f"modern without {part}", "modern", params


def _epoch_seconds(X, Y, recipe, params, epochs):
    clf = study_classifier(recipe=recipe, epochs=epochs, random_state=0)
    clf.set_params(**params).fit(X, Y)
    return statistics.median(clf.net_.history[1:, "dur"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-home")
    parser.add_argument(
        "--only", nargs="*", help="names of the variants to run (default: all)"
    )
    args = parser.parse_args(argv)
    X, Y, _, _ = load_study_data(args.n_samples, 10, args.data_home)
    chosen = [v for v in variants() if not args.only or v[0] in args.only]
    seconds = {name: [] for name, _, _ in chosen}
    for _ in range(args.repeats):
        for name, recipe, params in chosen:
            seconds[name].append(_epoch_seconds(X, Y, recipe, params, args.epochs))
    base = statistics.median(seconds["original"]) if "original" in seconds else None
    print(f"{args.n_samples} images, {args.epochs} epochs, {args.repeats} repeats")
    print(f"modern recipe: {RECIPES['modern']}")
    print(f"{'variant':32} {'s/epoch':>8} {'ratio':>6}")
    for name, values in seconds.items():
        median = statistics.median(values)
        ratio = f"{median / base:6.2f}" if base else "     -"
        print(f"{name:32} {median:8.2f} {ratio}")


if __name__ == "__main__":
    main()
