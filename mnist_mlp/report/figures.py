"""Figures of the report, drawn with matplotlib's object API into PNG files.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through
``pyplot``: no global state, no GUI backend, safe in worker processes and
headless machines (PNG output goes through Agg).

* :func:`plot_group`: one group's runs overlaid, loss and accuracy per epoch on
  the training and the test set.
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

__all__ = ["plot_group", "plot_confusion", "plot_misclassified", "plot_first_layer", "DPI",
           "FIRST_LAYER_UNITS"]

DPI = 110
FIRST_LAYER_UNITS = 50  # hidden units whose weights the first-layer figure shows
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_DASHES = ("-", "--", "-.", ":")
_PANELS = (  # (row, column, history key, label)
    (0, 0, "train_loss", "training loss (mean over the epoch's batches)"),
    (0, 1, "test_loss", "test loss"),
    (1, 0, "train_acc", "training accuracy (mean over the epoch's batches)"),
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


def plot_group(histories, path, title, log_loss=False):
    """Overlay the runs of one group: loss and accuracy per epoch, training and test.

    Parameters
    ----------
    histories : dict
        ``{run name: History}``; runs without a history (failed early) are skipped.
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
    drawn = {name: h for name, h in histories.items() if h is not None and h.records}
    for row, col, key, label in _PANELS:
        ax = axes[row][col]
        for index, (name, history) in enumerate(drawn.items()):
            values = np.array(history.column(key), dtype=float)
            if key.endswith("acc"):
                values = 100 * values
            # Marker and dash differ per run too, so runs whose curves coincide stay visible.
            ax.plot(history.column("epoch"), values, label=name, alpha=0.85,
                    marker=_MARKERS[index % len(_MARKERS)], markersize=3.5,
                    markevery=max(1, len(values) // 15),
                    linestyle=_DASHES[index % len(_DASHES)])
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("accuracy (%)" if key.endswith("acc") else "loss (per sample)")
        ax.grid(alpha=0.3)
        if key.endswith("loss") and log_loss:
            ax.set_yscale("log")
        if key.endswith("acc"):
            _zoom_accuracy(ax, [100 * np.array(h.column(key), dtype=float) for h in drawn.values()])
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5),
                   fontsize=9)
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def _zoom_accuracy(ax, series):
    """Show the range where the runs differ.

    The first epoch of a long run often sits far below the rest and would squash
    the differences that matter into a sliver, so it is left out of the range
    (its point is simply clipped); short runs are shown whole.
    """
    later = [s[1:] if len(s) >= 5 else s for s in series if len(s)]
    finite = np.concatenate(later) if later else np.array([])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        low = max(0.0, math.floor(np.min(finite) - 1))
        ax.set_ylim(low, 100.2)


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
