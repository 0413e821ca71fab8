"""Train an MLP the way a user of Keras or scikit-learn expects, in NumPy.

:func:`train` carves a stratified, seeded validation split from the training
set, trains epoch by epoch, records a :class:`~mnist_mlp.train.history.History`, stops
early on the validation loss, checkpoints after every epoch and resumes from the
checkpoint to the same bits. The seed's rule holds throughout: "during the
training process, any information about testing samples should never be
introduced". Test metrics are computed after each epoch to be reported; no
weight, learning rate, stopping decision or best-epoch choice ever reads them.

Randomness: independent generators are spawned from ``seed`` (validation
split, initial weights, batch order, test subset, noise, diagnostics probe), so
e.g. a different validation size leaves the initial weights unchanged. The
batch order has a generator of its own and the dropout masks and augmentation
draw from the *noise* generator: two runs with the same seed therefore see the
same batches in the same order even when only one of them uses dropout, and
start from the same weights wherever their layer shapes agree. That makes the
study's comparisons paired. Both training generators are saved in every
checkpoint. Per-epoch diagnostics (:mod:`mnist_mlp.train.diagnostics`) are
measured on a fixed probe drawn from its own generator.

This module imports NumPy and the package only; ``tqdm`` is imported when a
progress bar is asked for.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_mlp import load_data
from mnist_mlp.data.augment import AUGMENTATIONS, augment_batch
from mnist_mlp.errors import ConfigError, DataError, DivergenceError
from mnist_mlp.network import Network
from mnist_mlp.optim import make_schedule
from mnist_mlp.solve_net import data_iterator, evaluate_net
from mnist_mlp.train import diagnostics
from mnist_mlp.train.build import NUM_CLASSES, build_loss, build_model
from mnist_mlp.train.chance import check_chance, lower_lr_hint
from mnist_mlp.train.checkpoint import load_checkpoint, save_checkpoint
from mnist_mlp.train.data import prepare_data
from mnist_mlp.train.history import History
from mnist_mlp.utils import onehot_encoding

__all__ = [
    "MODEL_FILE",
    "HISTORY_FILE",
    "CHECKPOINT_FILE",
    "train",
    "evaluate",
    "random_streams",
]

MODEL_FILE = "model.npz"
HISTORY_FILE = "history.json"
CHECKPOINT_FILE = "checkpoint.npz"
_EVAL_BATCH = 1000

_logger = logging.getLogger(__name__)


# -- randomness ----------------------------------------------------------------------------


def random_streams(seed):
    """Independent generators for each purpose, all from one seed.

    ``"split"`` draws the validation split, ``"init"`` the initial weights, ``"train"``
    the batch order, ``"noise"`` dropout masks and augmentation, ``"probe"`` the
    diagnostics subset, ``"test"`` the test subset.
    """
    # Appending a name keeps the earlier children: SeedSequence child i depends on i only.
    names = ("split", "init", "train", "test", "noise", "probe")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


# -- evaluation ----------------------------------------------------------------------------


def evaluate(model, x, y, batch_size=1000, loss=None):
    """Accuracy, per-class accuracy and confusion matrix of ``model`` on ``(x, y)``.

    Parameters
    ----------
    model : Network
    x : (n, 784) array
        Inputs, normalised as in training.
    y : (n,) int array
    batch_size : int
    loss : loss object, optional
        When given, the result's ``"loss"`` is its mean over the samples.

    Returns
    -------
    dict
        ``"loss"`` (float or None), ``"accuracy"`` (fraction), ``"per_class_accuracy"``
        ((10,) array; NaN for a class absent from ``y``), ``"confusion"`` ((10, 10)
        int array, rows the true class, columns the prediction) and ``"predictions"`` ((n,)).
    """
    y = np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise DataError(f"evaluate needs as many labels as inputs, at least one; got {len(x)} and {len(y)}")
    result = evaluate_net(model, loss, x, y, batch_size)
    predictions = result.predictions
    confusion = np.bincount(y * NUM_CLASSES + predictions,
                            minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)
    return {"loss": result.loss, "accuracy": result.accuracy,
            "per_class_accuracy": per_class, "confusion": confusion, "predictions": predictions}


# -- the training loop ---------------------------------------------------------------------


@dataclass
class _Run:
    """Everything that changes during training, i.e. what a checkpoint must hold."""

    model: Network
    loss: object
    optimizer: object
    rng: np.random.Generator      # the batch order
    history: History
    epoch: int = 0                # epochs completed
    iteration: int = 0            # training iterations completed, across epochs
    best_loss: float = math.inf   # lowest validation loss so far
    best_epoch: int | None = None
    bad_epochs: int = 0           # epochs since the validation loss last improved
    best_params: dict | None = None
    probe: np.ndarray | None = None   # indices into the training data for the diagnostics
    noise_rng: np.random.Generator | None = None  # dropout masks and augmentation


def _progress_bar(progress, total, epoch, epochs):
    """A tqdm bar on stderr, or None when progress is off or tqdm is missing.

    tqdm's ``disable=None`` turns the bar off when stderr is not a terminal, so
    logs and pipes get the one-line-per-epoch summary only.
    """
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the CLI
        return None
    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                file=sys.stderr, disable=None, dynamic_ncols=True)


def _divergence(run, lr, what):
    return DivergenceError(
        f"training diverged at epoch {run.epoch + 1}, iteration {run.iteration}: the loss is {what}; "
        f"{lower_lr_hint(lr)}"
    )


def _check_finite_weights(run, lr):
    """The last step of an epoch can overflow the weights after a finite loss."""
    for key, param, _ in run.model.named_params():
        if not np.all(np.isfinite(param)):
            raise _divergence(run, lr, f"finite, but the weights {key} are not")


def _train_epoch(run, data, config, lr, augment, bar):
    """One pass over the training data; returns (mean loss, accuracy) over its samples.

    The per-batch work is forward, loss, backward and one optimiser step; the
    accuracy reuses the forward output and the log averages are running sums.
    """
    model, loss, rng, noise = run.model, run.loss, run.rng, run.noise_rng
    model.train()
    dtype = np.dtype(config.dtype)
    epoch_loss = epoch_correct = window_loss = window_correct = 0.0
    window_batches = window_samples = 0
    for x, labels in data_iterator(data.train_x, data.train_y, config.batch_size, rng=rng):
        if augment is not None:
            x = augment(x, noise)
        out = model.forward(x)
        target = onehot_encoding(labels, NUM_CLASSES, dtype=dtype)
        batch_loss = loss.forward(out, target)
        if not math.isfinite(batch_loss):
            raise _divergence(run, lr, batch_loss)
        model.backward(loss.backward(out, target))
        run.optimizer.step(model.named_params(), lr=lr)
        run.iteration += 1
        correct = int(np.count_nonzero(out.argmax(axis=1) == labels))
        epoch_loss += batch_loss * len(labels)
        epoch_correct += correct
        window_loss += batch_loss
        window_correct += correct
        window_batches += 1
        window_samples += len(labels)
        if window_batches == config.disp_freq:
            _log_window(run, bar, window_loss / window_batches, window_correct / window_samples)
            window_loss = window_correct = window_batches = window_samples = 0
        if bar is not None:
            bar.update(1)
    if window_batches:
        _log_window(run, bar, window_loss / window_batches, window_correct / window_samples)
    n = len(data.train_y)
    return epoch_loss / n, epoch_correct / n


def _log_window(run, bar, mean_loss, accuracy):
    """The seed's log: loss and accuracy averaged over the last disp_freq iterations."""
    run.history.iterations.append({"iteration": run.iteration, "loss": mean_loss, "acc": accuracy})
    if bar is not None:
        bar.set_postfix_str(f"loss {mean_loss:.4f} acc {100 * accuracy:.2f}%", refresh=False)


