"""Known values, numerical stability at extreme inputs, dtypes and input validation."""

import math

import numpy as np
import pytest

from mnist_mlp.errors import ConfigError
from mnist_mlp.layers import Dropout, Gelu, Linear, Relu, Selu, Sigmoid, Softmax, Swish
from mnist_mlp.loss import (
    CrossEntropyLoss,
    FocalLoss,
    HingeLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from mnist_mlp.utils import calculate_acc, onehot_encoding

ACTIVATIONS = [Relu, Sigmoid, Selu, Swish, Gelu, Softmax]
LOGIT_LOSSES = [
    lambda: MSELoss("mse"),
    lambda: SoftmaxCrossEntropyLoss("sce"),
    lambda: HingeLoss("hinge"),
    lambda: FocalLoss("focal", gamma=2.0),
    lambda: FocalLoss("focal", gamma=0.5),
]


def _sigmoid(u):
    return 1 / (1 + math.exp(-u))


# Closed forms evaluated with the standard library's math module, one point at a time.
KNOWN = {
    Relu: lambda u: max(0.0, u),
    Sigmoid: _sigmoid,
    Selu: lambda u: 1.0507 * u if u > 0 else 1.0507 * 1.67326 * (math.exp(u) - 1),
    Swish: lambda u: u * _sigmoid(u),
    Gelu: lambda u: 0.5 * u * (1 + math.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u**3))),
}


@pytest.mark.parametrize("layer_cls", list(KNOWN), ids=lambda c: c.__name__)
def test_activation_matches_closed_form(layer_cls):
    points = np.array([[-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.5, 7.0]])
    expected = np.array([[KNOWN[layer_cls](u) for u in points[0]]])
    np.testing.assert_allclose(layer_cls("a").forward(points), expected, rtol=1e-12, atol=1e-15)


def test_softmax_layer_known_values():
    out = Softmax("s").forward(np.array([[0.0, math.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-12)


def test_loss_known_values():
    x = np.array([[2.0, 0.0, -1.0]])
    t = np.array([[1.0, 0.0, 0.0]])
    lse = math.log(math.exp(2) + 1 + math.exp(-1))
    assert MSELoss("m").forward(x, t) == pytest.approx(1 + 0 + 1)  # no factor 1/2
    assert SoftmaxCrossEntropyLoss("s").forward(x, t) == pytest.approx(lse - 2)
    # margins: 5 - 2 + 0 = 3 and 5 - 2 - 1 = 2
    assert HingeLoss("h").forward(x, t) == pytest.approx(5.0)
    assert HingeLoss("h", margin=0.5).forward(x, t) == pytest.approx(0.0)
    p = math.exp(2 - lse)
    assert FocalLoss("f", gamma=2).forward(x, t) == pytest.approx(-(1 - p) ** 2 * math.log(p))
    assert FocalLoss("f", alpha=[0.25, 1, 1], gamma=0).forward(x, t) == pytest.approx(
        0.25 * (lse - 2))
    assert CrossEntropyLoss("c").forward(np.array([[0.5, 0.25, 0.25]]), t) == pytest.approx(
        math.log(2))


def test_focal_with_gamma_zero_is_softmax_cross_entropy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 10)) * 3
    t = onehot_encoding(rng.integers(0, 10, 8), 10, dtype=np.float64)
    focal, sce = FocalLoss("f", gamma=0.0), SoftmaxCrossEntropyLoss("s")
    assert focal.forward(x, t) == pytest.approx(sce.forward(x, t), rel=1e-14)
    np.testing.assert_allclose(focal.backward(x, t), sce.backward(x, t), rtol=1e-12, atol=1e-17)


def _extreme_inputs(dtype):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1e4, 1e4, (6, 10))
    x[0, :] = 1e4
    x[1, :] = -1e4
    x[2, 0], x[2, 1:] = 1e4, -1e4  # a confident, correct prediction: p = 1 exactly
    x[3, 0], x[3, 1:] = -1e4, 1e4  # a confident, wrong one
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_activations_are_finite_at_extreme_inputs(layer_cls, dtype):
    x = _extreme_inputs(dtype)
    layer = layer_cls("a")
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        y = layer.forward(x)
        g = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    assert y.dtype == dtype and g.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make_loss", LOGIT_LOSSES)
