"""A weight gradient kept as its two factors until someone needs the array.

``Linear``'s weight gradient is one matrix product, :math:`x^T G`. SGD with momentum
only ever uses it inside :math:`v \\leftarrow \\mu v + x^T G`, which one BLAS call
computes in place (:func:`mnist_mlp.blas.gemm_tn` with ``beta = mu``), without ever
writing :math:`x^T G` to memory and reading it back. So ``Linear.backward`` hands the
optimiser a :class:`ProductGrad` (the factors and the buffer the product belongs in)
instead of computing the product; :class:`~mnist_mlp.optim.SGD` folds it into the
velocity, every other consumer calls :meth:`ProductGrad.array` and gets the plain
gradient, computed once into the layer's ``grad_W`` buffer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ProductGrad", "as_array"]


class ProductGrad:
    r"""The gradient :math:`a^T b`, computed into ``out`` on first request.

    Parameters
    ----------
    a : (n, k) array
        The layer's input of the batch.
    b : (n, m) array
        The gradient with respect to the layer's output.
    out : (k, m) array
        Where :meth:`array` writes the product (the layer's ``grad_W``).

    The factors are references, not copies: they must not change before the
    optimiser's step (``Network.backward`` never writes to them).
    """

    __slots__ = ("a", "b", "out", "computed")

    def __init__(self, a, b, out):
        self.a, self.b, self.out = a, b, out
        self.computed = False

    @property
    def shape(self):
        return self.out.shape

    @property
    def dtype(self):
        return self.out.dtype

    def array(self):
        """The gradient as an array (``out``), computed on the first call only."""
        if not self.computed:
            np.matmul(self.a.T, self.b, out=self.out)
            self.computed = True
        return self.out

    def __array__(self, dtype=None, copy=None):
        array = self.array()
        return array if dtype is None else array.astype(dtype, copy=False)


def as_array(grad):
    """``grad`` itself, or the array of a :class:`ProductGrad`."""
    return grad.array() if isinstance(grad, ProductGrad) else grad
