"""The model behind ``mnist-mlp serve``: predict one digit, describe the net, draw its units.

Inputs are MNIST-form digits, 784 grey levels in [0, 255] (what
:func:`mnist_mlp.data.imageprep.to_mnist_form` returns). They are normalised with
:func:`mnist_mlp.train.build.normalize_like` and classified with
:func:`mnist_mlp.train.build.predict_proba`, exactly as ``mnist-mlp predict`` does;
nothing here re-implements a step of that path.

The server answers requests on many threads but a ``Network`` keeps per-layer state
between ``forward`` and ``backward`` (cached inputs, reused buffers), so the forward
passes are serialised by a lock. A prediction is one small matrix product per layer
(well under a millisecond), so the lock costs little and keeps answers exact.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_mlp.activations import Softmax
from mnist_mlp.data.normalize import normalize_like
from mnist_mlp.errors import DataError
from mnist_mlp.layers import Dropout, Linear
from mnist_mlp.load_data import CLASS_NAMES
from mnist_mlp.network import Network
from mnist_mlp.train.build import INPUT_SIZE, predict_proba
from mnist_mlp.train.history import History

__all__ = ["TOP_UNITS", "Prediction", "ServedModel"]

TOP_UNITS = 8  # first-layer units shown per prediction, most active first
_SIDE = 28


@dataclass
class Prediction:
    """The answer for one digit.

    Attributes
    ----------
    probabilities : ndarray, shape (10,)
    predicted : int
        Index of the largest probability.
    units : list of (int, float)
        ``(unit index, activation)`` of the most active first-hidden-layer units,
        most active first; empty for a net without a hidden layer.
    """

    probabilities: np.ndarray
    predicted: int
    units: list


class ServedModel:
    """A loaded :class:`~mnist_mlp.network.Network` plus what the page shows about it.

    Parameters
    ----------
    network : Network
        With ``metadata`` as :meth:`Network.load` sets it (dataset, classes, normalisation).
    source : path-like, optional
        The model file, shown on the page; its run directory is searched for
        ``history.json`` to report the validation and test accuracy.
    """

    def __init__(self, network, source=None):
        self.network = network.eval()
        self.meta = getattr(network, "metadata", None) or {}
        self.source = None if source is None else Path(source)
        dataset = self.meta.get("dataset", "mnist")
        self.dataset = dataset
        self.classes = tuple(self.meta.get("classes") or CLASS_NAMES.get(dataset, CLASS_NAMES["mnist"]))
        self._first = _first_hidden(network)
        self._lock = threading.Lock()
        self._unit_png = {}
        self._check_shape()
        self._scores = self._accuracies()  # read once: the run's history does not change

    @classmethod
    def load(cls, path):
        """Read a model file (.npz) written by ``mnist-mlp train`` or ``report``."""
        return cls(Network.load(path), source=path)

    def _check_shape(self):
        first = next((layer for layer in self.network.layer_list if isinstance(layer, Linear)), None)
        last = next((layer for layer in reversed(self.network.layer_list) if isinstance(layer, Linear)),
                    None)
        if first is None or first.in_num != INPUT_SIZE or last.out_num != len(self.classes):
            raise DataError(f"model {self.name!r} does not map {INPUT_SIZE} pixels to "
                            f"{len(self.classes)} classes; it cannot classify 28x28 digits")

    @property
    def name(self):
        return str(self.source) if self.source is not None else "model in memory"

    @property
    def hidden_units(self):
        """Width of the first hidden layer (0 when the net has none)."""
        return 0 if self._first is None else self._first[0].out_num

    def predict(self, digit, top=TOP_UNITS):
        """Classify one MNIST-form digit; see :class:`Prediction`.

        Parameters
        ----------
        digit : array_like, shape (784,)
            Grey levels in [0, 255], white digit on black (already checked by the caller).
        top : int
            How many first-layer units to return.
        """
        raw = np.asarray(digit, dtype=np.float32).reshape(1, INPUT_SIZE)
        x = normalize_like(self.meta, raw, dtype=self.network.dtype)
        with self._lock:
            probabilities = predict_proba(self.network, x)[0]
            activations = self._activations(x)
        units = []
        if activations is not None:
            order = np.argsort(-activations, kind="stable")[:top]
            units = [(int(i), float(activations[i])) for i in order]
        return Prediction(probabilities, int(np.argmax(probabilities)), units)

    def _activations(self, x):
        """Output of the first hidden layer (after its activation) for one input row."""
        if self._first is None:
            return None
        linear, activation = self._first
        with self.network.evaluating():
            return activation.forward(linear.forward(x))[0]

    def unit_png(self, unit):
        """The 784 input weights of first-layer ``unit`` as a 28x28 PNG (red +, blue -).

        Scaled by the unit's largest absolute weight, so white is 0 and full red or
        blue the strongest weight; cached, as the weights never change.
        """
        if self._first is None or not 0 <= unit < self.hidden_units:
            raise KeyError(unit)
        if unit not in self._unit_png:
            self._unit_png[unit] = _diverging_png(self._first[0].W[:, unit])
        return self._unit_png[unit]

    def describe(self):
        """JSON-ready facts for ``GET /api/model``."""
        layers = [_layer_text(layer) for layer in self.network.layer_list]
        params = sum(param.size for _, param, _ in self.network.named_params())
        config = self.meta.get("config") or {}
        return {"source": self.name, "dataset": self.dataset, "classes": list(self.classes),
                "layers": layers, "summary": self._summary(), "parameters": int(params),
                "hidden_units": self.hidden_units, "normalize": self.meta.get("normalize"),
                "loss": config.get("loss"), "epochs": config.get("epochs"), **self._scores}

    def _summary(self):
        """e.g. ``784-128-10 relu``."""
        linears = [layer for layer in self.network.layer_list if isinstance(layer, Linear)]
        sizes = [linears[0].in_num] + [layer.out_num for layer in linears]
        kinds = sorted({type(layer).__name__.lower() for layer in self.network.layer_list
                        if not isinstance(layer, (Linear, Dropout, Softmax))})
        return "-".join(map(str, sizes)) + (" " + ",".join(kinds) if kinds else "")

    def _accuracies(self):
        """Validation and test accuracy from the run's ``history.json``, when there is one."""
        found = {"validation_accuracy": None, "test_accuracy": None}
        path = None if self.source is None else self.source.parent / "history.json"
        if path is None or not path.exists():
            return found
        try:
            final = History.load(path).final()
        except (DataError, ValueError):
            return found
        return {"validation_accuracy": final.get("val_acc"), "test_accuracy": final.get("test_acc")}


