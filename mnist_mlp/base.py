"""The layer contract every layer follows: ``forward``, ``backward``, ``update``."""

from __future__ import annotations

__all__ = ["Layer"]


class Layer:
    """Base class of every layer.

    Parameters
    ----------
    name : str
        Shown in logs, errors and ``repr``.
    trainable : bool
        Whether ``update`` changes parameters.
    """

    def __init__(self, name, trainable=False):
        self.name = name
        self.trainable = trainable
        self.training = True  # Dropout and friends behave differently in evaluation
        self._saved_tensor = None

    def forward(self, input):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def update(self, config):
        """Layers without parameters have nothing to update."""

    def params(self):
        """Trainable arrays by name; empty for layers without parameters."""
        return {}

    def grads(self):
        """Gradients of ``params()`` under the same names."""
        return {}

    def _saved_for_backward(self, tensor):
        self._saved_tensor = tensor

    def _saved(self):
        """The tensor cached by ``forward``; a clear error if there is none yet."""
        if self._saved_tensor is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return self._saved_tensor

    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        return f"{type(self).__name__}({self.name!r}{', ' + extra if extra else ''})"
