"""The report's sections as document blocks, every number taken from the results.

Nothing here trains or draws: :mod:`mnist_mlp.report.writer` gathers the
results, histories, figures and machine facts into a :class:`ReportData` and
these functions lay it out as :mod:`~mnist_mlp.report.document` blocks; the
sentences of the comparisons come from :mod:`~mnist_mlp.report.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mnist_mlp.loss import LOSSES
from mnist_mlp.report.document import Bullets, Heading, Image, Note, Para, Table, anchor
from mnist_mlp.report.facts import (
    DASH,
    VAL_TARGET,
    architecture,
    confusion_facts,
    first_epoch_reaching,
    group_comparison,
    num,
    pct,
    secs,
    stability_summary,
)

__all__ = ["ReportData", "BestModel", "build_document", "VAL_TARGET", "first_epoch_reaching"]

@dataclass
class BestModel:
    """The run with the highest validation accuracy and its evaluation on test images."""

    name: str
    evaluation: dict           # trainer.evaluate() of the saved model: accuracy, confusion, ...
    test_count: int
    figures: dict              # {"confusion" | "misclassified" | "weights": relative PNG path}
    class_names: list


@dataclass
class ReportData:
    suite: object              # spec.Suite
    outcome: object            # runner.SuiteOutcome
    histories: dict            # {run name: History or None}
    run_dirs: dict             # {run name: directory relative to the output directory}
    group_figures: dict        # {group name: relative PNG path}
    stability: list            # stability.StabilityRow, float64 and float32
    machine: dict              # from writer.machine_info()
    data_sizes: dict           # {"train": n, "test": n} of the full dataset
    normalisation: str         # description of the inputs' normalisation
    generated: str             # date and time
    best: BestModel | None = None
    notes: list = field(default_factory=list)


# -- formatting -----------------------------------------------------------------------------

def _value(key, value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return DASH if value is None else str(value)


def _loss_hyperparameters(config):
    entry = LOSSES.get(config["loss"])
    return entry.hyperparameters if entry else ()


def _setting_text(config, keys):
    """What distinguishes a run within its group, e.g. ``hinge, margin 5`` or ``dropout 0.5``."""
    parts = []
    for key in keys:
        value = config[key]
        # A loss hyperparameter only means something for the losses that take it.
        if key in ("margin", "alpha", "gamma") and (
                key not in _loss_hyperparameters(config) or value is None):
            continue
        if key == "patience" and not config.get("early_stopping"):
            continue
        if key == "hidden":
            parts.append(architecture(config).split(" ")[0])
        elif key in ("loss", "activation"):
            parts.append(str(value))
        elif value is True:
            parts.append(key.replace("_", " "))
        elif value not in (False, 0, 0.0, None):
            parts.append(f"{key.replace('_', ' ')} {_value(key, value)}")
    return ", ".join(parts) or "none (the base)"


# -- document ---------------------------------------------------------------------------------

def build_document(data):
    """All blocks of the report, in order."""
    blocks = [Heading(1, "MNIST MLP study: results")]
    blocks += _preamble(data)
    blocks += _setup(data)
    for number, group in enumerate(data.suite.groups, 1):
        blocks += _group_section(data, group, number)
    blocks += _stability_section(data.stability)
    blocks += _best_section(data)
    blocks += _failed_section(data)
    blocks += _appendix(data)
    return blocks


def _ok_results(data, names=None):
    names = data.outcome.results if names is None else names
    return [data.outcome.results[n] for n in names if data.outcome.results[n].ok]


def _preamble(data):
    outcome = data.outcome
    results = list(outcome.results.values())
    failed = [r.name for r in results if not r.ok]
    blocks = []
    if outcome.quick:
        quick = ", ".join(f"{k} {_value(k, v)}" for k, v in data.suite.quick.items())
        blocks.append(Note(f"Quick mode ({quick}): a smoke test of the pipeline on a data "
                           "subset. These numbers say nothing about the methods compared."))
    total = sum(r.train_seconds for r in results)
    blocks.append(Para(
        f"Generated {data.generated} by `mnist-mlp report` from `{data.suite.path}`: "
        f"{len(results)} runs, {len(failed)} failed. This invocation trained "
        f"{len(outcome.trained)} and reused {len(outcome.reused)} stored results, in "
        f"{secs(outcome.seconds)} s of wall time with {outcome.jobs} parallel job(s); the "
        f"training steps of all runs add up to {secs(total)} s."))
    if data.best is not None:
        best = outcome.results[data.best.name]
        blocks.append(Para(
            f"**Best model** (highest validation accuracy): **{best.name}**, "
            f"{architecture(best.config)}: validation accuracy {pct(best.final['val_acc'])}, "
            f"**test accuracy {pct(best.final['test_acc'])}**."))
    contents = ["[Set-up](#set-up)"]
    contents += [f"[{n}. {g.title}](#{anchor(f'{n}. {g.title}')})"
                 for n, g in enumerate(data.suite.groups, 1)]
    contents += ["[Bonus 3: numerical stability](#bonus-3-numerical-stability)",
                 "[The best model](#the-best-model)", "[Every run](#every-run)"]
    blocks += [Heading(2, "Contents"), Bullets(contents)]
    return blocks


def _typical(configs):
    """The most common value of every setting across the runs (ties: first seen)."""
    keys = [k for k in next(iter(configs.values())) if k != "data_dir"]
    typical = {}
    for key in keys:
        values = [repr(c[key]) for c in configs.values()]
        best = max(dict.fromkeys(values), key=values.count)
        typical[key] = next(c[key] for c in configs.values() if repr(c[key]) == best)
    return typical


def _columns(pairs, headers, count):
    """Lay a long two-column table out as ``count`` side-by-side column pairs."""
    height = -(-len(pairs) // count)
    rows = []
    for r in range(height):
        row = []
        for c in range(count):
            index = c * height + r
            row += pairs[index] if index < len(pairs) else [""] * len(headers)
        rows.append(row)
    return Table(headers * count, rows)


def _differences(config, typical):
    """A run's settings that differ from the typical ones, as ``key value`` text."""
    parts = [f"`{k}` {_value(k, config[k])}" for k in typical if config[k] != typical[k]]
    return ", ".join(parts) or "none"


