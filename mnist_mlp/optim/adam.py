"""Adam and AdamW."""

from __future__ import annotations

import math

import numpy as np

from mnist_mlp import checks
from mnist_mlp.optim.base import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba) with L2 weight decay added to the gradient, as torch.optim.Adam.

    With :math:`g \leftarrow g + \lambda w` and step count :math:`t`:

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \\
        w \leftarrow w - \frac{\eta}{1-\beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    The bias corrections make the first step :math:`\eta\,g/(|g| + \epsilon')`, i.e.
    :math:`\eta` times the sign of the gradient.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta > 0`.
    beta1, beta2 : float in [0, 1)
        Decay rates of the first and second moment estimates.
    eps : float > 0
        Added to the denominator so a zero second moment cannot divide by zero.
    weight_decay : float >= 0
        :math:`\lambda`, L2 penalty added to the gradient (coupled to the adaptive scaling;
        see :class:`AdamW` for the decoupled form).
    """

    name = "adam"
    _BUFFERS = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        self.beta1 = checks.in_unit_interval("beta1", beta1)
        self.beta2 = checks.in_unit_interval("beta2", beta2)
        self.eps = checks.positive("eps", eps)

    def _update(self, key, param, grad, lr):
        m = self._buffer("exp_avg", key, param)
        v = self._buffer("exp_avg_sq", key, param)
        work = self._work(key, param)
        if self.weight_decay and self._decoupled:
            param *= 1.0 - lr * self.weight_decay           # AdamW: w -= lr*wd*w
        elif self.weight_decay:
            coupled = self._work(key, param, 1)             # Adam: g + wd*w, grad untouched
            np.multiply(param, self.weight_decay, out=coupled)
            coupled += grad
            grad = coupled
        m *= self.beta1                                     # m = b1*m + (1-b1)*g
        np.multiply(grad, 1.0 - self.beta1, out=work)
        m += work
        v *= self.beta2                                     # v = b2*v + (1-b2)*g^2
        np.multiply(grad, grad, out=work)
        work *= 1.0 - self.beta2
        v += work
        # lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) = (lr*sqrt(c2)/c1) * m / (sqrt(v) + eps*sqrt(c2)):
        # the same step with one pass over the array fewer (c = 1 - beta**t).
        t = self.step_count
        root_c2 = math.sqrt(1.0 - self.beta2 ** t)
        np.sqrt(v, out=work)
        work += self.eps * root_c2
        np.divide(m, work, out=work)
        work *= lr * root_c2 / (1.0 - self.beta1 ** t)
        param -= work

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

    Before the Adam step, and without passing through the moment estimates:

    .. math:: w \leftarrow w (1 - \eta \lambda)

    so the decay is the same for every weight whatever its gradient history.
    Parameters as :class:`Adam`; ``weight_decay`` defaults to 0.01 as in PyTorch.
    """

    name = "adamw"
    _decoupled = True

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay)
