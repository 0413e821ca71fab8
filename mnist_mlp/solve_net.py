"""The seed's training and testing loop: ``data_iterator``, ``train_net``, ``test_net``.

:func:`evaluate_net` is the package's one evaluation loop: ``test_net``, the trainer,
``mnist-mlp evaluate``, ``predict`` and the report all run it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_mlp import checks
from mnist_mlp.utils import LOG_INFO, calculate_acc, get_rng, onehot_encoding

__all__ = ["data_iterator", "train_net", "test_net", "evaluate_net", "Evaluation"]


def data_iterator(x, y, batch_size, shuffle=True, rng=None):
    """Yield ``(x_batch, y_batch)`` pairs covering the data once.

    Shuffles indices, not data: each batch is gathered with one fancy index.
    ``rng`` defaults to the package generator (see ``utils.set_seed``).
    """
    checks.integer("batch_size", batch_size, 1)
    if len(x) != len(y):
        raise ValueError(f"data_iterator: {len(x)} inputs but {len(y)} labels.")
    order = get_rng(rng).permutation(len(x)) if shuffle else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]


def _num_classes(model, labels):
    """Width of the network's output, so one-hot targets match it."""
    for layer in reversed(model.layer_list):
        if hasattr(layer, "out_num"):
            return layer.out_num
    return int(np.max(labels)) + 1


def train_net(model, loss, config, inputs, labels, batch_size, disp_freq, rng=None):
    """Train ``model`` for one epoch over ``inputs``.

    Logs, every ``disp_freq`` iterations, the loss and accuracy averaged over those
    iterations (single batches are too noisy to read).

    Returns
    -------
    loss_list, acc_list : list of float
        Those averages, one per logged window (a last, shorter window included).
    """
    model.train()
    num_classes = _num_classes(model, labels)
    loss_window, acc_window, loss_list, acc_list = [], [], [], []
    for iteration, (x, label) in enumerate(data_iterator(inputs, labels, batch_size, rng=rng), 1):
        output = model.forward(x)
        target = onehot_encoding(label, num_classes, dtype=output.dtype)
        loss_window.append(loss.forward(output, target))
        acc_window.append(calculate_acc(output, label))
        model.backward(loss.backward(output, target))
        model.update(config)
        if iteration % disp_freq == 0 or iteration * batch_size >= len(inputs):
            loss_list.append(float(np.mean(loss_window)))
            acc_list.append(float(np.mean(acc_window)))
            loss_window, acc_window = [], []
            LOG_INFO(f"  Training iter {iteration}, batch loss {loss_list[-1]:.4f}, "
                     f"batch acc {acc_list[-1]:.4f}")
    return loss_list, acc_list


@dataclass
class Evaluation:
    """What :func:`evaluate_net` measured on one set.

    Attributes
    ----------
    loss : float or None
        Mean loss per sample (None without a loss or labels).
    accuracy : float or None
        Fraction classified correctly (None without labels).
    predictions : (n,) int64 array
        Index of the largest output of each sample.
    outputs : (n, classes) array or None
        The network outputs, when asked for with ``keep_outputs``.
    """

    loss: float | None
    accuracy: float | None
    predictions: np.ndarray
    outputs: np.ndarray | None = None


def evaluate_net(model, loss, inputs, labels=None, batch_size=1000, keep_outputs=False):
    """Run ``model`` over ``inputs`` in evaluation mode (Dropout off), batch by batch.

    The means are over samples, so a last, smaller batch weighs what it holds.

    Parameters
    ----------
    model : Network
    loss : loss object or None
        Its mean over the samples is the result's ``loss``; skipped when None.
    inputs : (n, features) array
    labels : (n,) int array, optional
    batch_size : int
    keep_outputs : bool
        Keep the outputs too, e.g. for class probabilities.

    Returns
    -------
    Evaluation
    """
    if labels is not None and len(labels) != len(inputs):
        raise ValueError(f"evaluate_net: {len(inputs)} inputs but {len(labels)} labels.")
    n = len(inputs)
    predictions = np.empty(n, dtype=np.int64)
    outputs = None
    total_loss, correct = 0.0, 0
    with model.evaluating():
        for start in range(0, n, batch_size):
            output = model.forward(inputs[start:start + batch_size])
            if outputs is None and keep_outputs:
                outputs = np.empty((n, output.shape[1]), dtype=output.dtype)
            if keep_outputs:
                outputs[start:start + len(output)] = output
            predictions[start:start + len(output)] = output.argmax(axis=1)
            if labels is None:
                continue
            label = labels[start:start + batch_size]
            correct += int(np.count_nonzero(predictions[start:start + len(output)] == label))
            if loss is not None:
                target = onehot_encoding(label, output.shape[1], dtype=output.dtype)
                total_loss += loss.forward(output, target) * len(label)
    has_loss = labels is not None and loss is not None and n > 0
    return Evaluation(loss=total_loss / n if has_loss else None,
                      accuracy=correct / n if labels is not None and n > 0 else None,
                      predictions=predictions, outputs=outputs)


def test_net(model, loss, inputs, labels, batch_size):
    """Evaluate ``model`` on the whole set; return ``(mean loss, accuracy)``."""
    result = evaluate_net(model, loss, inputs, labels, batch_size)
    LOG_INFO(f"    Testing, total mean loss {result.loss:.5f}, total acc {result.accuracy:.5f}")
    return result.loss, result.accuracy


# The seed's name starts with "test"; tell pytest it is not a test when a test module imports it.
test_net.__test__ = False
