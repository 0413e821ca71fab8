"""The dataset registry: names, class names, file names, sizes, checksums, directories.

MNIST lives in the data directory itself (the course's layout), Fashion-MNIST
in ``fashion-mnist/`` below it because its files have the same names. The data
directory is ``$MNIST_MLP_DATA`` if set, else ``data`` in the working directory.
This module imports the standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnist_mlp.errors import ConfigError

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "DATA_ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "dataset_dir",
    "default_data_dir",
]

DATA_ENV_VAR = "MNIST_MLP_DATA"
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# The four files of a dataset, by canonical name, in the order fetch reports them.
_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_IMAGE_SHAPE = (28, 28)
# Uncompressed sizes: 16-byte header + 784 bytes per image; 8-byte header + 1 per label.
_SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 784,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 784,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}


@dataclass(frozen=True)
class _Dataset:
    subdir: str  # below the data directory; "" means the directory itself
    classes: tuple[str, ...]
    md5: dict[str, str]  # published MD5 of each uncompressed file


_DATASETS = {
    "mnist": _Dataset("", MNIST_CLASSES, {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }),
    "fashion-mnist": _Dataset("fashion-mnist", FASHION_MNIST_CLASSES, {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }),
}  # fmt: skip
DATASET_NAMES = tuple(_DATASETS)
CLASS_NAMES = {name: spec.classes for name, spec in _DATASETS.items()}


def default_data_dir() -> Path:
    """The data directory: ``$MNIST_MLP_DATA`` if set, else ``data`` in the working directory."""
    return Path(os.environ.get(DATA_ENV_VAR) or "data")


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Directory holding the files of dataset ``name`` below ``data_dir``.

    MNIST lives in ``data_dir`` itself (the course's layout), Fashion-MNIST in
    ``data_dir/fashion-mnist`` because its files have the same names.
    """
    spec = _dataset(name)
    root = default_data_dir() if data_dir is None else Path(data_dir)
    return root / spec.subdir if spec.subdir else root


def _dataset(name: str) -> _Dataset:
    if name not in _DATASETS:
        raise ConfigError(
            f"Unknown dataset {name!r}; choose one of: {', '.join(sorted(_DATASETS))}."
        )
    return _DATASETS[name]


def _is_default_dir(data_dir) -> bool:
    """``data_dir`` names the default data directory (None does)."""
    return data_dir is None or os.path.abspath(data_dir) == os.path.abspath(default_data_dir())


def _fetch_command(name: str, data_dir: str | os.PathLike | None) -> str:
    root = default_data_dir() if data_dir is None else Path(data_dir)
    option = "" if name == "mnist" else f" --dataset {name}"
    return f"mnist-mlp fetch{option} --data-dir {root}"
