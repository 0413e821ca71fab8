"""Elastic distortions of flattened images (Simard, Steinkraus and Platt 2003), in NumPy.

Every image gets its own random displacement field: each of its two components
(rows, columns) starts as independent uniform noise in [-1, 1] at every pixel, is
smoothed by a Gaussian of standard deviation ``sigma`` pixels and scaled by
``alpha``. Output pixel ``(r, c)`` then takes the bilinear interpolation of the
input at ``(r + dy[r, c], c + dx[r, c])`` (a backward map, so there are no holes),
with the image's background outside it. With Simard's sigma = 4 and alpha = 34 the
displacements are about 1.4 pixels (standard deviation), smooth over ~10 pixels:
strokes bend and thicken locally the way handwriting varies, which an affine map
cannot do.

Smoothing is separable: the field of an image is the matrix product G U G^T with
G the (H, H) Gaussian matrix whose row i holds the kernel centred on pixel i,
truncated to the image and renormalised to sum 1 (so every pixel's displacement is
a weighted mean of the noise, even at the border). For a 28x28 image that is two
28x28x28 products per component, cheaper than a 2-D convolution with a 4-sigma
kernel.

Cost, measured on the 2-core development machine (2026-12-01, load about 2): see
``docs/tune.md``; about 20 microseconds per image, i.e. ~1 s for a 55,000-image
epoch, against several seconds for the training step of a 784-800-10 MLP.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from mnist_mlp.data.images import as_images, fill_values, restore

__all__ = ["elastic_distort", "elastic_field", "warp_field", "gaussian_matrix"]

_DEFAULT_SHAPE = (28, 28)
SIMARD_ALPHA = 34.0
SIMARD_SIGMA = 4.0


def elastic_distort(x, rng, alpha=SIMARD_ALPHA, sigma=SIMARD_SIGMA, background=None,
                    image_shape=_DEFAULT_SHAPE):
    """Distort each image of a batch by its own random smooth displacement field.

    Parameters
    ----------
    x : ndarray, shape (batch, H*W) or (batch, H, W)
        Images, float or integer.
    rng : numpy.random.Generator
        The only source of randomness.
    alpha : float >= 0
        Scale of the displacement, pixels per unit of smoothed noise.
    sigma : float > 0
        Standard deviation of the smoothing Gaussian, pixels.
    background : float, optional
        Value of pixels read from outside the image; each image's minimum when None.
    image_shape : (int, int)
        (H, W) of 2-D input rows.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"elastic_distort: 'rng' must be a numpy.random.Generator; got "
                        f"{type(rng).__name__}.")
    images, height, width = as_images(x, image_shape)
    field = elastic_field(images.shape[0], rng, alpha, sigma, (height, width))
    return warp_field(x, field, background=background, image_shape=image_shape)


def elastic_field(n, rng, alpha=SIMARD_ALPHA, sigma=SIMARD_SIGMA, shape=_DEFAULT_SHAPE,
                  dtype=np.float32):
    """``n`` random displacement fields, shape (n, 2, H, W): (rows, columns) in pixels.

    Each component is ``alpha * G_H U G_W^T`` with U uniform in [-1, 1] per pixel and
    G the renormalised Gaussian matrices of :func:`gaussian_matrix`. At a pixel far
    from the border its standard deviation is ``alpha / sqrt(3) * sum_k g_k^2``
    (the variance of a weighted sum of independent uniforms; sum_k g_k^2 over the
    2-D kernel factorises into the product of the two 1-D sums).
    """
    _check_real("alpha", alpha, 0, allow_low=True)
    _check_real("sigma", sigma, 0, allow_low=False)
    height, width = shape
    # float32 draws are half the cost of float64 ones; 2u - 1 is uniform in [-1, 1).
    noise = rng.random((n, 2, height, width), dtype=np.float32).astype(dtype, copy=False)
    noise *= 2
    noise -= 1
    rows = gaussian_matrix(height, float(sigma), np.dtype(dtype))
    cols = gaussian_matrix(width, float(sigma), np.dtype(dtype))
    smooth = np.matmul(np.matmul(rows, noise), cols.T)
    smooth *= np.dtype(dtype).type(alpha)
    return smooth


