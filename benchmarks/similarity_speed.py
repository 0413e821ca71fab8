"""Time ``mnist-mlp similarity`` on 500 generated submissions, end to end.

Writes a generated class to a temporary folder as the command meets it: 500
``.zip`` files in the seed's layout (``codes/*.py``, ``summary.txt``, a report)
and the handout folder, then runs the command in this process, as a course
would from the shell, and prints the wall time with the date and the load.

    python benchmarks/similarity_speed.py [--submissions 500] [--copies 84] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from simcorpus import VARIANTS, make_corpus  # noqa: E402
from simcorpus_impls import template_files  # noqa: E402

from mnist_mlp.cli import main as cli  # noqa: E402


def write_class(root: Path, n: int, n_copies: int, seed: int) -> list[Path]:
    corpus = make_corpus(seed, n - n_copies, [VARIANTS[i % len(VARIANTS)] for i in range(n_copies)])
    paths = []
    for sub in corpus.submissions:
        path = root / "subs" / f"{sub.name}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel, data in sub.files.items():
                archive.writestr(rel, data)
            archive.writestr("summary.txt", "#####\n# Filled Code\n#####\n")
            archive.writestr("Report.md", f"# Report of {sub.name}\n")
        paths.append(path)
    for rel, text in template_files().items():
        (root / "handout" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "handout" / rel).write_text(text)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--copies", type=int, default=84)
    parser.add_argument("--seed", type=int, default=500)
    parser.add_argument("--keep", metavar="DIR", help="write the class and the report here")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="simspeed-"))
    try:
        paths = write_class(root, args.submissions, args.copies, args.seed)
        load = os.getloadavg()
        start, cpu = time.perf_counter(), time.process_time()
        code = cli(["similarity", *map(str, paths), "--template", str(root / "handout"),
                    "--out", str(root / "out")])  # fmt: skip
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        after = os.getloadavg()
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        # The command is single-threaded: its CPU time is its wall time on an idle core.
        print(f"\n{len(paths)} submissions: {wall:.1f} s wall, {cpu:.1f} s CPU (exit {code}); {when}; "
              f"load average before {load[0]:.2f}, after {after[0]:.2f}, {os.cpu_count()} CPUs")  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
