"""Losses of the seed: ``forward(input, target)`` and ``backward(input, target)``.

``input`` is the network output, shape (batch, K); ``target`` is one-hot, same
shape. ``forward`` returns the mean over the batch as a Python float;
``backward`` returns d(loss)/d(input), same shape and dtype as ``input``.
Losses on logits go through log-sum-exp and never take ``log`` of a softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_mlp import checks
from mnist_mlp.activations import _row_max, _row_sum, softmax

__all__ = [
    "Loss",
    "MSELoss",
    "EuclideanLoss",
    "SoftmaxCrossEntropyLoss",
    "CrossEntropyLoss",
    "HingeLoss",
    "FocalLoss",
    "log_softmax",
    "LossEntry",
    "LOSSES",
]


def log_softmax(x):
    r""":math:`x_k - \log\sum_j e^{x_j}`, through the row maximum so nothing overflows."""
    shifted = x - x.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


class Loss:
    """Base class: checks shapes and one-hot targets, names itself in errors."""

    def __init__(self, name="loss"):
        self.name = name

    def _check(self, input, target):
        """Validate and return ``target`` as ``input``'s dtype (no silent upcast).

        One-hot means every entry is 0 or 1 and every row sums to 1. Checked as:
        exactly ``batch`` nonzero entries and every row summing to 1. Rows summing to
        1 have at least one nonzero each, so ``batch`` nonzeros leave exactly one per
        row, and that one equals its row's sum, 1. (Two reductions instead of five
        elementwise passes: the loss runs on every batch.)
        """
        input = np.asarray(input)
        target = np.asarray(target)
        if input.ndim != 2 or target.shape != input.shape:
            raise ValueError(
                f"{self!r}: target shape {target.shape} differs from input shape "
                f"{input.shape}; targets must be one-hot, shape (batch, classes)."
            )
        if not (np.count_nonzero(target) == target.shape[0]
                and np.count_nonzero(_row_sum(target) != 1) == 0):
            raise ValueError(
                f"{self!r}: targets must be one-hot (a single 1 per row, 0 elsewhere); "
                "encode integer labels with onehot_encoding(labels, num_classes)."
            )
        return target.astype(input.dtype, copy=False)

    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        return f"{type(self).__name__}({self.name!r}{', ' + extra if extra else ''})"


class MSELoss(Loss):
    r"""Mean squared error, exactly the seed's form (no factor 1/2).

    .. math::
        E = \frac1N \sum_{n=1}^N \lVert t^{(n)} - y^{(n)} \rVert_2^2, \qquad
        \frac{\partial E}{\partial y} = \frac2N (y - t)
    """

    def forward(self, input, target):
        target = self._check(input, target)
        diff = input - target
        return float(np.sum(diff * diff) / input.shape[0])

    def backward(self, input, target):
        target = self._check(input, target)
        return (input - target) * (2.0 / input.shape[0])


# The name of the same loss in the original course code.
EuclideanLoss = MSELoss


class SoftmaxCrossEntropyLoss(Loss):
    r"""Softmax and cross-entropy fused on logits.

    .. math::
        E = -\frac1N \sum_n \sum_k t_k^{(n)} \log h_k^{(n)},\quad
        \log h_k = x_k - \log\sum_j e^{x_j}, \qquad
        \frac{\partial E}{\partial x} = \frac1N (h - t)
    """

    def forward(self, input, target):
        target = self._check(input, target)
        # With s = x - max(x) and lse = log(sum(exp(s))), log h = s - lse, and since
        # each target row sums to 1: E = (sum_n lse_n - sum_nk t_nk s_nk) / N.
        # Every term lse_n - s_{n,t} is >= 0, so nothing cancels badly.
        shifted = input - _row_max(input)
        lse = np.log(_row_sum(np.exp(shifted)))
        return float((lse.sum() - np.vdot(target, shifted)) / input.shape[0])

    def backward(self, input, target):
        target = self._check(input, target)
        grad = softmax(input)
        grad -= target
        grad *= 1.0 / input.shape[0]
        return grad


class CrossEntropyLoss(Loss):
    r"""Cross-entropy on probabilities (the output of a ``Softmax`` layer).

    .. math::
        E = -\frac1N \sum_n \sum_k t_k^{(n)} \log y_k^{(n)}, \qquad
        \frac{\partial E}{\partial y_k} = -\frac{t_k}{N y_k}

    This is the unfused form the seed's bonus compares with. When a probability
    underflows to 0 the true loss is infinite; we evaluate ``log`` at the smallest
    normal number instead, which keeps the result finite but loses the gradient.
    That is the reason to prefer :class:`SoftmaxCrossEntropyLoss`.
    """

    def forward(self, input, target):
        target = self._check(input, target)
        tiny = np.finfo(input.dtype).tiny
        picked = np.maximum(np.sum(target * input, axis=1), tiny)
        return float(-np.sum(np.log(picked)) / input.shape[0])

    def backward(self, input, target):
        target = self._check(input, target)
        tiny = np.finfo(input.dtype).tiny
        return target * (-1.0 / input.shape[0]) / np.maximum(input, tiny)


class HingeLoss(Loss):
    r"""Multi-class hinge loss with margin :math:`\Delta` (the seed's default 5).

    .. math::
        E = \frac1N \sum_n \sum_{k \ne t_n} \max(0, \Delta - x_{t_n} + x_k)

    Gradient: each violated margin (:math:`\Delta - x_{t_n} + x_k > 0`) adds
    :math:`1/N` to :math:`x_k` and :math:`-1/N` to :math:`x_{t_n}`.
    """

    def __init__(self, name="loss", margin=5.0):
        super().__init__(name)
        self.margin = checks.positive("margin", margin)

    def _margins(self, input, target):
        correct = np.sum(input * target, axis=1, keepdims=True)
        margins = np.maximum(input - correct + self.margin, 0)
        margins *= 1 - target  # the true class contributes nothing
        return margins

    def forward(self, input, target):
        target = self._check(input, target)
        return float(np.sum(self._margins(input, target)) / input.shape[0])

    def backward(self, input, target):
        target = self._check(input, target)
        violated = (self._margins(input, target) > 0).astype(input.dtype)
        violated -= target * violated.sum(axis=1, keepdims=True)
        violated *= 1.0 / input.shape[0]
        return violated

    def extra_repr(self):
        return f"margin={self.margin:g}"


class FocalLoss(Loss):
    r"""Focal loss on logits, the seed's formula.

    .. math::
        E^{(n)} = -\sum_k \big(\alpha_k t_k + (1-\alpha_k)(1-t_k)\big)
                  (1 - h_k)^\gamma\, t_k \log h_k

    With one-hot targets only the true class :math:`t` survives:
    :math:`E = -\alpha_t (1-p)^\gamma \log p` with :math:`p = h_t`. Its gradient with
    respect to the logits is

    .. math::
        \frac{\partial E}{\partial x_j} = \alpha_t\big[\gamma (1-p)^{\gamma-1} p \log p
            - (1-p)^\gamma\big] (\delta_{tj} - h_j)
            = \alpha_t (1-p)^\gamma \Big[\gamma \frac{p \log p}{1-p} - 1\Big] (\delta_{tj} - h_j)

    ``log p`` comes from :func:`log_softmax` and :math:`1-p` from ``-expm1(log p)``,
    accurate even when :math:`p` is within rounding of 1. ``alpha=None`` means
    :math:`\alpha_k = 1`, so ``gamma=0`` is exactly softmax cross-entropy.

    Parameters
    ----------
    alpha : sequence of float, optional
        Per-class weights.
    gamma : float >= 0
        Focusing parameter.
    """

    def __init__(self, name="loss", alpha=None, gamma=2.0):
        super().__init__(name)
        self.gamma = checks.non_negative("gamma", gamma)
        self.alpha = None if alpha is None else np.asarray(alpha, dtype=np.float64)
        if self.alpha is not None and (self.alpha.ndim > 1 or not np.all(np.isfinite(self.alpha))
                                       or np.any(self.alpha < 0)):
            raise checks.ConfigError(checks.message(
                "alpha", "a number >= 0 (one weight for every class) or a 1-D sequence of "
                "per-class weights >= 0", alpha))

    def _terms(self, input, target):
        """Per-sample alpha_t, log p and 1 - p, each shape (batch, 1)."""
        if self.alpha is not None and self.alpha.ndim == 1 and self.alpha.shape[0] != input.shape[1]:
            raise ValueError(
                f"{self!r}: 'alpha' has {self.alpha.shape[0]} weights but the input has "
                f"{input.shape[1]} classes."
            )
        log_p = np.sum(target * log_softmax(input), axis=1, keepdims=True)
        one_minus_p = -np.expm1(log_p)
        if self.alpha is None:
            alpha_t = np.ones_like(log_p)
        elif self.alpha.ndim == 0:
            alpha_t = np.full_like(log_p, self.alpha)
        else:
            alpha_t = (target @ self.alpha.astype(input.dtype))[:, None]
        return alpha_t, log_p, one_minus_p

    def forward(self, input, target):
        target = self._check(input, target)
        alpha_t, log_p, one_minus_p = self._terms(input, target)
        return float(-np.sum(alpha_t * one_minus_p**self.gamma * log_p) / input.shape[0])

    def backward(self, input, target):
        target = self._check(input, target)
        alpha_t, log_p, one_minus_p = self._terms(input, target)
        # Rewrite the bracket as (1-p)^gamma * (gamma * r - 1) with r = p log p / (1-p):
        # r lies in [-1, 0] and tends to -1 as p -> 1, whereas (1-p)^(gamma-1) alone
        # overflows there when gamma < 1.
        r = np.full_like(log_p, -1.0)
        np.divide(np.exp(log_p) * log_p, one_minus_p, out=r, where=one_minus_p > 0)
        coef = alpha_t * one_minus_p**self.gamma * (self.gamma * r - 1)
        grad = (target - softmax(input)) * coef
        grad *= 1.0 / input.shape[0]
        return grad

    def extra_repr(self):
        alpha = None if self.alpha is None else self.alpha.tolist()
        return f"alpha={alpha}, gamma={self.gamma:g}"


@dataclass(frozen=True)
class LossEntry:
    """How a registered loss is built from a training configuration.

    Attributes
    ----------
    cls : type
        The loss class, called as ``cls(name, **hyperparameters)``.
    hyperparameters : tuple of str
        The configuration keys passed to it (e.g. ``("margin",)``).
    softmax_output : bool
        The loss reads probabilities, so the network ends in a ``Softmax`` layer.
    """

    cls: type
    hyperparameters: tuple = ()
    softmax_output: bool = False

    def make(self, name, settings):
        """The loss object, reading its hyperparameters from ``settings`` (attributes)."""
        return self.cls(name, **{key: getattr(settings, key) for key in self.hyperparameters})


# Every loss by the name the command line, TOML files and model files use.
LOSSES = {
    "mse": LossEntry(MSELoss),
    "softmax_ce": LossEntry(SoftmaxCrossEntropyLoss),
    "ce": LossEntry(CrossEntropyLoss, softmax_output=True),
    "hinge": LossEntry(HingeLoss, ("margin",)),
    "softmax_hinge": LossEntry(HingeLoss, ("margin",), softmax_output=True),
    "focal": LossEntry(FocalLoss, ("alpha", "gamma")),
}
