"""The JSON API's input rules: a request body in, an MNIST-form digit out, or an ApiError.

``POST /api/predict`` takes a JSON object with exactly one of

``"pixels"``
    784 grey levels (numbers in [0, 255]), a 28x28 picture row by row, either polarity;
``"image"``
    a data URL (``data:image/png;base64,...``; any format Pillow reads),

and optionally ``"preprocess"`` (default true). Pictures go through the same
preprocessing as ``mnist-mlp predict`` (:func:`~mnist_mlp.data.imageprep.to_mnist_form`
for pixels, :func:`~mnist_mlp.data.imageprep.load_digit_image` for images).
``"preprocess": false`` sends 784 pixels to the network as they are, for digits
already in MNIST form (the page's sample digits).

Every rule broken is an :class:`ApiError` with a 4xx status and a message saying what
was wrong and what is expected; the server turns it into a JSON error response.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import tempfile

import numpy as np

from mnist_mlp.data.imageprep import MNIST_SIDE, load_digit_image, to_mnist_form
from mnist_mlp.errors import DataError

__all__ = ["MAX_IMAGE_PIXELS", "ApiError", "parse_predict"]

_PIXELS = MNIST_SIDE * MNIST_SIDE
# Decoding allocates width x height floats several times over: 25 megapixels (a large
# phone photo) is the most accepted, far below Pillow's own decompression-bomb limit.
MAX_IMAGE_PIXELS = 25_000_000
_KEYS = ("pixels", "image", "preprocess")
_NUMBER_TYPES = (int, float)  # what json.loads makes of JSON numbers


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` (4xx) and a message for the client."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_predict(body):
    """The digit a ``POST /api/predict`` body asks about.

    Parameters
    ----------
    body : bytes
        The request body (its size already checked by the server).

    Returns
    -------
    digit : ndarray of float32, shape (784,)
        MNIST form: white on black, grey levels in [0, 255].
    preprocessed : bool
        Whether the MNIST preprocessing was applied.

    Raises
    ------
    ApiError
        400 malformed JSON or a field breaking its rule, 413 an image of too many
        pixels, 415 an upload that is not an image, 422 a picture with no digit in it.
    """
    request = _json_object(body)
    unknown = sorted(set(request) - set(_KEYS))
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; the fields are {list(_KEYS)}")
    preprocess = request.get("preprocess", True)
    if not isinstance(preprocess, bool):
        raise ApiError(400, f"'preprocess' must be true or false; got {preprocess!r}")
    if ("pixels" in request) == ("image" in request):
        raise ApiError(400, "send exactly one of 'pixels' (784 grey levels) or 'image' "
                       "(a data URL such as data:image/png;base64,...)")
    if "pixels" in request:
        return _from_pixels(request["pixels"], preprocess), preprocess
    if not preprocess:
        raise ApiError(400, "'preprocess': false needs 'pixels' already in MNIST form; "
                       "an 'image' is always preprocessed")
    return _from_image(request["image"]), True


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _json_object(body):
    """The body parsed as a JSON object; NaN and Infinity refused (they are not JSON)."""
    try:
        request = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text; send a JSON object") from None
    except RecursionError:
        raise ApiError(400, "the JSON is nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ApiError(400, f"the body is not valid JSON ({exc})") from None
    if not isinstance(request, dict):
        raise ApiError(400, f"the body must be a JSON object; got a JSON {type(request).__name__}")
    return request


def _from_pixels(pixels, preprocess):
    """784 grey levels checked for type, count, finiteness and range."""
    if not isinstance(pixels, list):
        raise ApiError(400, f"'pixels' must be a list of {_PIXELS} numbers; got a "
                       f"JSON {type(pixels).__name__}")
    if len(pixels) != _PIXELS:
        raise ApiError(400, f"'pixels' must hold {_PIXELS} numbers (28x28, row by row); "
                       f"got {len(pixels)}")
    digit = _grey_levels(pixels)
    if not preprocess:
        return digit
    try:
        return to_mnist_form(digit.reshape(MNIST_SIDE, MNIST_SIDE), name="pixels")
    except DataError as exc:
        raise ApiError(422, str(exc)) from None


def _grey_levels(pixels):
    """The list as float32 if every entry is a number in [0, 255]; else a 400 naming the first bad one.

    The common case is checked at once (exact JSON types, then NumPy on the array); only
    a refused list is walked entry by entry, to point at the culprit.
    """
    if all(type(value) in _NUMBER_TYPES for value in pixels):  # exact: a bool is not a grey level
        try:
            values = np.array(pixels, dtype=np.float64)
        except OverflowError:  # an integer too large for a float: out of range below
            values = None
        if values is not None and np.all(values >= 0) and np.all(values <= 255):
            return values.astype(np.float32)  # NaN fails both comparisons, so it never gets here
    for index, value in enumerate(pixels):
        if type(value) not in _NUMBER_TYPES:
            raise ApiError(400, f"'pixels'[{index}] must be a number; got {json.dumps(value)}")
        if type(value) is float and not math.isfinite(value):  # 1e999 parses as infinity
            raise ApiError(400, f"'pixels'[{index}] must be finite; got {value}")
        if not 0 <= value <= 255:
            raise ApiError(400, f"'pixels'[{index}] must be in [0, 255]; got {value}")
    raise AssertionError("unreachable: some entry broke a rule")  # pragma: no cover


def _from_image(url):
    """Decode a data URL and bring its picture into MNIST form."""
    data = _data_url_bytes(url)
    fd, path = tempfile.mkstemp(prefix="mnist-mlp-serve-", suffix=".img")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _check_image(path)
        # The same reader and preprocessing as `mnist-mlp predict`; it reads files.
        return load_digit_image(path)
    except DataError as exc:
        raise ApiError(422, str(exc).replace(repr(path), "the uploaded image")) from None
    finally:
        os.unlink(path)


def _data_url_bytes(url):
    """The bytes of ``data:image/...;base64,...``; 400 or 415 for anything else."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        raise ApiError(400, "'image' must be a data URL: data:image/png;base64,<base64 bytes>")
    header, payload = url[5:].split(",", 1)
    media, *params = header.split(";")
    if not media.strip().lower().startswith("image/"):
        raise ApiError(415, f"the upload is not an image (media type {media or 'unknown'!r}); "
                       "send a PNG, JPEG or other image")
    if "base64" not in (p.strip().lower() for p in params):
        raise ApiError(400, "'image' must be base64-encoded (data:image/png;base64,...)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "the data URL's payload is not valid base64") from None


def _check_image(path):
    """Refuse non-images (415) and huge ones (413) from the header, before decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError):
        raise ApiError(415, "the upload is not an image Pillow can read; send a PNG, "
                       "JPEG or other image") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ApiError(413, f"the image has {width}x{height} pixels; at most "
                       f"{MAX_IMAGE_PIXELS:,} are accepted: scale it down")
