"""What a search leaves in ``--out``: trials.csv, best.json, figures, TUNE.md and tune.html.

``trials.csv`` is rewritten (atomically) after every trial, so it is also the file
a watcher can wait on. The figures are Optuna's matplotlib visualisations; the
text is built once as blocks of :mod:`mnist_mlp.report.document` and rendered to
Markdown and to a self-contained HTML page.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import warnings

from mnist_mlp.fileio import atomic_write
from mnist_mlp.report.document import (
    Heading,
    Image,
    Note,
    Para,
    Table,
    to_html,
    to_markdown,
)

__all__ = ["write_trials_csv", "write_best", "write_figures", "write_report", "TRIALS_CSV", "BEST_JSON",
           "BEST_MODEL", "TUNE_MD", "TUNE_HTML"]

TRIALS_CSV = "trials.csv"
BEST_JSON = "best.json"
BEST_MODEL = "best-model.npz"
TUNE_MD = "TUNE.md"
TUNE_HTML = "tune.html"
_FIGURES = (("history.png", "Optimisation history: validation accuracy of every trial and the best so far"),
            ("importances.png", "Parameter importances (fANOVA) for the validation accuracy"),
            ("parallel.png", "Parallel coordinates: each line a trial, coloured by validation accuracy"))


def trial_rows(study, space):
    """One dict per trial, in trial order: the columns of trials.csv."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row = {"number": trial.number, "state": trial.state.name.lower()}
        row.update({p.name: trial.params.get(p.name, "") for p in space.params})
        value = trial.value if trial.value is not None else None
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        row["val_acc"] = "" if value is None else f"{value:.6f}"
        row["epochs"] = trial.user_attrs.get("epochs", "")
        seconds = trial.user_attrs.get("seconds")
        row["seconds"] = "" if seconds is None else f"{seconds:.2f}"
        rows.append(row)
    return rows


def write_trials_csv(study, space, path):
    """Write trials.csv atomically: number, state, parameters, val_acc, epochs, seconds."""
    rows = trial_rows(study, space)
    buffer = io.StringIO()
    names = ["number", "state", *[p.name for p in space.params], "val_acc", "epochs", "seconds"]
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path, "w") as handle:
        handle.write(buffer.getvalue())


def write_best(path, summary):
    with atomic_write(path, "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")


def write_figures(study, out_dir):
    """Optuna's history, importance and parallel-coordinate plots as PNGs; names of those drawn.

    Importances need at least two finished trials with different values; a figure
    that cannot be drawn is left out (and the report says so).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    drawn = []
    makers = {"history.png": ovm.plot_optimization_history, "importances.png": ovm.plot_param_importances,
              "parallel.png": ovm.plot_parallel_coordinate}
    for name, _ in _FIGURES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna flags its matplotlib plots as experimental
                axes = makers[name](study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(11 if name == "parallel.png" else 8, 4.5)
            figure.tight_layout()
            figure.savefig(out_dir / name, dpi=90)
            plt.close(figure)
            drawn.append(name)
        except (ValueError, RuntimeError, ZeroDivisionError, optuna.exceptions.OptunaError):
            plt.close("all")
    return drawn


def _cell(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _mean_std(values):
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f}%"


def write_report(out_dir, summary, rows, drawn):
    """TUNE.md and tune.html from the summary (best.json's content) and the trial rows."""
    best, baseline = summary["best"], summary["baseline"]
    blocks = [Heading(1, "Hyperparameter search"),
              Para(f"{summary['trials_finished']} trials on the validation split "
                   f"({summary['states']}), space `{summary['space']}`, TPE sampler seed "
                   f"{summary['sampler_seed']}, median pruning. Trial 0 is the project's defaults."),
              Note("The test set was not read during the search. After it, the best and the baseline "
                   "parameters were each retrained and evaluated once on the test set per seed; those "
                   "are the only test figures."),
              Heading(2, "Best against baseline"),
              Table(["", "trial", "validation (search)", "validation (retrained)", "test (retrained)", "seeds"],
                    [["best", str(best["trial"]), f"{100 * best['val_acc']:.2f}%",
                      _mean_std([r["val_acc"] for r in best["final"]]),
                      _mean_std([r["test_acc"] for r in best["final"]]), str(len(best["final"]))],
                     ["baseline", "0", "n/a" if baseline["val_acc"] is None else f"{100 * baseline['val_acc']:.2f}%",
                      _mean_std([r["val_acc"] for r in baseline["final"]]),
                      _mean_std([r["test_acc"] for r in baseline["final"]]), str(len(baseline["final"]))]],
                    numeric={1, 2, 3, 4, 5}),
              Para("Best parameters: " + ", ".join(f"`{k} = {_cell(v)}`" for k, v in best["params"].items())),
              Heading(2, "Figures")]
    blocks += [Image(name, caption) for name, caption in _FIGURES if name in drawn]
    if len(drawn) < len(_FIGURES):
        blocks.append(Para("Figures left out need more finished trials: "
                           + ", ".join(n for n, _ in _FIGURES if n not in drawn) + "."))
    blocks.append(Heading(2, "Trials"))
    top = sorted((r for r in rows if r["val_acc"]), key=lambda r: -float(r["val_acc"]))[:15]
    names = [k for k in rows[0] if k not in ("val_acc",)] if rows else []
    blocks.append(Table(names + ["val_acc"], [[_cell(r[k]) for k in names] + [r["val_acc"]] for r in top]))
    with atomic_write(out_dir / TUNE_MD, "w") as handle:
        handle.write(to_markdown(blocks))
    with atomic_write(out_dir / TUNE_HTML, "w") as handle:
        handle.write(to_html(blocks, out_dir, "mnist-mlp tune"))
