"""Test digits for the page's "sample" button: shown with their true label, nothing more.

The test split is read only to display digits and what the model says about them;
it never trains, tunes or selects a model. It is loaded on the first request (a second
or so), so a server whose page never asks for a sample never reads it.
"""

from __future__ import annotations

import threading

import numpy as np

from mnist_mlp.load_data import load_dataset

__all__ = ["TestDigits"]


class TestDigits:
    """The test images (uint8, (n, 784)) and labels of one dataset, loaded lazily.

    Parameters
    ----------
    dataset : str
        ``"mnist"`` or ``"fashion-mnist"`` (the model's dataset).
    data_dir : path-like, optional
        Where the dataset is; the loader's default (``$MNIST_MLP_DATA``, else ``./data``).
    images, labels : array_like, optional
        Use these instead of loading (tests, or a caller that has them already).
    seed : int
        Seeds the generator that picks random samples: same seed, same sequence.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, dataset="mnist", data_dir=None, *, images=None, labels=None, seed=0):
        self.dataset, self.data_dir = dataset, data_dir
        self._images = None if images is None else np.asarray(images, dtype=np.uint8)
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def _load(self):
        """Images and labels; the DataError of the loader (saying how to fetch) if missing."""
        with self._lock:
            if self._images is None:
                _, test_x, _, test_y = load_dataset(self.dataset, self.data_dir, normalize="none")
                self._images = test_x.astype(np.uint8)
                self._labels = test_y
            return self._images, self._labels

    def __len__(self):
        return len(self._load()[1])

    def random_index(self):
        """An index drawn from the seeded generator (thread-safe)."""
        count = len(self)
        with self._lock:  # a Generator must not be used by two threads at once
            return int(self._rng.integers(count))

    def get(self, index):
        """``(pixels (784,) uint8, label)`` of test digit ``index``."""
        images, labels = self._load()
        return images[index], int(labels[index])
