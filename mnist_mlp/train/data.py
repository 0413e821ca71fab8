"""The data of one training run: loaded, checked, split into stratified seeded subsets.

The validation split and the training and test subsets are prefixes of
:func:`stratified_order`, so every one of them keeps the class proportions.
:func:`stratified_order` and :func:`split_indices` are re-exported by
:mod:`mnist_mlp.train.trainer`. This module imports NumPy and the package only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_mlp import load_data
from mnist_mlp.checks import message as _message
from mnist_mlp.data.normalize import normalization_metadata
from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.train.build import INPUT_SIZE, NUM_CLASSES

__all__ = ["stratified_order", "split_indices", "prepare_data"]


@dataclass
class _Data:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    test_x: np.ndarray
    test_y: np.ndarray


def stratified_order(labels, rng):
    """A seeded permutation of ``range(len(labels))`` whose every prefix is stratified.

    Each class is shuffled, and its k-th member (of n_c) is placed at the
    fraction (k + 1/2) / n_c of the way through the ordering; so the first m
    items hold m * n_c / n members of class c, give or take one.

    Parameters
    ----------
    labels : (n,) array of int
    rng : numpy.random.Generator

    Returns
    -------
    (n,) int array
    """
    labels = np.asarray(labels)
    order = rng.permutation(len(labels))
    shuffled = labels[order]
    _, inverse, counts = np.unique(shuffled, return_inverse=True, return_counts=True)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(labels), dtype=np.int64)
    rank[by_class] = np.arange(len(labels)) - np.repeat(starts, counts)
    position = (rank + 0.5) / counts[inverse]
    return order[np.argsort(position, kind="stable")]


def split_indices(labels, validation_size, train_subset, rng):
    """Stratified seeded (train, validation) index arrays, each sorted.

    The validation set is the first ``validation_size`` of :func:`stratified_order`;
    training gets the rest, or its first ``train_subset`` when that is given.
    """
    n = len(labels)
    if validation_size > n - 1:
        raise ConfigError(_message("validation_size", f"<= {n - 1} (the training set has {n} samples)",
                                   validation_size))
    if train_subset is not None and train_subset > n - validation_size:
        raise ConfigError(_message("train_subset", f"<= {n - validation_size} (training samples left "
                                   "after the validation split)", train_subset))
    order = stratified_order(labels, rng)
    train = order[validation_size:]
    if train_subset is not None:
        train = train[:train_subset]
    return np.sort(train), np.sort(order[:validation_size])


def _check_data(data):
    """``data = (train_x, test_x, train_y, test_y)`` as the loader returns it."""
    try:
        train_x, test_x, train_y, test_y = data
    except (TypeError, ValueError):
        raise DataError("data must be the tuple (train_x, test_x, train_y, test_y)") from None
    if test_x is None and test_y is None:  # the tuner withholds the test set
        train_x, train_y = np.asarray(train_x), np.asarray(train_y)
        checks = (("training", train_x, train_y),)
    else:
        train_x, test_x, train_y, test_y = (np.asarray(a) for a in (train_x, test_x, train_y, test_y))
        checks = (("training", train_x, train_y), ("test", test_x, test_y))
    for name, x, y in checks:
        if x.ndim != 2 or x.shape[1] != INPUT_SIZE or y.shape != (len(x),):
            raise DataError(f"the {name} data must be ({INPUT_SIZE}-column images, labels) of equal "
                            f"length; got shapes {x.shape} and {y.shape}")
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= NUM_CLASSES)):
            raise DataError(f"the {name} labels must be integers in [0, {NUM_CLASSES})")
    return train_x, test_x, train_y, test_y


def _load(config):
    """Load the dataset; return the data tuple and the normalisation metadata."""
    method = config.normalize or load_data.DEFAULT_NORMALIZE
    load_data.ensure_dataset(config.dataset, config.data_dir)
    if method != "standard":
        data = load_data.load_dataset(config.dataset, config.data_dir, normalize=method, dtype=config.dtype)
        return data, normalization_metadata(method)
    # The model file must carry the training statistics so `predict` can standardise
    # one image without the dataset: compute them here from the raw training pixels.
    train_x, test_x, train_y, test_y = load_data.load_dataset(
        config.dataset, config.data_dir, normalize="none", dtype=config.dtype)
    stats = load_data.pixel_stats(train_x)
    data = tuple(load_data.normalize_images(x, method, stats=stats, dtype=config.dtype)
                 for x in (train_x, test_x)) + (train_y, test_y)
    return data, normalization_metadata(method, stats)


def prepare_data(config, data, streams):
    """Split (and subset) the data; every size is checked before any training."""
    if data is None:
        data, norm_meta = _load(config)
    else:
        norm_meta = normalization_metadata(config.normalize or load_data.DEFAULT_NORMALIZE)
    train_x, test_x, train_y, test_y = _check_data(data)
    dtype = np.dtype(config.dtype)
    train_idx, val_idx = split_indices(train_y, config.validation_size, config.train_subset,
                                       streams["split"])
    if config.test_subset is not None and test_y is not None:
        if config.test_subset > len(test_y):
            raise ConfigError(_message("test_subset", f"<= {len(test_y)} (the test set size)",
                                       config.test_subset))
        keep = np.sort(stratified_order(test_y, streams["test"])[:config.test_subset])
        test_x, test_y = test_x[keep], test_y[keep]
    has_val = len(val_idx) > 0
    return _Data(
        train_x=np.asarray(train_x[train_idx], dtype=dtype), train_y=np.asarray(train_y[train_idx]),
        val_x=np.asarray(train_x[val_idx], dtype=dtype) if has_val else None,
        val_y=np.asarray(train_y[val_idx]) if has_val else None,
        test_x=None if test_x is None else np.asarray(test_x, dtype=dtype),
        test_y=None if test_y is None else np.asarray(test_y),
    ), norm_meta
