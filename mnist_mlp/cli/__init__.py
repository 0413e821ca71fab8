"""The ``mnist-mlp`` command line: parse arguments, call the library, print.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit code. No logic lives only here.

Exit codes: 0 success, 1 a user mistake (one line on stderr), 2 bad usage (argparse),
70 a bug in mnist-mlp (the traceback on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
import traceback

from mnist_mlp.cli.options import policy_of
from mnist_mlp.errors import MnistMlpError

__all__ = ["main", "build_parser", "EXIT_BUG"]

EXIT_BUG = 70  # EX_SOFTWARE of BSD's sysexits.h: an internal software error

# Subcommand modules, in the order ``mnist-mlp --help`` lists them.
_COMMAND_MODULES = (
    "fetch", "check", "train", "evaluate", "predict", "report", "tune", "serve",
    "handout", "grade", "bundle", "similarity",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist-mlp",
        description="A from-scratch NumPy MLP for MNIST: fetch data, train, evaluate, "
        "run the study and write its report.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with policy_of(args):  # --no-verify, --download: see cli/options.py
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mnist-mlp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if _is_user_error(exc):
            # A mistake of the user's (bad flags, missing or broken files, divergence):
            # one line on stderr; --debug shows the traceback.
            print(f"mnist-mlp {args.command}: error: {exc}", file=sys.stderr)
            return 1
        # Anything else is ours: say so, and give what a bug report needs.
        print(f"mnist-mlp {args.command}: this is a bug in mnist-mlp, not a mistake of yours; "
              "please report it with the traceback below.", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_BUG


# Errors of the machine rather than the code: a full or read-only disk.
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _is_user_error(exc):
    """The package's own error types, and OSErrors about a file or the disk."""
    if isinstance(exc, MnistMlpError):
        return True
    return isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _ENVIRONMENT_ERRNOS)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
