"""``mnist-mlp handout``: write the course handout (or its solution) generated from this project."""

from __future__ import annotations

import argparse

from mnist_mlp.course.handout import write_handout

__all__ = ["register"]

_DESCRIPTION = """\
Write what a course hands out, generated from this project's reference code:
DIR/codes/ with the seed's seven files (layers.py, loss.py, load_data.py,
utils.py, network.py, solve_net.py, run_mlp.py), flat and NumPy only, with the
bodies students write as '# TODO START' / '# TODO END' blocks; and
DIR/code_analyze/ with analyze.py, the pristine copy _codes/ it compares
against and the checker it runs, so 'python code_analyze/analyze.py' writes
code_analyze/summary.txt with no install. --solution fills the blocks in."""


def register(subparsers) -> None:
    """Add the ``handout`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "handout",
        help="write the course handout (codes/ with TODO blocks, code_analyze/)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    parser.add_argument(
        "--solution", action="store_true", help="write codes/ with the TODO blocks filled in"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    root = write_handout(args.out, solution=args.solution)
    kind = "solution" if args.solution else "handout"
    print(f"wrote the {kind} to {root}: codes/ (7 files) and code_analyze/")
    return 0
