"""The report's sections as document blocks, every number taken from the results.

Nothing here trains or draws: :mod:`mnist_mlp.report.writer` gathers the
results, histories, figures and machine facts into a :class:`ReportData` and
these functions lay it out as :mod:`~mnist_mlp.report.document` blocks; the
sentences of the comparisons come from :mod:`~mnist_mlp.report.facts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mnist_mlp.report.document import Bullets, Heading, Image, Note, Para, Table, anchor
from mnist_mlp.report.facts import (
    DASH,
    architecture,
    confusion_facts,
    pct,
    pm,
    secs,
    stability_summary,
)
from mnist_mlp.report.groups import group_section
from mnist_mlp.report.seeds import VAL_TARGET, first_epoch_reaching

__all__ = ["ReportData", "BestModel", "build_document", "VAL_TARGET", "first_epoch_reaching"]


@dataclass
class BestModel:
    """The run with the highest mean validation accuracy, and one seed's model on the test set.

    ``seed`` is the seed whose model was evaluated (the run's highest validation
    accuracy: the test set never chooses).
    """

    name: str
    seed: int
    evaluation: dict           # trainer.evaluate() of the saved model: accuracy, confusion, ...
    test_count: int
    figures: dict              # {"confusion" | "misclassified" | "weights": relative PNG path}
    class_names: list


@dataclass
class ReportData:
    suite: object              # spec.Suite
    outcome: object            # runner.SuiteOutcome
    runs: dict                 # {run name: seeds.RunSeeds}
    run_dirs: dict             # {run name: directory (first seed) relative to the output dir}
    group_figures: dict        # {group name: {"curves": path, "diagnostics": path}}
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


# -- document ---------------------------------------------------------------------------------

def build_document(data):
    """All blocks of the report, in order."""
    blocks = [Heading(1, "MNIST MLP study: results")]
    blocks += _preamble(data)
    blocks += _setup(data)
    typical = _typical(_configs(data))
    for number, group in enumerate(data.suite.groups, 1):
        runs = [data.runs[name] for name in group.runs]
        blocks += group_section(group, number, runs, data.group_figures.get(group.name, {}),
                                lambda config: _differences(config, typical))
    blocks += _stability_section(data.stability)
    blocks += _best_section(data)
    blocks += _failed_section(data)
    blocks += _appendix(data)
    return blocks


def _configs(data):
    """``{run name: settings}`` without the seed (it is what varies within a run)."""
    return {name: {k: v for k, v in run.config.items() if k != "seed"}
            for name, run in data.runs.items()}


def _preamble(data):
    outcome = data.outcome
    results = list(outcome.results.values())
    failed = [r for r in results if not r.ok]
    blocks = []
    if outcome.quick:
        quick = ", ".join(f"{k} {_value(k, v)}" for k, v in data.suite.quick.items())
        blocks.append(Note(f"Quick mode ({quick}; {outcome.seeds} seeds): a smoke test of the "
                           "pipeline on a data subset. These numbers say nothing about the "
                           "methods compared."))
    total = sum(r.cpu_seconds or 0.0 for r in results)
    blocks.append(Para(
        f"Generated {data.generated} by `mnist-mlp report` from `{data.suite.path}`: "
        f"{len(data.runs)} runs, each trained with {outcome.seeds} seed(s), so {len(results)} "
        f"training jobs, {len(failed)} failed. This invocation trained {len(outcome.trained)} "
        f"jobs and reused {len(outcome.reused)} stored results, in {secs(outcome.seconds)} s of "
        f"wall time with {outcome.jobs} parallel job(s); the jobs' CPU time adds up to "
        f"{secs(total)} s."))
    blocks.append(Para(
        f"**How to read the numbers.** Every table shows the mean ± sample standard deviation "
        f"over the {outcome.seeds} seeds of a run. Within a group, runs with the same seed share "
        "the validation split, the batch order and, where the layer shapes agree, the initial "
        "weights, so each comparison with the group's reference run is paired: the 95% "
        "confidence interval is the mean of the per-seed differences ± t(0.975, n-1) times "
        "their standard deviation over √n (Student's t). A run is called higher or lower only "
        "when that interval excludes zero; otherwise the text says the runs are not "
        "distinguishable with this many seeds. Every decision uses the validation split; test "
        "numbers are reported beside it."))
    if data.best is not None:
        best = data.runs[data.best.name]
        blocks.append(Para(
            f"**Best model** (highest mean validation accuracy): **{best.name}**, "
            f"{architecture(best.config)}: validation accuracy {pm(best.final('val_acc'))}, "
            f"**test accuracy {pm(best.final('test_acc'))}** over {len(best.ok)} seeds."))
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
    parts = [f"`{k}` {_value(k, config[k])}" for k in typical if config.get(k) != typical[k]]
    return ", ".join(parts) or "none"


def _setup(data):
    configs = _configs(data)
    typical = _typical(configs)
    first = next(iter(configs.values()))
    blocks = [Heading(2, "Set-up"), Heading(3, "Data")]
    blocks.append(Para(
        f"Dataset `{first['dataset']}`: {data.data_sizes['train']} training and "
        f"{data.data_sizes['test']} test images of 28x28 grey pixels, flattened to 784 inputs. "
        f"Inputs are normalised as {data.normalisation}. Each run holds out a stratified, "
        "seeded validation split from the training images; it alone chooses the best model "
        "and drives early stopping. The test images are only evaluated and reported."))
    blocks.append(Heading(3, "Seeds, training metrics and diagnostics"))
    seeds = sorted({s for run in data.runs.values() for s in run.seeds})
    blocks.append(Para(
        f"Seeds {', '.join(str(s) for s in seeds)}. A seed sets the initial weights, the batch "
        "order, the dropout masks and the augmentation, each from its own generator, and "
        "nothing else; the validation split and data subsets follow the seed too, identically "
        "for every run of that seed. Training loss and accuracy in the tables are measured "
        "after each epoch in evaluation mode (dropout off, no augmentation) on a fixed, "
        "stratified probe of 1000 training samples, so they compare with the validation and "
        "test numbers; the running means over the epoch's batches are in each run's own curves "
        "(appendix). On the same probe the trainer records, per epoch, each layer's gradient "
        "norm, the fraction of dead ReLU units and of saturated Sigmoid activations, the "
        "gradient each correctly and each wrongly classified sample sends to the logits, and "
        "the training-minus-validation accuracy gap: the diagnostics figures and the reasons "
        "in each discussion come from these. Wall time is elapsed time and grows when other "
        "processes share the cores; CPU time is what the job's process used."))
    blocks.append(Heading(3, "Hyperparameters"))
    blocks.append(Para("The settings of most runs (the fields of `TrainConfig`); the next table "
                       "lists what each run changes."))
    blocks.append(_columns([[f"`{k}`", _value(k, v)] for k, v in typical.items()],
                           ["setting", "value"], 3))
    blocks.append(Heading(3, "Runs: architecture and what differs from the table above"))
    rows = [[f"`{name}`", architecture(c), _differences(c, typical)] for name, c in configs.items()]
    blocks.append(Table(["run", "architecture", "differs in"], rows))
    if data.suite.note:
        blocks.append(Para(f"**Time budget.** {data.suite.note}"))
    blocks += [Para(note) for note in data.notes]
    blocks += _machine(data)
    return blocks


def _machine(data):
    m = data.machine
    outcome = data.outcome
    threads = getattr(outcome, "blas_threads", None) or m["blas_threads"]
    where = getattr(outcome, "executor", "")
    items = [f"CPU: {m['cpu']}, {m['cores']} logical cores",
             f"Parallelism: {outcome.jobs} job(s) at a time"
             + (f" ({where})" if where else "") + f", {threads} BLAS thread(s) per job",
             f"System: {m['platform']}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    loads = [r.load_average for r in data.outcome.results.values() if r.load_average is not None]
    if loads:
        items.insert(1, f"Machine load (1-minute load average) when the jobs ended: from "
                        f"{min(loads):.2f} to {max(loads):.2f}, median {np.median(loads):.2f}; "
                        f"{m['load_after']} (1, 5, 15 min) when this report was written")
    return [Heading(3, "Machine"), Bullets(items)]


# -- bonus 3, best model, failures, appendix ----------------------------------------------------

def _stability_section(rows):
    main = [r for r in rows if r.dtype == "float64"]
    other = [r for r in rows if r.dtype != "float64"]
    table = Table(["quantity", "input", "naive formula", "naive result", "warnings",
                   "ours", "our result", "warnings", "exact"],
                  [[r.quantity, _minus(r.input), f"`{r.naive_formula}`", _minus(r.naive_value),
                    str(r.naive_warnings), f"`{r.ours_function}`", _minus(r.ours_value),
                    str(r.ours_warnings), _minus(r.exact_value)] for r in main], numeric={4, 7})
    blocks = [Heading(2, "Bonus 3: numerical stability"),
              Para("Each quantity evaluated on extreme inputs (float64) by the textbook formula "
                   "and by the function the package trains with, against the exact value "
                   "computed with 60-digit decimal arithmetic. Warnings count NumPy's overflow, "
                   "invalid-value and divide-by-zero warnings (underflow to 0 is harmless and "
                   "not counted). A naive formula can return a finite value and still warn: "
                   "`np.where` evaluates both branches, and the discarded one overflowed."),
              table]
    blocks.append(Bullets(stability_summary(main, "float64") + stability_summary(other, "float32")))
    return blocks


def _minus(text):
    """Negative numbers with a real minus sign (U+2212): a browser may break a line after a
    hyphen, which split ``-inf`` across lines; it never breaks after a minus sign."""
    return text.replace("-", "\u2212")


def _best_section(data):
    blocks = [Heading(2, "The best model")]
    if data.best is None:
        return blocks + [Para("No run finished, so there is no best model.")]
    best = data.best
    run = data.runs[best.name]
    ev = best.evaluation
    blocks.append(Para(
        f"Chosen by mean validation accuracy among {sum(1 for r in data.runs.values() if r.ok)} "
        f"runs with a finished seed: **`{best.name}`**, {architecture(run.config)}, validation "
        f"accuracy {pm(run.final('val_acc'))}, **test accuracy {pm(run.final('test_acc'))}** "
        f"over {len(run.ok)} seeds. The model of seed {best.seed} (its highest validation "
        f"accuracy) reloaded from its model file and evaluated on all {best.test_count} test "
        f"images: {pct(ev['accuracy'])} ({int(np.trace(ev['confusion']))} correct)."))
    blocks.append(Bullets(confusion_facts(ev, best.class_names)))
    captions = {
        "confusion": f"Confusion matrix of `{best.name}` (seed {best.seed}) on {best.test_count} "
                     "test images (rows: true class, columns: prediction; log colour scale).",
        "misclassified": f"Misclassified test digits of `{best.name}` (seed {best.seed}), in "
                         "test-set order, with their true and predicted labels.",
        "weights": f"First-layer weights of `{best.name}` (seed {best.seed}): each hidden unit's "
                   "784 incoming weights as a 28x28 image (red positive, blue negative).",
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
            Para("These jobs ended with an error; the rest of the suite completed without them."),
            Table(["run", "seed", "error"], [[f"`{r.name}`", str(r.seed), r.error]
                                             for r in failed])]


def _appendix(data):
    blocks = [Heading(2, "Every run"),
              Para("Loss and accuracy per epoch of each run's first seed on the training set "
                   "(running mean over the epoch's batches, in training mode), the validation "
                   "set and the test set; every seed's curves are stored with it under `runs/`.")]
    for name, directory in data.run_dirs.items():
        blocks.append(Image(f"{directory}/curves.png",
                            f"`{name}`: {architecture(data.runs[name].config)}."))
    return blocks
