"""The seed's training and testing loop: ``data_iterator``, ``train_net``, ``test_net``."""

from __future__ import annotations

import numpy as np

from mnist_mlp.utils import LOG_INFO, calculate_acc, get_rng, onehot_encoding

__all__ = ["data_iterator", "train_net", "test_net"]


def data_iterator(x, y, batch_size, shuffle=True, rng=None):
    """Yield ``(x_batch, y_batch)`` pairs covering the data once.

    Shuffles indices, not data: each batch is gathered with one fancy index.
    ``rng`` defaults to the package generator (see ``utils.set_seed``).
    """
    if batch_size < 1:
        raise ValueError(f"data_iterator: 'batch_size' must be a positive integer; got {batch_size!r}.")
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


def test_net(model, loss, inputs, labels, batch_size):
    """Evaluate ``model`` on the whole set; return ``(mean loss, accuracy)``.

    The means are over samples, so a last, smaller batch weighs what it holds.
    """
    num_classes = _num_classes(model, labels)
    total_loss = total_correct = 0.0
    with model.evaluating():
        for x, label in data_iterator(inputs, labels, batch_size, shuffle=False):
            output = model.forward(x)
            target = onehot_encoding(label, num_classes, dtype=output.dtype)
            total_loss += loss.forward(output, target) * len(label)
            total_correct += calculate_acc(output, label) * len(label)
    mean_loss, accuracy = total_loss / len(inputs), total_correct / len(inputs)
    LOG_INFO(f"    Testing, total mean loss {mean_loss:.5f}, total acc {accuracy:.5f}")
    return mean_loss, accuracy


# The seed's name starts with "test"; tell pytest it is not a test when a test module imports it.
test_net.__test__ = False