def _epoch_record(run, data, config, lr, train_metrics, seconds):
    """Evaluate on validation and test data; the test numbers are recorded, never used.

    The record also carries the diagnostics measured on the training probe
    (``train_eval_loss``, ``train_eval_acc`` and the rest of
    :data:`~mnist_mlp.train.diagnostics.DIAGNOSTIC_KEYS`).
    """
    val_loss = val_acc = None
    if data.val_x is not None:
        val = evaluate_net(run.model, run.loss, data.val_x, data.val_y, _EVAL_BATCH)
        val_loss, val_acc = val.loss, val.accuracy
    test_loss = test_acc = None
    if data.test_x is not None:  # None when the caller withholds the test set (tuning)
        test = evaluate_net(run.model, run.loss, data.test_x, data.test_y, _EVAL_BATCH)
        test_loss, test_acc = test.loss, test.accuracy
    probe = data.train_x[run.probe], data.train_y[run.probe]
    return {"epoch": run.epoch + 1, "train_loss": train_metrics[0], "train_acc": train_metrics[1],
            "val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss, "test_acc": test_acc,
            "lr": lr, "seconds": seconds, **diagnostics.measure(run.model, run.loss, *probe)}


def _should_stop(run, record, config):
    """Track the best validation loss; True once it has not improved for ``patience`` epochs."""
    val_loss = record["val_loss"]
    if val_loss is None:
        return False
    if val_loss < run.best_loss:
        run.best_loss, run.best_epoch, run.bad_epochs = val_loss, record["epoch"], 0
        if config.early_stopping:
            run.best_params = {key: param.copy() for key, param, _ in run.model.named_params()}
    else:
        run.bad_epochs += 1
    return config.early_stopping and run.bad_epochs >= config.patience


def _format_record(record, epochs):
    def part(name, loss, acc):
        return "" if loss is None else f" | {name} loss {loss:.4f} acc {100 * acc:.2f}%"

    return (f"epoch {record['epoch']}/{epochs}"
            + part("train", record["train_loss"], record["train_acc"])
            + part("val", record["val_loss"], record["val_acc"])
            + part("test", record["test_loss"], record["test_acc"])
            + f" | lr {record['lr']:.4g} | {record['seconds']:.1f} s")


