"""Precision and recall on a generated class: honest authors and disguised copiers.

The corpus (tests/simcorpus.py): 60 honest authors, each filling the template
with independent implementations in their own habits, and 36 copiers, each
copying a different author with one disguise (renaming, comment rewrites,
reformatting, reordering, dead statements) or all five at once. The claims
below are the ones docs/similarity.md makes, measured on this fixed seed;
benchmarks/similarity_quality.py measures them on larger corpora.
"""

from __future__ import annotations

import itertools

import pytest
from simcorpus import VARIANTS, make_corpus
from simcorpus_impls import template_files

from mnist_mlp.course.fingerprint import kgram_hashes, tokenise
from mnist_mlp.course.similarity import Settings, Template, compare

SETTINGS = Settings()


@pytest.fixture(scope="module")
def measured():
    corpus = make_corpus(seed=2026, n_honest=60, copies=VARIANTS * 6)
    files = template_files()
    hashes = set()
    for text in files.values():
        hashes.update(kgram_hashes(tokenise(text).ids, SETTINGS.k))
    template = Template(
        hashes, {r.removeprefix("codes/"): t.encode() for r, t in files.items()}, []
    )
    result = compare(corpus.submissions, template, settings=SETTINGS)
    assert result.problems == []
    score = {frozenset((p.a, p.b)): p.score for p in result.pairs}
    names = [s.name for s in corpus.submissions]
    honest = [
        score.get(frozenset(ab), 0.0)
        for ab in itertools.combinations(names, 2)
        if not corpus.is_copy_pair(*ab)
    ]
    copies = {
        copy: (corpus.kind[copy], score.get(frozenset((copy, original)), 0.0))
        for copy, original in corpus.groups.items()
    }
    return honest, copies, result


@pytest.mark.parametrize("kind", ["rename", "comments", "reformat"])
def test_renaming_comment_rewrites_and_reformatting_are_invisible(measured, kind):
    _, copies, _ = measured
    found = [s for k, s in copies.values() if k == kind]
    assert len(found) == 6 and found == [1.0] * 6


@pytest.mark.parametrize("kind", ["reorder", "dead", "all"])
def test_reordered_padded_and_fully_disguised_copies_score_above_the_threshold(measured, kind):
    _, copies, _ = measured
    found = [s for k, s in copies.values() if k == kind]
    assert len(found) == 6 and min(found) >= SETTINGS.threshold


def test_honest_independent_pairs_stay_below_the_threshold(measured):
    honest, _, _ = measured
    assert len(honest) == 96 * 95 // 2 - 36
    assert max(honest) < SETTINGS.threshold
    assert sorted(honest)[len(honest) // 2] < 0.25  # the median honest pair shares little


def test_every_copy_is_clustered_with_its_original_and_nobody_else(measured):
    _, copies, result = measured
    expected = sorted(sorted([c.split("_")[0], c]) for c in copies)
    assert sorted(sorted(group) for group in result.clusters) == expected
