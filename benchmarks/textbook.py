"""A plain float64 NumPy MLP, written the way a typical homework solution is.

This is the baseline the issue asks for: what a student who follows the seed
writes without thinking about speed. Each layer allocates fresh arrays in every
call, the data is converted to float64 (NumPy's default), the ReLU keeps a
boolean mask, the first layer computes the input gradient it never uses, and the
momentum update builds its temporaries with ordinary arithmetic. Nothing here is
wrong; it is simply the obvious code. It is deliberately independent of the
``mnist_mlp`` package so that it measures NumPy, not our core.
"""

from __future__ import annotations

import numpy as np


class Linear:
    """``u = x W + b`` with the textbook gradients ``x^T g``, ``sum(g)``, ``g W^T``."""

    def __init__(self, in_num, out_num, init_std, rng):
        self.W = rng.standard_normal((in_num, out_num)) * init_std
        self.b = np.zeros(out_num)
        self.diff_W = np.zeros_like(self.W)
        self.diff_b = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, grad):
        self.grad_W = np.dot(self.x.T, grad)
        self.grad_b = np.sum(grad, axis=0)
        return np.dot(grad, self.W.T)

    def update(self, lr, momentum):
        self.diff_W = momentum * self.diff_W + self.grad_W
        self.diff_b = momentum * self.diff_b + self.grad_b
        self.W = self.W - lr * self.diff_W
        self.b = self.b - lr * self.diff_b


class Relu:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad):
        return grad * self.mask


class SoftmaxCrossEntropy:
    """Softmax with the max subtracted, then ``-mean(sum(t log h))``; gradient ``(h - t) / N``."""

    def forward(self, logits, target):
        e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
        self.h = e / np.sum(e, axis=1, keepdims=True)
        return -np.sum(target * np.log(self.h + 1e-12)) / logits.shape[0]

    def backward(self, target):
        return (self.h - target) / target.shape[0]


class TextbookMLP:
    """Linear / Relu / ... / Linear trained with SGD and momentum, in float64."""

    def __init__(self, sizes, rng):
        self.layers = []
        for i in range(len(sizes) - 1):
            he_std = np.sqrt(2.0 / sizes[i])  # the same initialisation as the other models
            self.layers.append(Linear(sizes[i], sizes[i + 1], he_std, rng))
            if i < len(sizes) - 2:
                self.layers.append(Relu())
        self.loss = SoftmaxCrossEntropy()

    def train_epoch(self, x, y, batch_size, lr, momentum, rng):
        """One pass over ``(x, y)``; returns the mean batch loss."""
        order = rng.permutation(len(x))
        eye = np.eye(self.layers[-1].W.shape[1])
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            out = x[index]
            target = eye[y[index]]
            for layer in self.layers:
                out = layer.forward(out)
            total += self.loss.forward(out, target)
            count += 1
            grad = self.loss.backward(target)
            for layer in reversed(self.layers):
                grad = layer.backward(grad)
            for layer in self.layers:
                if isinstance(layer, Linear):
                    layer.update(lr, momentum)
        return total / count
