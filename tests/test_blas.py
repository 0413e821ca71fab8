"""The fused kernels (mnist_mlp.blas) and the deferred weight gradient (mnist_mlp.deferred)
against plain NumPy arithmetic, the independent truth."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_mlp import blas
from mnist_mlp.deferred import ProductGrad
from mnist_mlp.layers import Linear
from mnist_mlp.optim import SGD, Adam

SHAPES = [(100, 784, 256), (100, 256, 10), (7, 3, 5), (1, 1, 1), (128, 64, 1)]


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("n, k, m", SHAPES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (1.0, 0.9), (-0.01, 1.0), (2.5, -0.5)])
def test_gemm_tn_is_alpha_at_b_plus_beta_c(n, k, m, alpha, beta, dtype, rtol):
    rng = np.random.default_rng(n * k + m)
    a, b = rng.standard_normal((n, k)).astype(dtype), rng.standard_normal((n, m)).astype(dtype)
    c = rng.standard_normal((k, m)).astype(dtype)
    expected = alpha * (a.astype(np.float64).T @ b.astype(np.float64)) + beta * c.astype(np.float64)
    out = blas.gemm_tn(a, b, c, alpha, beta)
    assert out is c and c.dtype == dtype
    scale = np.abs(a).T @ np.abs(b) * abs(alpha) + abs(beta) * np.abs(c.astype(np.float64))
    assert np.all(np.abs(c - expected) <= rtol * (scale + 1e-30))


def test_gemm_tn_with_beta_zero_ignores_what_c_held():
    a, b = np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)
    c = np.full((3, 4), np.nan, np.float32)
    np.testing.assert_array_equal(blas.gemm_tn(a, b, c), np.full((3, 4), 2.0))


def test_non_contiguous_inputs_take_the_numpy_path_with_the_same_result():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((10, 12)).astype(np.float32)[:, ::2]  # strided: not for BLAS
    b = rng.standard_normal((10, 4)).astype(np.float32)
    c = rng.standard_normal((6, 4)).astype(np.float32)
    expected = 0.5 * (a.T @ b) + 0.9 * c
    np.testing.assert_allclose(blas.gemm_tn(a, b, c, 0.5, 0.9), expected, rtol=1e-5, atol=1e-6)


def test_gemm_tn_rejects_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        blas.gemm_tn(np.ones((2, 3)), np.ones((3, 4)), np.ones((3, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_adds_alpha_x_in_place(dtype):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 7)).astype(dtype), rng.standard_normal((30, 7)).astype(dtype)
    expected = y.astype(np.float64) - 0.01 * x
    out = blas.axpy(-0.01, x, y)
    assert out is y
    np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    with pytest.raises(ValueError, match="shape"):
        blas.axpy(1.0, x, y[:3])


def test_the_backend_is_named():
    assert blas.BACKEND == "numpy" or blas.BACKEND.startswith("openblas")


def _layer_after_backward(dtype=np.float64):
    rng = np.random.default_rng(3)
    layer = Linear("fc", 6, 4, rng=rng, dtype=dtype)
    x = rng.standard_normal((5, 6)).astype(dtype)
    g = rng.standard_normal((5, 4)).astype(dtype)
    layer.forward(x)
    layer.backward(g)
    return layer, x, g


def test_the_weight_gradient_is_deferred_until_read_and_then_is_xt_g():
    layer, x, g = _layer_after_backward()
    assert isinstance(layer.grads()["W"], ProductGrad)
    np.testing.assert_allclose(layer.grad_W, x.T @ g, rtol=1e-14)
    assert layer.grads()["W"] is layer.grad_W  # once read, the array is the gradient
    np.testing.assert_allclose(np.asarray(ProductGrad(x, g, np.empty((6, 4)))), x.T @ g)


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 0.0), (0.9, 1e-3), (0.0, 0.0), (0.0, 1e-3)])
def test_the_fused_sgd_step_equals_the_step_on_the_materialised_gradient(momentum, weight_decay):
    fused, x, g = _layer_after_backward()
    plain, _, _ = _layer_after_backward()
    plain.grad_W  # reading it makes the array the gradient: the unfused path
    config = {"learning_rate": 0.1, "momentum": momentum, "weight_decay": weight_decay}
    for _ in range(3):
        fused.update(config)
        plain.update(config)
    np.testing.assert_allclose(fused.W, plain.W, rtol=1e-13)
    if momentum:
        np.testing.assert_allclose(fused.diff_W, plain.diff_W, rtol=1e-13)
    # and against the formula by hand
    w, v = _layer_after_backward()[0].W.copy(), np.zeros((6, 4))
    for _ in range(3):
        v = momentum * v + x.T @ g + weight_decay * w
        w = w - 0.1 * v
    np.testing.assert_allclose(fused.W, w, rtol=1e-13)


def test_an_edited_gradient_is_the_one_the_step_uses():
    layer, _, _ = _layer_after_backward()
    w0 = layer.W.copy()
    layer.grad_W[...] = 1.0
    SGD(0.5, momentum=0.9).step([("W", layer.W, layer.grads()["W"])])
    np.testing.assert_allclose(layer.W, w0 - 0.5)


def test_optimisers_without_fusion_get_the_array():
    layer, x, g = _layer_after_backward()
    w0 = layer.W.copy()
    Adam(0.1).step([("W", layer.W, layer.grads()["W"])])
    # Adam's first step moves every weight by lr against the sign of its gradient.
    np.testing.assert_allclose(layer.W, w0 - 0.1 * np.sign(x.T @ g), rtol=1e-6)
