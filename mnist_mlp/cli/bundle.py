"""``mnist-mlp bundle``: the student's ``ID.zip`` in the seed's submission layout."""

from __future__ import annotations

import argparse

from mnist_mlp.course.bundle import build_bundle

__all__ = ["register"]

_DESCRIPTION = """\
Build ID.zip as the seed's submission guideline lays it out: the report
(Report.pdf/md/doc/docx), a freshly generated summary.txt (the code check of
codes/ against the pristine template: code_analyze/_codes beside codes/, else
--template, else this project's handout), codes/*.py and the README. Model
weights, raw data and compiled objects are refused."""


def register(subparsers) -> None:
    """Add the ``bundle`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "bundle", help="zip a student's submission in the seed's layout (ID.zip)",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student-id", required=True, metavar="ID", help="names the zip: ID.zip")
    parser.add_argument("--codes", default="codes", metavar="DIR", help="the code folder (default: codes)")
    parser.add_argument("--report", default=".", metavar="DIR",
                        help="the report file, or the folder holding it (default: .)")
    parser.add_argument("--template", metavar="DIR", help="the pristine handout code to compare against")
    parser.add_argument("--out", metavar="FILE", help="the zip to write (default: ID.zip)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    path, skipped = build_bundle(args.student_id, args.codes, args.report, args.out, args.template)
    left_out = f"; left out: {', '.join(skipped)}" if skipped else ""
    print(f"wrote {path}{left_out}")
    return 0
