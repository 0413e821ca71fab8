"""What the code check finds, and the ``summary.txt`` it renders.

:class:`CheckResult` collects the filled TODO blocks (:class:`FilledBlock`), the
references, the other modifications (:class:`Modification` of :class:`Change`
lines), the warnings and the notes (:class:`Finding`); :meth:`CheckResult.render`
writes them in the seed's format. Re-exported by :mod:`mnist_mlp.course.codecheck`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Change", "CheckResult", "FilledBlock", "Finding", "Modification"]

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
    """Everything the check found; :meth:`render` turns it into ``summary.txt``.

    ``unfilled`` holds the blocks left exactly as the template has them.
    """

    filled: list[FilledBlock] = field(default_factory=list)
    unfilled: list[FilledBlock] = field(default_factory=list)
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
        ]
        if self.unfilled:
            sections.append(
                _section("Unfilled Code", [f"# {b.path}:{b.line}" for b in self.unfilled])
            )
        sections += [
            _section("Warnings", [f"# {w}" for w in self.warnings]),
        ]
        if self.notes:
            sections.append(_section("Notes", [f"# {n}" for n in self.notes]))
        return "\n\n".join(sections) + "\n"

    def summary_line(self) -> str:
        """One line of counts, for the command line."""
        unfilled = f"{len(self.unfilled)} unfilled, " if self.unfilled else ""
        return (
            f"{_plural(len(self.filled), 'filled block')}, {unfilled}"
            f"{_plural(len(self.references), 'reference')}, "
            f"{_plural(len(self.modifications), 'path')} changed, added or deleted, "
            f"{_plural(len(self.warnings), 'warning')}"
        )


def _section(title: str, body: list[str]) -> str:
    return "\n".join([_RULE, f"# {title}", _RULE, *body])


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
