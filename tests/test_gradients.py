"""Every backward against central finite differences, in float64.

Truth is the definition of the derivative: (f(x + eps) - f(x - eps)) / (2 eps) with
eps = 1e-5. The error measure is the normwise maximum relative error
max|analytic - numeric| / max(|analytic|, |numeric|): the rounding error of a
central difference is absolute (about 1e-16 * |loss| / eps), so an elementwise
ratio would only measure that rounding on entries that are nearly zero (softmax
tails at logits of scale 4 are around 1e-8). Inputs stay away from kinks
(ReLU and SeLU at 0, hinge margins at 0) where the derivative does not exist.
"""

import numpy as np
import pytest

from mnist_mlp.layers import Dropout, Gelu, Linear, Relu, Selu, Sigmoid, Softmax, Swish
from mnist_mlp.loss import (
    CrossEntropyLoss,
    FocalLoss,
    HingeLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from mnist_mlp.network import Network
from mnist_mlp.utils import onehot_encoding

EPS = 1e-5
TOLERANCE = 1e-6
SCALES = [0.1, 1.0, 4.0]


def numerical_gradient(f, x):
    """Central differences of ``sum(f())`` with respect to array ``x`` (perturbed in place).

    ``f`` may return an array: the two perturbed outputs are subtracted before they
    are summed, so unperturbed terms cancel exactly instead of adding rounding error.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + EPS
        plus = f()
        flat[i] = original - EPS
        minus = f()
        flat[i] = original
        gflat[i] = np.sum(np.subtract(plus, minus)) / (2 * EPS)
    return grad


def relative_error(analytic, numeric):
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)))
    assert scale > 0, "a gradient that is zero everywhere checks nothing"
    return float(np.max(np.abs(analytic - numeric)) / scale)


def away_from_zero(x, gap=1e-2):
    """Push entries within ``gap`` of 0 out to +-gap, away from kinks at 0."""
    return np.where(np.abs(x) < gap, np.copysign(gap, x), x)


ACTIVATIONS = [Relu, Sigmoid, Selu, Swish, Gelu, Softmax]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("layer_cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_activation_input_gradient(layer_cls, scale):
    rng = np.random.default_rng(1)
    x = away_from_zero(rng.standard_normal((4, 7)) * scale)
    weights = rng.standard_normal((4, 7))  # L = sum(weights * f(x)), so dL/df = weights
    layer = layer_cls("act")
    numeric = numerical_gradient(lambda: weights * layer.forward(x), x)
    layer.forward(x)
    analytic = layer.backward(weights)
    assert relative_error(analytic, numeric) <= TOLERANCE


@pytest.mark.parametrize("scale", SCALES)
def test_linear_gradients(scale):
    rng = np.random.default_rng(2)
    layer = Linear("fc", 5, 3, 0.5, rng=rng, dtype=np.float64)
    layer.b[...] = rng.standard_normal(3)
    x = rng.standard_normal((4, 5)) * scale
    weights = rng.standard_normal((4, 3))

    def loss():
        return weights * layer.forward(x)

    numeric = {name: numerical_gradient(loss, array)
               for name, array in (("x", x), ("W", layer.W), ("b", layer.b))}
    layer.forward(x)
    grad_x = layer.backward(weights)
    assert relative_error(grad_x, numeric["x"]) <= TOLERANCE
    assert relative_error(layer.grad_W, numeric["W"]) <= TOLERANCE
    assert relative_error(layer.grad_b, numeric["b"]) <= TOLERANCE


def test_dropout_gradient_with_fixed_mask():
    rng = np.random.default_rng(3)
    layer = Dropout("drop", p=0.3)
    x = rng.standard_normal((6, 8))
    weights = rng.standard_normal((6, 8))

    def loss():
        layer.rng = np.random.default_rng(7)  # the same mask on every call
        return weights * layer.forward(x)

    numeric = numerical_gradient(loss, x)
    loss()
    assert relative_error(layer.backward(weights), numeric) <= TOLERANCE
    assert np.any(numeric == 0)  # some units really were dropped


def _probabilities(rng, shape):
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(axis=1, keepdims=True)


LOSSES = {
    "mse": lambda: MSELoss("mse"),
    "softmax_ce": lambda: SoftmaxCrossEntropyLoss("sce"),
    "ce_on_probabilities": lambda: CrossEntropyLoss("ce"),
    "hinge_5": lambda: HingeLoss("hinge", margin=5),
    "hinge_0.5": lambda: HingeLoss("hinge", margin=0.5),
    "focal_gamma0": lambda: FocalLoss("focal", gamma=0.0),
    "focal_gamma0.5": lambda: FocalLoss("focal", gamma=0.5),
    "focal_gamma2": lambda: FocalLoss("focal", gamma=2.0),
    "focal_alpha": lambda: FocalLoss("focal", alpha=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], gamma=2.0),
}


def _hinge_safe(x, labels, margin, gap=1e-2):
    """Resample until no margin term sits within ``gap`` of its kink."""
    rng = np.random.default_rng(11)
    while True:
        correct = x[np.arange(len(labels)), labels][:, None]
        if np.all(np.abs(margin - correct + x) > gap):
            return x
        x = x + rng.uniform(-0.1, 0.1, x.shape)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradient(name, scale):
    rng = np.random.default_rng(4)
    loss = LOSSES[name]()
    labels = rng.integers(0, 6, size=5)
    target = onehot_encoding(labels, 6, dtype=np.float64)
    if isinstance(loss, CrossEntropyLoss):
        x = _probabilities(rng, (5, 6))
    else:
        x = rng.standard_normal((5, 6)) * scale
    if isinstance(loss, HingeLoss):
        x = _hinge_safe(x, labels, loss.margin)
    numeric = numerical_gradient(lambda: loss.forward(x, target), x)
    analytic = loss.backward(x, target)
    assert relative_error(analytic, numeric) <= TOLERANCE


def test_whole_network_gradients():
    rng = np.random.default_rng(5)
    net = Network()
    for layer in (Linear("fc1", 6, 8, 0.5, rng=rng, dtype=np.float64), Gelu("g"),
                  Linear("fc2", 8, 7, 0.5, rng=rng, dtype=np.float64), Swish("s"),
                  Linear("fc3", 7, 4, 0.5, rng=rng, dtype=np.float64)):
        net.add(layer)
    loss = SoftmaxCrossEntropyLoss("loss")
    x = rng.standard_normal((3, 6))
    target = onehot_encoding(np.array([0, 3, 1]), 4, dtype=np.float64)

    def value():
        return loss.forward(net.forward(x), target)

    numeric = {key: numerical_gradient(value, param) for key, param, _ in net.named_params()}
    numeric_x = numerical_gradient(value, x)
    output = net.forward(x)
    grad_x = net.backward(loss.backward(output, target), input_grad=True)
    assert relative_error(grad_x, numeric_x) <= TOLERANCE
    for key, _, grad in net.named_params():
        assert relative_error(grad, numeric[key]) <= TOLERANCE, key


def test_first_layer_skips_input_gradient_but_fills_parameter_gradients():
    rng = np.random.default_rng(6)
    net = Network().add(Linear("fc1", 4, 3, 0.5, rng=rng, dtype=np.float64)).add(Relu())
    x = rng.standard_normal((2, 4))
    net.forward(x)
    weights = rng.standard_normal((2, 3))
    assert net.backward(weights) is None
    grad_W_default = net.layer_list[0].grad_W.copy()
    net.forward(x)
    net.backward(weights, input_grad=True)
    np.testing.assert_array_equal(net.layer_list[0].grad_W, grad_W_default)


def test_whole_network_gradients_through_the_in_place_backward_path():
    """Every activation, Dropout and ReLU in both places Network.backward treats apart:
    right after a Linear (whose fresh input gradient ReLU overwrites, ``out=grad``) and
    after Dropout (whose gradient it must not overwrite). The dropout mask is held fixed
    by re-seeding its generator before every forward pass."""
    rng = np.random.default_rng(8)

    def linear(name, n_in, n_out):
        return Linear(name, n_in, n_out, 0.6, rng=rng, dtype=np.float64)

    net = Network()
    for layer in (linear("fc1", 6, 9), Dropout("d", 0.3), Relu("r1"), linear("fc2", 9, 8),
                  Relu("r2"), linear("fc3", 8, 8), Sigmoid("s"), linear("fc4", 8, 8), Selu("se"),
                  linear("fc5", 8, 7), Swish("sw"), linear("fc6", 7, 7), Gelu("g"),
                  linear("fc7", 7, 4)):
        net.add(layer)
    dropout = next(layer for layer in net.layer_list if isinstance(layer, Dropout))
    loss = SoftmaxCrossEntropyLoss("loss")
    x = rng.standard_normal((5, 6))
    target = onehot_encoding(np.array([0, 3, 1, 2, 3]), 4, dtype=np.float64)

    def value():
        dropout.rng = np.random.default_rng(11)
        return loss.forward(net.forward(x), target)

    numeric = {key: numerical_gradient(value, param) for key, param, _ in net.named_params()}
    numeric_x = numerical_gradient(value, x)
    grad_out = loss.backward(_last_output(net, x, dropout), target)
    kept = grad_out.copy()
    net.backward(grad_out)  # the training path: no input gradient, in-place ReLU
    assert np.array_equal(grad_out, kept), "the caller's gradient must never be overwritten"
    for key, _, grad in net.named_params():
        assert relative_error(grad, numeric[key]) <= TOLERANCE, key
    grad_x = net.backward(loss.backward(_last_output(net, x, dropout), target), input_grad=True)
    assert relative_error(grad_x, numeric_x) <= TOLERANCE


def _last_output(net, x, dropout):
    dropout.rng = np.random.default_rng(11)
    return net.forward(x)
