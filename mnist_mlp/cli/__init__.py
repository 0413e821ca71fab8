"""The ``mnist-mlp`` command line: parse arguments, call the library, print.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit code. No logic lives only here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mnist_mlp.errors import MnistMlpError

__all__ = ["main", "build_parser"]

# Subcommand modules, in the order ``mnist-mlp --help`` lists them.
_COMMAND_MODULES = ("fetch", "check", "train", "evaluate", "predict", "report", "tune")


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
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("mnist-mlp: interrupted", file=sys.stderr)
        return 130
    except (MnistMlpError, ValueError, OSError) as exc:
        # User mistakes (bad flags, missing or broken files, divergence) get one
        # line on stderr; --debug shows the traceback for bug reports.
        if args.debug:
            raise
        print(f"mnist-mlp {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