@functools.lru_cache(maxsize=16)
def gaussian_matrix(size, sigma, dtype=np.dtype(np.float32)):
    """(size, size) smoothing matrix: row i is exp(-(j - i)^2 / (2 sigma^2)), rows sum to 1.

    Cached read-only: every batch uses the same one.
    """
    offsets = np.arange(size)[None, :] - np.arange(size)[:, None]
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)
    kernel = kernel.astype(dtype)
    kernel.flags.writeable = False
    return kernel


def warp_field(x, field, background=None, image_shape=_DEFAULT_SHAPE):
    """Resample each image at its pixel grid plus a given displacement field, bilinearly.

    Output pixel ``(r, c)`` of image ``i`` is the input interpolated at
    ``(r + field[i, 0, r, c], c + field[i, 1, r, c])``; points outside the image
    read ``background``. A field of whole numbers moves pixels without mixing them.

    Parameters
    ----------
    x : ndarray, shape (batch, H*W) or (batch, H, W)
    field : ndarray, shape (batch, 2, H, W) or (2, H, W)
        Row and column displacements in pixels.
    background : float, optional
        Each image's minimum when None.
    image_shape : (int, int)

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    images, height, width = as_images(x, image_shape)
    n = images.shape[0]
    work = np.float64 if images.dtype == np.float64 else np.float32
    field = np.broadcast_to(np.asarray(field, dtype=work), (n, 2, height, width))
    if not np.all(np.isfinite(field)):
        raise ValueError("The displacement field must be finite.")
    flat = images.reshape(n, -1).astype(work, copy=False)
    fill = fill_values(flat, background)
    # Pad a frame of background: one pixel before, two after, so every clamped source
    # point has its four neighbours inside the padded image.
    padded = np.empty((n, height + 3, width + 3), dtype=work)
    padded[...] = fill[:, None, None]
    padded[:, 1:height + 1, 1:width + 1] = flat.reshape(n, height, width)
    source_r = _clamp(field[:, 0] + (np.arange(height, dtype=work)[:, None] + 1), height + 1)
    source_c = _clamp(field[:, 1] + (np.arange(width, dtype=work)[None, :] + 1), width + 1)
    r0, c0 = np.floor(source_r), np.floor(source_c)
    fr, fc = source_r - r0, source_c - c0
    stride = width + 3
    r0 *= stride
    r0 += c0
    index = r0.astype(np.intp)
    index += (np.arange(n) * (height + 3) * stride)[:, None, None]
    values = padded.reshape(-1)
    # The neighbours are gathers from shifted views (no shifted index arrays); "clip"
    # (the indices are valid anyway) skips the buffered copy of the default mode.
    top = np.take(values, index, mode="clip")
    top_right = np.take(values[1:], index, mode="clip")
    bottom = np.take(values[stride:], index, mode="clip")
    bottom_right = np.take(values[stride + 1:], index, mode="clip")
    top += fc * (top_right - top)
    bottom += fc * (bottom_right - bottom)
    top += fr * (bottom - top)
    return restore(top.reshape(n, height * width), x)


# -- helpers -----------------------------------------------------------------------------


def _clamp(values, high):
    """``values`` limited to [0, high] in place (np.clip is ~10x slower on small arrays)."""
    np.maximum(values, 0, out=values)
    np.minimum(values, high, out=values)
    return values


def _check_real(name, value, low, allow_low):
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value >= low if allow_low else value > low))
    if not ok:
        rule = f">= {low}" if allow_low else f"> {low}"
        raise ValueError(f"The '{name}' parameter must be a finite number {rule}; got {value!r}.")
