"""``mnist-mlp check``: the seed's code check, comparing a submission with its template."""

from __future__ import annotations

import argparse
import sys

from mnist_mlp.course.codecheck import check_and_write, check_submission

__all__ = ["register"]

_DESCRIPTION = """\
Compare a student's code with the template handed out and write summary.txt in
the seed's format: the code filled between '# TODO START' and '# TODO END', the
'# Reference:' lines, every other modification against the template, and
warnings for what the seed forbids (a '# TODO' line changed or removed, a TODO
block unclosed or nested, a reference out of place or format)."""


def register(subparsers) -> None:
    """Add the ``check`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "check",
        help="compare a submission with its template and write summary.txt (the seed's code check)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--template",
        required=True,
        metavar="DIR",
        help="the pristine code as handed out (the seed's _codes)",
    )
    parser.add_argument(
        "--submission", required=True, metavar="DIR", help="the student's code (the seed's codes)"
    )
    parser.add_argument(
        "--out",
        default="summary.txt",
        metavar="FILE",
        help="where to write the summary; '-' prints it instead (default: summary.txt)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when there is any warning"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.out == "-":
        result = check_submission(args.template, args.submission)
        sys.stdout.write(result.render())
        # stdout holds the summary alone, so it can be piped; the status goes to stderr.
        print(result.summary_line(), file=sys.stderr)
    else:
        result = check_and_write(args.template, args.submission, args.out)
        print(f"wrote {args.out}: {result.summary_line()}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 1 if args.strict and result.warnings else 0
