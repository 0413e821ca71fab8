"""Per-job results on disk, keyed by a hash of the job's settings.

A job is one run trained with one seed; the seed is one of the settings, so
each (run, seed) pair has its own directory and result. Layout under the
output directory::

    runs/<name>-<key>/result.json    status, error, timings, final metrics (written last)
    runs/<name>-<key>/history.json   the trainer's per-epoch History
    runs/<name>-<key>/model.npz      the trained weights (successful runs)
    runs/<name>-<key>/curves.png     loss and accuracy per epoch
    runs/<name>-<key>/train.log      one line per epoch
    runs/<name>-<key>/checkpoint.npz while the run is unfinished (for resuming)

``key`` hashes the run's :class:`~mnist_mlp.train.config.TrainConfig` (without the
machine-specific ``data_dir``) and :data:`STORE_VERSION`: change a setting and
the run gets a new directory and trains again; leave it and the finished result
is reused. ``result.json`` is written atomically and only once the run has ended,
so its presence is the "finished" mark: an interrupted suite leaves none, and the
next invocation resumes that run from its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mnist_mlp.fileio import atomic_write, check_output_dir, json_ready
from mnist_mlp.train.history import History

__all__ = ["STORE_VERSION", "RunResult", "Store", "run_key", "DETERMINISTIC_ERRORS"]

# Bump when what a run stores changes meaning, to retrain everything once.
# 2: per-seed jobs, paired random streams and per-epoch diagnostics in the history.
STORE_VERSION = 2
RESULT_FILE = "result.json"
# Failures that repeat exactly with the same settings: reusing them saves
# retraining a run that will diverge again. Anything else (a crash, a missing
# file, an interrupt) is retried on the next invocation.
DETERMINISTIC_ERRORS = ("DivergenceError", "ConfigError")


def run_key(config) -> str:
    """12 hex digits identifying ``config``'s settings (``data_dir`` excluded)."""
    settings = {k: v for k, v in config.to_dict().items() if k != "data_dir"}
    text = json.dumps({"store": STORE_VERSION, "config": settings}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class RunResult:
    """The outcome of one run, as stored in ``result.json``.

    ``final`` is the History record whose weights the model holds (train / val /
    test loss and accuracy); ``train_seconds`` sums the epochs' training steps,
    ``wall_seconds`` is the whole call including evaluation (of the last session
    when the run was resumed). ``cpu_seconds`` is the CPU time the training
    process used for the run: unlike wall time it does not grow while other
    processes share the cores, so it compares runs fairly on a busy machine.
    ``load_average`` is the machine's 1-minute load when the run ended, and
    ``blas_threads`` the thread setting the training process actually saw.
    """

    name: str
    key: str
    status: str                     # "ok" or "failed"
    config: dict                    # includes the job's "seed"
    error: str | None = None
    error_type: str | None = None
    final: dict = field(default_factory=dict)
    best_epoch: int | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    load_average: float | None = None
    blas_threads: str | None = None
    reused: bool = False            # set when loaded from an earlier invocation, never stored

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def seed(self) -> int | None:
        """The job's seed (from its settings)."""
        return self.config.get("seed")

    @property
    def job(self):
        """``(run name, seed)``, the key of this result in a study's outcome."""
        return (self.name, self.seed)

    def to_dict(self):
        data = asdict(self)
        data.pop("reused")
        return data


class Store:
    """The ``runs/`` directory of one output directory."""

    def __init__(self, out_dir):
        self.root = Path(out_dir) / "runs"

    def run_dir(self, name, key) -> Path:
        return self.root / f"{name}-{key}"

    def check_writable(self):
        """Create ``runs/`` and write a probe file there; a ConfigError if that fails."""
        check_output_dir(self.root)

    def load(self, name, key) -> RunResult | None:
        """The stored result of this run, or None if there is none worth reusing."""
        path = self.run_dir(name, key) / RESULT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            result = RunResult(**data)
        except (OSError, ValueError, TypeError):
            return None  # missing or unreadable: train again rather than trust it
        if result.key != key or result.name != name:
            return None
        if result.ok and not (self.run_dir(name, key) / "model.npz").exists():
            return None
        if not result.ok and result.error_type not in DETERMINISTIC_ERRORS:
            return None
        result.reused = True
        return result

    def save(self, result: RunResult):
        """Write ``result.json`` atomically: the mark that the run has ended."""
        directory = self.run_dir(result.name, result.key)
        directory.mkdir(parents=True, exist_ok=True)
        text = json.dumps(json_ready(result.to_dict()), indent=1, allow_nan=False,
                          default=_jsonable)
        with atomic_write(directory / RESULT_FILE) as handle:
            handle.write(text + "\n")

    def history(self, result: RunResult) -> History | None:
        """The run's History, or None when it has none (e.g. it failed in epoch 1)."""
        path = self.run_dir(result.name, result.key) / "history.json"
        return History.load(path) if path.exists() else None

    def discard(self, name, key):
        """Remove a run's directory (a corrupt checkpoint, say) so it starts afresh."""
        shutil.rmtree(self.run_dir(name, key), ignore_errors=True)


def _jsonable(value):
    """NumPy scalars and arrays in results become plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in result.json")
