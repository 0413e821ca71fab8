"""Python source to normalised tokens, hashed k-grams and robust-winnowing fingerprints.

The normalisation is what makes renaming, comment rewrites and reformatting
useless to a copier:

* identifiers become one token ``V``; keywords are kept, and so are builtins
  where they are called (``for``, ``range(`` and ``sum(`` say how the code is
  built, a variable's name does not; the seed's parameter ``input`` is a
  builtin's name used as a variable, so it is a ``V``);
* every number becomes ``N`` and every string ``S`` (adjacent strings, an
  implicit concatenation, become one ``S``);
* comments, blank lines, line continuations and docstrings (any statement that
  is only a string) are dropped;
* so are the statements copiers insert as padding because they change nothing
  the program computes: ``pass``, ``assert ...``, a ``print(...)`` statement,
  names set to constants (``debug = False``, ``a, b = 1.05, 1.67``) and whole
  ``if False:`` blocks, and (with :func:`dead_stores`) assignments in a function
  to names nothing in the file reads. What this costs: an honest constant,
  print or unused variable no longer counts as shared structure, which only
  lowers scores;
* ``;`` becomes a NEWLINE, a trailing comma before a closing bracket is dropped
  and parentheses around a whole returned or assigned expression go, so joining,
  exploding and wrapping lines (as formatters do) changes nothing;
* statement structure is kept: NEWLINE, INDENT and DEDENT are tokens.

Fingerprints follow Schleimer, Wilkerson and Aiken (SIGMOD 2003): the hashes of
all k-grams of tokens, then, in every window of ``w`` consecutive hashes, the
minimum, choosing on ties the one already chosen ("robust winnowing", so runs
of a repeated k-gram do not yield a fingerprint per window). Any shared run of
at least ``w + k - 1`` tokens shares a fingerprint; none shorter than ``k`` does.
Hashes are Python's ``hash`` of tuples of small integers, which (unlike the
hash of a string) is the same in every process.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize
import zlib
from dataclasses import dataclass

from mnist_mlp.errors import DataError

__all__ = ["Tokens", "dead_stores", "kgram_hashes", "tokenise", "winnow"]

_KEYWORDS = frozenset(keyword.kwlist)
_BUILTINS = frozenset(dir(builtins)) - _KEYWORDS
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_CONSTANTS = frozenset({"N", "S", "True", "False", "None"})
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python >= 3.12
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


@dataclass(frozen=True)
class Tokens:
    """A file's normalised tokens.

    Attributes
    ----------
    text : tuple of str
        The normalised tokens (``V``, ``N``, ``S``, ``NEWLINE``, operators, keywords...).
    ids : tuple of int
        The same as stable integers, the input of the k-gram hash.
    lines : tuple of int
        The 1-based source line each token starts on.
    """

    text: tuple[str, ...]
    ids: tuple[int, ...]
    lines: tuple[int, ...]


def _raw(source: str, dead: list[tuple[tuple[int, int], tuple[int, int]]]):
    """The significant tokens as (normalised text, line), f-strings folded into one ``S``.

    Tokens that start inside one of the ``dead`` spans ((line, col) to (line, col),
    sorted) are left out.
    """
    depth, spans = 0, iter(dead)
    span = next(spans, None)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        while span is not None and tok.start >= span[1]:
            span = next(spans, None)
        if span is not None and span[0] <= tok.start < span[1]:
            continue
        if tok.type == _FSTRING_START:
            depth += 1
            if depth == 1:
                yield "S", tok.start[0]
            continue
        if depth:
            depth -= tok.type == _FSTRING_END
            continue
        if tok.type in _SKIPPED or (tok.type == tokenize.ERRORTOKEN and tok.string.isspace()):
            continue
        if tok.type == tokenize.NAME:
            kept = tok.string in _KEYWORDS or tok.string in _BUILTINS
            yield (tok.string if kept else "V"), tok.start[0]
        elif tok.type == tokenize.NUMBER:
            yield "N", tok.start[0]
        elif tok.type == tokenize.STRING:
            yield "S", tok.start[0]
        elif tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            yield tokenize.tok_name[tok.type], tok.start[0]
        else:
            yield ("NEWLINE" if tok.string == ";" else tok.string), tok.start[0]


def _units(raw: list[tuple[str, int]]):
    """Split tokens into logical lines: (leading INDENT/DEDENTs, tokens up to and with NEWLINE)."""
    prefix: list[tuple[str, int]] = []
    body: list[tuple[str, int]] = []
    for tok in raw:
        if not body and tok[0] in ("INDENT", "DEDENT"):
            prefix.append(tok)
            continue
        body.append(tok)
        if tok[0] == "NEWLINE":
            yield prefix, body
            prefix, body = [], []
    if prefix or body:
        yield prefix, body


def _closing(body: list[tuple[str, int]], start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for i in range(start, len(body)):
        depth += body[i][0] in _OPENERS
        depth -= body[i][0] in _CLOSERS
        if depth == 0:
            return i
    return -1


def _is_dead(texts: list[str], body) -> bool:
    """A statement that computes nothing the program uses (see the module docstring)."""
    if not texts or all(t == "S" for t in texts) or texts == ["pass"] or texts[0] == "assert":
        return True
    if texts[0] == "print" and len(texts) > 1 and texts[1] == "(":
        return _closing(body, 1) == len(texts) - 1
    if "=" in texts:  # names = constants: V [, V] = N [, N]
        eq = texts.index("=")
        lhs, rhs = texts[:eq], [t for t in texts[eq + 1 :] if t != "-"]
        return (
            set(lhs) <= {"V", ","}
            and bool(rhs)
            and all(t in _CONSTANTS for t in rhs[::2])
            and all(t == "," for t in rhs[1::2])
        )
    return False


def _strip_wrapping(body):
    """``return (x)`` and ``y = (x)`` lose the parentheses around the whole expression."""
    texts = [t for t, _ in body]
    for i, t in enumerate(texts[:-1]):
        if t in ("return", "=") and texts[i + 1] == "(" and _closing(body, i + 1) == len(body) - 2:
            return body[: i + 1] + body[i + 2 : -2] + body[-1:]
    return body


def _normalise(raw: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Drop trailing commas, dead statements, ``if False:`` blocks and wrapping parentheses."""
    raw = _merge_strings([tok for i, tok in enumerate(raw) if not _trailing_comma(raw, i)])
    # A builtin is kept only where it is called: "range(" says how the code is built,
    # while the seed's parameter "input" (a builtin's name) is just a name.
    raw = [
        ("V", line) if t in _BUILTINS and (i + 1 == len(raw) or raw[i + 1][0] != "(") else (t, line)
        for i, (t, line) in enumerate(raw)
    ]
    out: list[tuple[str, int]] = []
    skip_depth = 0  # > 0 while inside an "if False:" block
    for prefix, body in _units(raw):
        for tok in prefix:
            if skip_depth:
                skip_depth += (tok[0] == "INDENT") - (tok[0] == "DEDENT")
                if skip_depth == 1 and tok[0] == "DEDENT":
                    skip_depth = 0
                continue
            out.append(tok)
        if skip_depth:
            continue
        texts = [t for t, _ in body if t != "NEWLINE"]
        if texts[:3] == ["if", "False", ":"] and len(texts) == 3:
            skip_depth = 1
            continue
        if _is_dead(texts, body):
            continue
        out += _strip_wrapping(body)
    return [
        tok
        for i, tok in enumerate(out)
        if tok[0] != "NEWLINE" or (i and out[i - 1][0] != "NEWLINE")
    ]


