"""``mnist-mlp similarity``: find code shared between submissions beyond the template."""

from __future__ import annotations

import argparse

from mnist_mlp.course.similarity import Settings, find_similar
from mnist_mlp.course.simreport import summary, write_report

__all__ = ["register"]

_DESCRIPTION = """\
Compare every pair of submissions (folders or .zip files in the seed's layout,
read with the grader's safety rules) and find the code they share beyond the
template: tokens normalised (names, numbers and strings made anonymous; comments,
docstrings and formatting ignored), hashed k-grams winnowed into fingerprints,
the template's fingerprints and those common to many submissions removed before
scoring. Writes similarity.csv (every pair, by score) and similarity.html
(clusters, ranked pairs, side-by-side views of the pairs above the threshold)."""


def register(subparsers) -> None:
    """Add the ``similarity`` subcommand to the ``mnist-mlp`` parser."""
    defaults = Settings()
    parser = subparsers.add_parser(
        "similarity",
        help="find code copied between submissions (as MOSS, JPlag and Dolos do)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="folders or zips")
    parser.add_argument(
        "--template",
        metavar="DIR",
        help="the handout as given to students (a folder with codes/, or a flat folder of "
        ".py files); its code never counts as shared",
    )
    parser.add_argument(
        "--past",
        nargs="+",
        default=[],
        metavar="DIR",
        help="earlier years' answers (a submission, or a folder of them): compared with "
        "every submission, not with each other; put it after the submissions",
    )
    parser.add_argument(
        "--out",
        default="similarity",
        metavar="DIR",
        help="folder for similarity.csv and similarity.html (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        metavar="T",
        help="pairs scoring at least T in [0, 1] are reported and shown (default: %(default)s)",
    )
    parser.add_argument(
        "--max-fraction",
        type=float,
        default=defaults.max_fraction,
        metavar="F",
        help="ignore code found in more than this fraction of the submissions (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "-k", type=int, default=defaults.k, help="tokens per k-gram (default: %(default)s)"
    )
    parser.add_argument(
        "-w", type=int, default=defaults.w, help="winnowing window (default: %(default)s)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = Settings(
        k=args.k, w=args.w, threshold=args.threshold, max_fraction=args.max_fraction
    )
    result = find_similar(args.submissions, args.template, args.past, settings)
    csv_path, html_path = write_report(result, args.out)
    print(summary(result))
    print(f"wrote {csv_path} and {html_path}")
    return 0
