"""Files the package writes: atomically (a temporary file beside the target, then one
``os.replace``), and ``.npz`` archives with a JSON header, read without pickle.

A crash, a full disk or an interrupt never leaves a half-written file that a
later reader would trust: the target keeps its old content until the rename,
which is atomic because the temporary file is in the same directory.
Temporary files get mode 0o666 less the umask (unlike ``tempfile.mkstemp``'s
0o600), so the kept file has the permissions a plain ``open()`` would give it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from mnist_mlp.errors import ConfigError, DataError

__all__ = ["atomic_write", "new_temp", "write_synced", "json_ready", "write_archive", "read_archive",
           "check_output_dir"]


def new_temp(target: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """Create an empty, uniquely named file beside ``target``; return its path.

    Named ``.<name>.<8 hex digits><suffix>``, created with ``O_EXCL`` (never
    someone else's file) and mode 0o666 less the umask.
    """
    target = Path(os.path.abspath(target))
    while True:
        path = target.with_name(f".{target.name}.{os.urandom(4).hex()}{suffix}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path


def write_synced(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it, so the bytes are on disk before a rename."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_write(path, mode="w", *, newline=None):
    """Open a temporary file beside ``path``; rename it over ``path`` on success.

    On any error the temporary file is removed and ``path`` keeps its old content.
    Yields the open file object: text (UTF-8, ``newline`` as for :func:`open`)
    for ``mode="w"``, binary for ``"wb"``.
    """
    path = os.fspath(path)
    tmp = new_temp(path)
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": newline}
    try:
        with open(tmp, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the bytes are on disk before the rename publishes them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_dir(path, option="--out"):
    """Make sure ``path`` can be an output directory: create it, write and remove a probe.

    Every command that writes calls this before any work, so a mistyped ``--out``
    (``README.md/run``, a read-only place) costs one line and no training time.
    Raises ConfigError naming the directory, the reason and ``option``; returns the path.
    """
    path = Path(path)
    blocker = next((parent for parent in (path, *path.parents) if parent.exists()), None)
    try:
        if blocker is not None and not blocker.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a directory")
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"output directory {str(path)!r} is not writable "
                          f"({exc.strerror or exc}); choose another with {option} DIR") from None
    return path


def json_ready(value):
    """``value`` with NaN and infinities as None: JSON has neither, and writing them
    (as Python's ``json`` does by default) makes a file other readers reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def write_archive(path, arrays, header):
    """Write ``arrays`` plus a JSON ``header`` to ``path`` (.npz) atomically, without pickle."""
    arrays = dict(arrays, __header__=np.array(json.dumps(header)))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_archive(path, missing, unreadable):
    """Read an archive written by :func:`write_archive`; return ``(header, arrays)``.

    ``allow_pickle=False``: a file that needs pickle is refused, never executed.
    Failures raise DataError with the ``missing`` or ``unreadable`` message.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["__header__"]))
            arrays = {key: archive[key] for key in archive.files if key != "__header__"}
    except FileNotFoundError:
        raise DataError(missing) from None
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"{unreadable} ({exc})") from None
    return header, arrays
