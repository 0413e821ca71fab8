"""Collapse to chance: a run whose model ends no better than a constant guess.

A too-high learning rate can kill every ReLU or saturate the output without the loss
ever becoming NaN: training ends, exits 0, and the model predicts one class for every
image (the issue's ``--lr 1.5 --epochs 1``: 9.82% test accuracy). Divergence raises
an error; this is a finished run, so it is warned about and marked in the history
(``History.at_chance``) for the report to show.

Chance level here is the accuracy of the best constant prediction on the labels the
run is judged on: the share of their most frequent class (10% on balanced MNIST
classes, 11.2% for MNIST's "1" at worst). The validation split judges the run; a run
without one is judged on its training data. The test set never decides anything.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHANCE_MARGIN", "chance_level", "is_at_chance", "lower_lr_hint", "check_chance"]

# Points of accuracy above chance still counted as chance: sampling noise of a few
# thousand validation images is under 1 point, and a network that learns at all is
# tens of points above chance after one epoch.
CHANCE_MARGIN = 0.02


def chance_level(labels):
    """Accuracy of the best constant prediction: the share of the most frequent label."""
    counts = np.bincount(np.asarray(labels))
    return float(counts.max() / counts.sum())


def is_at_chance(accuracy, labels, margin=CHANCE_MARGIN):
    """True when ``accuracy`` is within ``margin`` of :func:`chance_level` or below it."""
    return accuracy is not None and accuracy <= chance_level(labels) + margin


def lower_lr_hint(lr):
    """The advice for divergence and collapse alike: a lower learning rate, with an example."""
    suggestion = f"; e.g. {lr / 10:g}" if lr > 0 else ""
    return f"try a lower learning rate than {lr:g}{suggestion}"


def check_chance(history, data, lr, log):
    """Mark ``history.at_chance`` from its final record; warn through ``log`` if so."""
    final = history.final()
    if data.val_y is not None:
        which, accuracy, labels = "validation", final["val_acc"], data.val_y
    else:
        which, accuracy, labels = "training", final["train_acc"], data.train_y
    history.at_chance = bool(is_at_chance(accuracy, labels))
    if history.at_chance:
        log(f"warning: the model is at chance level: {which} accuracy {100 * accuracy:.2f}% at "
            f"epoch {final['epoch']}, a constant guess scores {100 * chance_level(labels):.2f}%; "
            f"the network has collapsed; {lower_lr_hint(lr)}")
    return history.at_chance
