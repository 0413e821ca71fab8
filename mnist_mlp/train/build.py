"""Build the network and loss a :class:`~mnist_mlp.train.config.TrainConfig` describes.

Names resolve through the registries :data:`mnist_mlp.activations.ACTIVATIONS` and
:data:`mnist_mlp.loss.LOSSES`. How a model's inputs are scaled is
:mod:`mnist_mlp.data.normalize`'s business.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mnist_mlp.activations import ACTIVATIONS, Softmax, softmax
from mnist_mlp.layers import Dropout, Linear
from mnist_mlp.loss import LOSSES
from mnist_mlp.network import Network
from mnist_mlp.solve_net import evaluate_net

__all__ = [
    "INPUT_SIZE",
    "NUM_CLASSES",
    "build_model",
    "build_loss",
    "predict_proba",
    "loss_from_metadata",
]

INPUT_SIZE = 784  # 28 x 28 pixels, flattened
NUM_CLASSES = 10


def build_model(config, rng, *, dropout_rng=None):
    """The MLP of ``config``: ``Linear(784 -> h1) act [Dropout] ... Linear(-> 10) [Softmax]``.

    Parameters
    ----------
    config : TrainConfig
        Uses ``hidden``, ``activation``, ``dropout``, ``init``, ``init_std``, ``loss``, ``dtype``.
    rng : numpy.random.Generator
        Draws the initial weights, layer by layer in order.
    dropout_rng : numpy.random.Generator, optional
        Draws the dropout masks during training; ``rng`` when None. The trainer
        passes its training generator so the masks follow the checkpointed stream.

    Returns
    -------
    Network
    """
    dtype = np.dtype(config.dtype)
    # init="gaussian" is the seed's N(0, init_std^2); he / xavier derive the std from the fan.
    init_std = config.init_std if config.init == "gaussian" else None
    init = config.init
    model = Network()
    sizes = (INPUT_SIZE, *config.hidden)
    for index in range(len(config.hidden)):
        model.add(Linear(f"fc{index + 1}", sizes[index], sizes[index + 1], init_std,
                         init=init, rng=rng, dtype=dtype))
        model.add(ACTIVATIONS[config.activation](f"{config.activation}{index + 1}"))
        if config.dropout > 0:
            model.add(Dropout(f"dropout{index + 1}", config.dropout,
                              rng=rng if dropout_rng is None else dropout_rng))
    model.add(Linear(f"fc{len(sizes)}", sizes[-1], NUM_CLASSES, init_std, init=init, rng=rng,
                     dtype=dtype))
    if LOSSES[config.loss].softmax_output:
        model.add(Softmax("softmax"))
    return model


def build_loss(config):
    """The loss object of ``config.loss``, with its ``margin`` / ``alpha`` / ``gamma``."""
    return LOSSES[config.loss].make(config.loss, config)


def predict_proba(model, x, batch_size=1000):
    """Class probabilities, shape (n, 10), in evaluation mode.

    A network that ends in ``Softmax`` already outputs probabilities; otherwise
    the raw outputs go through a softmax. For nets trained with MSE or hinge loss
    these are scores turned into a distribution, not calibrated probabilities.
    """
    out = evaluate_net(model, None, x, batch_size=batch_size, keep_outputs=True).outputs
    if out is None:
        return np.zeros((0, NUM_CLASSES), np.float32)
    if model.layer_list and isinstance(model.layer_list[-1], Softmax):
        return out
    return softmax(out)


def loss_from_metadata(meta):
    """The loss a saved model was trained with, from its metadata; None if it is not recorded."""
    config = (meta or {}).get("config") or {}
    name = config.get("loss")
    if name not in LOSSES:
        return None
    # Only the loss's own hyperparameters matter; defaults as in TrainConfig.
    spec = SimpleNamespace(margin=config.get("margin", 5.0), gamma=config.get("gamma", 2.0),
                           alpha=config.get("alpha"))
    return LOSSES[name].make(name, spec)
