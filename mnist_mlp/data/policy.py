"""What the user allowed for this command's data: downloading, and unverified files.

Two switches, each a command-line flag and an environment variable:

``--download`` / ``MNIST_MLP_DOWNLOAD=1``
    fetch a missing dataset into a data directory that is not the default one (the
    default one is always filled on first use). Without it a mistyped ``--data-dir``
    gets one line saying the folder does not exist, not a download into a new folder.
``--no-verify`` / ``MNIST_MLP_NO_VERIFY=1``
    load dataset files whose checksums differ from the published ones (an own subset,
    relabelled or permuted labels), after one warning line naming them.

They are environment variables, like ``MNIST_MLP_DATA``, because the study trains in
worker processes started with ``spawn``: those inherit the environment and nothing
else, so a flag given to ``mnist-mlp report`` reaches every worker's loader.
This module imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["DOWNLOAD_ENV", "NO_VERIFY_ENV", "data_policy", "download_allowed", "verify_enabled"]

DOWNLOAD_ENV = "MNIST_MLP_DOWNLOAD"
NO_VERIFY_ENV = "MNIST_MLP_NO_VERIFY"
_OFF = ("", "0", "false", "no")


def _on(name):
    return os.environ.get(name, "").strip().lower() not in _OFF


def verify_enabled() -> bool:
    """False when the user asked for unverified data (``--no-verify``)."""
    return not _on(NO_VERIFY_ENV)


def download_allowed() -> bool:
    """True when the user asked to download into any data directory (``--download``)."""
    return _on(DOWNLOAD_ENV)


@contextlib.contextmanager
def data_policy(*, verify=True, download=False):
    """Within the block (and in processes started in it) apply the user's switches.

    Only switches turned on are set; a variable the user set in the shell stays as it
    is, and every variable gets its old value back afterwards.
    """
    wanted = {NO_VERIFY_ENV: not verify, DOWNLOAD_ENV: bool(download)}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update({name: "1" for name, on in wanted.items() if on})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