def _run_epoch(run, data, config, schedule, augment, progress, log, on_epoch=None):
    """Train one epoch, record it, decide whether to stop."""
    lr = schedule(run.epoch)
    n_batches = -(-len(data.train_y) // config.batch_size)
    bar = _progress_bar(progress, n_batches, run.epoch + 1, config.epochs)
    start = time.perf_counter()
    try:
        # Overflow on the way to a NaN loss is what the divergence check reports, in
        # one clear error; numpy's RuntimeWarnings before it would only add noise.
        with np.errstate(over="ignore", invalid="ignore"):
            train_metrics = _train_epoch(run, data, config, lr, augment, bar)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    _check_finite_weights(run, lr)
    record = _epoch_record(run, data, config, lr, train_metrics, seconds)
    run.history.append(record)
    stop = _should_stop(run, record, config)
    run.epoch += 1
    log(_format_record(record, config.epochs))
    if on_epoch is not None:
        on_epoch(record)  # may raise to end the run (a pruned trial)
    if stop:
        run.history.stopped_early = True
        log(f"early stopping: the validation loss has not improved for {config.patience} epochs; "
            f"restoring the weights of epoch {run.best_epoch}")


def train(config, out_dir=None, *, data=None, resume=False, progress=True, log=None, on_epoch=None):
    """Train the network ``config`` describes; return ``(model, history)``.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path-like, optional
        If given, receives ``checkpoint.npz`` after every epoch, then ``model.npz``
        (with the normalisation and configuration in its metadata) and ``history.json``.
    data : tuple, optional
        ``(train_x, test_x, train_y, test_y)`` already loaded and normalised as
        ``config.normalize`` says; by default the dataset is loaded (and fetched if missing).
        ``test_x`` and ``test_y`` may be None: nothing is then evaluated on a test set
        (the tuner withholds it), and ``test_subset`` must be None.
    resume : bool
        Continue from ``out_dir/checkpoint.npz``; the result is bit-identical to an
        uninterrupted run.
    progress : bool
        Show a tqdm bar per epoch on stderr (only when stderr is a terminal).
    log : callable, optional
        Receives one line per epoch; ``logging.getLogger("mnist_mlp.train.trainer").info`` by default.
    on_epoch : callable, optional
        Called with each epoch's record (the dict stored in the history) after it
        is logged; an exception it raises ends training and propagates.

    Returns
    -------
    model : Network
        With the weights of ``history.best_epoch``.
    history : History

    Raises
    ------
    ConfigError
        Invalid settings or sizes, or a checkpoint written with other settings.
    DataError
        Missing or malformed data, or an unreadable checkpoint.
    DivergenceError
        The training loss became NaN or infinite.
    """
    config.validate()
    log = log or _logger.info
    streams = random_streams(config.seed)
    data, norm_meta = prepare_data(config, data, streams)
    schedule = make_schedule(config.schedule, config.learning_rate, config.epochs,
                             warmup_epochs=config.warmup_epochs)
    run = _Run(model=build_model(config, streams["init"], dropout_rng=streams["noise"]),
               loss=build_loss(config), optimizer=config.make_optimizer(), rng=streams["train"],
               noise_rng=streams["noise"], history=History(config=config.to_dict()),
               probe=diagnostics.probe_indices(data.train_y, streams["probe"]))
    out = _prepare_out_dir(out_dir, resume, config, run, log)
    augment = _augmenter(config.augment)
    if run.epoch == 0:  # the initial weights' diagnostics (a resumed run has them already)
        run.history.initial = diagnostics.measure(run.model, run.loss, data.train_x[run.probe],
                                                  data.train_y[run.probe])
    while run.epoch < config.epochs and not run.history.stopped_early:
        _run_epoch(run, data, config, schedule, augment, progress, log, on_epoch)
        if out is not None:
            save_checkpoint(out / CHECKPOINT_FILE, run, config)
    _finish(run, config)
    check_chance(run.history, data, config.learning_rate, log)
    if out is not None:
        metadata = {"dataset": config.dataset, "classes": list(load_data.CLASS_NAMES[config.dataset]),
                    "config": config.to_dict(), **norm_meta}
        run.model.save(out / MODEL_FILE, metadata=metadata)
        run.history.save(out / HISTORY_FILE)
    return run.model, run.history


def _augmenter(name):
    """The batch transform of ``config.augment``: None, the affine one (True) or a named one."""
    if name is False:
        return None
    return augment_batch if name is True else AUGMENTATIONS[name]


def _prepare_out_dir(out_dir, resume, config, run, log):
    if out_dir is None:
        if resume:
            raise ConfigError("resume=True needs the out_dir holding the checkpoint.")
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        load_checkpoint(out / CHECKPOINT_FILE, run, config)
        log(f"resuming {out} after epoch {run.epoch} of {config.epochs}")
    return out


def _finish(run, config):
    """Restore the best weights (early stopping) and note whose weights the model holds."""
    if config.early_stopping and run.best_params is not None:
        for key, param, _ in run.model.named_params():
            param[...] = run.best_params[key]
        run.history.best_epoch = run.best_epoch
    else:
        run.history.best_epoch = run.epoch
