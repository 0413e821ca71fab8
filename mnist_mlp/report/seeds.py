"""A run's results over its seeds, and the values the report reads from them.

:class:`RunSeeds` gathers one run's :class:`~mnist_mlp.study.store.RunResult`
and :class:`~mnist_mlp.train.history.History` per seed. Its accessors return
``{seed: value}`` mappings (seeds that failed or lack the value are left out),
ready for :func:`~mnist_mlp.report.stats.summarize` and
:func:`~mnist_mlp.report.stats.paired_difference`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnist_mlp.report.stats import summarize

__all__ = ["RunSeeds", "gather", "VAL_TARGET", "first_epoch_reaching", "best_loss_epoch"]

VAL_TARGET = 0.97  # the validation accuracy whose first epoch the tables report


def first_epoch_reaching(history, target=VAL_TARGET, key="val_acc"):
    """The first epoch whose ``key`` is at least ``target``, or None."""
    if history is None:
        return None
    for record in history.records:
        if record.get(key) is not None and record[key] >= target:
            return record["epoch"]
    return None


def best_loss_epoch(history, key="val_loss"):
    """The epoch of the lowest ``key`` (the onset of overfitting), or None."""
    if history is None:
        return None
    points = [(r[key], r["epoch"]) for r in history.records if r.get(key) is not None]
    return min(points)[1] if points else None


@dataclass
class RunSeeds:
    """One run of the study over its seeds."""

    name: str
    results: dict                              # {seed: RunResult}
    histories: dict = field(default_factory=dict)  # {seed: History or None}

    @property
    def config(self):
        """The run's settings (those of its first seed; only ``seed`` differs between seeds)."""
        return next(iter(self.results.values())).config

    @property
    def seeds(self):
        return list(self.results)

    @property
    def ok(self):
        """``{seed: RunResult}`` of the seeds that finished."""
        return {s: r for s, r in self.results.items() if r.ok}

    @property
    def failed(self):
        return {s: r for s, r in self.results.items() if not r.ok}

    def final(self, key):
        """``{seed: value}`` of a final metric (``val_acc``, ``train_eval_acc``, ...)."""
        return {s: r.final.get(key) for s, r in self.ok.items() if r.final.get(key) is not None}

    def attribute(self, key):
        """``{seed: value}`` of a result attribute (``wall_seconds``, ``cpu_seconds``, ...)."""
        return {s: getattr(r, key) for s, r in self.ok.items() if getattr(r, key) is not None}

    def per_history(self, function):
        """``{seed: function(history)}`` where that is not None."""
        values = {s: function(self.histories.get(s)) for s in self.ok}
        return {s: v for s, v in values.items() if v is not None}

    def diagnostic(self, key, epoch=None, layer=None):
        """``{seed: value}`` of a diagnostic at ``epoch``.

        ``epoch`` is 1-based; 0 means the initial weights (``History.initial``)
        and None the final record (the epoch whose weights the model keeps).
        ``layer`` picks one entry of a per-layer list (0 first, -1 last).
        """
        values = {}
        for seed, result in self.ok.items():
            history = self.histories.get(seed)
            if epoch is None:
                record = result.final
            elif epoch == 0:
                record = (history.initial if history is not None else None) or {}
            elif history is not None and len(history.records) >= epoch:
                record = history.records[epoch - 1]
            else:
                continue
            value = record.get(key)
            if layer is not None and value is not None:
                value = value[layer] if -len(value) <= layer < len(value) else None
            if value is not None:
                values[seed] = value
        return values

    def summary(self, values):
        return summarize(values.values())


def gather(outcome, store):
    """``{run name: RunSeeds}`` in file order, histories read from ``store``."""
    runs = {}
    for (name, seed), result in outcome.results.items():
        run = runs.setdefault(name, RunSeeds(name, {}, {}))
        run.results[seed] = result
        run.histories[seed] = store.history(result) if result.ok else None
    return runs
