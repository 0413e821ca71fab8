"""Figures of a training run: loss and accuracy per epoch, as the seed's report asks.

Drawn with matplotlib's object API on an Agg canvas: no pyplot, no global
backend switch, so it works headless and in worker processes. PNGs are written
atomically (temporary file, then rename).
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mnist_mlp.fileio import atomic_write
from mnist_mlp.train.history import History

__all__ = ["plot_history"]

# (record key prefix, legend label, line style): training solid, validation dashed,
# test dotted, so the three stay apart in print as well as in colour.
_SPLITS = (
    ("train", "training (mean over the epoch's batches)", "-"),
    ("val", "validation", "--"),
    ("test", "test", ":"),
)


def plot_history(history, path, title=None, dpi=120):
    """Plot loss and accuracy per epoch, two panels side by side, into a PNG.

    Parameters
    ----------
    history : History or str or path-like
        A :class:`~mnist_mlp.train.history.History`, or the path of its JSON file.
    path : str or path-like
        Where the PNG goes (written atomically).
    title : str, optional
        Figure title; by default a description of the run's configuration.
    dpi : int

    Returns
    -------
    path
        The ``path`` written.

    Notes
    -----
    Validation curves are drawn when the run had a validation split. The epoch
    whose weights the model holds (``history.best_epoch``) is marked with a
    vertical line when early stopping chose it.
    """
    if not isinstance(history, History):
        history = History.load(history)
    if not history.records:
        raise ValueError("plot_history: the history has no epochs to plot")
    figure = Figure(figsize=(11, 4.2), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, acc_axes = figure.subplots(1, 2)
    _panel(loss_axes, history, "loss", "loss (mean per sample)", scale=1.0)
    loss_axes.set_title("Loss")
    _panel(acc_axes, history, "acc", "accuracy (%)", scale=100.0)
    acc_axes.set_title("Accuracy")
    figure.suptitle(title or _default_title(history))
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")
    return path


def _panel(axes, history, metric, ylabel, scale):
    epochs = history.column("epoch")
    for prefix, label, style in _SPLITS:
        values = history.column(f"{prefix}_{metric}")
        points = [(e, v * scale) for e, v in zip(epochs, values) if v is not None]
        if points:
            xs, ys = zip(*points)
            axes.plot(xs, ys, style, marker="o" if len(xs) < 30 else None, markersize=3, label=label)
    if history.stopped_early and history.best_epoch is not None:
        axes.axvline(history.best_epoch, color="grey", linewidth=0.8,
                     label=f"best epoch ({history.best_epoch}), weights kept")
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if len(epochs) > 1:
        axes.set_xlim(min(epochs), max(epochs))
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(fontsize="small")


def _default_title(history):
    """E.g. "mnist: MLP 784-512-256-10 relu, softmax_ce loss, sgd lr 0.1 cosine, dropout 0.2, augmented"."""
    config = history.config or {}
    if not config:
        return "Training curves"
    sizes = "-".join(str(size) for size in [784, *config.get("hidden", []), 10])
    parts = [f"{config.get('dataset', 'mnist')}: MLP {sizes} {config.get('activation', '')}",
             f"{config.get('loss', '')} loss",
             f"{config.get('optimizer', '')} lr {config.get('learning_rate', '')} {config.get('schedule', '')}"]
    if config.get("weight_decay"):
        parts.append(f"weight decay {config['weight_decay']:g}")
    if config.get("dropout"):
        parts.append(f"dropout {config['dropout']:g}")
    if config.get("augment"):
        parts.append("augmented")
    return ", ".join(parts)
