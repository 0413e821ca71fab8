"""Data augmentation of flattened images (MNIST's 28x28) in pure NumPy.

:func:`augment_batch` gives every image its own small random affine transform
(rotation, scale, shear and translation about the image centre) and resamples it
with bilinear interpolation. The whole batch is done at once: one matrix product
maps every output pixel of every image to its source position, one gather per
corner fetches the four neighbours, and the interpolation is a few array passes.
:func:`random_shift` is the cheaper option: whole-pixel translations only.

Pixels that come from outside the image take the background value, by default each
image's minimum: normalised data (for example mean-centred) has a background that is
not 0, and filling with 0 would draw a frame around the digit.

Coordinates: rows point down, columns right; pixel centres sit at integer positions
and the image centre at ((H-1)/2, (W-1)/2), so a 90-degree rotation maps the pixel
grid onto itself and equals ``np.rot90``.

Cost, measured on the 2-core development machine: about 9 microseconds of CPU per
28x28 image in batches of 100, i.e. 0.5 s for a 55,000-image epoch, against 0.8 s
for the training step of a 784-256-10 MLP over the same epoch (single BLAS thread).
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

from mnist_mlp import checks
from mnist_mlp.data.elastic import elastic_distort
from mnist_mlp.data.images import as_images, fill_values, restore
from mnist_mlp.errors import ConfigError

__all__ = ["augment_batch", "warp_affine", "random_shift", "elastic_distort", "affine_then_elastic",
           "AUGMENTATIONS"]

_DEFAULT_SHAPE = (28, 28)


def augment_batch(x, rng, max_shift=2.0, max_rotation=10.0, max_scale=0.1, max_shear=0.0,
                  background=None, image_shape=_DEFAULT_SHAPE):
    r"""Apply a random small affine transform to each image of a batch.

    Each image draws, independently and uniformly: a rotation in
    ``[-max_rotation, max_rotation]`` degrees, a scale factor in
    ``[1 - max_scale, 1 + max_scale]``, a shear angle in ``[-max_shear, max_shear]``
    degrees and a shift in ``[-max_shift, max_shift]`` pixels along each axis
    (sub-pixel shifts included). See :func:`warp_affine` for the transform.

    Parameters
    ----------
    x : ndarray, shape (batch, H*W) or (batch, H, W)
        Images; float (any precision) or integer.
    rng : numpy.random.Generator
        The only source of randomness: the same seed gives the same output bits.
    max_shift : float >= 0
        Largest translation, pixels.
    max_rotation : float >= 0
        Largest rotation, degrees.
    max_scale : float in [0, 1)
        Largest relative change of size.
    max_shear : float in [0, 90)
        Largest shear angle, degrees (0 by default: MNIST's slant already varies).
    background : float, optional
        Fill value for pixels from outside the image; each image's minimum when None.
    image_shape : (int, int)
        (H, W) of 2-D input rows; ignored for 3-D input.

    Returns
    -------
    ndarray
        New array of the same shape and dtype as ``x``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"augment_batch: 'rng' must be a numpy.random.Generator; got {type(rng).__name__}."
        )
    checks.real("max_shift", max_shift, 0)
    checks.real("max_rotation", max_rotation, 0)
    checks.in_unit_interval("max_scale", max_scale)
    checks.real("max_shear", max_shear, 0, 90)
    n = np.shape(x)[0] if np.ndim(x) else 0
    # One draw for everything, in a fixed layout, so results depend on the seed only.
    u = rng.uniform(-1.0, 1.0, size=(n, 5))
    return warp_affine(
        x,
        rotation=u[:, 0] * max_rotation,
        scale=1.0 + u[:, 1] * max_scale,
        shear=u[:, 2] * max_shear,
        shift=u[:, 3:5] * max_shift,
        background=background,
        image_shape=image_shape,
    )


