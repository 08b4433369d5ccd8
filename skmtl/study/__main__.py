"""Run the Fashion-MNIST study: ``python -m skmtl.study --help``."""

import argparse
import json
import sys
from pathlib import Path

from ..weighting import NAMES
from ._plots import plot_study
from ._protocol import ARCHITECTURES, RECIPES, SELECTIONS, SHARING, run_study
from ._report import summarize, to_markdown

# The original study's recipe, over seeds; --quick is a smoke test under a minute.
FULL = dict(epochs=10, seeds=3, train_size=None, test_size=None, architecture="study")
QUICK = dict(epochs=2, seeds=2, train_size=2000, test_size=1000, architecture="small")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skmtl.study",
        description="Multi-task vs single-task nets on Fashion-MNIST (item, group), "
        "over seeds, with the epoch chosen on validation data and one test score.",
    )
    parser.add_argument("--epochs", type=int, help="epochs per net (10)")
    parser.add_argument("--seeds", type=int, help="number of seeded runs (3)")
    parser.add_argument("--train-size", type=int, help="training images (60000)")
    parser.add_argument("--test-size", type=int, help="test images (10000)")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES))
    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="original",
        help="how every net is trained (original: the study's Adam; modern: batch "
        "norm, dropout, AdamW, one-cycle rate, shifted images, label smoothing)",
    )
    parser.add_argument(
        "--sharing",
        type=_names(SHARING),
        default=["hard"],
        help="the multi-task nets' trunks, comma-separated among "
        f"{', '.join(SHARING)} (hard: the original study's)",
    )
    parser.add_argument(
        "--selection",
        type=_names(SELECTIONS),
        default=["shared"],
        help="how each multi-task net keeps its epoch, comma-separated: shared "
        "(one epoch, the best mean validation accuracy) or per_task (each task "
        "its own best epoch, as the single-task nets)",
    )
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument(
        "--task-weights", type=float, nargs=2, default=(0.5, 0.5), metavar="W"
    )
    parser.add_argument(
        "--loss-weighting",
        choices=NAMES,
        help="strategy of the multi-task net, in place of --task-weights",
    )
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--lr", type=float, help="learning rate (the recipe's: 1e-3 or 3e-3)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-home", help="folder holding FashionMNIST/raw/")
    parser.add_argument("--output", type=Path, default=Path("study_results"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the seeds of the study in --output (one of the same settings, "
        "each seed saved as it ends) and train only the seeds after them",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds, 2 epochs, 2000 images, small net"
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    chosen = {
        k: v if getattr(args, k) is None else getattr(args, k)
        for k, v in defaults.items()
    }
    results = args.output / "results.json"
    previous = None
    if args.resume and results.exists():
        previous = json.loads(results.read_text())
    args.output.mkdir(parents=True, exist_ok=True)

    def save(study):
        # Each finished seed is written at once: an interrupted study loses
        # only the seed it was training (and --resume goes on from there).
        with open(results, "w") as f:
            json.dump(study, f, indent=1)

    study = run_study(
        **chosen,
        validation_fraction=args.validation_fraction,
        task_weights=tuple(args.task_weights),
        loss_weighting=args.loss_weighting,
        recipe=args.recipe,
        sharing=tuple(args.sharing),
        selection=tuple(args.selection),
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        data_home=args.data_home,
        previous=previous,
        on_run=save,
    )
    summary = summarize(study)
    save({**study, "summary": summary})
    table = to_markdown(study, summary)
    (args.output / "results.md").write_text(table)
    plots = plot_study(study, args.output)
    print(table)
    print(f"Wrote results.json, results.md and {len(plots)} plots to {args.output}/")


def _names(allowed):
    """An argparse type: a comma-separated list of names among ``allowed``."""

    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"expected names among {', '.join(allowed)}; got {text!r}"
            )
        return names

    return parse


if __name__ == "__main__":
    sys.exit(main())
