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
``code_analyze/_codes``; if there is none, ``_codes`` beside ``codes`` is used,
and in the mnist-mlp source tree (which has neither) the pristine copy of this
project's handout, generated on the fly. ``--template``, ``--submission`` and
``--out`` override the three paths.

The check itself is ``_codecheck.py`` beside this script in a handout written by
``mnist-mlp handout --out DIR`` (so nothing needs installing there), else the
installed package's ``mnist_mlp.course.codecheck`` (also ``mnist-mlp check``).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

__all__ = ["main"]


def _import_codecheck():
    """Return the code-check module, or None after saying why it cannot be imported.

    The handout's own ``_codecheck.py`` first (no install needed), then the package.
    """
    if os.path.isfile(os.path.join(HERE, "_codecheck.py")):
        sys.path.insert(0, HERE)
        sys.dont_write_bytecode = True  # leave no __pycache__ in the student's folder
        import _codecheck

        return _codecheck
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


def _handout_template():
    """The pristine handout, written to a temporary folder: the source tree's template.

    None outside the mnist-mlp source tree (where the package's handout is not there).
    """
    try:
        import tempfile

        from mnist_mlp.course.handout import build_handout
    except ImportError:
        return None
    import atexit
    import shutil

    folder = tempfile.mkdtemp(prefix="mnist-mlp-handout-")
    atexit.register(shutil.rmtree, folder, True)
    for name, (template, _) in build_handout().items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            fh.write(template)
    return folder


def _missing(args, given_template):
    """One line saying what is missing and how to get it, or None when both folders exist."""
    fix = ("write a homework folder with `mnist-mlp handout --out hw` (codes/ and "
           "code_analyze/_codes/), fill hw/codes/, and run `python hw/code_analyze/analyze.py`")
    if not os.path.isdir(args.submission):
        return (f"the submission folder {args.submission!r} does not exist: the seed's check "
                f"compares a student's codes/ with the pristine template; {fix}, "
                "or pass --submission DIR")
    if not os.path.isdir(args.template) and given_template:
        return f"the template folder {args.template!r} does not exist; pass --template DIR"
    if not os.path.isdir(args.template):
        return (f"the template folder {args.template!r} (the pristine copy handed out) does not "
                f"exist; {fix}, or pass --template DIR")
    return None


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
        default=None,
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
    given = args.template is not None
    label = None
    if not given:
        args.template = _default_template()
        if not os.path.isdir(args.template) and os.path.isdir(args.submission):
            handout = _handout_template()
            args.template, label = (handout, "_codes") if handout else (args.template, None)
    problem = _missing(args, given)
    if problem is not None:
        print(f"analyze.py: error: {problem}", file=sys.stderr)
        return 1
    try:
        result = codecheck.check_and_write(
            args.template,
            args.submission,
            args.out,
            template_label=label or _label(args.template),
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
