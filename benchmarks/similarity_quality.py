"""Precision and recall of ``mnist-mlp similarity`` on generated corpora, and the honest tail.

The corpus (tests/simcorpus.py) has honest authors, who fill the template's
TODO blocks with independent implementations in their own habits, and copiers,
each copying one author with one disguise (renaming, comment rewrites,
reformatting, reordering, dead statements, or all five). A pair is a true copy
when one copied the other. For each threshold this prints the pairs at or above
it that are copies (TP) and honest (FP), the copies below it (FN), precision and
recall; then the recall of each disguise at the default threshold and the
distribution of honest pairs' scores, from which the default is chosen. Partial
copies (``--partial``: half the classes copied, the rest written anew) are left
out of the first table and reported in the second.

    python benchmarks/similarity_quality.py --seeds 1 2 3 --honest 400 --copies 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from simcorpus import VARIANTS, make_corpus
from simcorpus_impls import template_files

from mnist_mlp.course.fingerprint import kgram_hashes, tokenise
from mnist_mlp.course.similarity import Settings, Template, compare


def template(k: int) -> Template:
    files = template_files()
    hashes = set()
    for text in files.values():
        hashes.update(kgram_hashes(tokenise(text).ids, k))
    return Template(
        hashes, {rel.removeprefix("codes/"): t.encode() for rel, t in files.items()}, []
    )


def scores(seed: int, n_honest: int, n_copies: int, n_partial: int, settings: Settings):
    copies = [VARIANTS[i % len(VARIANTS)] for i in range(n_copies)] + [("partial",)] * n_partial
    corpus = make_corpus(seed, n_honest, copies)
    result = compare(corpus.submissions, template(settings.k), settings=settings)
    seen = {}
    for p in result.pairs:
        seen[p.a, p.b] = p.score
    honest, copied = [], []
    names = [s.name for s in corpus.submissions]
    n_pairs = len(names) * (len(names) - 1) // 2
    for (a, b), score in seen.items():
        if corpus.is_copy_pair(a, b):
            copied.append((corpus.kind.get(b) or corpus.kind.get(a), score))
        else:
            honest.append(score)
    # Copy pairs that share no fingerprint at all score 0 and are not in result.pairs.
    for copy, kind in corpus.kind.items():
        original = corpus.groups[copy]
        if (original, copy) not in seen and (copy, original) not in seen:
            copied.append((kind, 0.0))
    honest += [0.0] * (n_pairs - len(honest) - len(copied))
    return np.array(honest), copied, len(corpus.submissions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--honest", type=int, default=400)
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument(
        "--partial", type=int, default=0, help="copiers of half the classes, reported apart"
    )
    parser.add_argument("-k", type=int, default=Settings().k)
    parser.add_argument("-w", type=int, default=Settings().w)
    parser.add_argument("--max-fraction", type=float, default=Settings().max_fraction)
    parser.add_argument("--thresholds", type=float, nargs="+",
                        default=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8])  # fmt: skip
    args = parser.parse_args()
    settings = Settings(k=args.k, w=args.w, max_fraction=args.max_fraction)
    honest, copied, total = [], [], 0
    start = time.perf_counter()
    for seed in args.seeds:
        h, c, n = scores(seed, args.honest, args.copies, args.partial, settings)
        honest.append(h)
        copied += c
        total += n
    honest = np.concatenate(honest)
    cs = np.array([s for kind, s in copied if kind != "partial"])
    print(f"{len(args.seeds)} corpora of {total // len(args.seeds)} submissions "
          f"({args.honest} honest, {args.copies} copies, {args.partial} partial copies each); "
          f"k={settings.k}, w={settings.w}, "
          f"max_fraction={settings.max_fraction}; {time.perf_counter() - start:.0f} s\n")  # fmt: skip
    print("| threshold | copies found (TP) | honest pairs above (FP) | copies missed (FN) "
          "| precision | recall |\n|---|---|---|---|---|---|")  # fmt: skip
    for t in args.thresholds if len(cs) else []:
        tp, fp = int((cs >= t).sum()), int((honest >= t).sum())
        prec = tp / (tp + fp) if tp + fp else float("nan")
        print(f"| {t:.2f} | {tp} | {fp} | {len(cs) - tp} | {prec:.3f} | {tp / len(cs):.3f} |")
    t = settings.threshold
    print(f"\nRecall by disguise at the default threshold {t}:\n\n"
          "| disguise | copies | found | recall | lowest score |\n|---|---|---|---|---|")  # fmt: skip
    for kind in sorted({k for k, _ in copied}):
        mine = np.array([s for k, s in copied if k == kind])
        found = int((mine >= t).sum())
        print(f"| {kind} | {len(mine)} | {found} | {found / len(mine):.3f} | {mine.min():.3f} "
              f"(median {np.median(mine):.3f}) |")  # fmt: skip
    qs = [50, 90, 99, 99.9, 99.99]
    print(f"\nHonest pairs ({len(honest)}): "
          + ", ".join(f"p{q:g} = {np.percentile(honest, q):.3f}" for q in qs)
          + f", max = {honest.max():.3f}; above 0.5: {int((honest >= 0.5).sum())}")  # fmt: skip


if __name__ == "__main__":
    main()
