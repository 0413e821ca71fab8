"""``mnist-mlp grade``: grade submissions in a sandbox; write grades.csv, grades.json, grades.html."""

from __future__ import annotations

import argparse
import sys

from mnist_mlp.course.gradebook import write_gradebook
from mnist_mlp.course.grading import grade
from mnist_mlp.course.sandbox import SandboxLimits

__all__ = ["register"]

_DESCRIPTION = """\
Grade each SUBMISSION (a folder or .zip in the seed's layout: a report,
summary.txt, codes/*.py). Its code runs in a sandbox (own scratch copy, no
network, an unprivileged user, time, CPU and memory limits); its layers and
losses are checked against the seed's formulas and finite differences, its
network is trained on the MNIST training split, its summary.txt regenerated
against the template, its TODO lines, imports and layout checked. Points come
from a TOML rubric (--rubric; the default is mnist_mlp/course/rubric.toml)."""


def register(subparsers) -> None:
    """Add the ``grade`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "grade", help="grade student submissions in a sandbox (grades.csv, .json, .html)",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a folder or .zip")
    parser.add_argument("--template", metavar="DIR",
                        help="the handout the students got (default: this project's handout)")
    parser.add_argument("--out", default="grades", metavar="DIR", help="where to write (default: grades)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="submissions graded in parallel")
    parser.add_argument("--time-limit", type=float, default=300.0, metavar="S",
                        help="wall-clock seconds per submission (default: 300)")
    parser.add_argument("--memory-limit", type=int, default=2048, metavar="MB",
                        help="address space per submission in MB (default: 2048)")
    parser.add_argument("--rubric", metavar="FILE", help="points, training budget, tolerances (TOML)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the MNIST training split is")
    parser.add_argument("--unsafe", action="store_true",
                        help="grade even where the sandbox cannot isolate (resource limits only)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    limits = SandboxLimits(time_limit=args.time_limit, memory_mb=args.memory_limit)

    def progress(row):
        failed = f"; failed: {', '.join(row['failed'])}" if row["failed"] else ""
        print(f"{row['submission']}: {row['score']:g}/{row['max_score']:g} ({row['seconds']:.1f} s){failed}",
              flush=True)

    rows, sandbox = grade(args.submissions, template=args.template, jobs=args.jobs, limits=limits,
                          rubric=args.rubric, data_dir=args.data_dir, unsafe=args.unsafe, progress=progress)
    if sandbox.warning:
        print(f"warning: {sandbox.warning}", file=sys.stderr)
    paths = write_gradebook(rows, args.out)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
