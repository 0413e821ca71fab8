"""Which model ``mnist-mlp serve`` shows when none is named, and the quick one ``--train`` makes.

Search order, relative to the working directory:

1. ``report/runs/*/`` (``mnist-mlp report``'s default output): the study's best run,
   chosen exactly as the report chooses it (:func:`mnist_mlp.report.writer.choose_best`:
   highest validation accuracy; the test set never decides);
2. ``runs/*/`` (``mnist-mlp train``'s default output): the run with the highest
   validation accuracy in its ``history.json``; if no run has a validation split, the
   newest model file.
"""

from __future__ import annotations

import json
from pathlib import Path

from mnist_mlp.errors import ConfigError, DataError

__all__ = [
    "QUICK_RUN",
    "QUICK_SETTINGS",
    "REPORT_DIR",
    "RUNS_DIR",
    "find_default_model",
    "train_quick_model",
]

REPORT_DIR = Path("report")   # `mnist-mlp report --out` default
RUNS_DIR = Path("runs")       # where `mnist-mlp train` puts runs without --out
QUICK_RUN = "serve-quick"     # runs/serve-quick/ holds the model `serve --train` trains
# A net that trains in seconds on two cores and reads drawn digits well (about 97%
# on the MNIST test set): one hidden layer of 128 ReLUs, 4 epochs of SGD.
QUICK_SETTINGS = {"hidden": (128,), "epochs": 4}
_MODEL = "model.npz"
_HINT = ("train one with `mnist-mlp train` or `mnist-mlp report`, pass a MODEL file, "
         "or run `mnist-mlp serve --train` to train a quick one (a few seconds)")


def find_default_model(root="."):
    """``(model path, how it was chosen)`` for ``serve`` without a MODEL argument.

    Raises
    ------
    ConfigError
        No model in ``report/runs/`` or ``runs/``; the message says how to get one.
    """
    root = Path(root)
    for search in (_best_of_report, _best_of_train_runs):
        found = search(root)
        if found is not None:
            return found
    raise ConfigError(f"no model found in {REPORT_DIR / 'runs'}/ or {RUNS_DIR}/; {_HINT}")


def _best_of_report(root):
    from mnist_mlp.report.writer import choose_best
    from mnist_mlp.study.store import RESULT_FILE, RunResult

    results = {}
    for path in sorted((root / REPORT_DIR / "runs").glob(f"*/{RESULT_FILE}")):
        try:
            result = RunResult(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue  # unreadable or from another version: not a candidate
        if (path.parent / _MODEL).exists():
            results[path.parent.name] = result
    best = choose_best(results)
    if best is None:
        return None
    directory = next(d for d, r in results.items() if r is best)
    model = root / REPORT_DIR / "runs" / directory / _MODEL
    return model, (f"the best run of the report in {root / REPORT_DIR}: {best.name}, validation "
                   f"accuracy {100 * best.final['val_acc']:.2f}%")


def _best_of_train_runs(root):
    from mnist_mlp.train.history import History

    scored = []
    for model in (root / RUNS_DIR).glob(f"*/{_MODEL}"):
        try:
            val_acc = History.load(model.parent / "history.json").final().get("val_acc")
        except (DataError, ValueError):
            val_acc = None
        scored.append((val_acc is not None, val_acc or 0.0, model.stat().st_mtime, model))
    if not scored:
        return None
    has_val, val_acc, _, model = max(scored, key=lambda s: s[:3])
    why = (f"validation accuracy {100 * val_acc:.2f}%, the highest in {root / RUNS_DIR}"
           if has_val else f"the newest model in {root / RUNS_DIR} (no run has a validation split)")
    return model, why


def train_quick_model(root=".", data_dir=None, progress=True, log=None):
    """Train the small net of :data:`QUICK_SETTINGS` into ``runs/serve-quick/``; its model path.

    Uses the training split only (with the usual validation split for the record);
    a later ``serve`` without arguments finds it if there is no report.
    """
    from mnist_mlp.train.config import TrainConfig
    from mnist_mlp.train.trainer import MODEL_FILE, train

    config = TrainConfig(data_dir=None if data_dir is None else str(data_dir), **QUICK_SETTINGS)
    out = Path(root) / RUNS_DIR / QUICK_RUN
    train(config, out, progress=progress, log=log)
    return out / MODEL_FILE
