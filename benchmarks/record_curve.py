"""Error against training time of record runs (``mnist-mlp train --config configs/record-*.toml``).

    python benchmarks/record_curve.py runs/record-mnist-s0 runs/record-mnist-s1 ... --png curve.png

Reads each run's ``history.json`` (or, for a run still going, its checkpoint's
history is not read: pass finished runs). Prints, per run, the validation and test
error every ``--every`` epochs against the cumulative wall-clock training time,
then the final test error's mean and standard deviation over the runs. The test
column is what the trainer records after each epoch for reporting; nothing in the
record configuration was chosen by it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _curve(run_dir):
    records = json.loads((Path(run_dir) / "history.json").read_text())["records"]
    elapsed, rows = 0.0, []
    for record in records:
        elapsed += record["seconds"]
        rows.append((record["epoch"], elapsed / 60, 1 - record["val_acc"] if record["val_acc"] else None,
                     1 - record["test_acc"]))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--per-epoch", type=float, metavar="SECONDS",
                        help="plot against epochs x SECONDS (a quiet machine's epoch time) instead of "
                        "the measured wall clock, which a loaded machine stretches")
    args = parser.parse_args(argv)
    finals = []
    curves = {run: _curve(run) for run in args.runs}
    for run, rows in curves.items():
        print(f"{run}:\n| epoch | minutes | validation error | test error |\n|---:|---:|---:|---:|")
        for epoch, minutes, val, test in rows:
            if epoch % args.every == 0 or epoch == rows[-1][0]:
                val_text = "" if val is None else f"{100 * val:.2f}%"
                print(f"| {epoch} | {minutes:.1f} | {val_text} | {100 * test:.2f}% |")
        finals.append(rows[-1][3])
    spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
    print(f"final test error over {len(finals)} run(s): {100 * statistics.mean(finals):.2f}% "
          f"± {100 * spread:.2f}%")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for run, rows in curves.items():
            x = [r[0] * args.per_epoch / 60 if args.per_epoch else r[1] for r in rows]
            ax.plot(x, [100 * r[3] for r in rows], label=f"{run.name} test")
            if rows[0][2] is not None:
                ax.plot(x, [100 * r[2] for r in rows], ":", label=f"{run.name} validation")
        ax.axhline(0.7, color="grey", lw=0.8, ls="--", label="Simard 2003, elastic: 0.70%")
        xlabel = (f"training time (minutes at {args.per_epoch:g} s per epoch)" if args.per_epoch
                  else "wall-clock training time (minutes)")
        ax.set(xlabel=xlabel, ylabel="error (%)", ylim=(0, 3))
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png, dpi=90)


if __name__ == "__main__":
    main()