def _setup(data):
    configs = {name: r.config for name, r in data.outcome.results.items()}
    typical = _typical(configs)
    first = next(iter(configs.values()))
    blocks = [Heading(2, "Set-up"), Heading(3, "Data")]
    blocks.append(Para(
        f"Dataset `{first['dataset']}`: {data.data_sizes['train']} training and "
        f"{data.data_sizes['test']} test images of 28x28 grey pixels, flattened to 784 inputs. "
        f"Inputs are normalised as {data.normalisation}. Each run holds out a stratified, "
        "seeded validation split from the training images; it alone chooses the best model "
        "and drives early stopping. The test images are only evaluated and reported. "
        "Training loss and accuracy are averaged over each epoch's batches (in training mode)."))
    blocks.append(Heading(3, "Hyperparameters"))
    blocks.append(Para("The settings of most runs (the fields of `TrainConfig`); the next table "
                       "lists what each run changes."))
    blocks.append(_columns([[f"`{k}`", _value(k, v)] for k, v in typical.items()],
                           ["setting", "value"], 3))
    blocks.append(Heading(3, "Runs: architecture and what differs from the table above"))
    rows = [[f"`{name}`", architecture(c), _differences(c, typical)] for name, c in configs.items()]
    blocks.append(Table(["run", "architecture", "differs in"], rows))
    blocks += _machine(data)
    return blocks


