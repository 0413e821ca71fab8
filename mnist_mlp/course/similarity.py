"""Find code that submissions share beyond the template, as MOSS, JPlag and Dolos do.

Each submission's Python files (``codes/**.py`` when it has a ``codes/``
folder, else every ``.py``) are normalised and fingerprinted by
:mod:`mnist_mlp.course.fingerprint`. Before any score is computed, two kinds of
fingerprints are removed:

* every one whose k-gram occurs anywhere in the template (all the template's
  k-grams, not only its winnowed ones), so the handout contributes nothing, to
  the matches or to the percentage, and identical submissions still score 1.0;
* every one whose k-gram occurs in more than ``max_fraction`` of the current
  submissions (and in more than two), the idioms everyone writes.

A pair's score is the Dice coefficient of the remaining fingerprint sets,
``2 |A & B| / (|A| + |B|)``, in [0, 1]. The shared counts come from an inverted
index (fingerprint -> submissions), so the work grows with the fingerprints
submissions share, not with the number of pairs. Past submissions (earlier
years) are compared with every current one, never with each other.

A fragment is a run of shared fingerprints on one "diagonal" (the same offset
between the two token streams, in the same pair of files) with gaps of at most
``w + k`` tokens: code copied in one piece. ``shared_lines`` counts the lines
covered by shared fingerprints, and ``longest`` the longest fragment, each as the
smaller of the two sides. The fragments shown for a pair above the threshold are
tiled, longest first, so that no two overlap on either side.

Bad input never stops the comparison: a refused submission, a file that is not
UTF-8 or does not tokenise, a submission with nothing beyond the template, a
template file that does not tokenise: each becomes a :class:`Problem` naming it,
and the rest is compared.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mnist_mlp.course.fingerprint import dead_stores, kgram_hashes, tokenise, winnow
from mnist_mlp.course.simpairs import clusters, fragments, shared_counts
from mnist_mlp.course.submissions import Submission, SubmissionRefused, read_submission
from mnist_mlp.errors import ConfigError, DataError

__all__ = [
    "Compared",
    "Fragment",
    "Pair",
    "Problem",
    "Settings",
    "SimilarityResult",
    "Template",
    "compare",
    "find_similar",
    "load_template",
]  # fmt: skip

# The line breaks tokenize knows; str.splitlines also splits on form feeds and others.
_NEWLINE = re.compile(r"\r\n|\r|\n")
_MAX_SOURCE_BYTES = 1_000_000  # a .py larger than this is data, not a student's code


@dataclass(frozen=True)
class Settings:
    """How code is fingerprinted and compared (defaults measured in docs/similarity.md).

    Attributes
    ----------
    k : int
        Tokens per k-gram; shorter shared runs never match.
    w : int
        Winnowing window; every shared run of ``w + k - 1`` tokens or more matches.
    threshold : float
        Pairs scoring at least this are reported as similar, clustered and shown
        side by side.
    max_fraction : float
        A fingerprint found in more than this fraction of the submissions is an
        idiom and is ignored.
    """

    k: int = 9
    w: int = 4
    threshold: float = 0.8
    max_fraction: float = 0.3

    def __post_init__(self):
        for name, low in (("k", 2), ("w", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"similarity '{name}' must be an integer >= {low}; got {value!r}")
        for name in ("threshold", "max_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"similarity '{name}' must be in [0, 1]; got {value!r}")


@dataclass(frozen=True)
class Problem:
    """Something skipped or handled: ``who`` (a submission, ``template`` or a path) and what."""

    who: str
    what: str

    def __str__(self) -> str:
        return f"{self.who}: {self.what}"


@dataclass(frozen=True)
class Fragment:
    """Code shared in one piece: lines (1-based, inclusive) in a file of each side."""

    a_file: str
    a_lines: tuple[int, int]
    b_file: str
    b_lines: tuple[int, int]
    tokens: int

    @property
    def lines(self) -> int:
        """Its length in lines, the smaller of the two sides."""
        return min(self.a_lines[1] - self.a_lines[0], self.b_lines[1] - self.b_lines[0]) + 1


@dataclass
class Pair:
    """Two submissions and what they share (``fragments`` kept for pairs above the threshold)."""

    a: str
    b: str
    score: float
    shared: int
    shared_lines: int
    longest: Fragment | None
    fragments: list[Fragment] = field(default_factory=list)


@dataclass
class Compared:
    """One submission as compared: its files' lines and how many fingerprints it kept."""

    name: str
    past: bool
    sources: dict[str, list[str]]
    fingerprints: int
    _lines: list[tuple[int, ...]] = field(default_factory=list, repr=False)
    _fps: dict[int, list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _kgrams: set[int] = field(default_factory=set, repr=False)


@dataclass
class SimilarityResult:
    """Everything the CSV, the HTML report and the terminal summary show."""

    settings: Settings
    compared: list[Compared]
    pairs: list[Pair]
    clusters: list[list[str]]
    problems: list[Problem]
    template_files: int

    @property
    def above(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.settings.threshold]


# --------------------------------------------------------------------------- template


@dataclass
class Template:
    """The template's k-gram hashes, and its files' bytes (identical files are skipped)."""

    hashes: set[int]
    files: dict[str, bytes]
    problems: list[Problem]


def _code_files(sub: Submission) -> dict[str, bytes]:
    """The files compared: under ``codes/`` when there is one, else all; ``.py`` only."""
    under = "codes/" if any(rel.startswith("codes/") for rel in sub.files) else ""
    return {rel: d for rel, d in sub.files.items() if rel.startswith(under) and rel.endswith(".py")}


def _key(rel: str) -> str:
    return rel.removeprefix("codes/")


def load_template(path: str | os.PathLike | None, k: int) -> Template:
    """Read a template: a handout folder (with ``codes/``), a flat folder of ``.py``, or a zip.

    Raises
    ------
    ConfigError
        When the path is not there, is refused, or holds no ``.py`` file.
    """
    if path is None:
        return Template(set(), {}, [])
    try:
        sub = read_submission(path)
    except SubmissionRefused as exc:
        raise ConfigError(
            f"the template cannot be read: {exc.reason}; pass --template DIR"
        ) from None
    files = _code_files(sub)
    if not files:
        raise ConfigError(f"the template {str(path)!r} has no .py files; pass the handout folder")
    hashes, problems = set(), []
    for rel in files:
        try:
            text = sub.text(rel)
            dead, problem = dead_stores(text)
            hashes.update(kgram_hashes(tokenise(text, dead).ids, k))
        except DataError as exc:
            what = f"{rel} {exc}; its code is not excluded from the matches"
            problems.append(Problem("template", what.replace(f"{sub.name}/{rel} ", "")))
            continue
        if problem:
            problems.append(Problem("template", f"{rel} {problem}; excluded on its tokens"))
    return Template(hashes, {_key(rel): d for rel, d in files.items()}, problems)


# --------------------------------------------------------------------------- one submission


def _fingerprint(sub: Submission, past: bool, template: Template, settings, cache, problems):
    """The submission's files' tokens and fingerprints beyond the template."""
    doc = Compared(sub.name, past, {}, 0)
    for rel, data in _code_files(sub).items():
        if template.files.get(_key(rel)) == data:
            continue  # unchanged from the handout: every k-gram of it is the template's
        if len(data) > _MAX_SOURCE_BYTES:
            problems.append(Problem(sub.name, f"{rel} is larger than 1 MB; skipped"))
            continue
        try:
            text = sub.text(rel)
        except DataError as exc:
            problems.append(Problem(sub.name, f"{str(exc).removeprefix(sub.name + '/')}; skipped"))
            continue
        digest = hashlib.sha1(data).digest()
        if digest not in cache:  # copies and untouched files are tokenised once
            cache[digest] = _tokens_and_hashes(text, settings)
        entry = cache[digest]
        if isinstance(entry, str):
            problems.append(Problem(sub.name, f"{rel} {entry}"))
            continue
        tokens, hashes, chosen, note = entry
        if note:
            problems.append(Problem(sub.name, f"{rel} {note}"))
        index = len(doc._lines)
        doc.sources[rel] = _NEWLINE.split(text)
        doc._lines.append(tokens.lines)
        doc._kgrams.update(set(hashes).difference(template.hashes))
        for pos in chosen:
            if hashes[pos] not in template.hashes:
                doc._fps.setdefault(hashes[pos], []).append((index, pos))
    return doc


def _tokens_and_hashes(text: str, settings: Settings):
    """(tokens, k-gram hashes, winnowed positions, a note or None), or why it failed."""
    dead, problem = dead_stores(text)
    try:
        tokens = tokenise(text, dead)
    except DataError as exc:
        return f"{exc}; skipped"
    hashes = kgram_hashes(tokens.ids, settings.k)
    note = f"{problem}; compared on its tokens anyway" if problem else None
    return tokens, hashes, winnow(hashes, settings.w), note


# --------------------------------------------------------------------------- all pairs


def _drop_idioms(docs: list[Compared], settings: Settings, problems: list[Problem]) -> None:
    """Remove fingerprints found in too many current submissions, then the empty submissions."""
    current = [d for d in docs if not d.past]
    df = Counter()
    for doc in current:
        df.update(doc._kgrams)  # each k-gram once per submission
    limit = max(2, settings.max_fraction * len(current))
    for doc in docs:
        doc._fps = {h: at for h, at in doc._fps.items() if df[h] <= limit}
        doc._kgrams = set()
        doc.fingerprints = len(doc._fps)


def compare(
    submissions: list[Submission],
    template: Template | None = None,
    past: list[Submission] = (),
    settings: Settings = Settings(),
    problems: list[Problem] | None = None,
) -> SimilarityResult:
    """Score every pair of submissions (and each against every past one).

    Parameters
    ----------
    submissions, past : list of Submission
        Read with :func:`~mnist_mlp.course.submissions.read_submission`; names must be unique.
    template : Template, optional
        From :func:`load_template` with the same ``settings.k``; without one,
        only the idiom filter keeps the handout's code out of the scores.
    problems : list of Problem, optional
        Found while reading; the result lists them first.
    """
    template = template or Template(set(), {}, [])
    problems = list(problems or []) + list(template.problems)
    cache, docs = {}, []
    for sub, is_past in [(s, False) for s in submissions] + [(s, True) for s in past]:
        doc = _fingerprint(sub, is_past, template, settings, cache, problems)
        docs.append(doc)
    _drop_idioms(docs, settings, problems)
    for doc in docs:
        if not doc.fingerprints:
            problems.append(Problem(doc.name, "no code beyond the template to compare; skipped"))
    docs = [d for d in docs if d.fingerprints]
    pairs = []
    for (i, j), shared in shared_counts(docs).items():
        a, b = docs[i], docs[j]
        score = 2 * shared / (a.fingerprints + b.fingerprints)
        keep = score >= settings.threshold
        found, lines = fragments(a, b, settings.k, settings.w, keep)
        found = [Fragment(*f) for f in found]
        pairs.append(Pair(a.name, b.name, score, shared, lines, found[0], found if keep else []))
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    groups = clusters([d.name for d in docs], pairs, settings.threshold)
    return SimilarityResult(settings, docs, pairs, groups, problems, len(template.files))


# --------------------------------------------------------------------------- from paths


def _read_all(paths, problems: list[Problem], taken: set[str]) -> list[Submission]:
    subs = []
    for path in paths:
        try:
            sub = read_submission(path)
        except SubmissionRefused as exc:
            problems.append(Problem(str(path), f"refused: {exc.reason}"))
            continue
        name, n = sub.name, 2
        while sub.name in taken:  # two folders with one name: keep both, tell apart
            sub.name = f"{name}#{n}"
            n += 1
        if sub.name != name:
            problems.append(
                Problem(
                    str(path), f"another submission is named {name!r}; this one is {sub.name!r}"
                )
            )
        taken.add(sub.name)
        subs.append(sub)
    return subs


def _expand_past(paths) -> list[Path]:
    """A past folder is one submission, or (with no .py and no codes/ at its top) a folder of them."""
    out = []
    for path in map(Path, paths):
        if not path.exists():
            raise ConfigError(f"the past folder {str(path)!r} does not exist; pass --past DIR")
        single = path.is_file() or (path / "codes").is_dir() or any(path.glob("*.py"))
        children = [
            p for p in sorted(path.iterdir())
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip")
        ]  # fmt: skip
        out += [path] if single else children
    return out


def find_similar(
    paths, template: str | os.PathLike | None = None, past=(), settings: Settings = Settings()
) -> SimilarityResult:
    """Read the submissions (folders or zips) and the template from disk, then :func:`compare`."""
    problems: list[Problem] = []
    tmpl = load_template(template, settings.k)
    taken: set[str] = set()
    subs = _read_all(paths, problems, taken)
    old = _read_all(_expand_past(past), problems, taken)
    if template is None:
        problems.insert(
            0,
            Problem(
                "template",
                "none given: only the idiom filter keeps the handout's code out of the scores",
            ),
        )
    return compare(subs, tmpl, old, settings, problems)
