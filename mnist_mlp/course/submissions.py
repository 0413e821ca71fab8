"""Read one student submission, a folder or a ``.zip``, without trusting it.

A submission in the seed's layout holds a report (``Report.pdf/md/doc/docx``),
``summary.txt`` and ``codes/*.py`` (with an optional ``codes/README``).
:func:`read_submission` reads every file of it into memory and returns a
:class:`Submission`: its name, its files (POSIX path relative to the submission
root -> bytes) and a list of ``problems``.

Two kinds of trouble, two channels:

* **Refusal** (:class:`SubmissionRefused`, a :class:`~mnist_mlp.errors.DataError`):
  the submission is not read at all, and the error's ``reason`` says why. This is
  for anything hostile or unreadable: a member path that escapes the folder
  (``../``, an absolute path, a drive letter such as ``C:`` or any colon, a NUL
  byte; backslashes count as separators), a
  symlink or other non-regular file (zip: the Unix mode in ``external_attr``;
  folder: never followed, checked with ``lstat`` and ``O_NOFOLLOW``), an archive
  that expands past :attr:`Limits.max_total_bytes` (checked on the declared
  sizes first, then by counting the bytes actually decompressed, so a lying
  header does not help), more than :attr:`Limits.max_files` entries, a nested
  archive (by suffix or by magic bytes; office documents and ``.npz`` are zip
  containers by format and are kept, see :attr:`Limits.container_suffixes`),
  encrypted members, duplicate member names, a corrupt zip, a missing path.
  A caller that reads many submissions catches it per submission and goes on.
* **Problems** (``Submission.problems``, plain sentences): the submission was
  read, but it does not have the seed's layout (no ``summary.txt``, no report,
  no ``codes/*.py``), or something was dropped while reading (macOS
  ``__MACOSX/`` metadata). Grading and similarity go on and show them.

A zip made by zipping the submission folder itself (``2018011234/codes/...``)
is read as if that one top folder were the root. Nothing is ever extracted to
disk; only the standard library is used.
"""

from __future__ import annotations

import codecs
import lzma
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mnist_mlp.errors import DataError

__all__ = ["Limits", "Submission", "SubmissionRefused", "read_submission"]

_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
_ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz", ".lzma",
    ".whl", ".egg", ".jar",
)  # fmt: skip
# The first bytes of the archive formats above (tar: "ustar" at offset 257).
_ARCHIVE_MAGIC = (
    b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd",
)  # fmt: skip
_REPORT = re.compile(r"^report\.(pdf|md|doc|docx)$", re.IGNORECASE)


class SubmissionRefused(DataError):
    """A submission that is not read at all, with the reason (see the module docstring).

    Attributes
    ----------
    source : str
        The path of the folder or zip as given.
    reason : str
        Why, in one sentence that names the offending member.
    """

    def __init__(self, source: str | os.PathLike, reason: str):
        self.source, self.reason = str(source), reason
        super().__init__(f"submission {self.source!r} refused: {reason}")


@dataclass(frozen=True)
class Limits:
    """How much one submission may hold before it is refused.

    Attributes
    ----------
    max_files : int
        Entries (files and folders) in the submission.
    max_total_bytes : int
        Bytes of all files together, uncompressed; also the largest zip accepted.
    max_path_chars : int
        Characters in one member's path.
    container_suffixes : tuple of str
        Files that are zip archives by format and are kept as plain files, never
        opened: office documents (a report may be ``.docx``) and NumPy ``.npz``
        (the grader's layout check says "model weights" about those).
    """

    max_files: int = 1000
    max_total_bytes: int = 100 * 1024 * 1024
    max_path_chars: int = 500
    container_suffixes: tuple[str, ...] = (
        ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".npz",
    )  # fmt: skip


