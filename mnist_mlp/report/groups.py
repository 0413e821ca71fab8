"""One section per comparison group: tables over seeds, paired intervals, reasons, figures.

Each group section holds

* a table of every run's final numbers as mean ± standard deviation over its seeds;
* a table of paired differences against the group's reference (its first run),
  each with a 95% Student-t interval and the verdict it allows;
* a discussion generated from the numbers (:mod:`.facts`, :mod:`.reasons`);
* the loss and accuracy curves and the diagnostics figure, curves labelled by
  what the group varies.
"""

from __future__ import annotations

from mnist_mlp.loss import LOSSES
from mnist_mlp.report.document import Bullets, Heading, Image, Note, Para, Table
from mnist_mlp.report.facts import (
    DASH,
    architecture,
    interval_text,
    pm,
    ranking,
    verdict,
)
from mnist_mlp.report.reasons import group_kind, reasons
from mnist_mlp.report.seeds import VAL_TARGET, best_loss_epoch, first_epoch_reaching
from mnist_mlp.report.stats import paired_difference, summarize

__all__ = ["group_section", "run_labels", "setting_text"]

_LOSS_SCALE_NOTE = ("Losses are on different scales (squared error, hinge margins, "
                    "cross-entropy, focal): compare their accuracies, not their loss values; "
                    "the loss axes of the figure are logarithmic for that reason.")