def warp_affine(x, rotation=0.0, scale=1.0, shear=0.0, shift=(0.0, 0.0), background=None,
                image_shape=_DEFAULT_SHAPE):
    r"""Transform each image by an affine map about its centre, bilinear resampling.

    A point :math:`p` (row, column, relative to the centre) moves to
    :math:`A p + t` with

    .. math::
        A = s \begin{pmatrix} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta \end{pmatrix}
            \begin{pmatrix} 1 & 0 \\ -\tan\phi & 1 \end{pmatrix}

    rotation :math:`\theta` (counter-clockwise as displayed, like ``np.rot90``), shear
    :math:`\phi` (positive leans the top to the right, like italics), scale :math:`s`
    and shift :math:`t` = (down, right). Each output pixel :math:`q` takes the bilinear
    interpolation of the input at :math:`A^{-1}(q - t)`; outside the image the
    input is ``background``.

    Parameters
    ----------
    x : ndarray, shape (batch, H*W) or (batch, H, W)
    rotation, scale, shear : float or array of shape (batch,)
        Degrees, factor (> 0), degrees.
    shift : array of shape (2,) or (batch, 2)
        (rows down, columns right), pixels.
    background : float, optional
        Each image's minimum when None.
    image_shape : (int, int)
        (H, W) for 2-D input.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    images, height, width = as_images(x, image_shape)
    n = images.shape[0]
    work_dtype = np.float64 if images.dtype == np.float64 else np.float32
    flat = images.reshape(n, height * width).astype(work_dtype, copy=False)
    matrices = _source_maps(n, height, width, rotation, scale, shear, shift)
    out = _bilinear(flat, height, width, matrices.astype(work_dtype), fill_values(flat, background))
    return restore(out, x)


def random_shift(x, rng, max_shift=2, background=None, image_shape=_DEFAULT_SHAPE):
    """Translate each image by a whole number of pixels in each direction.

    Shifts are drawn uniformly from the integers in ``[-max_shift, max_shift]``;
    no interpolation, so pixel values are only moved, never mixed.

    Parameters
    ----------
    x : ndarray, shape (batch, H*W) or (batch, H, W)
    rng : numpy.random.Generator
    max_shift : int >= 0
    background : float, optional
        Fill for the uncovered border; each image's minimum when None.
    image_shape : (int, int)

    Returns
    -------
    ndarray, same shape and dtype as ``x``
    """
    checks.integer("max_shift", max_shift, 0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"random_shift: 'rng' must be a numpy.random.Generator; got {type(rng).__name__}."
        )
    images, height, width = as_images(x, image_shape)
    n, k = images.shape[0], int(max_shift)
    offsets = rng.integers(-k, k + 1, size=(n, 2))
    fill = fill_values(images.reshape(n, -1), background)
    padded = np.empty((n, height + 2 * k, width + 2 * k), dtype=images.dtype)
    padded[...] = fill.reshape(n, 1, 1).astype(images.dtype)
    padded[:, k:k + height, k:k + width] = images
    # Output pixel (r, c) reads padded[k + r - dy, k + c - dx]: content moves by (dy, dx).
    rows = (k - offsets[:, 0])[:, None, None] + np.arange(height)[None, :, None]
    cols = (k - offsets[:, 1])[:, None, None] + np.arange(width)[None, None, :]
    out = padded[np.arange(n)[:, None, None], rows, cols]
    return out.reshape(np.shape(x))


def affine_then_elastic(x, rng):
    """:func:`augment_batch` (small affine map), then :func:`elastic_distort` (Simard's field)."""
    return elastic_distort(augment_batch(x, rng), rng)


# The values of TrainConfig.augment (True means "affine", the original option).
AUGMENTATIONS = {"affine": augment_batch, "elastic": elastic_distort,
                 "affine+elastic": affine_then_elastic}


# -- helpers -----------------------------------------------------------------------------


def _cos_sin(degrees):
    """cos and sin of angles in degrees; multiples of 90 degrees come out exact (0, +-1)."""
    radians = np.deg2rad(degrees)
    # cos(pi/2) is 6e-17, not 0: rounding to 15 decimals makes quarter turns exact
    # permutations of the grid and changes other angles by < 1e-15.
    return np.round(np.cos(radians), 15), np.round(np.sin(radians), 15)


def _source_maps(n, height, width, rotation, scale, shear, shift):
    """(N, 2, 3) float64 maps from centred output (row, col, 1) to padded source (row, col).

    Source = A^-1 (q - t) + centre + 1; the +1 is the one-pixel background frame of
    :func:`_bilinear`'s padded images.
    """
    rotation = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (n,))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    shear = np.broadcast_to(np.asarray(shear, dtype=np.float64), (n,))
    shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), (n, 2))
    for name, values, ok, rule in (
        ("rotation", rotation, np.isfinite(rotation), "finite"),
        ("shear", shear, np.isfinite(shear), "finite"),
        ("shift", shift, np.isfinite(shift), "finite"),
        ("scale", scale, np.isfinite(scale) & (scale > 0), "> 0 and finite"),
    ):
        if not ok.all():
            bad = float(values[~ok].flat[0])
            raise ConfigError(checks.message(name, rule, bad))
    cos, sin = _cos_sin(rotation)
    k = np.tan(np.deg2rad(shear))
    # A = s R Sh with R = [[c, -s], [s, c]], Sh = [[1, 0], [-k, 1]]; det A = scale^2.
    a, b = scale * (cos + sin * k), -scale * sin
    c, d = scale * (sin - cos * k), scale * cos
    det = scale * scale
    inverse = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], axis=1) / det[:, None, None]
    centre = np.array([(height - 1) / 2.0 + 1.0, (width - 1) / 2.0 + 1.0])
    maps = np.empty((n, 2, 3))
    maps[:, :, :2] = inverse
    maps[:, :, 2] = centre - np.einsum("nij,nj->ni", inverse, shift)
    return maps


