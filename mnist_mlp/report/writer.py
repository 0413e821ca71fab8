"""Write ``REPORT.md`` and a self-contained ``report.html`` from a finished suite.

:func:`write_report` reads every run's stored history, draws the group overlays
and the best model's figures into ``<out>/figures/``, evaluates the best model
(highest mean *validation* accuracy over seeds; the test set never chooses) on the test images,
builds the Bonus 3 stability table, and renders one document twice: Markdown
linking the PNGs, HTML embedding them as base64.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import numpy as np

from mnist_mlp.data.normalize import normalize_like
from mnist_mlp.fileio import atomic_write
from mnist_mlp.load_data import (
    CLASS_NAMES,
    DEFAULT_NORMALIZE,
    NORMALIZATIONS,
    load_dataset,
)
from mnist_mlp.network import Network
from mnist_mlp.report import figures
from mnist_mlp.report.document import to_html, to_markdown
from mnist_mlp.report.groups import run_labels
from mnist_mlp.report.sections import BestModel, ReportData, build_document
from mnist_mlp.report.seeds import gather
from mnist_mlp.study.runner import run_blas_threads
from mnist_mlp.study.stability import stability_table
from mnist_mlp.study.store import Store
from mnist_mlp.train.trainer import evaluate

__all__ = ["write_report", "machine_info", "choose_best", "REPORT_MD", "REPORT_HTML"]

REPORT_MD = "REPORT.md"
_FIGURES = "figures"
_FIGURES_VERSION = 5  # bump when a figure's drawing changes, to redraw cached ones
REPORT_HTML = "report.html"
_TITLE = "MNIST MLP study: results"


def write_report(suite, outcome, out_dir, *, data_dir=None, data=None, notes=None):
    """Write the report of ``outcome`` into ``out_dir``; return the two file paths.

    Figures are named by a fingerprint of what they show (the runs' setting
    hashes and statuses), so an unchanged suite reuses them and a second
    invocation neither redraws nor reloads the dataset. Figures no longer
    referenced are removed.

    Parameters
    ----------
    suite : Suite
    outcome : SuiteOutcome
        From :func:`~mnist_mlp.study.runner.run_suite` on the same ``out_dir``.
    out_dir : path-like
    data_dir : path-like, optional
        Where the dataset is, to evaluate the best model on the test images.
    data : tuple, optional
        ``(train_x, test_x, train_y, test_y)`` used instead of loading (tests).
    notes : list of str, optional
        Paragraphs added to the set-up section (e.g. what was traded for time).
    """
    out = Path(out_dir)
    store = Store(out)
    results = outcome.results
    runs = gather(outcome, store)
    first = next(iter(results.values())).config
    source = _DataSource(first, data_dir, data)
    keep = set()
    report = ReportData(
        suite=suite, outcome=outcome, runs=runs, run_dirs=_run_dirs(store, runs, out),
        group_figures=_group_figures(suite, runs, out, keep),
        stability=stability_table(), machine=machine_info(outcome.jobs),
        data_sizes={}, normalisation=_normalisation_text(first),
        generated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        notes=list(notes or ()),
    )
    best = choose_best(results)
    if best is not None:
        report.best, report.data_sizes = _best_model(best, store, out, source, keep)
    else:
        report.data_sizes = source.sizes()
    blocks = build_document(report)
    paths = out / REPORT_MD, out / REPORT_HTML
    with atomic_write(paths[0]) as handle:
        handle.write(to_markdown(blocks))
    with atomic_write(paths[1]) as handle:
        handle.write(to_html(blocks, out, _TITLE))
    _remove_stale(out / _FIGURES, keep)
    return paths


def choose_best(results):
    """The best run's best seed: the RunResult to show as the best model, or None.

    The run with the highest *mean* validation accuracy over its finished seeds
    (ties: lower mean validation loss, then name); of its seeds, the one with the
    highest validation accuracy. Runs without a validation split cannot be
    chosen: the test set never decides.

    Parameters
    ----------
    results : dict
        ``{(run name, seed): RunResult}`` as in ``SuiteOutcome.results``.
    """
    by_run = {}
    for result in results.values():
        if result.ok and result.final.get("val_acc") is not None:
            by_run.setdefault(result.name, []).append(result)
    if not by_run:
        return None

    def score(name):
        seeds = by_run[name]
        return (-np.mean([r.final["val_acc"] for r in seeds]),
                np.mean([r.final["val_loss"] for r in seeds]), name)

    name = min(by_run, key=score)
    return min(by_run[name], key=lambda r: (-r.final["val_acc"], r.final["val_loss"], r.seed))


class _DataSource:
    """The dataset, loaded only if a figure or number actually needs it.

    Loaded as raw pixel values (0-255 floats): the best model's inputs are then
    normalised exactly as its model file says, and the digits are shown as they are.
    Data handed in by a caller is used as it is (already normalised).
    """

    def __init__(self, config, data_dir, data):
        self.config, self.data_dir, self.data = config, data_dir, data
        self.raw = data is None
        self.label = "dataset" if data is None else "given data"

    def get(self):
        if self.data is None:
            directory = self.data_dir if self.data_dir is not None else self.config["data_dir"]
            self.data = load_dataset(self.config["dataset"], directory, normalize="none",
                                     dtype=np.float32)
        return self.data

    def sizes(self):
        train_x, test_x, _, _ = self.get()
        return {"train": len(train_x), "test": len(test_x)}


def _fingerprint(*parts):
    text = json.dumps([_FIGURES_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def _run_dirs(store, runs, out):
    """``{run name: directory of its first seed that has curves}``, relative to ``out``."""
    dirs = {}
    for name, run in runs.items():
        for result in run.results.values():
            directory = store.run_dir(result.name, result.key)
            if (directory / "curves.png").exists():
                dirs[name] = directory.relative_to(out).as_posix()
                break
    return dirs


def _normalisation_text(config):
    method = config.get("normalize") or DEFAULT_NORMALIZE
    return f"`{method}`: {NORMALIZATIONS[method]}"


def _group_figures(suite, runs, out, keep):
    """Curves and diagnostics figures per group, named by a fingerprint of what they show."""
    paths = {}
    for group in suite.groups:
        members = [runs[name] for name in group.runs]
        if not any(run.ok for run in members):
            continue
        varying = [k for k in group.keys if len({repr(r.config[k]) for r in members}) > 1]
        labels = run_labels(members, varying or group.keys)
        drawn = {labels[r.name]: [r.histories.get(s) for s in r.ok] for r in members}
        # Losses of different kinds live on different scales: a log axis keeps all visible.
        log_loss = "loss" in group.keys
        key = _fingerprint(group.title, log_loss, labels,
                           [(j, r.key, r.status) for run in members
                            for j, r in run.results.items()])
        paths[group.name] = {}
        for kind in ("curves", "diagnostics"):
            path = out / _FIGURES / f"group-{group.name}-{kind}-{key}.png"
            if not path.exists():
                if kind == "curves":
                    figures.plot_group(drawn, path, f"{group.title}: loss and accuracy",
                                       log_loss=log_loss)
                else:
                    figures.plot_diagnostics(drawn, path, f"{group.title}: diagnostics")
            keep.add(path.name)
            paths[group.name][kind] = path.relative_to(out).as_posix()
    return paths


def _best_model(result, store, out, source, keep):
    """The best run's evaluation on the test images and its figures, cached by fingerprint.

    Returns ``(BestModel, data sizes)``.
    """
    stem = f"best-{_fingerprint(result.name, result.seed, result.key, source.label)}"
    directory = out / _FIGURES
    names = {kind: f"{stem}-{kind}.png" for kind in ("confusion", "misclassified", "first-layer")}
    summary_path = directory / f"{stem}.json"
    keep.update([*names.values(), summary_path.name])
    if summary_path.exists() and all((directory / n).exists() for n in names.values()):
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    else:
        summary = _evaluate_and_draw(result, store, source, directory, names)
        with atomic_write(summary_path) as handle:
            json.dump(summary, handle)
    classes = list(CLASS_NAMES.get(result.config["dataset"], [str(i) for i in range(10)]))
    relative = {"confusion": names["confusion"], "misclassified": names["misclassified"],
                "weights": names["first-layer"]}
    best = BestModel(result.name, result.seed, summary["evaluation"], summary["test_count"],
                     {k: f"{_FIGURES}/{v}" for k, v in relative.items()}, classes)
    return best, summary["data_sizes"]


def _evaluate_and_draw(result, store, source, directory, names):
    """Reload the best run's model, evaluate it on every test image, draw its three figures."""
    model = Network.load(store.run_dir(result.name, result.key) / "model.npz")
    train_x, test_images, _, test_labels = source.get()
    test_labels = np.asarray(test_labels)
    dtype = np.dtype(result.config["dtype"])
    inputs = (normalize_like(model.metadata, test_images, dtype=dtype) if source.raw
              else test_images)
    evaluation = evaluate(model, inputs, test_labels)
    wrong = np.flatnonzero(evaluation["predictions"] != test_labels)
    classes = list(CLASS_NAMES.get(result.config["dataset"], [str(i) for i in range(10)]))
    figures.plot_confusion(evaluation["confusion"], directory / names["confusion"],
                           f"{result.name}: confusion matrix on {len(test_labels)} test images",
                           classes)
    figures.plot_misclassified(
        test_images[wrong], test_labels[wrong], evaluation["predictions"][wrong],
        directory / names["misclassified"],
        f"{result.name}: misclassified test digits (first {min(len(wrong), 32)} of {len(wrong)})")
    weights = model.layer_list[0].W
    shown = min(weights.shape[1], figures.FIRST_LAYER_UNITS)
    figures.plot_first_layer(weights, directory / names["first-layer"],
                             f"{result.name}: incoming weights of {shown} of the "
                             f"{weights.shape[1]} units of the first hidden layer", limit=shown)
    per_class = [None if np.isnan(v) else float(v) for v in evaluation["per_class_accuracy"]]
    return {"evaluation": {"accuracy": evaluation["accuracy"], "per_class_accuracy": per_class,
                           "confusion": np.asarray(evaluation["confusion"]).tolist()},
            "test_count": len(test_labels),
            "data_sizes": {"train": len(train_x), "test": len(test_labels)}}


def _remove_stale(directory, keep):
    """Delete figures of earlier reports that this one no longer shows."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.suffix in (".png", ".json") and path.name not in keep:
            path.unlink()


def machine_info(jobs):
    """CPU, cores, load, platform and library versions, for the set-up section."""
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = {"Python": platform.python_version()}
    for package in ("numpy", "matplotlib", "tqdm", "mnist-mlp"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "load_after": _load_text(load_after),
            "blas_threads": run_blas_threads(jobs), "versions": versions}


def _load_text(load):
    return "unknown" if load is None else " / ".join(f"{value:.2f}" for value in load)


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
