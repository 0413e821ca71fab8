"""Image batches as the augmentations see them: rows of H*W pixels as an (N, H, W) view,
each image's background value, and the way back to the caller's shape and dtype.

Shared by :mod:`mnist_mlp.data.augment` (affine transforms, shifts) and
:mod:`mnist_mlp.data.elastic` (elastic distortions).
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_images", "fill_values", "restore"]


def as_images(x, image_shape):
    """``x`` as an (N, H, W) view plus H and W, checking that the sizes agree."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x, x.shape[1], x.shape[2]
    height, width = image_shape
    if x.ndim != 2 or x.shape[1] != height * width:
        raise ValueError(
            f"expected images of shape (batch, {height * width}) or (batch, H, W); got {x.shape}."
        )
    return x.reshape(-1, height, width), height, width


def fill_values(flat, background):
    """Per-image background, shape (N,): the given value or each image's minimum."""
    if background is None:
        return flat.min(axis=1) if flat.shape[1] else np.zeros(flat.shape[0], flat.dtype)
    return np.full(flat.shape[0], background, dtype=flat.dtype)


def restore(out, x):
    """Back to the caller's shape and dtype (integers rounded and clipped to their range)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(x.dtype, copy=False).reshape(x.shape)
