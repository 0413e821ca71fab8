"""Options shared by several commands: one call adds them to a parser.

``add_data_options(parser)`` gives a command ``--data-dir``, ``--no-verify`` and
``--download``; :func:`mnist_mlp.cli.main` applies the last two around the command
(:func:`mnist_mlp.data.policy.data_policy`), so a new command needs nothing else.
``add_executor_options(parser, what)`` gives ``--executor``, ``--scheduler`` and
``--dashboard`` (``report`` and ``tune``), read by :func:`executor_options`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_mlp.data.datasets import DATA_ENV_VAR
from mnist_mlp.data.policy import DOWNLOAD_ENV, NO_VERIFY_ENV, data_policy
from mnist_mlp.study.executors import DEFAULT_DASHBOARD

__all__ = ["add_data_options", "policy_of", "add_executor_options", "executor_options"]


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


def add_executor_options(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--executor``, ``--scheduler`` and ``--dashboard``; ``what`` names the jobs
    ("runs", "trials") in the help."""
    group = parser.add_argument_group("where the jobs run")
    group.add_argument("--executor", choices=("local", "dask"), default="local",
                       help=f"where {what} train: 'local' processes (default), or a Dask cluster "
                       "(needs pip install 'mnist-mlp[dask]'); without --scheduler, 'dask' "
                       "starts a local cluster of --jobs workers on 127.0.0.1")
    group.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="with --executor dask: the address of a running `dask scheduler`")
    group.add_argument("--dashboard", nargs="?", const=DEFAULT_DASHBOARD, default=None,
                       metavar="HOST:PORT",
                       help="with --executor dask and no --scheduler: serve the local cluster's "
                       f"Dask dashboard (default {DEFAULT_DASHBOARD}; needs bokeh); off unless given")


def executor_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of :func:`mnist_mlp.study.executors.make_executor` the flags ask for."""
    return {"kind": args.executor, "scheduler": args.scheduler, "dashboard": args.dashboard}
