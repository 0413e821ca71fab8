"""TODO blocks: find them, pair the template's with the submission's, diff the lines outside.

Blocks pair up by the ``class``/``def`` lines around them, so a block still finds
its partner when lines above it were added or removed; the lines outside the
paired blocks' contents are then diffed segment by segment with :mod:`difflib`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from mnist_mlp.course.result import Change

_MARKER = re.compile(r"^\s*#\s*TODO\s+(START|END)\b", re.IGNORECASE)
_DEF = re.compile(r"^(\s*)(?:async\s+def|def|class)\s")


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
