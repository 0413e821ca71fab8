"""Activation layers, each formula beside its derivative.

Re-exported from :mod:`mnist_mlp.layers`, the seed's public module. All are
stable for inputs of any finite magnitude (checked up to 1e4 in float32 and
float64 under ``np.errstate(all="raise")`` apart from underflow): no ``exp`` ever
sees a large positive argument.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_mlp.base import Layer

__all__ = ["Relu", "Sigmoid", "Selu", "Swish", "Gelu", "Softmax", "stable_sigmoid", "softmax", "ACTIVATIONS"]


def stable_sigmoid(x):
    r"""Logistic function :math:`1/(1+e^{-x})` without overflow.

    ``exp`` only ever sees :math:`-|x| \le 0`: for :math:`x \ge 0` it is
    :math:`1/(1+e^{-x})`, otherwise the equal :math:`e^{x}/(1+e^{x})`. The plain
    formula overflows (and warns) at :math:`x = -1000`.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _row_max(x):
    """Row maxima of a 2-D array, as a column of shape (batch, 1).

    ``x.max(axis=1)`` runs a generic reduction row by row, slow for the short rows
    of a classifier's output (5.5 us on 100 x 10 float32); ``argmax`` has a
    vectorised loop, and picking the maxima by flat index costs 2 us in all. NaN
    propagates as it does with ``max``: argmax points at the first NaN.
    """
    rows, cols = x.shape
    index = x.argmax(axis=1)
    index += np.arange(0, rows * cols, cols)
    return np.ravel(x).take(index)[:, None]


def _row_sum(x):
    """Row sums of a 2-D array, as a column: ``x @ 1`` (a BLAS matrix-vector
    product, 1 us on 100 x 10, against 3 us for ``x.sum(axis=1)``)."""
    return (x @ np.ones(x.shape[1], dtype=x.dtype))[:, None]


def softmax(x):
    r"""Row-wise softmax :math:`e^{x_k - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`.

    Subtracting the row maximum leaves the result unchanged and keeps every
    exponent :math:`\le 0`, so nothing overflows. Built in one buffer.
    """
    e = np.subtract(x, _row_max(x))
    np.exp(e, out=e)
    e /= _row_sum(e)
    return e


# A read-only row of zeros that ``Relu`` takes views of; grown on demand. NumPy's
# maximum runs its vectorised loop only when both operands are arrays: against the
# Python scalar 0 it takes a scalar path that is about three times slower (measured
# in float32 on 128 x 1024 inputs: 51 us against 19 us).
_zeros = {}


def _zeros_for(shape, dtype):
    """A read-only zero array of ``shape`` and ``dtype``, a view of a shared buffer."""
    size = math.prod(shape)  # int(np.prod(shape)) costs 3-16 us a call here, math.prod 0.1-0.3 us
    buffer = _zeros.get(dtype)
    if buffer is None or buffer.size < size:
        buffer = np.zeros(max(size, 1 << 16), dtype=dtype)
        buffer.flags.writeable = False
        _zeros[dtype] = buffer
    return buffer[:size].reshape(shape)


class Relu(Layer):
    r""":math:`f(u) = \max(0, u)`; :math:`f'(u) = 1` where :math:`u > 0`, else 0.

    ``forward`` caches its output: :math:`y > 0` exactly where :math:`u > 0`, so the
    output is also the mask, and nothing else needs keeping. ``backward`` turns it
    into a boolean mask in a buffer the layer reuses (one byte per element, rebuilt
    only when the batch shape changes) and multiplies the gradient by it.
    """

    backward_returns_new_array = True
    backward_accepts_out = True

    def __init__(self, name="relu"):
        super().__init__(name)
        self._mask = None

    def forward(self, input):
        input = np.asarray(input)
        output = np.maximum(input, _zeros_for(input.shape, input.dtype))
        self._saved_for_backward(output)
        return output

    def backward(self, grad_output, out=None):
        """``grad_output`` masked by :math:`u > 0`.

        ``out=grad_output`` overwrites the incoming gradient instead of allocating one:
        ``Network.backward`` does so when it owns that array (the fresh one the layer
        above returned), which saves an allocation and a pass over memory per batch.
        """
        return np.multiply(grad_output, self._positive(), out=out)

    def _positive(self):
        """The boolean mask :math:`y > 0`, in the reused buffer."""
        y = self._saved()
        if self._mask is None or self._mask.shape != y.shape:
            self._mask = np.empty(y.shape, dtype=bool)
        return np.greater(y, 0, out=self._mask)