@dataclass
class Submission:
    """One submission read into memory.

    Attributes
    ----------
    name : str
        The folder's name, or the zip's name without ``.zip``.
    source : str
        The path as given.
    files : dict of str to bytes
        Every file, by POSIX path relative to the submission root, sorted.
    problems : list of str
        Layout deviations and things dropped while reading (see the module docstring).
    """

    name: str
    source: str
    files: dict[str, bytes]
    problems: list[str] = field(default_factory=list)

    @property
    def codes(self) -> dict[str, bytes]:
        """The files under ``codes/``, by path relative to ``codes/``."""
        return {rel[6:]: data for rel, data in self.files.items() if rel.startswith("codes/")}

    def text(self, rel: str) -> str:
        """The file ``rel`` decoded as UTF-8 (a byte-order mark is dropped).

        Raises
        ------
        DataError
            When it is not UTF-8; the message names the file and the line.
        """
        data = self.files[rel].removeprefix(codecs.BOM_UTF8)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise DataError(
                f"{self.name}/{rel} is not valid UTF-8 (line {line}, byte "
                f"{exc.start}); save it as UTF-8"
            ) from None

    def python_sources(self, under: str = "") -> tuple[dict[str, str], list[str]]:
        """Every ``.py`` file below ``under`` decoded, and one message per file that is not UTF-8.

        Parameters
        ----------
        under : str
            A folder prefix such as ``"codes/"``; the returned paths keep it.
        """
        texts, failures = {}, []
        for rel in self.files:
            if rel.startswith(under) and rel.endswith(".py"):
                try:
                    texts[rel] = self.text(rel)
                except DataError as exc:
                    failures.append(str(exc))
        return texts, failures


def read_submission(path: str | os.PathLike, limits: Limits = Limits()) -> Submission:
    """Read a submission folder or ``.zip`` safely into memory.

    Raises
    ------
    SubmissionRefused
        For everything hostile or unreadable (see the module docstring).
    """
    source = Path(path)
    if source.is_dir():
        files = _read_folder(source, limits)
        name = source.resolve().name
    elif source.is_file():
        files = _read_zip(source, limits)
        name = source.name[:-4] if source.name.lower().endswith(".zip") else source.stem
    else:
        raise SubmissionRefused(path, "no such folder or file")
    files, problems = _strip_top_folder(files)
    problems += _layout_problems(files)
    return Submission(name, str(path), dict(sorted(files.items())), problems)


# --------------------------------------------------------------------------- zips


def _read_zip(path: Path, limits: Limits) -> dict[str, bytes]:
    if path.stat().st_size > limits.max_total_bytes:
        raise SubmissionRefused(path, f"the zip is larger than {limits.max_total_bytes} bytes")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_zip_entries(path, infos, limits)
            files, total = {}, 0
            for info in infos:
                if info.is_dir():
                    continue
                rel = _safe_path(path, info.filename, limits)
                data = _read_member(path, archive, info, limits.max_total_bytes - total)
                _refuse_archive_bytes(path, rel, data, limits)
                total += len(data)
                files[rel] = data
            return files
    except SubmissionRefused:
        raise
    # What corrupt archives raise: zipfile's own errors, and the decompressors'.
    except (
        zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
        zlib.error, lzma.LZMAError, OSError, ValueError, RuntimeError,
    ) as exc:  # fmt: skip
        raise SubmissionRefused(path, f"not a readable zip ({exc})") from None


