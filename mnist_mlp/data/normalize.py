"""Pixel values to network inputs, and the record a model file keeps of how.

The model file remembers how its inputs were normalised
(:func:`normalization_metadata`), so ``evaluate``, ``predict`` and ``serve`` feed it
data scaled exactly as in training (:func:`normalize_like`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_mlp.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_NORMALIZE",
    "NORMALIZATIONS",
    "normalize_images",
    "pixel_stats",
    "float_dtype",
    "normalization_metadata",
    "normalize_like",
]

# The course code's (x - 128) / 255: the seed's hyperparameters were tuned on it.
DEFAULT_NORMALIZE = "center"


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


def float_dtype(dtype) -> np.dtype:
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
    transform, dt = _normalizer(method), float_dtype(dtype)
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


def normalization_metadata(method, stats=None):
    """What a model file stores so later inputs are scaled as the training data were.

    Parameters
    ----------
    method : str
        A key of :data:`mnist_mlp.load_data.NORMALIZATIONS`.
    stats : (mean, std), optional
        Per-pixel training statistics, needed by ``"standard"``.

    Returns
    -------
    dict
        JSON-serialisable: ``{"normalize": method}`` plus ``"mean"`` / ``"std"`` lists.
    """
    meta = {"normalize": method}
    if stats is not None:
        meta["mean"] = np.asarray(stats[0], dtype=np.float64).tolist()
        meta["std"] = np.asarray(stats[1], dtype=np.float64).tolist()
    return meta


def normalize_like(meta, images, dtype=np.float32):
    """Scale raw 0-255 ``images`` (n, 784) the way the model's training data were.

    ``meta`` is the model file's metadata (see :func:`normalization_metadata`);
    a file without it is assumed to use the loader's default normalisation.
    """
    method = meta.get("normalize") or DEFAULT_NORMALIZE
    stats = None
    if method == "standard":
        if "mean" not in meta or "std" not in meta:
            raise DataError("the model file says normalize='standard' but stores no pixel statistics")
        stats = (np.asarray(meta["mean"]), np.asarray(meta["std"]))
    return normalize_images(images, method, stats=stats, dtype=dtype)
