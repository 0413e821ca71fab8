"""SGD with momentum, Nesterov momentum and L2 weight decay: the package's one SGD rule.

The seed's ``Linear.update(config)`` and the trainer's optimiser both run
:meth:`SGD._update`; the seed's momentum buffers ``diff_W``/``diff_b`` are the velocity
of the SGD optimiser the layer owns.
"""

from __future__ import annotations

import numpy as np

from mnist_mlp import blas, checks
from mnist_mlp.deferred import ProductGrad, as_array
from mnist_mlp.errors import ConfigError
from mnist_mlp.optim.base import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    The seed's and PyTorch's form, with :math:`d = g + \lambda w`:

    .. math::
        v \leftarrow \mu v + d, \qquad
        w \leftarrow w - \eta v \quad\text{or, with Nesterov,}\quad
        w \leftarrow w - \eta (d + \mu v)

    Every SGD step in the package runs :meth:`_update`: the seed's ``Linear.update``
    through the optimiser the layer owns, the trainer through the network's.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta > 0`.
    momentum : float in [0, 1)
        :math:`\mu`; 0 is plain SGD and keeps no velocity.
    nesterov : bool
        Look-ahead momentum (needs ``momentum > 0``).
    weight_decay : float >= 0
        :math:`\lambda`, added to the gradient (L2 regularisation).
    """

    name = "sgd"
    _BUFFERS = ("momentum",)
    _ACCEPTS_PRODUCTS = True

    def __init__(self, learning_rate, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.momentum = checks.in_unit_interval("momentum", momentum)
        self.nesterov = checks.boolean("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("The 'nesterov' parameter needs momentum > 0; got momentum=0.0.")

    def configure(self, momentum, weight_decay):
        """Change momentum and weight decay between steps, keeping the velocity.

        The seed's ``update(config)`` reads them from the config at every step; they are
        validated only when they change, so the per-step cost stays a comparison.
        """
        if momentum != self.momentum:
            self.momentum = checks.in_unit_interval("momentum", momentum)
        if weight_decay != self.weight_decay:
            self.weight_decay = checks.non_negative("weight_decay", weight_decay)
        return self

    def velocity(self, key, param):
        """The momentum buffer :math:`v` of ``key`` (zeros before the first step)."""
        return self._buffer("momentum", key, param)

    def set_velocity(self, key, value):
        """Replace the momentum buffer of ``key`` (seed code assigns ``diff_W``)."""
        self._state["momentum"][key] = np.array(value, copy=True)

    def _update(self, key, param, grad, lr):
        work = self._work(key, param)
        # A weight gradient still in factors (x, G) is folded into one BLAS product
        # (mnist_mlp.blas.gemm_tn) instead of being written out and read back.
        product = grad if isinstance(grad, ProductGrad) and not grad.computed else None
        if product is None:
            grad = as_array(grad)
        if self.nesterov:
            self._nesterov_update(key, param, as_array(grad), lr, work)
        elif self.momentum == 0:
            self._plain_update(param, grad, product, lr, work)
        else:
            # v = (mu*v + g) + wd*w, w -= lr*v: the product with beta = mu, then axpys.
            velocity = self._buffer("momentum", key, param)
            if product is not None:
                blas.gemm_tn(product.a, product.b, velocity, 1.0, self.momentum)
            else:
                velocity *= self.momentum
                velocity += grad
            if self.weight_decay:
                blas.axpy(self.weight_decay, param, velocity, work)
            blas.axpy(-lr, velocity, param, work)

    def _plain_update(self, param, grad, product, lr, work):
        """No momentum: w -= lr * (g + wd*w); the velocity would just equal that."""
        if product is not None:
            # w (1 - lr wd) - lr xᵀG: one product with alpha = -lr, beta = 1 - lr wd.
            blas.gemm_tn(product.a, product.b, param, -lr, 1.0 - lr * self.weight_decay)
            return
        direction = grad
        if self.weight_decay:
            np.multiply(param, self.weight_decay, out=work)
            work += grad
            direction = work
        np.multiply(direction, lr, out=work)
        param -= work

    def _nesterov_update(self, key, param, grad, lr, work):
        velocity = self._buffer("momentum", key, param)
        if self.weight_decay:
            np.multiply(param, self.weight_decay, out=work)
            work += grad
        else:
            np.copyto(work, grad)
        velocity *= self.momentum
        velocity += work                                 # v = mu*v + d
        # w -= lr*(d + mu*v), split in two subtractions so one scratch array suffices.
        work *= lr
        param -= work
        np.multiply(velocity, lr * self.momentum, out=work)
        param -= work

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}
