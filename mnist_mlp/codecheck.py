"""The seed's code-checking tool: compare a submission with its template, write ``summary.txt``.

The course hands out code with ``# TODO START`` / ``# TODO END`` blocks for the
student to fill. :func:`check_submission` compares the student's folder with the
pristine template folder and :meth:`CheckResult.render` writes the seed's report:

* **Filled Code**: every TODO block of the submission, headed by its file and the
  line of its ``# TODO START`` (``# ../codes/layers.py:11``), then its lines.
* **References**: every ``# Reference:`` line found just after a ``# TODO START``,
  without the ``Reference:`` prefix, de-duplicated, in order of appearance.
* **Other Modifications**: for each file, its changes outside the TODO blocks
  against the template, ``# <line> - <text>`` for a template line removed and
  ``# <line> + <text>`` for a submission line added; files renamed, added or
  deleted are named.
* **Warnings**: the breaches the seed forbids: a ``# TODO`` line changed or
  removed, a block left unclosed or nested, a reference in the wrong format or
  not just after its ``# TODO START``.
* **Notes** (only when there are any): files decoded as latin-1, binary or
  unreadable files, changed line endings.

Files are aligned by their TODO blocks first (the blocks of template and
submission pair up by the ``class``/``def`` lines around them); the lines outside
the paired blocks' contents are then diffed segment by segment with
:mod:`difflib`. What a student writes inside a block is filled code, never an
"other modification".
"""

from __future__ import annotations

import codecs
import filecmp
import os
import posixpath
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "Change",
    "CheckResult",
    "FilledBlock",
    "Finding",
    "Modification",
    "check_and_write",
    "check_submission",
    "write_summary",
]

