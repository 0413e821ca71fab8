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
from mnist_mlp.optim import sgd_step
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

# Standard deviation of the Gaussian initialisation, by scheme name.
INITS = {
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),
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
        argument). Leave it None to use ``init`` instead.
    init : {"he", "xavier"}, optional
        Scheme used when ``init_std`` is None (default "he": std sqrt(2 / in_num)).
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

    def __init__(self, name, in_num, out_num, init_std=None, *, init="he", rng=None,
                 dtype=np.float32):
        super().__init__(name, trainable=True)
        for arg, value in (("in_num", in_num), ("out_num", out_num)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Linear {name!r}: '{arg}' must be a positive integer; got {value!r}.")
        if init_std is None:
            if init not in INITS:
                raise ValueError(
                    f"Linear {name!r}: unknown init {init!r}; choose one of {sorted(INITS)} "
                    "or pass init_std."
                )
            init_std = INITS[init](in_num, out_num)
        elif not init_std >= 0:
            raise ValueError(f"Linear {name!r}: 'init_std' must be >= 0; got {init_std!r}.")
        self.in_num, self.out_num, self.init_std = int(in_num), int(out_num), float(init_std)
        self.W = (get_rng(rng).standard_normal((in_num, out_num)) * init_std).astype(dtype)
        self.b = np.zeros(out_num, dtype=dtype)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)
        # Momentum buffers, under the seed's names.
        self.diff_W = np.zeros_like(self.W)
        self.diff_b = np.zeros_like(self.b)

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

    def backward(self, grad_output):
        grad_output = self.backward_params(grad_output)
        return grad_output @ self.W.T

    def backward_params(self, grad_output):
        """Fill ``grad_W`` and ``grad_b`` only; the network's first layer needs no input gradient."""
        input = self._saved()
        grad_output = grad_output.astype(self.W.dtype, copy=False)
        np.matmul(input.T, grad_output, out=self.grad_W)
        np.sum(grad_output, axis=0, out=self.grad_b)
        return grad_output

    def update(self, config):
        lr = config["learning_rate"]
        mm = config.get("momentum", 0.0)
        wd = config.get("weight_decay", 0.0)
        sgd_step(self.W, self.grad_W, self.diff_W, lr, mm, wd)
        sgd_step(self.b, self.grad_b, self.diff_b, lr, mm, wd)

    def params(self):
        return {"W": self.W, "b": self.b}

    def grads(self):
        return {"W": self.grad_W, "b": self.grad_b}

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
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout {name!r}: the 'p' parameter must be in [0, 1); got {p!r}.")
        self.p = float(p)
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
