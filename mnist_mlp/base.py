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

    # The backward protocol ``Network.backward`` relies on to avoid copies (a subclass
    # that overrides ``backward`` sets both again to what its own code does):
    # ``backward(grad)`` returns a new array that nobody else references, which the
    # layer below may therefore overwrite...
    backward_returns_new_array = False
    # ...and ``backward(grad, out=grad)`` writes the input gradient over ``grad``.
    backward_accepts_out = False

    def __init__(self, name, trainable=False):
        self.name = name
        self.trainable = trainable
        self.training = True  # Dropout and friends behave differently in evaluation
        self._saved_tensor = None

    def forward(self, input):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output):
        """d(loss)/d(input) from d(loss)/d(output); parameter gradients as a side effect."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def backward_params(self, grad_output):
        """Only the parameter gradients (the network's first layer needs no input gradient).

        This default runs the whole ``backward``; ``Linear`` skips its ``grad @ W.T``.
        """
        self.backward(grad_output)

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
