"""Bring an arbitrary digit picture (PNG, JPEG, ... grayscale or colour) into MNIST form.

MNIST's own recipe (LeCun et al.): white ink on a black background, the digit scaled
so that the larger side of its bounding box is 20 pixels (aspect ratio kept, with
anti-aliasing), then placed in a 28x28 field so that its centre of mass sits at the
centre. Measured on the MNIST training set, that centre of mass is at (14.0, 14.0) in
0-based (row, column) pixel coordinates, the target used here.

Steps of :func:`load_digit_image`:

1. read with Pillow, apply the EXIF orientation (phone photos), composite any
   transparency on white, convert to luminance ("L": 0.299 R + 0.587 G + 0.114 B);
2. invert if the digit is dark on light: the border (the background) is brighter
   than the image's mean;
3. subtract the background level and noise floor, estimated from the border;
4. crop to the bounding box of the ink, resize its larger side to 20 pixels, stretch
   it to a peak of 255 (a faint pencil stroke becomes full-strength ink) and paste it
   into 28x28 by whole-pixel offsets putting its centre of mass nearest (14, 14).
"""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_mlp.errors import DataError

__all__ = ["load_digit_image", "to_mnist_form", "MNIST_SIDE", "BOX_SIDE", "MASS_CENTRE"]

MNIST_SIDE = 28           # output images are MNIST_SIDE x MNIST_SIDE
BOX_SIDE = 20             # larger side of the digit's bounding box after scaling
MASS_CENTRE = (14.0, 14.0)  # (row, column) of the centre of mass in MNIST

# Ink is what rises above the background by at least this much on the 0-255 scale;
# less means the picture is blank (allows for JPEG noise on an empty page).
_MIN_CONTRAST = 12.0
# Pixels below this fraction of the peak do not extend the bounding box: faint
# specks and compression ringing around the digit would otherwise widen it.
_BOX_FRACTION = 0.05


def load_digit_image(path):
    """Read an image file and return it as one MNIST-style digit.

    Parameters
    ----------
    path : str or os.PathLike
        Any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, ...), grayscale or colour,
        with or without transparency, of any size.

    Returns
    -------
    ndarray of float32, shape (784,)
        Whole numbers in [0, 255] (as in the MNIST files, before any normalisation):
        white digit on black, 20-pixel box, centred by mass in 28x28, row-major.

    Raises
    ------
    DataError
        If the file is missing, is not a readable image, or holds no ink (blank).
    """
    path = os.fspath(path)
    return to_mnist_form(_read_grayscale(path), name=path)


def to_mnist_form(gray, name="image"):
    """MNIST form of a grayscale picture already in memory; see :func:`load_digit_image`.

    Parameters
    ----------
    gray : array_like, shape (height, width)
        Luminance in [0, 255], either polarity (dark on light is inverted).
    name : str
        Used in error messages.

    Returns
    -------
    ndarray of float32, shape (784,)
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise DataError(f"{name!r}: expected a 2-D grayscale image; got shape {gray.shape}.")
    if not np.all(np.isfinite(gray)):
        raise DataError(f"{name!r}: the image contains NaN or infinite values.")
    ink = _ink(gray, name)
    box = _resize_to_box(_crop_to_ink(ink), BOX_SIDE)
    # Stretch to a peak of 255 after resizing, when noise has been averaged away: a
    # faint or thin stroke becomes full-strength ink, as in MNIST.
    box *= 255.0 / box.max()
    field = _paste_centred(box, MNIST_SIDE, MASS_CENTRE)
    return np.clip(np.rint(field), 0, 255).astype(np.float32).ravel()


def _read_grayscale(path):
    """Luminance of the image at ``path`` as float32 (height, width) in [0, 255]."""
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return _luminance(image)
    except FileNotFoundError:
        raise DataError(f"image file {path!r} does not exist.") from None
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path!r} is not an image Pillow can read ({exc}).") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt files, directories
        raise DataError(f"cannot read image {path!r}: {exc}") from None


def _luminance(image):
    """Grayscale float32 array of a Pillow image, transparency composited on white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # High bit depth: keep the precision; the later contrast stretch makes the
        # absolute scale irrelevant, so only map it into [0, 255].
        gray = np.asarray(image, dtype=np.float32)
        peak = float(gray.max()) if gray.size else 0.0
        return gray * (255.0 / peak) if peak > 255.0 else gray
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _border(gray):
    """The outermost ring of pixels, where the background shows."""
    if min(gray.shape) <= 2:
        return gray.ravel()
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def _ink(gray, name):
    """White-on-black ink with the background at 0; DataError if there is none."""
    border = _border(gray)
    if np.median(border) > gray.mean():
        gray = 255.0 - gray                 # dark digit on a light background
        border = 255.0 - border
    # Background level plus its spread (90th percentile of the border): what stays
    # above it is ink. Zero spread for clean images, so they are left untouched.
    floor = float(np.percentile(border, 90))
    ink = np.maximum(gray - floor, 0.0)
    peak = float(ink.max())
    if peak < _MIN_CONTRAST:
        raise DataError(
            f"{name!r}: no digit found: the image is blank (contrast {peak:.1f} of 255 "
            f"above the background; at least {_MIN_CONTRAST:g} needed)."
        )
    return ink


def _crop_to_ink(ink):
    """The smallest rectangle holding every pixel above ``_BOX_FRACTION`` of the peak."""
    mask = ink > _BOX_FRACTION * ink.max()
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _resize_to_box(box, side):
    """Scale so the larger side is ``side`` pixels, keeping the aspect ratio.

    Pillow's BILINEAR filter widens its support when shrinking, so large photos are
    anti-aliased rather than sub-sampled; unlike Lanczos it never overshoots.
    """
    height, width = box.shape
    factor = side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))  # PIL: (w, h)
    if size == (width, height):
        return box.copy()
    resized = Image.fromarray(box.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)


def _paste_centred(box, side, centre):
    """Place ``box`` in a ``side`` x ``side`` black field, centre of mass nearest ``centre``.

    The offset is a whole number of pixels (MNIST's recipe: no resampling), so the
    centre of mass lands within half a pixel of the target, unless that would push
    part of the box out of the field: then the box is moved just enough to fit.
    """
    height, width = box.shape
    mass = box.sum(dtype=np.float64)
    rows = np.arange(height) @ box.sum(axis=1, dtype=np.float64) / mass
    cols = np.arange(width) @ box.sum(axis=0, dtype=np.float64) / mass
    top = min(max(math.floor(centre[0] - rows + 0.5), 0), side - height)
    left = min(max(math.floor(centre[1] - cols + 0.5), 0), side - width)
    field = np.zeros((side, side), dtype=np.float32)
    field[top:top + height, left:left + width] = box
    return field
