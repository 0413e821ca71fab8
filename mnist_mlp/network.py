"""The seed's ``Network``: an ordered stack of layers, trained end to end.

Model files are ``.npz`` archives read with ``allow_pickle=False``: the weights
under ``layer{i}.{param}`` and the architecture as a JSON string, so a file can
be checked and loaded without executing anything.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from mnist_mlp.activations import ACTIVATIONS
from mnist_mlp.errors import DataError
from mnist_mlp.fileio import read_archive, write_archive
from mnist_mlp.layers import Dropout, Linear, Softmax

__all__ = ["Network", "layer_types"]

_FORMAT_VERSION = 1


def layer_types():
    """Layer classes a model file may name, by class name: every registered activation
    (read when called, so one added to ``ACTIVATIONS`` saves and loads too), plus
    ``Linear``, ``Softmax`` and ``Dropout``."""
    return {cls.__name__: cls for cls in (Linear, Softmax, Dropout, *ACTIVATIONS.values())}


class Network:
    """Layers applied in the order they were added.

    ``forward`` runs them in order, ``backward`` in reverse, ``update`` asks every
    trainable layer to take a step.
    """

    def __init__(self):
        self.layer_list = []
        self.num_layers = 0

    def add(self, layer):
        self.layer_list.append(layer)
        self.num_layers += 1
        return self

    def forward(self, input):
        output = input
        for layer in self.layer_list:
            output = layer.forward(output)
        return output

    def backward(self, grad_output, input_grad=False):
        """Back-propagate ``grad_output``; return d(loss)/d(input) if ``input_grad``.

        By default the first layer computes only its parameter gradients
        (``backward_params``): the gradient with respect to the data is never used in
        training, and for ``Linear`` it costs one matrix product per batch.

        ``grad_output`` itself is never modified. The gradients passed between layers
        are different: when a layer's ``backward`` returns a new array
        (``backward_returns_new_array``, e.g. ``Linear``'s ``grad @ W.T``), only this
        loop holds it, so the layer below may write its result over it
        (``backward(grad, out=grad)`` for layers with ``backward_accepts_out``, e.g.
        ``Relu``), which saves an allocation and a pass over memory per layer and batch.
        """
        grad = grad_output
        owned = False  # may the next layer overwrite `grad`? Never the caller's array.
        for index in range(self.num_layers - 1, -1, -1):
            layer = self.layer_list[index]
            if index == 0 and not input_grad:
                layer.backward_params(grad)
                return None
            if owned and layer.backward_accepts_out:
                grad = layer.backward(grad, out=grad)  # still ours: the same array
            else:
                grad = layer.backward(grad)
                owned = layer.backward_returns_new_array
        return grad

    def update(self, config):
        for layer in self.layer_list:
            if layer.trainable:
                layer.update(config)

    def train(self, mode=True):
        """Switch layers such as Dropout between training (True) and evaluation (False)."""
        for layer in self.layer_list:
            layer.training = mode
        return self

    def eval(self):
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self):
        """Evaluation mode (Dropout off) inside the ``with`` block; the previous mode after it."""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    @property
    def dtype(self):
        """dtype of the parameters (float32 for a network without any)."""
        return next((param.dtype for _, param, _ in self.named_params()), np.dtype(np.float32))

    @property
    def training(self):
        return all(layer.training for layer in self.layer_list)

    def named_params(self):
        """``(key, param, grad)`` for every trainable array, keys like ``layer0.W``."""
        for index, layer in enumerate(self.layer_list):
            grads = layer.grads()
            for key, param in layer.params().items():
                yield f"layer{index}.{key}", param, grads[key]

    def __repr__(self):
        lines = ",\n  ".join(repr(layer) for layer in self.layer_list)
        return f"Network(\n  {lines}\n)" if lines else "Network()"

    # -- model files ---------------------------------------------------------------

    def architecture(self):
        """A JSON-serialisable description from which ``from_architecture`` rebuilds the net."""
        specs, known = [], layer_types()
        for layer in self.layer_list:
            kind = type(layer).__name__
            if kind not in known:
                raise ValueError(f"cannot save layer {layer!r}: {kind} is not one of {sorted(known)}")
            specs.append({"type": kind, "name": layer.name, "config": _layer_config(layer)})
        return specs

    @classmethod
    def from_architecture(cls, specs, dtype=np.float32):
        net = cls()
        throwaway = np.random.default_rng(0)  # weights are overwritten; keep the package rng untouched
        known = layer_types()
        for spec in specs:
            kind = spec.get("type")
            if kind not in known:
                raise DataError(f"unknown layer type {kind!r} in model file; known: {sorted(known)}")
            config = dict(spec.get("config", {}))
            if kind == "Linear":
                config.update(rng=throwaway, dtype=dtype)
            net.add(known[kind](spec["name"], **config))
        return net

    def save(self, path, metadata=None):
        """Write weights and architecture to ``path`` (.npz) atomically."""
        arrays = {key: param for key, param, _ in self.named_params()}
        header = {"format": _FORMAT_VERSION, "architecture": self.architecture(),
                  "metadata": metadata or {}}
        write_archive(path, arrays, header, kind="model")

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; refuses files that need pickle."""
        path = os.fspath(path)
        header, arrays = read_archive(path, "model", missing=f"model file {path!r} does not exist",
                                      advice=_model_advice(path))
        dtype = next(iter(arrays.values())).dtype if arrays else np.float32
        net = cls.from_architecture(header["architecture"], dtype=dtype)
        for key, param, _ in net.named_params():
            if key not in arrays or arrays[key].shape != param.shape:
                raise DataError(f"model file {path!r}: parameter {key} is missing or has the wrong shape")
            param[...] = arrays[key]
        net.metadata = header.get("metadata", {})
        return net


def _model_advice(path):
    """Which file to give instead: the run's own model file when there is one beside ``path``."""
    beside = os.path.join(os.path.dirname(path), "model.npz")
    if os.path.basename(path) != "model.npz" and os.path.isfile(beside):
        return f"the model file of this run is {beside}"
    return "give a model file written by `mnist-mlp train`, such as runs/<run>/model.npz"


def _layer_config(layer):
    if isinstance(layer, Linear):
        return {"in_num": layer.in_num, "out_num": layer.out_num, "init_std": layer.init_std}
    if isinstance(layer, Dropout):
        return {"p": layer.p}
    return {}
