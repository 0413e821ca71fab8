"""What a training run records: one record per epoch, the seed's per-iteration log.

A :class:`History` round-trips through JSON, written atomically (temporary file
in the same directory, then rename), so a crash never leaves a half-written file
that a later run would trust.
"""

from __future__ import annotations

import json
import os

from mnist_mlp.errors import DataError
from mnist_mlp.fileio import atomic_write, describe_file, json_ready

__all__ = ["History", "RECORD_KEYS"]

# Keys of one epoch record. Loss and accuracy are means over samples; accuracy is
# a fraction in [0, 1]. "val_*" are None when there is no validation split.
RECORD_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
               "lr", "seconds")
_FORMAT = "mnist-mlp history"


class History:
    """Per-epoch metrics of one training run.

    Attributes
    ----------
    records : list of dict
        One per epoch, keys :data:`RECORD_KEYS`: ``epoch`` (1-based),
        ``train_loss`` / ``train_acc`` (over the epoch's batches, in training mode),
        ``val_loss`` / ``val_acc``, ``test_loss`` / ``test_acc`` (recorded for
        plots and the report only; no decision reads them), ``lr`` and
        ``seconds`` (wall time of the epoch's training step).
    iterations : list of dict
        The seed's log: ``{"iteration", "loss", "acc"}`` averaged over every
        ``disp_freq`` training iterations, ``iteration`` counted across epochs.
    best_epoch : int or None
        The epoch whose weights the model holds: lowest validation loss with
        early stopping, otherwise the last.
    stopped_early : bool
    at_chance : bool
        The final model is no better than a constant guess on the validation data
        (training data without a validation split): the run collapsed to chance; see
        :mod:`mnist_mlp.train.chance`. False in histories written before the field.
    config : dict or None
        ``TrainConfig.to_dict()`` of the run, for the record.
    initial : dict or None
        The diagnostics (:mod:`mnist_mlp.train.diagnostics`) of the initial
        weights, before the first step: runs of the same seed start from the same
        weights where shapes agree, so this compares e.g. activations cleanly.

    Records written by :func:`~mnist_mlp.train.trainer.train` also carry the
    diagnostics of the epoch's end (``grad_norm``, ``dead_relu``,
    ``saturated_sigmoid``, ``grad_correct``, ``grad_wrong``,
    ``zero_grad_correct``, ``train_eval_loss``, ``train_eval_acc``).
    """

    def __init__(self, records=None, iterations=None, best_epoch=None, stopped_early=False,
                 config=None, at_chance=False, initial=None):
        self.records = list(records or [])
        self.iterations = list(iterations or [])
        self.best_epoch = best_epoch
        self.stopped_early = bool(stopped_early)
        self.config = config
        self.at_chance = bool(at_chance)
        self.initial = initial

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        return (f"History(epochs={len(self.records)}, best_epoch={self.best_epoch}, "
                f"stopped_early={self.stopped_early}, at_chance={self.at_chance})")

    def append(self, record):
        """Add the record of the next epoch (must carry every key of :data:`RECORD_KEYS`)."""
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise ValueError(f"History.append: the record lacks {missing}")
        self.records.append(dict(record))

    def column(self, key):
        """The values of ``key`` over the epochs, e.g. ``history.column("test_acc")``."""
        return [record[key] for record in self.records]

    def final(self):
        """The record of the epoch whose weights the model holds (``best_epoch``)."""
        if not self.records:
            raise ValueError("History.final: no epoch has been recorded")
        if self.best_epoch is None:
            return self.records[-1]
        return self.records[self.best_epoch - 1]

    def to_dict(self):
        return {"format": _FORMAT, "records": self.records, "iterations": self.iterations,
                "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
                "at_chance": self.at_chance, "config": self.config, "initial": self.initial}

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise DataError("not an mnist-mlp history (its 'format' field is missing or different)")
        return cls(data.get("records"), data.get("iterations"), data.get("best_epoch"),
                   data.get("stopped_early", False), data.get("config"),
                   data.get("at_chance", False), data.get("initial"))

    def save(self, path):
        """Write the history as JSON to ``path``, atomically. NaN is written as null."""
        text = json.dumps(json_ready(self.to_dict()), indent=1, allow_nan=False)
        with atomic_write(path, "w") as handle:
            handle.write(text + "\n")

    @classmethod
    def load(cls, path):
        """Read a history written by :meth:`save`; a DataError if it is missing or malformed."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise DataError(f"history file {path!r} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            what = describe_file(path) if not isinstance(exc, OSError) else "a text file"
            if what == "a text file":  # e.g. a truncated history: say where it breaks
                raise DataError(f"{path!r} is not a readable history file ({exc})") from None
            raise DataError(f"{path} is {what}, not a training history; a run directory's "
                            "history.json is written by `mnist-mlp train`") from None
        try:
            return cls.from_dict(data)
        except DataError as exc:
            raise DataError(f"{path!r}: {exc}") from None

