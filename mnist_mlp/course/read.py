"""Reading the two folders the code check compares: their files, decoded and split into lines.

Binary, oversized and unreadable files are noted and compared byte for byte;
text that is not UTF-8 is decoded as latin-1, with a note.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mnist_mlp.course.result import CheckResult, Finding

_NEWLINE = re.compile(r"\r\n|\r|\n")
_NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
# Source files are small; anything bigger is data and is compared byte for byte.
_MAX_TEXT_BYTES = 1_000_000


@dataclass(frozen=True)
class _Text:
    lines: list[str]
    newline: str  # "LF", "CRLF", "CR", "mixed (...)" or "" when there is no line break


class _Tree:
    """One side of the comparison: its files by POSIX path relative to the root, and its label."""

    def __init__(self, root: Path, label: str, skip: set[Path], result: CheckResult):
        self.root, self.label = root, label
        self.files: dict[str, Path] = {}
        self._texts: dict[str, _Text | None] = {}
        self._result = result
        self._walk(skip)

    def _walk(self, skip: set[Path]) -> None:
        def unreadable(err: OSError) -> None:
            self._result.notes.append(
                Finding(str(err.filename), None, f"folder cannot be listed ({err.strerror})")
            )

        # os.walk is iterative, so deep folders cannot hit the recursion limit.
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=unreadable):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if _resolved(here / d) not in skip)
            for name in sorted(filenames):
                if _resolved(here / name) not in skip:
                    self.files[(here / name).relative_to(self.root).as_posix()] = here / name

    def show(self, rel: str) -> str:
        """The path as the summary prints it: the label, then the relative path."""
        return os.path.join(self.label, *rel.split("/"))

    def text(self, rel: str) -> _Text | None:
        """The file's lines, or None (with a note) when it is binary, too large or unreadable."""
        if rel not in self._texts:
            self._texts[rel] = self._read(rel)
        return self._texts[rel]

    def _read(self, rel: str) -> _Text | None:
        shown = self.show(rel)
        try:
            with open(self.files[rel], "rb") as fh:
                data = fh.read(_MAX_TEXT_BYTES + 1)
        except OSError as exc:
            return self._skip(shown, f"cannot be read ({exc.strerror or exc}); skipped")
        if len(data) > _MAX_TEXT_BYTES:
            return self._skip(
                shown, "larger than 1 MB, so compared byte for byte, not line by line"
            )
        if b"\0" in data:
            return self._skip(shown, "binary file, compared byte for byte, not line by line")
        return _split_lines(_decode(data, shown, self._result.notes))

    def _skip(self, shown: str, why: str) -> None:
        self._result.notes.append(Finding(shown, None, why))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare it by its own name
        return path.absolute()


def _decode(data: bytes, shown: str, notes: list[Finding]) -> str:
    if data.startswith(codecs.BOM_UTF8):
        notes.append(Finding(shown, None, "starts with a UTF-8 byte-order mark, which is ignored"))
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # latin-1 maps every byte to one character, so line structure and equality
        # survive; only the look of non-ASCII text may be wrong, and we say so.
        line = data.count(b"\n", 0, exc.start) + 1
        notes.append(
            Finding(
                shown,
                line,
                "is not valid UTF-8 from here; decoded as latin-1, "
                "so non-ASCII characters may show wrongly",
            )
        )
        return data.decode("latin-1")


def _split_lines(text: str) -> _Text:
    # Split on the three line breaks ourselves: str.splitlines also splits on form
    # feeds and other characters that may sit inside a line of Python source.
    kinds = sorted({_NEWLINE_NAMES[m.group()] for m in _NEWLINE.finditer(text)})
    lines = _NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()  # the text ended with a line break, or was empty
    newline = kinds[0] if len(kinds) == 1 else (f"mixed ({', '.join(kinds)})" if kinds else "")
    return _Text(lines, newline)
