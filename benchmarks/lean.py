"""The leanest NumPy training loop we know how to write for this MLP: a yardstick.

It is not a product and shares no code with ``mnist_mlp``. It answers one question
the benchmark needs answered: how close to the GEMM floor can *any* NumPy loop get
on this machine? Everything a library needs and a benchmark does not is gone:

* no layer objects, no shape or one-hot checks, no dtype conversions;
* every per-batch array (activations, gradients, weight gradients, ReLU masks) is
  allocated once per batch shape and written with ``out=``; the batch is gathered
  with one ``np.take`` (measured: faster than ``np.take(..., out=)`` into a buffer,
  26 us against 9 us for 100 rows);
* bias add and ReLU run in place on the product's output; the ReLU backward
  multiplies the incoming gradient in place by the mask ``h > 0`` built into a
  reused boolean buffer (``np.copyto(g, 0, where=h <= 0)`` is 5-12x slower);
* the softmax cross-entropy gradient ``(softmax(z) - onehot(y)) / N`` is built in
  the logits' buffer, subtracting 1 at the label positions instead of a one-hot;
* the momentum update is the seed's ``v = mu v + g; W -= lr v`` in four in-place
  passes (``v *= mu``, ``v += g``, ``t = lr v``, ``W -= t``) through one preallocated
  scratch array per parameter.

What remains besides the matrix products is the work no NumPy loop can skip:
gathering the batch, the elementwise passes (each a separate, single-threaded trip
through memory; NumPy cannot fuse them) and the update, which reads and writes
every parameter several times per step. The benchmark reports this loop next to
``mnist_mlp`` and the floor; the gap between it and the floor is that work.

It starts from the same random numbers as the ``mnist_mlp`` worker (He
initialisation drawn layer by layer from one generator, float32, the same
permutation per epoch), so its losses agree with ``mnist_mlp``'s: a check that
it trains the same model.
"""

from __future__ import annotations

import math

import numpy as np


class LeanMLP:
    """Linear / ReLU / ... / Linear, softmax cross-entropy, SGD with momentum, float32."""

    def __init__(self, sizes, rng):
        self.sizes = list(sizes)
        self.W = [(rng.standard_normal((k, m)) * math.sqrt(2.0 / k)).astype(np.float32)
                  for k, m in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(m, np.float32) for m in sizes[1:]]
        self.params = self.W + self.b
        self.grads = [np.empty_like(p) for p in self.params]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self._buffers = {}

    def _for_batch(self, n):
        """ReLU-mask, activation and gradient buffers for batches of ``n`` rows."""
        if n not in self._buffers:
            self._buffers[n] = (
                [np.empty((n, m), bool) for m in self.sizes[1:-1]],
                [np.empty((n, m), np.float32) for m in self.sizes[1:]],
                [np.empty((n, k), np.float32) for k in self.sizes[1:-1]],
                np.arange(n) * self.sizes[-1],          # flat offsets of each row's logits
                # maximum() against an array of zeros takes NumPy's vectorised loop;
                # against the scalar 0 a path about three times slower.
                [np.zeros((n, m), np.float32) for m in self.sizes[1:-1]],
            )
        return self._buffers[n]

    def step(self, x, y, index, lr, momentum):
        """One training step on rows ``index``; returns the batch's mean loss."""
        n, layers = len(index), len(self.W)
        masks, acts, grads, offsets, zeros = self._for_batch(n)
        grad_W, grad_b = self.grads[:layers], self.grads[layers:]
        xb = np.take(x, index, axis=0)
        inp = xb
        for i in range(layers):
            out = acts[i]
            np.matmul(inp, self.W[i], out=out)
            out += self.b[i]
            if i < layers - 1:
                np.maximum(out, zeros[i], out=out)
            inp = out
        # Softmax cross-entropy on the logits, in their own buffer: loss from the
        # shifted logits, then the gradient (softmax - onehot) / n.
        logits = acts[-1]
        logits -= logits.max(axis=1, keepdims=True)
        picked = logits.ravel()[offsets + y[index]]
        np.exp(logits, out=logits)
        sums = logits.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - picked))
        logits /= sums
        logits.ravel()[offsets + y[index]] -= 1.0
        logits *= 1.0 / n
        grad = logits
        for i in range(layers - 1, -1, -1):
            below = acts[i - 1] if i > 0 else xb
            np.matmul(below.T, grad, out=grad_W[i])
            np.sum(grad, axis=0, out=grad_b[i])
            if i > 0:
                np.matmul(grad, self.W[i].T, out=grads[i - 1])
                grad = grads[i - 1]
                grad *= np.greater(below, 0.0, out=masks[i - 1])
        for param, g, v, tmp in zip(self.params, self.grads, self.velocity, self.scratch):
            v *= momentum
            v += g
            np.multiply(v, lr, out=tmp)
            param -= tmp
        return loss

    def train_epoch(self, x, y, batch_size, lr, momentum, rng):
        order = rng.permutation(len(x))
        total, count = 0.0, 0
        for start in range(0, len(x), batch_size):
            total += self.step(x, y, order[start:start + batch_size], lr, momentum)
            count += 1
        return total / count
