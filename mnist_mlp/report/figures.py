"""Figures of the report, drawn with matplotlib's object API into PNG files.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through
``pyplot``: no global state, no GUI backend, safe in worker processes and
headless machines (PNG output goes through Agg).

* :func:`plot_group`: one group's runs overlaid (mean over seeds, band from the
  lowest to the highest seed), loss and accuracy per epoch, training and test.
* :func:`plot_diagnostics`: the same runs' per-epoch diagnostics (gradient norms,
  dead or saturated units, per-sample gradients, train-validation gap).
* :func:`plot_confusion`: the best model's confusion matrix on the test set.
* :func:`plot_misclassified`: a grid of misclassified test digits, true and predicted labels.
* :func:`plot_first_layer`: the first layer's weights, one 28x28 image per hidden unit.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnist_mlp.fileio import atomic_write

__all__ = ["plot_group", "plot_diagnostics", "plot_confusion", "plot_misclassified", "plot_first_layer", "DPI",
           "FIRST_LAYER_UNITS"]

DPI = 110
FIRST_LAYER_UNITS = 50  # hidden units whose weights the first-layer figure shows
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_DASHES = ("-", "--", "-.", ":")
_PANELS = (  # (row, column, history key, label)
    (0, 0, "train_eval_loss", "training loss (evaluation mode, 1000-sample probe)"),
    (0, 1, "test_loss", "test loss"),
    (1, 0, "train_eval_acc", "training accuracy (evaluation mode, 1000-sample probe)"),
    (1, 1, "test_acc", "test accuracy"),
)


def _save(fig, path):
    """Write ``fig`` as PNG atomically: a half-written figure is never left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, dpi=DPI, format="png")
    return path


def _mean_curve(series, value):
    """Epochs and the mean, min and max of ``value(record)`` over the seeds.

    ``series`` holds one list of records per seed. Seeds may have run different
    numbers of epochs (early stopping): each epoch averages the seeds that reached it.
    """
    by_epoch = {}
    for records in series:
        for record in records:
            v = value(record)
            if v is not None and np.isfinite(v):
                by_epoch.setdefault(record["epoch"], []).append(float(v))
    epochs = np.array(sorted(by_epoch))
    stats = [(np.mean(by_epoch[e]), min(by_epoch[e]), max(by_epoch[e])) for e in epochs]
    mean, low, high = (np.array(column) for column in zip(*stats)) if stats else ([], [], [])
    return epochs, np.asarray(mean), np.asarray(low), np.asarray(high)


def _record_value(key, scale=1.0):
    def value(record):
        v = record.get(key)
        return None if v is None else scale * v
    return value