def _bilinear(flat, height, width, maps, fill):
    """Sample every image at the positions its map gives; bilinear, ``fill`` outside.

    Images are padded with a frame of ``fill``: one pixel at the top and left, two at
    the bottom and right. Source positions are clamped to [0, H + 1] x [0, W + 1] of
    the padded image, so a position beyond the frame reads the frame (pure
    background) and the corner (r0 + 1, c0 + 1) always exists: no bounds checks.
    Works through :data:`_CHUNK` images at a time in reused buffers.
    """
    out = np.empty_like(flat)
    for start in range(0, flat.shape[0], _CHUNK):
        stop = min(start + _CHUNK, flat.shape[0])
        _bilinear_chunk(flat[start:stop], height, width, maps[start:stop], fill[start:stop],
                        out[start:stop])
    return out


def _bilinear_chunk(flat, height, width, maps, fill, out):
    """:func:`_bilinear` for one chunk of images, written into ``out``."""
    n, dtype = flat.shape[0], flat.dtype
    padded = _WORKSPACE.get("padded", (n, height + 3, width + 3), dtype)
    padded[...] = fill[:, None, None]
    padded[:, 1:height + 1, 1:width + 1] = flat.reshape(n, height, width)
    fractions, index = _source_positions(maps, height, width, dtype)
    values = padded.reshape(-1)
    # values[index + k] as a gather from the view values[k:], so no shifted index arrays;
    # "clip" (the indices are valid anyway) avoids the buffered copy of the default mode.
    row = width + 3
    corners = [_WORKSPACE.get(f"corner{k}", index.shape, dtype) for k in range(3)]
    np.take(values, index, out=out, mode="clip")
    for buffer, offset in zip(corners, (1, row, row + 1)):
        np.take(values[offset:], index, out=buffer, mode="clip")
    _interpolate(out, *corners, fractions[:, 0], fractions[:, 1])


def _source_positions(maps, height, width, dtype):
    """Fractional parts (n, 2, H*W) and flat top-left indices (n, H*W) of the source points.

    Indices point into the chunk's padded images of shape (n, H + 3, W + 3), raveled.
    """
    n, pixels, row = maps.shape[0], height * width, width + 3
    source = _WORKSPACE.get("source", (n, 2, pixels), dtype)
    grid = _grid(height, width, np.dtype(dtype))
    np.matmul(maps.reshape(2 * n, 3), grid, out=source.reshape(2 * n, pixels))
    if height == width:                               # one pass instead of two
        np.clip(source, 0, height + 1, out=source)
    else:
        np.clip(source[:, 0], 0, height + 1, out=source[:, 0])
        np.clip(source[:, 1], 0, width + 1, out=source[:, 1])
    whole = _WORKSPACE.get("whole", (n, 2, pixels), dtype)
    np.floor(source, out=whole)
    source -= whole                                   # now the fractional parts
    # Flat index = image * (H+3)(W+3) + row * (W+3) + column, computed in floating
    # point (exact: far below 2**24 for a chunk) and converted to integers once.
    position = whole[:, 0]
    position *= row
    position += whole[:, 1]
    position += (np.arange(n) * ((height + 3) * row)).astype(dtype)[:, None]
    index = _WORKSPACE.get("index", (n, pixels), np.intp)
    np.copyto(index, position, casting="unsafe")
    return source, index


def _interpolate(top, top_right, bottom, bottom_right, frac_row, frac_col):
    """Bilinear blend of 2x2 neighbourhoods, in place into ``top``.

    top = v00 + fc (v01 - v00), bottom = v10 + fc (v11 - v10),
    out = top + fr (bottom - top). With fr = fc = 0 the result is v00 exactly, and for
    fractions in [0, 1) each blend lies between its two inputs (up to rounding).
    """
    top_right -= top
    top_right *= frac_col
    top += top_right
    bottom_right -= bottom
    bottom_right *= frac_col
    bottom += bottom_right
    bottom -= top
    bottom *= frac_row
    top += bottom


@functools.lru_cache(maxsize=8)
def _grid(height, width, dtype):
    """(3, H*W): centred row and column of every output pixel, and a row of ones.

    Cached (read-only) because every batch uses the same grid.
    """
    rows, cols = np.mgrid[0:height, 0:width]
    grid = np.stack([rows.ravel() - (height - 1) / 2, cols.ravel() - (width - 1) / 2,
                     np.ones(height * width)]).astype(dtype)
    grid.flags.writeable = False
    return grid


class _Workspace(threading.local):
    """Scratch arrays reused from call to call, one set per thread.

    Why: fresh multi-megabyte temporaries on every batch are returned to the operating
    system and page-faulted back in on the next one, which costs more than the
    arithmetic (measured 2.6 ms vs 0.6 ms for 100 images). Buffers only grow, and a
    request is served from the front of the buffer, so a short last batch reuses them.
    """

    def __init__(self):
        self.buffers = {}

    def get(self, name, shape, dtype):
        size = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.dtype != dtype or buffer.size < size:
            buffer = self.buffers[name] = np.empty(size, dtype=dtype)
        return buffer[:size].reshape(shape)


_WORKSPACE = _Workspace()
# Images per pass of the resampler. The working set (about 36 bytes per pixel, 2 MB
# for 64 images) must stay in cache: 256 images per pass measured 7 times slower.
# Also keeps flat indices far below 2**24, where float32 stops counting exactly.
_CHUNK = 64
