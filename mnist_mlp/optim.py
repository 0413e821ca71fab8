"""Update rules for trainable parameters.

A trainable layer exposes ``params()`` and ``grads()``: dicts with the same keys
(``"W"``, ``"b"``) whose arrays the rules below update in place, so one rule serves
every layer. The seed's ``layer.update(config)`` calls :func:`sgd_step`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgd_step"]


def sgd_step(param, grad, velocity, learning_rate, momentum=0.0, weight_decay=0.0):
    r"""One SGD step with momentum and L2 weight decay, in place: the seed's rule.

    .. math::
        v \leftarrow \mu v + (g + \lambda w), \qquad w \leftarrow w - \eta v

    with momentum :math:`\mu`, weight decay :math:`\lambda` and learning rate
    :math:`\eta` (the form PyTorch's SGD uses, so results compare one to one).

    Parameters
    ----------
    param, grad, velocity : ndarray, same shape and dtype
        ``param`` and ``velocity`` are updated in place; ``grad`` is left alone.
    learning_rate, momentum, weight_decay : float
    """
    if momentum:
        velocity *= momentum
        velocity += grad
    else:
        velocity[...] = grad
    if weight_decay:
        velocity += weight_decay * param
    param -= learning_rate * velocity