def _draw_runs(ax, runs, value, positive=False):
    """One line per run: the mean over its seeds, a band from the lowest to the highest seed.

    Each run keeps its colour, marker and dash in every panel (by its position in
    ``runs``), even where another run has nothing to draw. With ``positive``
    (log axes) values <= 0 are left out: the line ends where the quantity hits 0.
    """
    def shown(record):
        v = value(record)
        return None if v is None or (positive and v <= 0) else v

    for index, (label, series) in enumerate(runs.items()):
        epochs, mean, low, high = _mean_curve(series, shown)
        if not len(epochs):
            continue
        color = f"C{index % 10}"
        # Marker and dash differ per run too, so runs whose curves coincide stay visible.
        ax.plot(epochs, mean, label=label, alpha=0.9, color=color,
                marker=_MARKERS[index % len(_MARKERS)], markersize=3.5,
                markevery=max(1, len(epochs) // 15), linestyle=_DASHES[index % len(_DASHES)])
        if len(series) > 1:
            ax.fill_between(epochs, low, high, color=color, alpha=0.15, linewidth=0)


def _usable(runs, initial=False):
    """``{label: [records of each seed]}``; with ``initial``, the initial diagnostics
    come first as epoch 0. Runs without any recorded epoch draw nothing but keep
    their place (and so their colour)."""
    drawn = {}
    for label, histories in runs.items():
        series = []
        for h in histories:
            if h is None or not h.records:
                continue
            start = [{"epoch": 0, **h.initial}] if initial and h.initial else []
            series.append(start + h.records)
        drawn[label] = series
    return drawn


def _legend(fig, axes, order):
    """One legend below the panels, a run's entry from whichever panel drew it."""
    found = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            found.setdefault(label, handle)
    labels = [label for label in order if label in found]
    if labels:
        fig.legend([found[label] for label in labels], labels, loc="outside lower center",
                   ncol=min(len(labels), 5), fontsize=9)


def _log_axis(ax):
    """A log axis labelled 0.2, 0.5, 1, 2, ... in plain numbers; stays linear when the values
    span less than a factor 3 (a log axis would then have no labelled tick)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0 or values.max() < 3 * values.min():
        return  # less than a factor 3: a linear axis reads better, and has ticks
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_group(runs, path, title, log_loss=False):
    """Overlay the runs of one group: loss and accuracy per epoch, training and test.

    Parameters
    ----------
    runs : dict
        ``{legend label: [History per seed]}``; label the curves by what the group
        varies. Each line is the mean over the seeds, the band spans the lowest to
        the highest seed. ``None`` histories (failed seeds) are skipped.
    path : path-like
        PNG file to write.
    title : str
    log_loss : bool
        Logarithmic loss axes, for groups whose losses span orders of magnitude.

    Returns
    -------
    Path
    """
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    drawn = _usable(runs)
    for row, col, key, label in _PANELS:
        ax = axes[row][col]
        _draw_runs(ax, drawn, _record_value(key, 100.0 if key.endswith("acc") else 1.0))
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("accuracy (%)" if key.endswith("acc") else "loss (per sample)")
        ax.grid(alpha=0.3)
        if key.endswith("loss") and log_loss:
            _log_axis(ax)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, axes.ravel(), list(runs))
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


# (panel letter, record key, layer index or None, y label, log scale)
_DIAGNOSTIC_PANELS = (
    ("a", "grad_norm", 0, "first-layer gradient norm ||dE/dW1||", True),
    ("b", "grad_norm", -1, "last-layer gradient norm ||dE/dW_last||", True),
    ("c", "saturation", 0, "first hidden layer: dead ReLU units /\nsaturated Sigmoid activations (%)",
     False),
    ("d", "grad_correct", None, "per-sample logit gradient,\ncorrectly classified samples", True),
    ("e", "grad_wrong", None, "per-sample logit gradient,\nmisclassified samples", True),
    ("f", "gap", None, "training (eval mode) minus\nvalidation accuracy (points)", False),
)


def _diagnostic_value(record, key, layer):
    if key == "gap":
        train, val = record.get("train_eval_acc"), record.get("val_acc")
        return None if train is None or val is None else 100 * (train - val)
    if key == "saturation":
        for name in ("dead_relu", "saturated_sigmoid"):
            if record.get(name):
                return 100 * record[name][layer]
        return None
    value = record.get(key)
    if layer is not None and value:
        value = value[layer]
    return value


def plot_diagnostics(runs, path, title):
    """Six panels of per-epoch diagnostics (see :mod:`mnist_mlp.train.diagnostics`).

    ``runs`` as for :func:`plot_group`. Panels, lettered as the report cites them:
    (a) first- and (b) last-layer gradient norm, (c) dead ReLU units or saturated
    Sigmoid activations of the first hidden layer, the gradient a (d) correctly and
    (e) wrongly classified sample sends to the logits, (f) the gap between training
    accuracy in evaluation mode and validation accuracy. Epoch 0 is the initial
    weights (``History.initial``). On the log axes a line ends where its value
    reaches 0 (e.g. hinge loss once every margin is met).
    """
    fig = Figure(figsize=(12, 7.2), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True).ravel()
    drawn = _usable(runs, initial=True)
    for ax, (letter, key, layer, label, log) in zip(axes, _DIAGNOSTIC_PANELS):
        _draw_runs(ax, drawn, lambda record, k=key, i=layer: _diagnostic_value(record, k, i),
                   positive=log)
        ax.set_title(f"({letter}) {label}", fontsize=9.5)
        ax.grid(alpha=0.3)
        if log and ax.get_lines():
            _log_axis(ax)
        if not ax.get_lines():
            ax.text(0.5, 0.5, "not measured for these runs\n(no such units, or no such samples)",
                    ha="center", va="center", transform=ax.transAxes, color="grey", fontsize=9)
    for ax in axes[3:]:
        ax.set_xlabel("epoch (0: initial weights)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, axes, list(runs))
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def plot_confusion(confusion, path, title, class_names=None):
    """A confusion matrix with counts: rows the true class, columns the prediction.

    The colour scale is logarithmic so that the few errors off the diagonal stay
    visible next to about a thousand correct predictions per class.
    """
    from matplotlib.colors import LogNorm

    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    names = list(class_names or range(n))
    fig = Figure(figsize=(7.2, 6.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.maximum(confusion, 0.5), cmap="Blues",
                      norm=LogNorm(vmin=0.5, vmax=max(confusion.max(), 1)))
    threshold = np.sqrt(max(confusion.max(), 1))
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i, j] > threshold else "black")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, label="test images (log scale)")
    return _save(fig, path)


def _mosaic(tiles, columns, pad=2, fill=np.nan):
    """Tile (n, 28, 28) images into one array, ``pad`` pixels of ``fill`` between them.

    One image with many tiles draws far faster than one axes per tile.
    """
    count, height, width = tiles.shape
    rows = max(1, math.ceil(count / columns))
    mosaic = np.full((rows * (height + pad) - pad, columns * (width + pad) - pad), fill)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        mosaic[r * (height + pad):r * (height + pad) + height,
               c * (width + pad):c * (width + pad) + width] = tile
    return mosaic, rows


def plot_misclassified(images, true, predicted, path, title, columns=8, limit=32):
    """A grid of misclassified digits, each labelled with its true and predicted class.

    Parameters
    ----------
    images : (n, 784) array
        The misclassified images, in any scale; each is stretched to its own grey range.
    true, predicted : (n,) int arrays
    limit : int
        At most this many are drawn, in the order given.
    """
    count = min(len(images), limit)
    tiles = np.asarray(images[:count], dtype=float).reshape(count, 28, 28)
    low = tiles.min(axis=(1, 2), keepdims=True)
    tiles = (tiles - low) / np.maximum(tiles.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    columns = max(1, min(columns, count))
    mosaic, rows = _mosaic(tiles, columns, pad=12)
    fig = Figure(figsize=(1.3 * columns + 0.4, 1.45 * rows + 0.7), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1)
    for index in range(count):
        r, c = divmod(index, columns)
        ax.text(c * 40 + 14, r * 40 - 1.5, f"true {true[index]} / pred {predicted[index]}",
                ha="center", va="bottom", fontsize=7.5, color="firebrick")
    ax.set_ylim(mosaic.shape[0] - 0.5, -8)  # room above the first row for its labels
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    return _save(fig, path)


def plot_first_layer(weights, path, title, columns=10, limit=None):
    """The first ``limit`` hidden units' incoming weights as 28x28 images.

    Each tile is scaled to its own largest absolute weight and drawn on a
    symmetric colour scale (red positive, blue negative, white 0), so every
    unit's pattern is visible whatever its norm.
    """
    weights = np.asarray(weights, dtype=float)
    count = min(weights.shape[1], FIRST_LAYER_UNITS if limit is None else limit)
    tiles = weights[:, :count].T.reshape(count, 28, 28)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    columns = max(1, min(columns, count))
    mosaic, rows = _mosaic(tiles, columns, pad=3)
    fig = Figure(figsize=(1.05 * columns + 1.2, 1.05 * rows + 0.8), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(mosaic, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight / largest |weight| of the unit")
    return _save(fig, path)