def _machine(data):
    m = data.machine
    items = [f"CPU: {m['cpu']}, {m['cores']} logical cores",
             f"Parallelism: {data.outcome.jobs} run(s) at a time, "
             f"{m['blas_threads']} BLAS thread(s) per run",
             f"System: {m['platform']}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    loads = [r.load_average for r in data.outcome.results.values() if r.load_average is not None]
    if loads:
        items.insert(1, f"Machine load (1-minute load average) when the runs ended: from "
                        f"{min(loads):.2f} to {max(loads):.2f}, median {np.median(loads):.2f}; "
                        f"{m['load_after']} (1, 5, 15 min) when this report was written")
    return [Heading(3, "Machine"), Bullets(items),
            Para("Wall times grow when other processes share the cores; CPU times do not, so "
                 "the comparisons below rank runs by CPU time.")]


# -- groups -----------------------------------------------------------------------------------

_GROUP_HEADERS = ["run", "setting", "train loss", "train acc", "val acc", "test loss",
                  "test acc", "gap (points)", "training time (s)", "CPU time (s)",
                  f"first epoch val acc >= {100 * VAL_TARGET:g}%", "epochs", "status"]


def _group_row(data, name, keys):
    result = data.outcome.results[name]
    setting = _setting_text(result.config, keys)
    if not result.ok:
        return [f"`{name}`", setting] + [DASH] * 10 + [f"failed: {result.error}"]
    final = result.final
    gap = 100 * (final["train_acc"] - final["test_acc"])
    epoch = first_epoch_reaching(data.histories.get(name))
    epochs = f"{result.epochs_run}" + (" (stopped early)" if result.stopped_early else "")
    return [f"`{name}`", setting, num(final["train_loss"]), pct(final["train_acc"]),
            pct(final["val_acc"]), num(final["test_loss"]), pct(final["test_acc"]),
            f"{gap:.2f}", secs(result.train_seconds),
            DASH if result.cpu_seconds is None else secs(result.cpu_seconds),
            DASH if epoch is None else str(epoch),
            epochs, "ok"]


def _group_section(data, group, number):
    runs = [data.outcome.results[r] for r in group.runs]
    varying = [k for k in group.keys if len({repr(r.config[k]) for r in runs}) > 1]
    blocks = [Heading(2, f"{number}. {group.title}")]
    if group.keys:
        blocks.append(Para(f"Group `{group.name}`, variable: **{group.variable}** "
                           f"({', '.join(f'`{k}`' for k in group.keys)}); every other setting "
                           "is the same for all its runs."))
    else:
        typical = _typical({n: r.config for n, r in data.outcome.results.items()})
        blocks.append(Para(f"Group `{group.name}`: "
                           + "; ".join(f"`{r.name}` differs from the typical settings in "
                                       f"{_differences(r.config, typical)}" for r in runs) + "."))
    if group.note:
        blocks.append(Para(group.note))
    rows = [_group_row(data, name, varying or group.keys) for name in group.runs]
    if not group.keys:
        for row, result in zip(rows, runs):
            row[1] = architecture(result.config)
    blocks.append(Table(_GROUP_HEADERS, rows, numeric=set(range(2, 12))))
    blocks.append(Para("Final values are those of the epoch whose weights the model keeps "
                       "(the last, or the best validation loss with early stopping); the gap is "
                       "training minus test accuracy. Training time is the wall time of the "
                       "training steps; CPU time is what the run's process used in all (training "
                       "and evaluation), which other processes on the machine do not inflate."))
    blocks.append(Bullets(group_comparison([data.outcome.results[n] for n in group.runs], data.histories)))
    if group.name in data.group_figures:
        shows = ("the training, validation and test curves of its run" if len(group.runs) == 1
                 else "every run of the group overlaid")
        blocks.append(Image(data.group_figures[group.name],
                            f"{group.title}: loss and accuracy per epoch, {shows}."))
    return blocks


# -- bonus 3, best model, failures, appendix ----------------------------------------------------

def _stability_section(rows):
    main = [r for r in rows if r.dtype == "float64"]
    other = [r for r in rows if r.dtype != "float64"]
    table = Table(["quantity", "input", "naive formula", "naive result", "warnings",
                   "ours", "our result", "warnings", "exact"],
                  [[r.quantity, r.input, f"`{r.naive_formula}`", r.naive_value,
                    str(r.naive_warnings), f"`{r.ours_function}`", r.ours_value,
                    str(r.ours_warnings), r.exact_value] for r in main], numeric={4, 7})
    blocks = [Heading(2, "Bonus 3: numerical stability"),
              Para("Each quantity evaluated on extreme inputs (float64) by the textbook formula "
                   "and by the function the package trains with, against the exact value "
                   "computed with 60-digit decimal arithmetic. Warnings count NumPy's overflow, "
                   "invalid-value and divide-by-zero warnings (underflow to 0 is harmless and "
                   "not counted)."), table]
    blocks.append(Bullets(stability_summary(main, "float64") + stability_summary(other, "float32")))
    return blocks


def _best_section(data):
    blocks = [Heading(2, "The best model")]
    if data.best is None:
        return blocks + [Para("No run finished, so there is no best model.")]
    best, result = data.best, data.outcome.results[data.best.name]
    others = sorted(_ok_results(data), key=lambda r: -r.final["val_acc"])
    runner_up = next((r for r in others if r.name != best.name), None)
    ev = best.evaluation
    blocks.append(Para(
        f"Chosen by validation accuracy among {len(others)} finished runs: **`{best.name}`**, "
        f"{architecture(result.config)}, validation accuracy {pct(result.final['val_acc'])}"
        + (f" ({100 * (result.final['val_acc'] - runner_up.final['val_acc']):.2f} points ahead "
           f"of `{runner_up.name}`)" if runner_up else "")
        + f". **Test accuracy: {pct(result.final['test_acc'])}**; reloaded from its model file "
        f"and evaluated on all {best.test_count} test images: {pct(ev['accuracy'])} "
        f"({int(np.trace(ev['confusion']))} correct)."))
    blocks.append(Bullets(confusion_facts(ev, best.class_names)))
    captions = {
        "confusion": f"Confusion matrix of `{best.name}` on {best.test_count} test images "
                     "(rows: true class, columns: prediction; log colour scale).",
        "misclassified": f"Misclassified test digits of `{best.name}`, in test-set order, with "
                         "their true and predicted labels.",
        "weights": f"First-layer weights of `{best.name}`: each hidden unit's 784 incoming "
                   "weights as a 28x28 image (red positive, blue negative).",
    }
    for key, caption in captions.items():
        if key in best.figures:
            blocks.append(Image(best.figures[key], caption))
    return blocks


def _failed_section(data):
    failed = [r for r in data.outcome.results.values() if not r.ok]
    if not failed:
        return []
    return [Heading(2, "Failed runs"),
            Para("These runs ended with an error; the rest of the suite completed without them."),
            Table(["run", "error"], [[f"`{r.name}`", r.error] for r in failed])]


def _appendix(data):
    blocks = [Heading(2, "Every run"),
              Para("Loss and accuracy per epoch of each run on the training (mean over the "
                   "epoch's batches), validation and test sets; stored with the run under "
                   "`runs/`.")]
    for name, directory in data.run_dirs.items():
        if data.histories.get(name) is not None:
            result = data.outcome.results[name]
            blocks.append(Image(f"{directory}/curves.png",
                                f"`{name}`: {architecture(result.config)}."))
    return blocks