def _first_hidden(network):
    """``(Linear, activation)`` of the first hidden layer, or None if the net has none.

    A hidden layer is a ``Linear`` followed by an activation, with more layers after it
    (a ``Linear`` followed only by ``Softmax`` is the output layer).
    """
    layers = network.layer_list
    if len(layers) < 3 or not isinstance(layers[0], Linear):
        return None
    activation = layers[1]
    if isinstance(activation, (Linear, Dropout, Softmax)):
        return None
    return layers[0], activation


def _layer_text(layer):
    if isinstance(layer, Linear):
        return f"{type(layer).__name__} {layer.in_num} -> {layer.out_num}"
    if isinstance(layer, Dropout):
        return f"Dropout p={layer.p:g}"
    return type(layer).__name__


def _diverging_png(weights):
    """PNG bytes of ``weights`` (784,) as a 28x28 blue-white-red image."""
    from PIL import Image

    w = np.asarray(weights, dtype=np.float64).reshape(_SIDE, _SIDE)
    peak = float(np.max(np.abs(w))) or 1.0
    v = w / peak                                   # in [-1, 1]
    fade = 255.0 * (1.0 - np.abs(v))               # 255 at 0, 0 at the strongest weight
    red = np.where(v >= 0, 255.0, fade)
    blue = np.where(v <= 0, 255.0, fade)
    rgb = np.stack([red, fade, blue], axis=-1).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()

