r"""Per-epoch diagnostics that explain *why* runs differ, measured on a fixed probe.

After each epoch the trainer calls :func:`measure` on a fixed, stratified subset
of the training data (the *probe*, at most :data:`PROBE_SIZE` samples, drawn
once per run from its own seeded generator). One forward and one backward pass
in evaluation mode (dropout off) over the probe give:

``grad_norm``
    Per ``Linear`` layer, first to last, the Frobenius norm of
    :math:`\partial E/\partial W` of the mean loss over the probe. Small norms in
    the first layer against the last show vanishing gradients (Sigmoid's
    derivative is at most 1/4 and shrinks the signal at every layer).
``dead_relu``
    Per ReLU layer, the fraction of units whose output is 0 for every probe
    sample: such a unit passes no gradient and no longer learns.
``saturated_sigmoid``
    Per Sigmoid layer, the fraction of activations outside [0.05, 0.95], where
    :math:`\sigma'(u) = y(1-y) < 0.0475`, less than a fifth of its maximum.
``grad_correct`` / ``grad_wrong``
    The mean over correctly / incorrectly classified probe samples of the norm
    of the gradient each sample's own loss sends to the output logits,
    :math:`\lVert\partial E^{(n)}/\partial x^{(n)}\rVert_2` (before a final
    Softmax layer, so all losses are measured at the same place). It shows how
    hard a loss still pushes on samples it already gets right.
``zero_grad_correct``
    The fraction of correctly classified probe samples whose gradient is zero
    (below 1e-8): hinge losses stop pushing once the margin is met.
``train_eval_loss`` / ``train_eval_acc``
    Loss and accuracy on the probe in evaluation mode: unlike the epoch's
    running means (taken in training mode, with dropout and augmentation on and
    the weights moving) they compare directly with the validation numbers.

The cost is one forward and backward pass over the probe per epoch, about 2% of
an epoch of 55,000 samples. No training generator is touched, so measuring
changes nothing in the training itself.
"""

from __future__ import annotations

import numpy as np

from mnist_mlp.activations import Relu, Sigmoid
from mnist_mlp.layers import Linear
from mnist_mlp.train.build import NUM_CLASSES
from mnist_mlp.train.data import stratified_order

__all__ = ["PROBE_SIZE", "DIAGNOSTIC_KEYS", "probe_indices", "measure"]

PROBE_SIZE = 1000
SATURATION = 0.05          # a sigmoid output below this or above 1 - this is saturated
_ZERO_GRADIENT = 1e-8
DIAGNOSTIC_KEYS = ("grad_norm", "dead_relu", "saturated_sigmoid", "grad_correct", "grad_wrong",
                   "zero_grad_correct", "train_eval_loss", "train_eval_acc")


def probe_indices(labels, rng, size=PROBE_SIZE):
    """Sorted indices of a stratified subset of at most ``size`` of ``labels``."""
    order = stratified_order(labels, rng)
    return np.sort(order[:min(size, len(order))])


def _forward(model, x):
    """Forward pass layer by layer, keeping each activation layer's output."""
    activations = []
    h = x
    for layer in model.layer_list:
        h = layer.forward(h)
        if isinstance(layer, (Relu, Sigmoid)):
            activations.append((layer, h))
    return h, activations


def _backward(model, grad):
    """Back-propagate ``grad``; return the gradient at the output logits.

    The logits are the output of the last ``Linear`` layer: a final Softmax
    layer's backward is applied first, so every loss is compared at the same place.
    """
    logit_grad = None
    for layer in reversed(model.layer_list):
        if logit_grad is None and isinstance(layer, Linear):
            logit_grad = grad
        grad = layer.backward(grad)
    return logit_grad


def _mean_or_none(values):
    return float(np.mean(values)) if len(values) else None


def measure(model, loss, x, y):
    """The diagnostics of ``model`` on the probe ``(x, y)``; a dict of :data:`DIAGNOSTIC_KEYS`.

    Overwrites the layers' gradient buffers (``grad_W``, ``grad_b``); call it
    between optimiser steps, never between a backward pass and its step.
    """
    y = np.asarray(y)
    target = np.eye(NUM_CLASSES, dtype=np.dtype(x.dtype))[y]
    with model.evaluating():
        out, activations = _forward(model, x)
        mean_loss = float(loss.forward(out, target))
        # d(mean loss)/d(out) is each sample's own gradient divided by N.
        logit_grad = _backward(model, loss.backward(out, target)) * len(y)
    correct = out.argmax(axis=1) == y
    per_sample = np.linalg.norm(np.asarray(logit_grad, dtype=np.float64), axis=1)
    relus = [a for layer, a in activations if isinstance(layer, Relu)]
    sigmoids = [a for layer, a in activations if isinstance(layer, Sigmoid)]
    linears = [layer for layer in model.layer_list if isinstance(layer, Linear)]
    return {
        "grad_norm": [float(np.linalg.norm(layer.grad_W)) for layer in linears],
        "dead_relu": [float(np.mean(~np.any(a > 0, axis=0))) for a in relus] or None,
        "saturated_sigmoid": [float(np.mean((a < SATURATION) | (a > 1 - SATURATION)))
                              for a in sigmoids] or None,
        "grad_correct": _mean_or_none(per_sample[correct]),
        "grad_wrong": _mean_or_none(per_sample[~correct]),
        "zero_grad_correct": _mean_or_none(per_sample[correct] < _ZERO_GRADIENT),
        "train_eval_loss": mean_loss,
        "train_eval_acc": float(np.mean(correct)),
    }
