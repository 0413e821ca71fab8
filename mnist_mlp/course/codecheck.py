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
* **Unfilled Code** (only when there are any): the TODO blocks left exactly as
  the template has them (the placeholder untouched), by file and line, so a
  reader sees at once what is missing; they are not listed as filled code.
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

import filecmp
import os
import posixpath
import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from pathlib import Path

from mnist_mlp.course.blocks import _Block, _diff_outside, _find_blocks, _pair_blocks
from mnist_mlp.course.read import _resolved, _Text, _Tree
from mnist_mlp.course.result import (
    Change,
    CheckResult,
    FilledBlock,
    Finding,
    Modification,
    _plural,
)
from mnist_mlp.errors import ConfigError
from mnist_mlp.fileio import atomic_write

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

# The seed forbids changing any line that starts with "# TODO", not only the markers.
_TODO_LINE = re.compile(r"^\s*#\s*TODO\b", re.IGNORECASE)
# Loose on purpose: "#reference", "# Ref:", "# REFERENCES" are all attempts at a
# reference, and the strict pattern below tells the student what is wrong with them.
_REF_LIKE = re.compile(r"^\s*#\s*ref(?:erence)?s?\b\s*:?\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_REF_OK = re.compile(r"^\s*#\s*Reference:\s*(https?://\S+|Name:\s*\S.*?\s+Student ID:\s*\S+)\s*$")
_REF_FORMS = '"# Reference: https://..." or "# Reference: Name: X Student ID: Y"'
_RENAME_RATIO = 0.5


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
    untouched = {sb for tb, sb in pairs if _contents(t.lines, tb) == _contents(s.lines, sb)}
    _collect_filled(result, s_show, s.lines, s_blocks, added, untouched)
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


def _contents(lines: list[str], block: _Block) -> list[str]:
    """A block's non-blank lines without trailing spaces: what "left as handed out" compares."""
    return [line.rstrip() for line in lines[block.start + 1 : block.end] if line.strip()]


def _collect_filled(
    result: CheckResult,
    show: str,
    lines: list[str],
    blocks: list[_Block],
    added: set[int],
    untouched: set[_Block] = frozenset(),
) -> None:
    """Record each block's lines and leading references; flag references out of place or form.

    A block whose contents equal its template block's (the course's placeholder
    left as it was) is listed as unfilled, not as filled code.
    """
    written = set(added)  # every line the student wrote: block contents and added lines
    leading: set[int] = set()
    for block in blocks:
        entry = FilledBlock(show, block.start + 1, tuple(lines[block.start + 1 : block.end]))
        if block in untouched:
            result.unfilled.append(entry)
            continue
        result.filled.append(entry)
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
    # newline="\n": the summary reads the same on every platform.
    with atomic_write(target, "w", newline="\n") as fh:
        fh.write(text)
    return target


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