def _check_zip_entries(path: Path, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Refuse on the central directory alone, before a byte is decompressed."""
    if len(infos) > limits.max_files:
        raise SubmissionRefused(path, f"{len(infos)} entries, more than {limits.max_files}")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_total_bytes:
        raise SubmissionRefused(
            path,
            f"expands to {declared} bytes, more than {limits.max_total_bytes} (a zip bomb?)",
        )
    seen = set()
    for info in infos:
        rel = _safe_path(path, info.filename, limits)
        mode = info.external_attr >> 16  # the Unix st_mode, when the zip records one
        if stat.S_ISLNK(mode):
            raise SubmissionRefused(path, f"{info.filename!r} is a symlink")
        if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise SubmissionRefused(path, f"{info.filename!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise SubmissionRefused(path, f"{info.filename!r} is encrypted")
        if rel in seen:
            raise SubmissionRefused(path, f"{rel!r} appears twice in the zip")
        seen.add(rel)
        if not info.is_dir():
            _refuse_archive_name(path, rel, limits)


def _read_member(path: Path, archive, info: zipfile.ZipInfo, budget: int) -> bytes:
    """Decompress one member, counting bytes: stop past its declared size or the budget."""
    cap = min(info.file_size, budget)
    chunks, size = [], 0
    with archive.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise SubmissionRefused(
                    path,
                    f"{info.filename!r} expands past its declared size or the "
                    f"size limit (a zip bomb?)",
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _safe_path(source: Path, name: str, limits: Limits) -> str:
    """The member's path as a clean relative POSIX path, or a refusal if it could escape."""
    if "\0" in name or len(name) > limits.max_path_chars:
        raise SubmissionRefused(source, f"member name {name[:80]!r} is malformed or too long")
    # Zips made on Windows sometimes use backslashes; read them as separators so
    # "..\\x" cannot pass as one odd file name and escape where it is extracted.
    unixy = name.replace("\\", "/")
    if unixy.startswith("/") or _DRIVE.match(unixy) or ":" in unixy:
        raise SubmissionRefused(
            source, f"{name!r} is an absolute path or has a drive letter or colon"
        )
    parts = [p for p in PurePosixPath(unixy).parts if p != "."]
    if ".." in parts:
        raise SubmissionRefused(source, f"{name!r} escapes the submission folder ('..')")
    if not parts:
        raise SubmissionRefused(source, f"member name {name!r} is empty")
    return "/".join(parts)


# --------------------------------------------------------------------------- folders


def _read_folder(root: Path, limits: Limits) -> dict[str, bytes]:
    """Every regular file below ``root``; symlinks and special files refuse the submission."""
    files, total, entries = {}, 0, 0
    stack = [("", root)]
    while stack:  # iterative, so a deep tree cannot exhaust the recursion limit
        prefix, folder = stack.pop()
        try:
            listing = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            where = prefix or "."
            raise SubmissionRefused(
                root, f"folder {where!r} cannot be listed ({exc.strerror})"
            ) from None
        for entry in listing:
            entries += 1
            rel = prefix + entry.name
            if entries > limits.max_files:
                raise SubmissionRefused(root, f"more than {limits.max_files} entries")
            if entry.is_symlink():
                raise SubmissionRefused(root, f"{rel!r} is a symlink")
            if entry.is_dir(follow_symlinks=False):
                stack.append((rel + "/", Path(entry.path)))
            elif entry.is_file(follow_symlinks=False):
                _refuse_archive_name(root, rel, limits)
                data = _read_regular(root, rel, Path(entry.path), limits.max_total_bytes - total)
                _refuse_archive_bytes(root, rel, data, limits)
                total += len(data)
                files[rel] = data
            else:
                raise SubmissionRefused(root, f"{rel!r} is not a regular file")
    return files


def _read_regular(root: Path, rel: str, path: Path, budget: int) -> bytes:
    # O_NOFOLLOW and O_NONBLOCK close the race where the file is swapped for a
    # symlink or a FIFO after it was listed; fstat then checks what was opened.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionRefused(root, f"{rel!r} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SubmissionRefused(root, f"{rel!r} is not a regular file")
        data = fh.read(budget + 1)
    if len(data) > budget:
        raise SubmissionRefused(root, f"the files exceed the size limit at {rel!r}")
    return data


# --------------------------------------------------------------------------- shared


def _refuse_archive_name(source, rel: str, limits: Limits) -> None:
    lower = rel.lower()
    if lower.endswith(_ARCHIVE_SUFFIXES) and not lower.endswith(limits.container_suffixes):
        raise SubmissionRefused(source, f"{rel!r} is a nested archive")


def _refuse_archive_bytes(source, rel: str, data: bytes, limits: Limits) -> None:
    lower = rel.lower()
    if lower.endswith(limits.container_suffixes):
        return
    if data.startswith(_ARCHIVE_MAGIC) or data[257:262] == b"ustar":
        raise SubmissionRefused(source, f"{rel!r} is a nested archive (by its contents)")


def _strip_top_folder(files: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """Drop ``__MACOSX/`` metadata, and read a lone top folder as the root."""
    problems = []
    mac = {rel for rel in files if rel.split("/")[0] == "__MACOSX"}
    if mac:
        problems.append(f"ignored {len(mac)} macOS metadata file(s) under __MACOSX/")
        files = {rel: data for rel, data in files.items() if rel not in mac}
    tops = {rel.split("/")[0] for rel in files}
    if len(tops) == 1 and all("/" in rel for rel in files):
        top = tops.pop() + "/"
        files = {rel[len(top) :]: data for rel, data in files.items()}
    return files, problems


def _layout_problems(files: dict[str, bytes]) -> list[str]:
    """What the seed's submission guideline asks for that is missing."""
    problems = []
    if not any(_REPORT.match(rel) for rel in files):
        problems.append("no report (Report.pdf, .md, .doc or .docx) at the top level")
    if "summary.txt" not in files:
        problems.append("no summary.txt at the top level")
    if not any(rel.startswith("codes/") and rel.endswith(".py") for rel in files):
        problems.append("no codes/*.py")
    return problems
