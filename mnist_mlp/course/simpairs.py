"""Pairs of fingerprinted submissions: shared counts, fragments, clusters.

The pieces of :mod:`mnist_mlp.course.similarity` that work on all pairs at once.
They take the compared submissions duck-typed (``_fps``: fingerprint -> list of
(file index, token position); ``_lines``: per file, the line of each token;
``sources``: the file names in order; ``past``) so this module needs nothing
from that one.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

__all__ = ["clusters", "fragments", "shared_counts"]


def shared_counts(docs) -> Counter:
    """Shared fingerprints per pair of indices, through the inverted index."""
    index = defaultdict(list)
    for i, doc in enumerate(docs):
        for h in doc._fps:
            index[h].append(i)
    counts = Counter()
    for holders in index.values():
        if len(holders) < 2:
            continue
        now = [i for i in holders if not docs[i].past]
        old = [i for i in holders if docs[i].past]
        counts.update(itertools.combinations(now, 2))  # holders are in index order
        if old and now:
            counts.update((i, j) if i < j else (j, i) for i in now for j in old)
    return counts


def fragments(a, b, k: int, w: int, keep: bool) -> tuple[list[tuple], int]:
    """The pieces of code a and b share (all if ``keep``, else the longest), and the lines
    covered by shared fingerprints on the smaller side.
    """
    runs = defaultdict(list)  # (file in a, file in b, diagonal) -> positions in a
    a_fps, b_fps = a._fps, b._fps
    for h in a_fps.keys() & b_fps.keys():
        for fa, pa in a_fps[h]:
            for fb, pb in b_fps[h]:
                runs[fa, fb, pb - pa].append(pa)
    gap = w + k
    pieces, spans_a, spans_b = [], [], []  # pieces: (tokens, fa, fb, diag, first, last)
    for (fa, fb, diag), starts in runs.items():
        starts.sort()
        la, lb = a._lines[fa], b._lines[fb]
        first = prev = starts[0]
        for pos in [*starts[1:], None]:
            if pos is not None and pos - prev <= gap:
                prev = pos
                continue
            pieces.append((prev + k - first, fa, fb, diag, first, prev))
            spans_a.append((fa, la[first], la[prev + k - 1]))
            spans_b.append((fb, lb[first + diag], lb[prev + diag + k - 1]))
            first = prev = pos
    pieces.sort(key=lambda p: (-p[0], p[1], p[4]))
    pieces = _tile(pieces, k) if keep else pieces[:1]
    a_files, b_files = list(a.sources), list(b.sources)
    found = [
        (
            a_files[fa],
            (a._lines[fa][first], a._lines[fa][last + k - 1]),
            b_files[fb],
            (b._lines[fb][first + diag], b._lines[fb][last + diag + k - 1]),
            tokens,
        )
        for tokens, fa, fb, diag, first, last in pieces
    ]
    return found, min(_count_lines(spans_a), _count_lines(spans_b))


def _tile(pieces: list[tuple], k: int) -> list[tuple]:
    """Longest first, keep the pieces that overlap no kept one on either side (as JPlag tiles).

    The same idiom can match at several places (a loss's forward and backward);
    tiling pairs each piece of code with one counterpart, so the side-by-side
    view shows one clean correspondence.
    """
    kept, taken_a, taken_b = [], [], []
    for piece in pieces:
        _, fa, fb, diag, first, last = piece
        span_a, span_b = (fa, first, last + k - 1), (fb, first + diag, last + diag + k - 1)
        if not any(_overlap(span_a, t) for t in taken_a) and not any(
            _overlap(span_b, t) for t in taken_b
        ):
            kept.append(piece)
            taken_a.append(span_a)
            taken_b.append(span_b)
    return kept


def _overlap(x: tuple[int, int, int], y: tuple[int, int, int]) -> bool:
    return x[0] == y[0] and x[1] <= y[2] and y[1] <= x[2]


def _count_lines(spans: list[tuple[int, int, int]]) -> int:
    """Lines covered by (file, first, last) spans, each line counted once."""
    total, end = 0, (-1, -1)
    for f, lo, hi in sorted(spans):
        if (f, hi) <= end:
            continue
        start = max(lo, end[1] + 1) if f == end[0] else lo
        total += hi - start + 1
        end = (f, hi)
    return total


def clusters(names: list[str], pairs, threshold: float) -> list[list[str]]:
    """Groups of submissions linked, directly or through others, by pairs above the threshold."""
    parent = {name: name for name in names}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        if pair.score >= threshold:
            parent[root(pair.a)] = root(pair.b)
    groups = defaultdict(list)
    for name in names:
        groups[root(name)].append(name)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))
