"""The seed's code check: write ``code_analyze/summary.txt`` for your submission.

The layout the seed hands out::

    homework/
        codes/                 your code (the submission)
            layers.py ...
        code_analyze/
            analyze.py         this script
            _codes/            the pristine code as handed out (the template)
            summary.txt        written here

Run ``python ./code_analyze/analyze.py`` from ``homework/`` (or from anywhere:
every path is resolved relative to this script, never to the current folder,
so the summary is the same wherever you run it). The template is
``code_analyze/_codes``; if there is none, ``_codes`` beside ``codes`` is used.
``--template``, ``--submission`` and ``--out`` override the three paths.

This file is a thin wrapper: the check itself is ``mnist_mlp.course.codecheck`` (also
``mnist-mlp check --template DIR --submission DIR``), so the package must be
installed (``pip install -e .`` in the mnist-mlp source folder).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

__all__ = ["main"]


def _import_codecheck():
    """Return ``mnist_mlp.course.codecheck``, or None after saying why it cannot be imported."""
    try:
        from mnist_mlp.course import codecheck
    except ImportError as exc:
        # Inside the mnist-mlp source tree the package sits beside this folder:
        # use it even when it is not installed.
        parent = os.path.dirname(HERE)
        if os.path.isdir(os.path.join(parent, "mnist_mlp")) and parent not in sys.path:
            sys.path.insert(0, parent)
            return _import_codecheck()
        print(
            f"analyze.py: cannot import mnist_mlp.course.codecheck ({exc}). This script is a thin "
            "wrapper around the mnist-mlp package: install it (pip install -e . in the "
            "mnist-mlp source folder) and run it again.",
            file=sys.stderr,
        )
        return None
    return codecheck


def _default_template():
    inside = os.path.join(HERE, "_codes")
    beside = os.path.join(os.path.dirname(HERE), "_codes")
    return beside if not os.path.isdir(inside) and os.path.isdir(beside) else inside


def _label(path):
    """The path as the summary shows it: relative to this script's folder, as the seed prints."""
    try:
        return os.path.relpath(path, HERE)
    except ValueError:  # another drive on Windows
        return os.path.abspath(path)


def _parse(argv):
    parser = argparse.ArgumentParser(
        description="Write the seed's summary.txt: filled code, "
        "references and other modifications against the template."
    )
    parser.add_argument(
        "--template",
        default=_default_template(),
        metavar="DIR",
        help="the pristine code (default: code_analyze/_codes, else _codes beside codes)",
    )
    parser.add_argument(
        "--submission",
        default=os.path.join(os.path.dirname(HERE), "codes"),
        metavar="DIR",
        help="your code (default: codes beside code_analyze)",
    )
    parser.add_argument(
        "--out",
        default=os.path.join(HERE, "summary.txt"),
        metavar="FILE",
        help="the summary to write (default: code_analyze/summary.txt)",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 on any warning")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the check; return the exit status (2: package missing, 1: error or --strict warnings)."""
    codecheck = _import_codecheck()
    if codecheck is None:
        return 2
    args = _parse(argv)
    try:
        result = codecheck.check_and_write(
            args.template,
            args.submission,
            args.out,
            template_label=_label(args.template),
            submission_label=_label(args.submission),
        )
    except (ValueError, OSError) as exc:
        print(f"analyze.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {result.summary_line()}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 1 if args.strict and result.warnings else 0


if __name__ == "__main__":
    sys.exit(main())
