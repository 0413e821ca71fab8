"""``mnist-mlp report``: run the study of ``experiments.toml`` and write its report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mnist_mlp.cli.options import add_data_options, add_executor_options, executor_options
from mnist_mlp.errors import ConfigError
from mnist_mlp.fileio import check_output_dir

__all__ = ["register", "default_config_path", "DEFAULT_OUT"]

DEFAULT_OUT = Path("report")
_CONFIG_NAME = "experiments.toml"
# Enough to keep a laptop busy without loading the dataset into too many processes.
_MAX_DEFAULT_JOBS = 4


def default_config_path():
    """``./experiments.toml`` if present, else the one of the source checkout, if any."""
    here = Path(_CONFIG_NAME)
    if here.exists():
        return here
    checkout = Path(__file__).resolve().parents[2] / _CONFIG_NAME
    return checkout if checkout.exists() else here


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand to the ``mnist-mlp`` parser."""
    jobs = min(os.cpu_count() or 1, _MAX_DEFAULT_JOBS)
    parser = subparsers.add_parser(
        "report",
        help="run the study (every experiment of the seed's report) and write REPORT.md + report.html",
        description="Run every run of the study file that has no stored result, in parallel "
        "processes, then write REPORT.md and a self-contained report.html with all figures. "
        "Finished runs whose settings did not change are reused, so a second invocation takes "
        "seconds and an interrupted one resumes where it stopped. Results are keyed by settings, "
        "not by code: after changing the training code, delete DIR/runs (or use a new --out) to "
        "train again.",
    )
    parser.add_argument("--jobs", "-j", type=_positive_int, default=jobs, metavar="N",
                        help=f"runs trained at the same time, one process each (default: {jobs})")
    parser.add_argument("--quick", action="store_true",
                        help="apply the study's [quick] settings (a data subset, 2 epochs): the "
                        "whole pipeline in under a minute, as a smoke test")
    parser.add_argument("--out", "-o", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output directory (default: {DEFAULT_OUT}/)")
    parser.add_argument("--config", "-c", type=Path, default=None, metavar="FILE",
                        help=f"study file (default: ./{_CONFIG_NAME}, else the repository's)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar, only the final summary")
    add_data_options(parser)
    parser.add_argument("--seeds", type=_positive_int, default=None, metavar="N",
                        help="train every run with N seeds (default: the study file's 'seeds', "
                        "3 in the repository's; with --quick its [quick] seeds, 2)")
    add_executor_options(parser, "runs")
    parser.set_defaults(func=_run)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def _run(args: argparse.Namespace) -> int:
    # Imported here so `mnist-mlp --help` stays fast.
    from mnist_mlp.report.writer import write_report
    from mnist_mlp.study.executors import check_executor_options, make_executor
    from mnist_mlp.study.runner import run_suite
    from mnist_mlp.study.spec import load_suite

    # Every error before any training: options, study file, output, then the executor
    # (which starts the local cluster, or connects to the scheduler, or fails).
    check_executor_options(**executor_options(args))
    suite = load_suite(args.config or default_config_path())
    check_output_dir(args.out)
    with make_executor(**executor_options(args), jobs=args.jobs) as executor:
        if getattr(executor, "dashboard_link", None):
            print(f"Dask dashboard: {executor.dashboard_link}", file=sys.stderr, flush=True)
        outcome = run_suite(suite, args.out, jobs=args.jobs, quick=args.quick,
                            data_dir=args.data_dir, progress=args.progress, executor=executor,
                            seeds=args.seeds)
    md, html = write_report(suite, outcome, args.out, data_dir=args.data_dir)
    _summary(outcome, md, html)
    if not any(result.ok for result in outcome.results.values()):
        raise ConfigError("every run failed; see the errors in the report")
    return 0


def _summary(outcome, md, html):
    from mnist_mlp.report.writer import choose_best

    failed = [f"{name} seed {seed}" for (name, seed), result in outcome.results.items()
              if not result.ok]
    print(f"{md}\n{html}")
    runs = len({name for name, _ in outcome.results})
    print(f"{runs} runs x {outcome.seeds} seeds = {len(outcome.results)} jobs: "
          f"{len(outcome.trained)} trained, {len(outcome.reused)} reused, {len(failed)} failed; "
          f"{outcome.seconds:.1f} s wall time with {outcome.jobs} job(s) at a time",
          file=sys.stderr)
    best = choose_best(outcome.results)
    if best is not None:
        tests = [r.final["test_acc"] for r in outcome.of_run(best.name) if r.ok]
        print(f"best model by mean validation accuracy: {best.name}, test accuracy "
              f"{100 * sum(tests) / len(tests):.2f}% (mean of {len(tests)} seeds)",
              file=sys.stderr)
    if failed:
        print(f"failed runs (marked in the report): {', '.join(failed)}", file=sys.stderr)
