"""``mnist-mlp tune``: search hyperparameters on the validation split with Optuna."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_mlp.cli.options import add_data_options, add_executor_options, executor_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "tune",
        help="search hyperparameters on the validation split (Optuna)",
        description="Search the space in --space (TPE sampler, seeded; median pruning on the "
        "validation accuracy of every epoch; trial 0 is the project's defaults). Trials never read "
        "the test set. Afterwards the best and the baseline parameters are retrained and evaluated "
        "once on the test set per seed. --out receives study.journal (resumable with --resume), "
        "trials.csv, best.json, best-model.npz, TUNE.md and tune.html. Needs "
        "`pip install -e '.[tune]'`.",
    )
    parser.add_argument("--space", type=Path, default=Path("tune.toml"), metavar="FILE",
                        help="search-space file (default tune.toml)")
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help="finished trials to reach (default: the space's [search] trials)")
    parser.add_argument("--timeout", type=float, default=None, metavar="MIN",
                        help="start no trial after MIN minutes")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="trials in parallel (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/tune"), metavar="DIR",
                        help="output directory (default runs/tune)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the study in --out without repeating finished trials")
    parser.add_argument("--quick", action="store_true",
                        help="the space's [quick] settings: a data subset, a few trials, two epochs")
    add_executor_options(parser, "trials")
    add_data_options(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mnist_mlp.tune import tune

    def log(line):
        print(line, flush=True)  # flushed: a watcher may act on each trial's line

    summary = tune(args.space, args.out, trials=args.trials, timeout=args.timeout, jobs=args.jobs,
                   executor=executor_options(args), resume=args.resume, quick=args.quick,
                   data_dir=args.data_dir, log=log)
    print(f"files: {args.out}/best.json, trials.csv, best-model.npz, TUNE.md, tune.html")
    return 0 if summary else 1