_MARKER = re.compile(r"^\s*#\s*TODO\s+(START|END)\b", re.IGNORECASE)
# The seed forbids changing any line that starts with "# TODO", not only the markers.
_TODO_LINE = re.compile(r"^\s*#\s*TODO\b", re.IGNORECASE)
# Loose on purpose: "#reference", "# Ref:", "# REFERENCES" are all attempts at a
# reference, and the strict pattern below tells the student what is wrong with them.
_REF_LIKE = re.compile(r"^\s*#\s*ref(?:erence)?s?\b\s*:?\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_REF_OK = re.compile(r"^\s*#\s*Reference:\s*(https?://\S+|Name:\s*\S.*?\s+Student ID:\s*\S+)\s*$")
_REF_FORMS = '"# Reference: https://..." or "# Reference: Name: X Student ID: Y"'
_DEF = re.compile(r"^(\s*)(?:async\s+def|def|class)\s")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
# Source files are small; anything bigger is data and is compared byte for byte.
_MAX_TEXT_BYTES = 1_000_000
_RENAME_RATIO = 0.5
_RULE = "#####"


@dataclass(frozen=True)
class FilledBlock:
    """One TODO block of the submission: where it starts and what it holds.

    Parameters
    ----------
    path : str
        The submission file, as shown in the summary.
    line : int
        1-based line of its ``# TODO START``.
    lines : tuple of str
        The lines between ``# TODO START`` and ``# TODO END``, references included.
    """

    path: str
    line: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """One changed line outside the TODO blocks.

    ``sign`` is ``"-"`` for a template line that is gone (``line`` counts in the
    template) and ``"+"`` for a submission line that is new (``line`` counts in
    the submission).
    """

    line: int
    sign: str
    text: str

    def __str__(self) -> str:
        return f"{self.line} {self.sign} {self.text}" if self.text else f"{self.line} {self.sign}"


@dataclass(frozen=True)
class Modification:
    """A file's changes against the template.

    ``old`` is None for a file the student added, ``new`` for one they deleted.
    """

    old: str | None
    new: str | None
    changes: tuple[Change, ...] = ()
    detail: str = ""

    def header(self) -> str:
        if self.old is None:
            text = f"added: {self.new}"
        elif self.new is None:
            text = f"deleted: {self.old}"
        else:
            text = f"{self.old} -> {self.new}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class Finding:
    """A warning or a note about one file, at one line when ``line`` is set."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class CheckResult:
    """Everything the check found; :meth:`render` turns it into ``summary.txt``."""

    filled: list[FilledBlock] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    modifications: list[Modification] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    def render(self) -> str:
        """The summary in the seed's format, plus the Warnings (and Notes) sections."""
        filled = "\n\n".join("\n".join([f"# {b.path}:{b.line}", *b.lines]) for b in self.filled)
        other = []
        for mod in self.modifications:
            other += [f"# {mod.header()}", *(f"# {change}" for change in mod.changes)]
        sections = [
            _section("Filled Code", [filled] if filled else []),
            _section("References", [f"# {ref}" for ref in self.references]),
            _section("Other Modifications", other),
            _section("Warnings", [f"# {w}" for w in self.warnings]),
        ]
        if self.notes:
            sections.append(_section("Notes", [f"# {n}" for n in self.notes]))
        return "\n\n".join(sections) + "\n"

    def summary_line(self) -> str:
        """One line of counts, for the command line."""
        return (
            f"{_plural(len(self.filled), 'filled block')}, "
            f"{_plural(len(self.references), 'reference')}, "
            f"{_plural(len(self.modifications), 'path')} changed, added or deleted, "
            f"{_plural(len(self.warnings), 'warning')}"
        )


def _section(title: str, body: list[str]) -> str:
    return "\n".join([_RULE, f"# {title}", _RULE, *body])


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- TODO blocks


@dataclass(frozen=True)
class _Block:
    start: int  # 0-based index of the "# TODO START" line
    end: int  # 0-based index of the "# TODO END" line


def _find_blocks(lines: list[str]) -> tuple[list[_Block], list[tuple[int, str]]]:
    """The well-formed TODO blocks, and the structure problems as (0-based line, message).

    A marker that does not fit (a START inside an open block, an END with no START,
    a START never closed) is reported and then read as an ordinary line, so the
    rest of the file is still checked.
    """
    blocks, problems, open_at = [], [], None
    for i, line in enumerate(lines):
        match = _MARKER.match(line)
        if match is None:
            continue
        if match.group(1).upper() == "START":
            if open_at is not None:
                problems.append(
                    (
                        open_at,
                        (
                            f"this TODO block is not closed before the TODO START "
                            f"at line {i + 1} (nested, or a TODO END is missing)"
                        ),
                    )
                )
            open_at = i
        elif open_at is None:
            problems.append((i, "TODO END without a TODO START"))
        else:
            blocks.append(_Block(open_at, i))
            open_at = None
    if open_at is not None:
        problems.append((open_at, "TODO START is never closed by a TODO END"))
    return blocks, problems


def _place(lines: list[str], block: _Block) -> tuple[str, ...]:
    """Where a block sits: its enclosing ``class``/``def`` lines, innermost first.

    This names the block by the code around it, so a block pairs with the same
    block of the other file even when lines above it were added or removed.
    """
    place, indent = [], len(lines[block.start]) - len(lines[block.start].lstrip())
    for i in range(block.start - 1, -1, -1):
        match = _DEF.match(lines[i])
        if match and len(match.group(1)) < indent:
            place.append(lines[i].strip())
            indent = len(match.group(1))
            if indent == 0:
                break
    return tuple(place)


def _pair_blocks(t_lines, t_blocks, s_lines, s_blocks) -> list[tuple[_Block, _Block]]:
    """Pair each template block with the submission block at the same place in the code.

    The blocks are aligned by their places (a handful of keys, so this is cheap on
    any file); a run of blocks whose places all changed, as when a student renames
    a method, still pairs one to one when both files have as many blocks there.
    """
    t_places = [_place(t_lines, b) for b in t_blocks]
    s_places = [_place(s_lines, b) for b in s_blocks]
    pairs = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(
        None, t_places, s_places, autojunk=False
    ).get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pairs += zip(t_blocks[i1:i2], s_blocks[j1:j2])
    return pairs


def _segments(n_lines: int, blocks: list[_Block]) -> list[tuple[int, int]]:
    """Half-open line ranges outside the blocks' contents.

    The marker lines stay in the ranges, so a changed ``# TODO`` line shows as a change.
    """
    bounds, pos = [], 0
    for block in blocks:
        bounds.append((pos, block.start + 1))
        pos = block.end
    bounds.append((pos, n_lines))
    return bounds


def _diff_outside(t_lines, s_lines, pairs) -> list[Change]:
    """The changed lines outside the paired blocks, segment by segment."""
    t_segments = _segments(len(t_lines), [t for t, _ in pairs])
    s_segments = _segments(len(s_lines), [s for _, s in pairs])
    changes = []
    for (a0, a1), (b0, b1) in zip(t_segments, s_segments):
        # difflib's default autojunk ignores very common lines (blank ones) as
        # anchors in long segments, which keeps a rewritten file from taking minutes.
        matcher = SequenceMatcher(None, t_lines[a0:a1], s_lines[b0:b1])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                changes += [Change(a0 + i + 1, "-", t_lines[a0 + i]) for i in range(i1, i2)]
                changes += [Change(b0 + j + 1, "+", s_lines[b0 + j]) for j in range(j1, j2)]
    return changes


# --------------------------------------------------------------------------- one file


def _compare_text(
    result: CheckResult, t_show: str, s_show: str, t: _Text, s: _Text, renamed: bool
) -> None:
    """Add one template/submission file pair's filled code, changes and warnings to ``result``."""
    t_blocks, t_problems = _find_blocks(t.lines)
    s_blocks, s_problems = _find_blocks(s.lines)
    result.warnings += [Finding(t_show, i + 1, f"in the template: {msg}") for i, msg in t_problems]
    result.warnings += [Finding(s_show, i + 1, msg) for i, msg in s_problems]
    pairs = _pair_blocks(t.lines, t_blocks, s.lines, s_blocks)
    changes = _diff_outside(t.lines, s.lines, pairs)
    result.warnings += _breaches(t_show, s_show, s_blocks, pairs, changes)
    added = {c.line - 1 for c in changes if c.sign == "+"}
    _collect_filled(result, s_show, s.lines, s_blocks, added)
    if changes or renamed:
        result.modifications.append(
            Modification(t_show, s_show, tuple(changes), "renamed" if renamed else "")
        )
    if t.newline and s.newline and t.newline != s.newline:
        result.notes.append(
            Finding(
                s_show,
                None,
                f"line endings are {s.newline}, the template's are "
                f"{t.newline}; lines were compared without them",
            )
        )


def _breaches(t_show, s_show, s_blocks, pairs, changes) -> list[Finding]:
    """Blocks the template does not have, and template ``# TODO`` lines changed or removed."""
    paired = {s_block for _, s_block in pairs}
    unpaired = [
        Finding(
            s_show,
            b.start + 1,
            "this TODO block is not in the template; its lines are "
            "listed as other modifications too",
        )
        for b in s_blocks
        if b not in paired
    ]
    todo_lines = [
        Finding(
            t_show, c.line, f"this # TODO line was changed or removed in {s_show}: {c.text.strip()}"
        )
        for c in changes
        if c.sign == "-" and _TODO_LINE.match(c.text)
    ]
    return unpaired + todo_lines


def _collect_filled(
    result: CheckResult, show: str, lines: list[str], blocks: list[_Block], added: set[int]
) -> None:
    """Record each block's lines and leading references; flag references out of place or form."""
    written = set(added)  # every line the student wrote: block contents and added lines
    leading: set[int] = set()
    for block in blocks:
        result.filled.append(
            FilledBlock(show, block.start + 1, tuple(lines[block.start + 1 : block.end]))
        )
        written.update(range(block.start + 1, block.end))
        i = block.start + 1
        while i < block.end and _REF_LIKE.match(lines[i]):
            leading.add(i)
            _add_reference(result, show, i, lines[i])
            i += 1
    for i in sorted(written - leading):
        if _REF_LIKE.match(lines[i]):
            result.warnings.append(
                Finding(
                    show,
                    i + 1,
                    "a reference must be a comment line just after "
                    f"# TODO START: {lines[i].strip()}",
                )
            )


def _add_reference(result: CheckResult, show: str, i: int, line: str) -> None:
    if not _REF_OK.match(line):
        result.warnings.append(
            Finding(show, i + 1, f"a reference must read {_REF_FORMS}: {line.strip()}")
        )
    body = _REF_LIKE.match(line).group("body")
    if body and body not in result.references:
        result.references.append(body)


# --------------------------------------------------------------------------- whole trees


def _existing_dir(path: str | os.PathLike, role: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise ConfigError(f"the {role} folder {str(folder)!r} does not exist; pass --{role} DIR")
    if not folder.is_dir():
        raise ConfigError(
            f"the {role} path {str(folder)!r} is a file, not a folder; pass --{role} DIR"
        )
    return folder


def _find_renames(deleted: list[str], added: list[str], t: _Tree, s: _Tree) -> dict[str, str]:
    """Pair each deleted template file with the most similar added file, renamed or moved.

    A candidate has the same suffix and either the same folder (renamed) or the same
    name (moved): this bounds the work when a student adds a large folder.
    """
    renames: dict[str, str] = {}
    for old in deleted:
        folder, name = posixpath.split(old)
        candidates = [
            new
            for new in added
            if new not in renames.values()
            and posixpath.splitext(new)[1] == posixpath.splitext(old)[1]
            and (posixpath.dirname(new) == folder or posixpath.basename(new) == name)
        ]
        old_text = t.text(old) if candidates else None
        if old_text is None or not old_text.lines:
            continue
        best, best_ratio = None, _RENAME_RATIO
        for new in candidates:
            new_text = s.text(new)
            if new_text is None:
                continue
            matcher = SequenceMatcher(None, old_text.lines, new_text.lines)
            if matcher.quick_ratio() >= best_ratio and matcher.ratio() >= best_ratio:
                best, best_ratio = new, matcher.ratio()
        if best is not None:
            renames[old] = best
    return renames


def _name_files(rels: list[str], own: _Tree, other: _Tree, added: bool) -> list[Modification]:
    """Added or deleted files, a whole new (or gone) folder named once with its file count."""
    other_dirs = {
        "/".join(rel.split("/")[:k]) for rel in other.files for k in range(1, rel.count("/") + 1)
    }
    groups: dict[str, list[str]] = {}
    for rel in rels:
        parts = rel.split("/")
        top = next((k for k in range(1, len(parts)) if "/".join(parts[:k]) not in other_dirs), None)
        groups.setdefault(rel if top is None else "/".join(parts[:top]), []).append(rel)
    mods = []
    for key, members in groups.items():
        is_folder = members != [key]
        shown = own.show(key) + (os.sep if is_folder else "")
        detail = f"folder, {_plural(len(members), 'file')}" if is_folder else ""
        mods.append(
            Modification(None, shown, detail=detail)
            if added
            else Modification(shown, None, detail=detail)
        )
    return mods


def _compare_pair(result: CheckResult, t: _Tree, s: _Tree, old: str, new: str) -> None:
    # The submission first: when a file is not text, the note names the student's copy.
    s_text = s.text(new)
    t_text = t.text(old) if s_text is not None else None
    if t_text is not None and s_text is not None:
        _compare_text(result, t.show(old), s.show(new), t_text, s_text, renamed=old != new)
        return
    try:
        same = filecmp.cmp(t.files[old], s.files[new], shallow=False)
    except OSError:
        return  # already noted as unreadable
    if not same or old != new:
        detail = "not text, contents differ" if not same else "renamed"
        result.modifications.append(Modification(t.show(old), s.show(new), detail=detail))


def _warn_deleted_todos(result: CheckResult, t: _Tree, deleted: list[str], s: _Tree) -> None:
    for rel in deleted:
        text = t.text(rel)
        count = sum(1 for line in text.lines if _TODO_LINE.match(line)) if text else 0
        if count:
            result.warnings.append(
                Finding(
                    t.show(rel),
                    None,
                    f"this file has {_plural(count, '# TODO line')} "
                    f"and is missing from {s.show('')}",
                )
            )


def check_submission(
    template: str | os.PathLike,
    submission: str | os.PathLike,
    *,
    template_label: str | None = None,
    submission_label: str | None = None,
    ignore: Iterable[str | os.PathLike] = (),
) -> CheckResult:
    """Compare a submission folder with its template folder, as the seed's ``analyze.py`` does.

    Parameters
    ----------
    template, submission : path-like
        The pristine code as handed out, and the student's code. Every file below
        them is compared, at any depth.
    template_label, submission_label : str, optional
        How the summary names the two folders (the seed prints ``_codes`` and
        ``../codes``); the paths as given by default.
    ignore : iterable of path-like
        Files or folders to leave out, such as the summary file itself when it is
        written inside the submission. A template inside the submission is left
        out of the submission automatically.

    Returns
    -------
    CheckResult
        Filled blocks, references, other modifications, warnings and notes.

    Raises
    ------
    ConfigError
        If either folder does not exist or is a file.
    """
    t_root, s_root = _existing_dir(template, "template"), _existing_dir(submission, "submission")
    skip = {_resolved(Path(p)) for p in ignore} | {_resolved(t_root), _resolved(s_root)}
    result = CheckResult()
    t = _Tree(t_root, template_label or os.path.normpath(template), skip, result)
    s = _Tree(s_root, submission_label or os.path.normpath(submission), skip, result)
    deleted = sorted(t.files.keys() - s.files.keys())
    added = sorted(s.files.keys() - t.files.keys())
    renames = _find_renames(deleted, added, t, s)
    pairs = sorted(
        [(rel, rel) for rel in t.files.keys() & s.files.keys()] + list(renames.items()),
        key=lambda pair: pair[1],
    )
    for old, new in pairs:
        _compare_pair(result, t, s, old, new)
    deleted = [rel for rel in deleted if rel not in renames]
    _warn_deleted_todos(result, t, deleted, s)
    result.modifications += _name_files(
        [r for r in added if r not in renames.values()], s, t, added=True
    )
    result.modifications += _name_files(deleted, t, s, added=False)
    return result


def write_summary(result: CheckResult | str, path: str | os.PathLike) -> Path:
    """Write the rendered summary atomically (a temp file beside it, then ``os.replace``).

    A crash or a full disk never leaves a half-written ``summary.txt`` that a
    later reader would trust. Returns the path written.
    """
    target = Path(path)
    text = result if isinstance(result, str) else result.render()
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(
            f"cannot write {str(target)!r}: the folder {str(folder)!r} does not exist"
        )
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, _new_file_mode())
        # newline="\n": the summary reads the same on every platform.
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_and_write(
    template: str | os.PathLike,
    submission: str | os.PathLike,
    out: str | os.PathLike,
    *,
    template_label: str | None = None,
    submission_label: str | None = None,
) -> CheckResult:
    """Run :func:`check_submission` and write the summary to ``out``, which the check ignores."""
    result = check_submission(
        template,
        submission,
        template_label=template_label,
        submission_label=submission_label,
        ignore=[out],
    )
    write_summary(result, out)
    return result