def _trailing_comma(raw, i: int) -> bool:
    return raw[i][0] == "," and i + 1 < len(raw) and raw[i + 1][0] in _CLOSERS


def _merge_strings(body):
    """Adjacent strings (implicit concatenation) become one ``S``."""
    return [
        tok for i, tok in enumerate(body) if not (tok[0] == "S" and i and body[i - 1][0] == "S")
    ]


def dead_stores(source: str) -> tuple[list[tuple[tuple[int, int], tuple[int, int]]], str | None]:
    """Where the source assigns, inside a function, names that nothing in the file reads.

    ``unused = np.zeros(1)`` or ``shape_seen = input.shape`` pad a copy without
    changing what it computes; a compiler calls them dead stores. A name counts
    as read if it is loaded anywhere in the file, so this errs on keeping code.

    Returns
    -------
    spans : list of ((line, col), (end_line, end_col))
        The dead assignments, sorted, for :func:`tokenise`'s ``dead``.
    problem : str or None
        Why the source could not be parsed (then there are no spans).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [], f"has a syntax error (line {exc.lineno}: {exc.msg})"
    except (RecursionError, MemoryError, ValueError):
        return [], "could not be parsed"
    read, assigns = set(), []
    for node in ast.walk(tree):  # one walk: ast.walk is most of the cost
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Store):
                read.add(node.id)
        elif isinstance(node, ast.Assign):
            assigns.append(node)
    scope_level = {id(n) for n in _scope_statements(tree.body)}
    spans = [
        ((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset))
        for n in assigns
        if id(n) not in scope_level and (names := _targets(n.targets)) and not names & read
    ]
    return sorted(set(spans)), None


def _scope_statements(body):
    """Statements of a module or class body, into if/for/with/try but not into functions."""
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _scope_statements(getattr(stmt, field, None) or [])


def _targets(targets) -> set[str]:
    """The names an assignment binds, or an empty set if it binds anything else."""
    names = set()
    for target in targets:
        parts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        if not all(isinstance(p, ast.Name) for p in parts):
            return set()
        names.update(p.id for p in parts)
    return names


def tokenise(source: str, dead=()) -> Tokens:
    """Normalise Python source into tokens (see the module docstring).

    Parameters
    ----------
    source : str
    dead : list of spans, optional
        From :func:`dead_stores`: code left out.

    Raises
    ------
    DataError
        When the source does not tokenise (an unclosed bracket or string, a bad
        dedent); the message names the line.
    """
    try:
        pairs = _normalise(list(_raw(source, list(dead))))
    except (tokenize.TokenError, SyntaxError) as exc:
        line = getattr(exc, "lineno", None) or (exc.args[1][0] if len(exc.args) > 1 else "?")
        raise DataError(f"does not tokenise (line {line}: {exc.args[0]})") from None
    text = tuple(t for t, _ in pairs)
    return Tokens(text, tuple(_token_id(t) for t in text), tuple(line for _, line in pairs))


_IDS: dict[str, int] = {}


def _token_id(text: str) -> int:
    # crc32, not hash(): str hashes change from one process to the next.
    if text not in _IDS:
        _IDS[text] = zlib.crc32(text.encode("utf-8", "surrogatepass"))
    return _IDS[text]


def kgram_hashes(ids: tuple[int, ...], k: int) -> list[int]:
    """The hash of every run of ``k`` consecutive token ids, in order (empty if fewer)."""
    return [hash(ids[i : i + k]) for i in range(len(ids) - k + 1)]


def winnow(hashes: list[int], w: int) -> list[int]:
    """Positions chosen by robust winnowing with window ``w`` (Schleimer et al. 2003, sec. 4).

    In each window of ``w`` consecutive hashes the minimum is chosen; on a tie
    the position chosen for the previous window is kept if it is still in the
    window, else the rightmost minimum. Each position is reported once, in order.
    A sequence shorter than one window yields its rightmost minimum.
    """
    n = len(hashes)
    if n == 0:
        return []
    if n <= w:
        low = min(hashes)
        return [max(i for i in range(n) if hashes[i] == low)]
    chosen: list[int] = []
    best = -1
    for right in range(w - 1, n):
        left = right - w + 1
        if best < left:
            # The chosen minimum left the window: rescan it, rightmost minimum first.
            best = right
            for i in range(right - 1, left - 1, -1):
                if hashes[i] < hashes[best]:
                    best = i
            chosen.append(best)
        elif hashes[right] < hashes[best]:
            # Strictly smaller only: on a tie the earlier choice stays (robust winnowing).
            best = right
            chosen.append(best)
    return chosen