def test_losses_are_finite_at_extreme_logits(make_loss, dtype):
    x = _extreme_inputs(dtype)
    t = onehot_encoding(np.zeros(6, dtype=int), 10, dtype=dtype)
    loss = make_loss()
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        value = loss.forward(x, t)
        grad = loss.backward(x, t)
    assert math.isfinite(value)
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype


def test_sigmoid_at_plus_minus_1000_and_confident_softmax_loss():
    with np.errstate(all="raise", under="ignore"):
        y = Sigmoid("s").forward(np.array([[-1000.0, 1000.0]]))
        loss = SoftmaxCrossEntropyLoss("l").forward(np.array([[1000.0, -1000.0]]),
                                                    np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(y, [[0.0, 1.0]])
    assert loss == 0.0


def test_cross_entropy_on_probabilities_stays_finite_when_p_is_zero():
    with np.errstate(all="raise", under="ignore"):
        value = CrossEntropyLoss("c").forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert math.isfinite(value) and value > 700  # -log(smallest normal float64) = 708.4


@pytest.mark.parametrize("layer_cls", ACTIVATIONS + [Dropout], ids=lambda c: c.__name__)
def test_backward_before_forward_is_a_runtime_error(layer_cls):
    with pytest.raises(RuntimeError, match="before forward"):
        layer_cls("a").backward(np.ones((2, 3)))


def test_linear_keeps_float32_even_for_float64_batches():
    layer = Linear("fc", 4, 3, 0.1, rng=np.random.default_rng(0))
    y = layer.forward(np.ones((2, 4), dtype=np.float64))
    assert y.dtype == np.float32
    assert layer.backward(np.ones((2, 3), dtype=np.float32)).dtype == np.float32
    assert layer.grad_W.dtype == np.float32


def test_linear_rejects_wrong_width_naming_layer_and_shapes():
    layer = Linear("fc1", 784, 10, 0.01, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'fc1'.*\(batch, 784\).*\(2, 100\)"):
        layer.forward(np.zeros((2, 100), dtype=np.float32))


@pytest.mark.parametrize("arg, value", [("in_num", 0), ("out_num", -3), ("in_num", 2.5)])
def test_linear_rejects_bad_sizes(arg, value):
    kwargs = {"in_num": 4, "out_num": 3, arg: value}
    with pytest.raises(ValueError, match=f"'{arg}' parameter must be an integer >= 1"):
        Linear("fc", kwargs["in_num"], kwargs["out_num"], 0.1)


def test_linear_rejects_unknown_init_listing_choices():
    with pytest.raises(ValueError, match=r"Unknown init 'glorot'; choose one of: gaussian, he, xavier"):
        Linear("fc", 4, 3, init="glorot")


@pytest.mark.parametrize("make_loss", LOGIT_LOSSES + [lambda: CrossEntropyLoss("ce")])
def test_losses_reject_mismatched_or_non_onehot_targets(make_loss):
    loss = make_loss()
    x = np.zeros((4, 10))
    with pytest.raises(ValueError, match=r"target shape \(4, 9\) differs from input shape \(4, 10\)"):
        loss.forward(x, np.zeros((4, 9)))
    with pytest.raises(ValueError, match="one-hot"):
        loss.backward(x, np.full((4, 10), 0.1))


def test_hyperparameters_are_checked_when_built():
    with pytest.raises(ValueError, match=r"'p' parameter must be in \[0, 1\); got 1.5"):
        Dropout("d", p=1.5)
    with pytest.raises(ConfigError, match="'margin' parameter must be a finite number > 0; got 0"):
        HingeLoss("h", margin=0)
    with pytest.raises(ConfigError, match="'gamma' parameter must be a finite number >= 0; got -1"):
        FocalLoss("f", gamma=-1)
    with pytest.raises(ConfigError, match="'alpha' parameter must be a number >= 0"):
        FocalLoss("f", alpha=[0.5, -1.0])


def test_dropout_is_inverted_and_off_in_evaluation():
    layer = Dropout("d", p=0.25, rng=np.random.default_rng(0))
    x = np.ones((200, 500), dtype=np.float32)
    y = layer.forward(x)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs(float((y == 0).mean()) - 0.25) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.01  # expectation preserved
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)


def test_onehot_and_accuracy():
    np.testing.assert_array_equal(onehot_encoding(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        onehot_encoding(np.array([3]), 3)
    assert calculate_acc(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), [1, 1, 1]) == pytest.approx(2 / 3)