class Sigmoid(Layer):
    r""":math:`f(u) = 1/(1+e^{-u})`; :math:`f'(u) = f(u)(1 - f(u))`, from the cached output."""

    def __init__(self, name="sigmoid"):
        super().__init__(name)

    def forward(self, input):
        output = stable_sigmoid(input)
        self._saved_for_backward(output)
        return output

    def backward(self, grad_output):
        y = self._saved()
        return grad_output * y * (1 - y)


class Selu(Layer):
    r"""Scaled exponential linear unit, with the seed's constants.

    .. math::
        f(u) = \lambda u \;(u > 0), \qquad \lambda\alpha(e^u - 1) \;(u \le 0)

        f'(u) = \lambda \;(u > 0), \qquad \lambda\alpha e^u = f(u) + \lambda\alpha \;(u \le 0)

    with :math:`\lambda = 1.0507`, :math:`\alpha = 1.67326`.
    """

    LAMBDA = 1.0507
    ALPHA = 1.67326

    def __init__(self, name="selu"):
        super().__init__(name)

    def forward(self, input):
        lam, alpha = self.LAMBDA, self.ALPHA
        # expm1 of min(u, 0): exact near 0 and never overflows for large positive u.
        negative = (lam * alpha) * np.expm1(np.minimum(input, 0))
        output = np.where(input > 0, lam * input, negative)
        self._saved_for_backward(output)  # output > 0 exactly where input > 0
        return output

    def backward(self, grad_output):
        y = self._saved()
        lam, alpha = self.LAMBDA, self.ALPHA
        return grad_output * np.where(y > 0, lam, y + lam * alpha)


class Swish(Layer):
    r""":math:`f(u) = u\,\sigma(u)`; :math:`f'(u) = \sigma(u)\,(1 + u(1 - \sigma(u)))`."""

    def __init__(self, name="swish"):
        super().__init__(name)

    def forward(self, input):
        s = stable_sigmoid(input)
        self._saved_for_backward((input, s))
        return input * s

    def backward(self, grad_output):
        u, s = self._saved()
        return grad_output * (s * (1 + u * (1 - s)))


class Gelu(Layer):
    r"""GeLU in the seed's tanh form, with the derivative of that same form.

    .. math::
        f(u) = \tfrac12 u (1 + \tanh z), \qquad z = \sqrt{2/\pi}\,(u + 0.044715 u^3)

        f'(u) = \tfrac12 (1 + \tanh z) + \tfrac12 u (1 - \tanh^2 z)\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715 u^2)

    (Differentiating the exact erf form instead would be off by up to ~1e-3.)
    """

    _K = math.sqrt(2.0 / math.pi)
    _C = 0.044715

    def __init__(self, name="gelu"):
        super().__init__(name)

    def forward(self, input):
        u = input
        t = np.tanh(self._K * (u + self._C * u * u * u))
        self._saved_for_backward((u, t))
        return 0.5 * u * (1 + t)

    def backward(self, grad_output):
        u, t = self._saved()
        dz = self._K * (1 + (3 * self._C) * u * u)
        return grad_output * (0.5 * (1 + t) + 0.5 * u * (1 - t * t) * dz)


class Softmax(Layer):
    r"""Row-wise softmax as a layer (the seed suggests it before HingeLoss).

    .. math::
        y_k = \frac{e^{u_k}}{\sum_j e^{u_j}}, \qquad
        \frac{\partial L}{\partial u_k} = y_k \Big(g_k - \sum_j g_j y_j\Big)
    """

    def __init__(self, name="softmax"):
        super().__init__(name)

    def forward(self, input):
        output = softmax(input)
        self._saved_for_backward(output)
        return output

    def backward(self, grad_output):
        y = self._saved()
        return y * (grad_output - np.sum(grad_output * y, axis=1, keepdims=True))


# The hidden-layer activations by the name the command line, TOML files and the report
# use. Adding one is a class above plus an entry here: configs, the CLI's choices, model
# files and the report all read this table.
ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "selu": Selu, "swish": Swish, "gelu": Gelu}
