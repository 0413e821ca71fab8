"""Options shared by the commands that load data: one call adds them to a parser.

``add_data_options(parser)`` gives a command ``--data-dir``, ``--no-verify`` and
``--download``; :func:`mnist_mlp.cli.main` applies the last two around the command
(:func:`mnist_mlp.data.policy.data_policy`), so a new command needs nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_mlp.data.datasets import DATA_ENV_VAR
from mnist_mlp.data.policy import DOWNLOAD_ENV, NO_VERIFY_ENV, data_policy

__all__ = ["add_data_options", "policy_of"]


def add_data_options(parser: argparse.ArgumentParser, *, data_dir: bool = True) -> None:
    """Add ``--no-verify`` and ``--download`` (and ``--data-dir`` unless ``data_dir`` is False,
    for a command that takes it elsewhere, e.g. ``train`` among its training settings)."""
    group = parser.add_argument_group("data")
    if data_dir:
        group.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                           help=f"data directory (default: ${DATA_ENV_VAR}, else ./data)")
    group.add_argument("--no-verify", dest="verify", action="store_false",
                       help="use dataset files whose MD5 differs from the published one (an own "
                       "subset, relabelled data) after one warning line naming them "
                       f"(also ${NO_VERIFY_ENV}=1)")
    group.add_argument("--download", action="store_true",
                       help="fetch a missing dataset into --data-dir even if it is not the default "
                       f"directory (also ${DOWNLOAD_ENV}=1)")


def policy_of(args: argparse.Namespace):
    """The :func:`~mnist_mlp.data.policy.data_policy` the parsed flags ask for (a no-op for
    commands without the data options)."""
    return data_policy(verify=getattr(args, "verify", True), download=getattr(args, "download", False))
