"""The seed's ``Network``: an ordered stack of layers, trained end to end.

Model files are ``.npz`` archives read with ``allow_pickle=False``: the weights
under ``layer{i}.{param}`` and the architecture as a JSON string, so a file can
be checked and loaded without executing anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile

import numpy as np

from mnist_mlp import layers as _layers
from mnist_mlp.errors import DataError
from mnist_mlp.fileio import atomic_write

__all__ = ["Network", "LAYER_TYPES", "write_archive", "read_archive"]

# Layer classes a model file may name, by class name.
LAYER_TYPES = {
    cls.__name__: cls
    for cls in (_layers.Linear, _layers.Relu, _layers.Sigmoid, _layers.Selu, _layers.Swish,
                _layers.Gelu, _layers.Softmax, _layers.Dropout)
}
_FORMAT_VERSION = 1

# ``backward`` methods known to return a new array that nobody else references
# (``Linear``: ``grad @ W.T``; ``Relu``: ``grad * mask``). Keyed by the function, not
# the class, so a subclass that overrides ``backward`` is not trusted by accident.
_FRESH_GRADIENT = frozenset({_layers.Linear.backward, _layers.Relu.backward})


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

        By default the first ``Linear`` layer computes only its parameter gradients:
        the gradient with respect to the data is never used in training and costs
        one matrix product per batch.

        ``grad_output`` itself is never modified. The gradients passed between
        layers are different: a ``Linear`` layer's input gradient is a new array
        that only this loop holds, so a layer that can overwrite its incoming
        gradient (``_backward_inplace``, e.g. ``Relu``) is allowed to, which saves
        an allocation and a pass over memory per layer and batch.
        """
        grad = grad_output
        owned = False  # may the next layer overwrite `grad`? Never the caller's array.
        for index in range(self.num_layers - 1, -1, -1):
            layer = self.layer_list[index]
            if index == 0 and not input_grad and isinstance(layer, _layers.Linear):
                layer.backward_params(grad)
                return None
            if owned and hasattr(layer, "_backward_inplace"):
                grad = layer._backward_inplace(grad)  # still ours: the same array
            else:
                grad = layer.backward(grad)
                owned = type(layer).backward in _FRESH_GRADIENT
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
        specs = []
        for layer in self.layer_list:
            kind = type(layer).__name__
            if kind not in LAYER_TYPES:
                raise ValueError(f"cannot save layer {layer!r}: {kind} is not one of {sorted(LAYER_TYPES)}")
            specs.append({"type": kind, "name": layer.name, "config": _layer_config(layer)})
        return specs

    @classmethod
    def from_architecture(cls, specs, dtype=np.float32):
        net = cls()
        throwaway = np.random.default_rng(0)  # weights are overwritten; keep the package rng untouched
        for spec in specs:
            kind = spec.get("type")
            if kind not in LAYER_TYPES:
                raise DataError(f"unknown layer type {kind!r} in model file; known: {sorted(LAYER_TYPES)}")
            config = dict(spec.get("config", {}))
            if kind == "Linear":
                config.update(rng=throwaway, dtype=dtype)
            net.add(LAYER_TYPES[kind](spec["name"], **config))
        return net

    def save(self, path, metadata=None):
        """Write weights and architecture to ``path`` (.npz) atomically."""
        arrays = {key: param for key, param, _ in self.named_params()}
        header = {"format": _FORMAT_VERSION, "architecture": self.architecture(),
                  "metadata": metadata or {}}
        write_archive(path, arrays, header)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; refuses files that need pickle."""
        path = os.fspath(path)
        header, arrays = read_archive(path, missing=f"model file {path!r} does not exist",
                                      unreadable=f"{path!r} is not a readable mnist-mlp model file")
        dtype = next(iter(arrays.values())).dtype if arrays else np.float32
        net = cls.from_architecture(header["architecture"], dtype=dtype)
        for key, param, _ in net.named_params():
            if key not in arrays or arrays[key].shape != param.shape:
                raise DataError(f"model file {path!r}: parameter {key} is missing or has the wrong shape")
            param[...] = arrays[key]
        net.metadata = header.get("metadata", {})
        return net


def _layer_config(layer):
    if isinstance(layer, _layers.Linear):
        return {"in_num": layer.in_num, "out_num": layer.out_num, "init_std": layer.init_std}
    if isinstance(layer, _layers.Dropout):
        return {"p": layer.p}
    return {}


def write_archive(path, arrays, header):
    """Write ``arrays`` plus a JSON ``header`` to ``path`` (.npz) atomically, without pickle."""
    arrays = dict(arrays, __header__=np.array(json.dumps(header)))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_archive(path, missing, unreadable):
    """Read an archive written by :func:`write_archive`; return ``(header, arrays)``.

    ``allow_pickle=False``: a file that needs pickle is refused, never executed.
    Failures raise DataError with the ``missing`` or ``unreadable`` message.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["__header__"]))
            arrays = {key: archive[key] for key in archive.files if key != "__header__"}
    except FileNotFoundError:
        raise DataError(missing) from None
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"{unreadable} ({exc})") from None
    return header, arrays
