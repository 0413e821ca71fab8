"""Layers of the seed's modular MLP: each has ``forward``, ``backward`` and ``update``.

``grad_output`` is the derivative of the loss with respect to a layer's output;
``backward`` returns the derivative with respect to its input. Activations are
layers of their own with their own backward, as the seed asks. Every layer keeps
the dtype of its input (float32 in, float32 out) and caches in ``forward`` only what
its ``backward`` needs.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_mlp import checks
from mnist_mlp.activations import (
    Gelu,
    Relu,
    Selu,
    Sigmoid,
    Softmax,
    Swish,
    stable_sigmoid,
)
from mnist_mlp.base import Layer
from mnist_mlp.deferred import ProductGrad
from mnist_mlp.optim.sgd import SGD
from mnist_mlp.utils import get_rng

__all__ = [
    "Layer",
    "Linear",
    "Relu",
    "Sigmoid",
    "Selu",
    "Swish",
    "Gelu",
    "Softmax",
    "Dropout",
    "stable_sigmoid",
    "INITS",
]

# Weight initialisation schemes by name: the standard deviation of the Gaussian that
# draws W, from the fans and the seed's explicit init_std ("gaussian" uses it as is).
INITS = {
    "gaussian": lambda fan_in, fan_out, init_std: init_std,
    "he": lambda fan_in, fan_out, init_std: math.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out, init_std: math.sqrt(2.0 / (fan_in + fan_out)),
}


class Linear(Layer):
    r"""Fully connected layer: each input row :math:`x` gives :math:`u = xW + b`.

    Parameters
    ----------
    name : str
    in_num, out_num : int
        Input and output widths; ``W`` has shape (in_num, out_num), ``b`` (out_num,).
    init_std : float, optional
        Standard deviation of the Gaussian initialisation of ``W`` (the seed's
        argument); given alone, it means ``init="gaussian"``.
    init : {"gaussian", "he", "xavier"}, optional
        A key of :data:`INITS`; default "gaussian" when ``init_std`` is given, else "he"
        (std sqrt(2 / in_num)).
    rng : numpy.random.Generator, optional
        Source of the initial weights; the package generator when None.
    dtype : numpy dtype
        Of the parameters; float32 by default for speed, float64 for gradient checks.

    Notes
    -----
    Gradients, with :math:`G` = grad_output of shape (batch, out_num):
    :math:`\partial L/\partial W = x^T G`, :math:`\partial L/\partial b = \sum_n G_n`,
    :math:`\partial L/\partial x = G W^T`.
    """

    def __init__(self, name, in_num, out_num, init_std=None, *, init=None, rng=None,
                 dtype=np.float32):
        super().__init__(name, trainable=True)
        in_num = checks.integer("in_num", in_num, 1)
        out_num = checks.integer("out_num", out_num, 1)
        init = checks.choice("init", init or ("he" if init_std is None else "gaussian"), INITS)
        if init == "gaussian":
            if init_std is None:
                raise checks.ConfigError("init='gaussian' needs init_std, the standard deviation.")
            init_std = checks.non_negative("init_std", init_std)
        init_std = INITS[init](in_num, out_num, init_std)
        self.in_num, self.out_num, self.init_std = int(in_num), int(out_num), float(init_std)
        self.W = (get_rng(rng).standard_normal((in_num, out_num)) * init_std).astype(dtype)
        self.b = np.zeros(out_num, dtype=dtype)
        self._grad_W = np.zeros_like(self.W)
        self._pending = None  # the last batch's weight gradient as a ProductGrad, until read
        self.grad_b = np.zeros_like(self.b)
        # The optimiser behind the seed's update(config); the rate comes with every step.
        self._sgd = SGD(1.0)

    def forward(self, input):
        if input.ndim != 2 or input.shape[1] != self.in_num:
            raise ValueError(
                f"Linear {self.name!r} expects input of shape (batch, {self.in_num}); "
                f"got {input.shape}."
            )
        # The network's dtype wins: a float64 batch is not allowed to upcast float32 weights.
        input = input.astype(self.W.dtype, copy=False)
        self._saved_for_backward(input)
        output = input @ self.W
        output += self.b
        return output

    backward_returns_new_array = True  # grad_output @ W.T

    def backward(self, grad_output):
        grad_output = self.backward_params(grad_output)
        return grad_output @ self.W.T

    def backward_params(self, grad_output):
        """The parameter gradients only; the network's first layer needs no input gradient.

        ``grad_b`` is computed; the weight gradient :math:`x^T G` is kept as its factors
        (:class:`~mnist_mlp.deferred.ProductGrad`), which SGD folds into its momentum
        product, and is computed into ``grad_W`` when anything reads that.
        """
        input = self._saved()
        grad_output = grad_output.astype(self.W.dtype, copy=False)
        self._pending = ProductGrad(input, grad_output, self._grad_W)
        np.sum(grad_output, axis=0, out=self.grad_b)
        return grad_output

    @property
    def grad_W(self):
        """d(loss)/dW of the last batch (computed on first read after ``backward``)."""
        if self._pending is not None:
            self._pending.array()
            self._pending = None  # the array is the gradient now, also if the caller edits it
        return self._grad_W

    @grad_W.setter
    def grad_W(self, value):
        self._grad_W = value
        self._pending = None

    def update(self, config):
        r"""The seed's SGD step, with the config's ``learning_rate``, ``momentum`` and
        ``weight_decay``: :math:`v \leftarrow \mu v + g + \lambda w,\ w \leftarrow w - \eta v`.

        The step is :class:`~mnist_mlp.optim.SGD`'s, the rule the trainer uses too; the
        layer owns that optimiser, whose velocity is ``diff_W`` / ``diff_b``.
        """
        self._sgd.configure(config.get("momentum", 0.0), config.get("weight_decay", 0.0))
        grads = self.grads()  # the same gradient objects the trainer's optimiser gets
        self._sgd.step((("W", self.W, grads["W"]), ("b", self.b, grads["b"])),
                       lr=config["learning_rate"])

    @property
    def diff_W(self):
        """Momentum buffer of ``W`` (the seed's name): the velocity of the layer's SGD."""
        return self._sgd.velocity("W", self.W)

    @diff_W.setter
    def diff_W(self, value):
        self._sgd.set_velocity("W", value)

    @property
    def diff_b(self):
        """Momentum buffer of ``b`` (the seed's name)."""
        return self._sgd.velocity("b", self.b)

    @diff_b.setter
    def diff_b(self, value):
        self._sgd.set_velocity("b", value)

    def params(self):
        return {"W": self.W, "b": self.b}

    def grads(self):
        """``grad_W`` as a :class:`~mnist_mlp.deferred.ProductGrad` while nobody has read it
        since ``backward`` (optimisers accept both), else the array."""
        return {"W": self._grad_W if self._pending is None else self._pending, "b": self.grad_b}

    def extra_repr(self):
        return f"in_num={self.in_num}, out_num={self.out_num}, init_std={self.init_std:.4g}"


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each unit with probability ``p`` and scale
    the survivors by :math:`1/(1-p)`, so evaluation is the identity.

    Parameters
    ----------
    name : str
    p : float in [0, 1)
        Probability of dropping a unit.
    rng : numpy.random.Generator, optional
    """

    def __init__(self, name, p=0.5, rng=None):
        super().__init__(name)
        self.p = checks.in_unit_interval("p", p)
        self.rng = rng

    def forward(self, input):
        if not self.training or self.p == 0.0:
            self._saved_for_backward(None)
            self._identity = True
            return input
        self._identity = False
        keep = get_rng(self.rng).random(input.shape, dtype=np.float32) >= self.p
        # The mask carries the 1/(1-p) scale so backward is a single multiply.
        mask = keep.astype(input.dtype) * input.dtype.type(1.0 / (1.0 - self.p))
        self._saved_for_backward(mask)
        return input * mask

    def backward(self, grad_output):
        if getattr(self, "_identity", None) is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        if self._identity:
            return grad_output
        return grad_output * self._saved_tensor

    def extra_repr(self):
        return f"p={self.p}"
