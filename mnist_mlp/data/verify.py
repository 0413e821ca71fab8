"""Checksums of the registered datasets, checked whenever they are loaded, cheaply.

Hashing the 55 MB of MNIST costs a fraction of a second; stat-ing four files costs
microseconds. So a file's MD5 is remembered together with what ``os.stat`` says about
it (size, modification and change times, inode) in a small JSON cache, and computed
again only when one of those changes. Writing into a file changes its modification
and change times; restoring the modification time (``touch -d``) still changes the
change time, which no user can set. The cache lives in the user's cache directory
(``$XDG_CACHE_HOME/mnist-mlp``, else ``~/.cache/mnist-mlp``), keyed by the files'
real paths, so read-only or shared data directories work and nothing is written
beside the data. It is written atomically; a lost or unwritable cache only costs a
hash. This module imports the standard library only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

from mnist_mlp.data.datasets import _DATASETS, _fetch_command
from mnist_mlp.data.idx import _GZIP_ERRORS
from mnist_mlp.data.policy import NO_VERIFY_ENV, verify_enabled
from mnist_mlp.errors import DataError
from mnist_mlp.fileio import atomic_write

__all__ = ["check_dataset_files", "content_md5", "cache_dir", "remember_md5"]

CACHE_NAME = "verified-files.json"
_CACHE_FORMAT = "mnist-mlp verified files"
_WARNED = "warned"  # NO_VERIFY_ENV once the warning is out: worker processes stay quiet


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mnist-mlp``, else ``~/.cache/mnist-mlp``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-mlp"


def content_md5(path: Path, compressed: bool | None = None, shown: Path | None = None) -> str:
    """MD5 of the uncompressed content (a ``.gz`` name is decompressed), read in 1 MiB blocks."""
    shown = shown or path
    compressed = shown.name.endswith(".gz") if compressed is None else compressed
    digest = hashlib.md5(usedforsecurity=False)  # a published checksum, not a security measure
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except _GZIP_ERRORS as exc:
        raise DataError(f"{shown}: not a valid gzip file ({exc})") from exc
    return digest.hexdigest()


def _identity(path: Path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "inode": st.st_ino}


def _read_cache() -> dict:
    try:
        data = json.loads((cache_dir() / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _write_cache(files: dict) -> None:
    text = json.dumps({"format": _CACHE_FORMAT, "files": files}, indent=1, sort_keys=True)
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_dir() / CACHE_NAME) as handle:
            handle.write(text + "\n")
    except OSError:
        pass  # best effort: without a cache the next load hashes again


def remember_md5(paths) -> dict:
    """``{path: md5}`` of ``paths``, from the cache where the file is unchanged, else hashed
    (and remembered). Files that are not there are left out."""
    cache, changed, result = _read_cache(), False, {}
    for path in map(Path, paths):
        key = os.path.realpath(path)
        try:
            identity = _identity(path)
        except FileNotFoundError:
            continue
        entry = cache.get(key)
        if not (isinstance(entry, dict) and all(entry.get(k) == v for k, v in identity.items())):
            entry = dict(identity, md5=content_md5(path))
            cache[key], changed = entry, True
        result[path] = entry["md5"]
    if changed:
        _write_cache(cache)
    return result


def check_dataset_files(name: str, paths: dict, data_dir=None, *, verify: bool | None = None):
    """Compare the files of dataset ``name`` (``{stem: path}``) with its published MD5 sums.

    ``verify`` (default: :func:`~mnist_mlp.data.policy.verify_enabled`) refuses files that
    differ with a DataError naming them; otherwise one warning line on stderr names them
    and they are used as they are. Returns the list of paths that differ.
    """
    verify = verify_enabled() if verify is None else verify
    published = _DATASETS[name].md5
    digests = remember_md5(paths.values())
    differ = [(stem, path) for stem, path in paths.items()
              if path in digests and digests[path] != published[stem]]
    if not differ:
        return []
    if verify:
        raise DataError(_mismatch(name, differ, digests, published, data_dir))
    _warn_once(f"mnist-mlp: warning: not verified (--no-verify): files that differ from the "
               f"published {name} ones, used as they are: {', '.join(str(p) for _, p in differ)}")
    return [path for _, path in differ]


def _mismatch(name, differ, digests, published, data_dir):
    advice = (f"it is corrupted or modified: remove it and run `{_fetch_command(name, data_dir)}`, "
              "or pass --no-verify if you changed it on purpose")
    if len(differ) == 1:
        stem, path = differ[0]
        return (f"{path}: checksum mismatch: md5 {digests[path]}, the published {name} {stem} "
                f"has {published[stem]}; {advice}")
    names = ", ".join(str(path) for _, path in differ)
    return (f"{names}: checksum mismatch with the published {name} files; they are corrupted or "
            f"modified: remove them and run `{_fetch_command(name, data_dir)}`, or pass "
            "--no-verify if you changed them on purpose")


def _warn_once(message):
    """One warning per command: under ``--no-verify`` the switch then reads "warned", so later
    loads of the command and its worker processes (which inherit the environment) stay
    quiet; the command's end restores it (:func:`~mnist_mlp.data.policy.data_policy`)."""
    if os.environ.get(NO_VERIFY_ENV) == _WARNED:
        return
    print(message, file=sys.stderr, flush=True)
    if not verify_enabled():  # only a switch the user turned on is touched
        os.environ[NO_VERIFY_ENV] = _WARNED