def _value(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def setting_text(config, keys):
    """What distinguishes a run within its group, e.g. ``hinge, margin 5`` or ``dropout 0.5``."""
    parts = []
    for key in keys:
        value = config[key]
        # A loss hyperparameter only means something for the losses that take it.
        entry = LOSSES.get(config["loss"])
        if key in ("margin", "alpha", "gamma") and (
                entry is None or key not in entry.hyperparameters or value is None):
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
            parts.append(f"{key.replace('_', ' ')} {_value(value)}")
    return ", ".join(parts) or "none (the base)"


def run_labels(runs, keys):
    """``{run name: legend label}``: the setting that varies; the run name if that is ambiguous."""
    if not keys:
        return {r.name: r.name for r in runs}
    labels = {r.name: setting_text(r.config, keys) for r in runs}
    if len(set(labels.values())) < len(labels):
        labels = {name: f"{label} ({name})" for name, label in labels.items()}
    return labels


def _epoch_measure(runs):
    """The convergence column: first epoch reaching the target if any run gets there, else
    the epoch of lowest validation loss (where overfitting sets in)."""
    if any(r.per_history(first_epoch_reaching) for r in runs):
        return (f"first epoch val acc ≥ {100 * VAL_TARGET:g}%", first_epoch_reaching)
    return ("epoch of lowest val loss", best_loss_epoch)


def _seeds_cell(run):
    if not run.failed:
        return str(len(run.results))
    return f"{len(run.ok)} of {len(run.results)} ({len(run.failed)} failed)"


def _results_table(runs, labels, measure):
    header, function = measure
    headers = ["run", "setting", "seeds", "train loss (eval)", "train acc (eval)", "val acc",
               "test loss",
               "test acc", "wall time (s)", "CPU time (s)", header]
    rows = []
    for r in runs:
        if not r.ok:
            rows.append([f"`{r.name}`", labels[r.name], _seeds_cell(r)] + [DASH] * 8)
            continue
        epochs = r.per_history(function)
        epoch_text = pm(epochs, "epoch")
        if epochs and len(epochs) < len(r.ok):
            epoch_text += f" ({len(epochs)} of {len(r.ok)} seeds)"
        elif not epochs:
            epoch_text = "never"
        rows.append([f"`{r.name}`", labels[r.name], _seeds_cell(r),
                     pm(r.final("train_eval_loss"), "loss"), pm(r.final("train_eval_acc")),
                     pm(r.final("val_acc")), pm(r.final("test_loss"), "loss"),
                     pm(r.final("test_acc")), pm(r.attribute("wall_seconds"), "secs"),
                     pm(r.attribute("cpu_seconds"), "secs"), epoch_text])
    return Table(headers, rows, numeric=set(range(3, 11)))


def _paired_table(runs, labels):
    reference = runs[0]
    rows = []
    for other in runs[1:]:
        val = paired_difference(reference.final("val_acc"), other.final("val_acc"))
        test = paired_difference(reference.final("test_acc"), other.final("test_acc"))
        if val.low is None:
            word = "one seed: no interval" if val.n else "no common seed"
        elif val.excludes_zero:
            word = "higher" if val.mean > 0 else "lower"
        else:
            word = "not distinguishable"
        rows.append([f"`{other.name}`", labels[other.name], interval_text(val),
                     interval_text(test), word])
    return Table(["run", "setting", f"val acc minus `{reference.name}` (points)",
                  f"test acc minus `{reference.name}` (points)", "verdict (validation)"],
                 rows, numeric={2, 3})


def _discussion(runs, measure):
    ok = [r for r in runs if r.ok]
    if not ok:
        return ["No run of this group finished."] + _failures(runs)
    sentences = ranking({r.name: r.final("val_acc") for r in ok})
    reference = runs[0]
    if reference.ok:
        for other in ok:
            if other is not reference:
                diff = paired_difference(reference.final("val_acc"), other.final("val_acc"))
                sentences.append(verdict(other.name, reference.name, diff))
    header, function = measure
    sentences.append(f"Convergence ({header}): " + "; ".join(
        f"`{r.name}` {pm(r.per_history(function), 'epoch') if r.per_history(function) else 'never'}"
        for r in ok) + ".")
    cpu = {r.name: summarize(r.attribute("cpu_seconds").values()).mean for r in ok}
    if len(ok) > 1 and all(cpu.values()):
        fast, slow = min(cpu, key=cpu.get), max(cpu, key=cpu.get)
        if cpu[slow] < 1.1 * cpu[fast]:
            sentences.append(f"CPU time per seed is within 10% for every run ({cpu[fast]:.1f} "
                             f"to {cpu[slow]:.1f} s on average).")
        else:
            sentences.append(f"CPU time per seed: least for `{fast}` ({cpu[fast]:.1f} s on "
                             f"average), most for `{slow}` ({cpu[slow]:.1f} s, "
                             f"{cpu[slow] / cpu[fast]:.1f}x as much).")
    sentences += _failures(runs)
    for r in runs:
        stopped = [s for s, res in r.ok.items() if res.stopped_early]
        if stopped:
            sentences.append(f"`{r.name}` stopped early for {len(stopped)} of {len(r.ok)} seeds "
                             "and kept the weights of its lowest validation loss.")
    return sentences


def _failures(runs):
    return [f"`{r.name}` seed {seed} failed: {result.error}"
            for r in runs for seed, result in r.failed.items()]


def group_section(group, number, runs, figures, typical_differences):
    """The blocks of one group's section.

    Parameters
    ----------
    group : GroupSpec
    number : int
        Section number (figures are numbered after it: Figure 3 and Figure 3b...).
    runs : list of RunSeeds
        The group's runs in group order; the first is the reference.
    figures : dict
        ``{"curves": path, "diagnostics": path}`` (either may be missing).
    typical_differences : callable
        ``config -> text`` of how a run differs from the study's typical settings.
    """
    varying = [k for k in group.keys if len({repr(r.config[k]) for r in runs}) > 1]
    labels = run_labels(runs, varying or group.keys)
    blocks = [Heading(2, f"{number}. {group.title}")]
    if group.keys:
        blocks.append(Para(f"Group `{group.name}`, variable: **{group.variable}** "
                           f"({', '.join(f'`{k}`' for k in group.keys)}); every other setting "
                           f"is the same for all its runs. Reference for the paired "
                           f"comparisons: `{runs[0].name}`."))
    else:
        blocks.append(Para(f"Group `{group.name}`: " + "; ".join(
            f"`{r.name}` differs from the typical settings in {typical_differences(r.config)}"
            for r in runs) + "."))
    kind = group_kind(group.keys)
    if group.note:
        blocks.append(Para(group.note))
    if kind == "loss" and "scales" not in group.note:
        blocks.append(Note(_LOSS_SCALE_NOTE))
    measure = _epoch_measure(runs)
    blocks.append(_results_table(runs, labels, measure))
    if len(runs) > 1:
        blocks.append(_paired_table(runs, labels))
    figure = f"Figure {number}b"
    blocks.append(Heading(3, "Discussion"))
    blocks.append(Bullets(_discussion(runs, measure) + reasons(kind, runs, figure)))
    if "curves" in figures:
        blocks.append(Image(figures["curves"], f"Figure {number}a. {group.title}: loss and "
                                               "accuracy per epoch; each line is the mean over "
                                               "the seeds, the band spans the lowest to the "
                                               "highest seed."))
    if "diagnostics" in figures:
        blocks.append(Image(figures["diagnostics"],
                            f"Figure {number}b. {group.title}: diagnostics per epoch on a fixed "
                            "probe of 1000 training samples in evaluation mode; panels (a)-(f) "
                            "as cited in the discussion."))
    return blocks
