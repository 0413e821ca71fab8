"""IDX files (the format MNIST is distributed in): read, write, find under either spelling.

Files are read as they are found: raw or ``.gz``, spelled ``train-images-idx3-ubyte``
or ``train-images.idx3-ubyte``. This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from mnist_mlp.errors import DataError
from mnist_mlp.fileio import atomic_write

__all__ = ["read_idx", "write_idx"]

_IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}  # magic number -> number of dimensions
_IDX_KIND = {1: "0x00000801 (labels)", 3: "0x00000803 (images)"}
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes, raw or gzip-compressed.

    Parameters
    ----------
    path : path-like
        The file; a name ending in ``.gz`` is decompressed.
    ndim : {1, 3}, optional
        Required number of dimensions: 1 for a labels file (magic 0x00000801),
        3 for an images file (magic 0x00000803). Any of the two when omitted.

    Returns
    -------
    numpy.ndarray
        uint8 array of the shape the header gives, e.g. ``(60000, 28, 28)``.

    Raises
    ------
    DataError
        Missing file, invalid gzip, wrong magic number, truncated file, or
        header dimensions that disagree with the file size.
    """
    path = Path(path)
    buf = _read_bytes(path)
    dims = _parse_header(path, buf, ndim)
    count = math.prod(dims)
    return np.frombuffer(buf, np.uint8, count, 4 + 4 * len(dims)).reshape(dims).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 array of 1 or 3 dimensions as an IDX file, atomically.

    A name ending in ``.gz`` is gzip-compressed (with a zero timestamp, so the
    same array always gives the same bytes). Returns the path written.
    """
    path = Path(path)
    arr = np.asarray(array)
    if arr.dtype != np.uint8 or arr.ndim not in _IDX_KIND:
        raise DataError(
            f"{path}: IDX files hold uint8 arrays of 1 or 3 dimensions; "
            f"got {arr.dtype} with shape {arr.shape}"
        )
    data = _encode_idx(arr)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path


def _encode_idx(arr: np.ndarray) -> bytes:
    header = (0x800 | arr.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr).tobytes()


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if not path.name.endswith(".gz"):
        return path.read_bytes()
    try:
        return gzip.decompress(path.read_bytes())  # one call: much faster than GzipFile.read
    except _GZIP_ERRORS as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc})") from exc


def _parse_header(path: Path, buf: bytes, ndim: int | None) -> tuple[int, ...]:
    if len(buf) < 4:
        raise DataError(f"{path}: truncated file: {len(buf)} bytes, too short for an IDX header")
    magic = int.from_bytes(buf[:4], "big")
    if _IDX_MAGIC.get(magic) is None or (ndim is not None and _IDX_MAGIC[magic] != ndim):
        wanted = _IDX_KIND[ndim] if ndim in _IDX_KIND else " or ".join(_IDX_KIND.values())
        # A compressed file saved without its .gz suffix is the usual cause.
        hint = (
            "; it looks gzip-compressed: name it with a .gz suffix"
            if buf[:2] == b"\x1f\x8b"
            else ""
        )
        raise DataError(f"{path}: wrong magic number 0x{magic:08X}, expected {wanted}{hint}")
    header = 4 + 4 * _IDX_MAGIC[magic]
    if len(buf) < header:
        raise DataError(
            f"{path}: truncated file: {len(buf)} bytes, shorter than its {header}-byte header"
        )
    dims = tuple(int.from_bytes(buf[i : i + 4], "big") for i in range(4, header, 4))
    expected, actual = math.prod(dims), len(buf) - header
    shape = "x".join(map(str, dims))
    if actual < expected:
        raise DataError(
            f"{path}: truncated file: the header promises {shape} = {expected} data bytes, "
            f"only {actual} follow"
        )
    if actual > expected:
        raise DataError(
            f"{path}: header dimensions {shape} disagree with the file size: "
            f"{expected} data bytes expected, {actual} found"
        )
    return dims


def _spellings(stem: str) -> tuple[str, ...]:
    dotted = stem.replace("-idx", ".idx", 1)  # train-images.idx3-ubyte, as some mirrors name it
    return (stem, stem + ".gz", dotted, dotted + ".gz")


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in _spellings(stem):
        if (directory / name).is_file():
            return directory / name
    return None
