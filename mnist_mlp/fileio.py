"""Files the package writes: atomically (a temporary file beside the target, then one
``os.replace``), and ``.npz`` archives with a JSON header, read without pickle.

Every archive says what it is (``"kind"`` in its header: a model file or a training
checkpoint), and a reader given another file says in one line what it got and what it
wanted (:func:`describe_file`). Output directories are checked before any work
(:func:`check_output_dir`).

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
           "archive_kind", "describe_file", "check_output_dir", "KINDS", "read_settings_text"]


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


# What each kind of file the package writes is called in messages. Archives carry their
# kind in the JSON header's "kind" field; history.json its "format" field.
KINDS = {
    "model": "a model file",
    "checkpoint": "a training checkpoint",
    "history": "a training history",
}
_HISTORY_FORMAT = "mnist-mlp history"
_ZIP_MAGIC = b"PK\x03\x04"


def write_archive(path, arrays, header, kind):
    """Write ``arrays`` plus a JSON ``header`` to ``path`` (.npz) atomically, without pickle.

    ``kind`` (a key of :data:`KINDS`) goes into the header, so every reader can say
    what a file is when it is not what it wanted.
    """
    arrays = dict(arrays, __header__=np.array(json.dumps({"kind": kind, **header})))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_archive(path, kind, *, missing, advice=""):
    """Read an archive of ``kind`` written by :func:`write_archive`; return ``(header, arrays)``.

    ``allow_pickle=False``: a file that needs pickle is refused, never executed.
    Every failure is one DataError: ``missing`` if there is no file, otherwise what the
    file is, what was expected, then ``advice`` (e.g. which file to give instead).
    """
    wanted = f"not {KINDS[kind]}" + (f"; {advice}" if advice else "")
    try:
        with open(path, "rb") as handle:
            is_zip = handle.read(4) == _ZIP_MAGIC
    except FileNotFoundError:
        raise DataError(missing) from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, {wanted}") from None
    if not is_zip:  # np.load would try pickle and say so; say what the file is instead
        raise DataError(f"{path} is {describe_file(path)}, {wanted}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "__header__" not in archive.files:
                raise DataError(f"{path} is an .npz archive without an mnist-mlp header, {wanted}")
            header = json.loads(str(archive["__header__"]))
            arrays = {key: archive[key] for key in archive.files if key != "__header__"}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        noun = KINDS[kind].split(" ", 1)[1]
        raise DataError(f"{path} is not a readable mnist-mlp {noun} ({exc}); {advice}") from None
    found = archive_kind(header)
    if found != kind:
        raise DataError(f"{path} is {KINDS.get(found, 'an archive of unknown kind')}, {wanted}")
    return header, arrays


def archive_kind(header):
    """The kind of an archive from its header; files written before the "kind" field are
    recognised by their content (checkpoints by their "format", models by their "architecture")."""
    if not isinstance(header, dict):
        return None
    if "kind" in header:
        return header["kind"]
    if header.get("format") == "mnist-mlp checkpoint":
        return "checkpoint"
    return "model" if "architecture" in header else None


def describe_file(path):
    """What ``path`` holds, as a phrase for messages: "a training history", "a PNG image",
    "a text file", ... Reads at most the first 64 KiB, plus a whole JSON file."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if not head:
        return "an empty file"
    if head.startswith(_ZIP_MAGIC):
        return _describe_zip(path)
    for magic, what in ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                        (b"\x93NUMPY", "a NumPy .npy array"), (b"\x1f\x8b", "a gzip-compressed file")):
        if head.startswith(magic):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file"
    if text.lstrip().startswith(("{", "[")):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (ValueError, UnicodeDecodeError):
            return "a text file"
        if isinstance(data, dict) and data.get("format") == _HISTORY_FORMAT:
            return KINDS["history"]
        return "a JSON file"
    return "a text file"


def _describe_zip(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            kind = archive_kind(json.loads(str(archive["__header__"])))
    except (ValueError, KeyError, OSError, zipfile.BadZipFile):
        kind = None
    return KINDS.get(kind, "a zip archive")


def read_settings_text(path, what, hint):
    """The text of a settings file (a study or search-space TOML), or a ConfigError that
    names ``what`` it is and, when it is missing, the ``hint`` of how to pass another."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist ({hint})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {exc}") from None
