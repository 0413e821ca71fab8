"""Load a registered dataset from its IDX files: checksums verified, contents checked, normalised."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnist_mlp.data.datasets import (
    _IMAGE_SHAPE,
    _STEMS,
    _dataset,
    _fetch_command,
    dataset_dir,
)
from mnist_mlp.data.idx import _find_idx, _spellings, read_idx
from mnist_mlp.data.normalize import (
    DEFAULT_NORMALIZE,
    _normalizer,
    float_dtype,
    normalize_images,
    pixel_stats,
)
from mnist_mlp.data.verify import check_dataset_files
from mnist_mlp.errors import DataError

__all__ = ["load_dataset", "read_split"]


def _require(directory: Path, stem: str, how: str) -> Path:
    path = _find_idx(directory, stem)
    if path is None:
        others = ", ".join(_spellings(stem)[1:])
        raise DataError(f"{directory / stem}: file not found (nor {others}); get it with `{how}`")
    return path


def _load_split(paths: dict, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    image_path = paths[f"{prefix}-images-idx3-ubyte"]
    label_path = paths[f"{prefix}-labels-idx1-ubyte"]
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
    verify: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load ``"mnist"`` or ``"fashion-mnist"`` from its IDX files, checksums verified.

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
    verify : bool, optional
        Refuse files whose MD5 differs from the published one (True), or use them after
        one warning line naming them (False, for an own subset or relabelled data).
        Default: True unless ``--no-verify`` / ``MNIST_MLP_NO_VERIFY=1``
        (:mod:`mnist_mlp.data.policy`). Unchanged files are not hashed again
        (:mod:`mnist_mlp.data.verify`).

    Returns
    -------
    train_data : (n_train, 784) array
    test_data : (n_test, 784) array
    train_label : (n_train,) int64 array of class indices 0-9
    test_label : (n_test,) int64 array

    Raises
    ------
    DataError
        A file is missing (the message says how to fetch it), malformed, or (with
        ``verify``) differs from the published file.
    ConfigError
        Unknown dataset, normalisation or a non-floating dtype.
    """
    _dataset(name)
    _normalizer(normalize)
    float_dtype(dtype)
    directory, how = dataset_dir(name, data_dir), _fetch_command(name, data_dir)
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist; get {name} with `{how}`")
    paths = {stem: _require(directory, stem, how) for stem in _STEMS}
    train_x, train_y = _load_split(paths, "train")
    test_x, test_y = _load_split(paths, "t10k")
    # After parsing, whose errors are the more specific: the checksum catches the rest
    # (pixels or labels overwritten in place, a subset, permuted labels).
    check_dataset_files(name, paths, data_dir, verify=verify)
    # Statistics come from the training set only: the test set never shapes the inputs.
    stats = pixel_stats(train_x) if normalize == "standard" else None
    train_data = normalize_images(train_x, normalize, stats=stats, dtype=dtype)
    test_data = normalize_images(test_x, normalize, stats=stats, dtype=dtype)
    return train_data, test_data, train_y, test_y


def read_split(name: str, split: str, data_dir: str | os.PathLike | None = None, *,
               verify: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The raw images ``(n, 784)`` uint8 and int64 labels of one split of dataset ``name``.

    ``split`` is ``"train"`` or ``"t10k"`` (the test split); the other split's files are
    never opened, so hyperparameter search reads the training files alone. The files are
    checked and verified as :func:`load_dataset` does.
    """
    _dataset(name)
    if split not in ("train", "t10k"):
        raise ValueError(f"read_split: split must be 'train' or 't10k'; got {split!r}")
    directory, how = dataset_dir(name, data_dir), _fetch_command(name, data_dir)
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist; get {name} with `{how}`")
    paths = {stem: _require(directory, stem, how) for stem in _STEMS if stem.startswith(split + "-")}
    images, labels = _load_split(paths, split)
    check_dataset_files(name, paths, data_dir, verify=verify)
    return images, labels
