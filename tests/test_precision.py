"""float32 training follows float64 training: speed must not cost correctness.

The core runs in float32 by default, with in-place buffers and threaded updates.
Here one fixed-seed run is repeated in float64 from the same initial weights, on
the same batches in the same order, and the two loss curves are compared
iteration by iteration.

Tolerance: float32 rounds each operation to about 6e-8 relative; through a few
hundred SGD steps with momentum those errors grow, but slowly. Measured on this
problem (320 iterations, losses from 2.5 down to about 0.4), the largest
per-iteration difference between the curves is about 2e-7 and the final weights
differ by about 1e-6 relative. The test allows 1e-4 (absolute, plus 1e-4
relative) on every point of the curve and 1e-4 relative on every weight: some
500 and 100 times the measured values, room for another BLAS summing in another
order, while an accidental precision loss (float16-like rounding somewhere, an
accumulation in the wrong dtype) would show up at 1e-3 or more.
"""

import numpy as np
import pytest

from mnist_mlp.layers import Linear, Relu
from mnist_mlp.loss import SoftmaxCrossEntropyLoss
from mnist_mlp.network import Network
from mnist_mlp.solve_net import data_iterator
from mnist_mlp.utils import onehot_encoding

ATOL = 1e-4
RTOL = 1e-4
CLASSES = 5


def _data(n=2000, dim=10, seed=0):
    """Overlapping Gaussian clusters: learnable, but the loss never reaches zero."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    centres = rng.standard_normal((CLASSES, dim)) * 0.7
    x = centres[labels] + rng.standard_normal((n, dim))
    return x, labels


def _network(dtype, dim, seed=1):
    rng = np.random.default_rng(seed)
    net = Network()
    sizes = [dim, 64, 64, CLASSES]
    for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        net.add(Linear(f"fc{i + 1}", k, m, rng=rng, dtype=np.float64))
        if i < len(sizes) - 2:
            net.add(Relu(f"relu{i + 1}"))
    if dtype != np.float64:
        # Same initial weights: draw in float64, round once to float32.
        for layer in net.layer_list:
            if isinstance(layer, Linear):
                for name in ("W", "b", "grad_W", "grad_b", "diff_W", "diff_b"):
                    setattr(layer, name, getattr(layer, name).astype(dtype))
    return net


def _loss_curve(dtype, epochs=8, batch_size=50):
    x, labels = _data()
    x = x.astype(dtype)
    net, loss = _network(dtype, x.shape[1]), SoftmaxCrossEntropyLoss("loss")
    config = {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
    rng = np.random.default_rng(2)  # same seed: same batches in the same order
    curve = []
    for _ in range(epochs):
        for xb, yb in data_iterator(x, labels, batch_size, rng=rng):
            output = net.forward(xb)
            assert output.dtype == dtype  # nothing upcasts along the way
            target = onehot_encoding(yb, CLASSES, dtype=dtype)
            curve.append(loss.forward(output, target))
            net.backward(loss.backward(output, target))
            net.update(config)
    weights = [p for _, p, _ in net.named_params()]
    return np.array(curve), weights


def test_float32_loss_curve_follows_float64():
    curve64, weights64 = _loss_curve(np.float64)
    curve32, weights32 = _loss_curve(np.float32)
    assert len(curve64) == 8 * 40  # 320 iterations
    assert curve64[-40:].mean() < 0.25 * curve64[0]  # it really trained
    np.testing.assert_allclose(curve32, curve64, rtol=RTOL, atol=ATOL)
    for w32, w64 in zip(weights32, weights64):
        assert w32.dtype == np.float32
        scale = np.max(np.abs(w64))
        assert np.max(np.abs(w32 - w64)) <= RTOL * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_is_deterministic(dtype):
    """Same seed, same bits, whatever the threads did."""
    first, weights_first = _loss_curve(dtype, epochs=2)
    second, weights_second = _loss_curve(dtype, epochs=2)
    np.testing.assert_array_equal(first, second)
    for a, b in zip(weights_first, weights_second):
        np.testing.assert_array_equal(a, b)
