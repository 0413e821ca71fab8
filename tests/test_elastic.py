"""Elastic distortions: known fields give known images; random fields have the predicted spread."""

import numpy as np
import pytest
from fakes import fake_mnist

from mnist_mlp.data.augment import AUGMENTATIONS
from mnist_mlp.data.elastic import (
    elastic_distort,
    elastic_field,
    gaussian_matrix,
    warp_field,
)
from mnist_mlp.errors import ConfigError
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import train


def _ramp(a=0.7, b=-0.3, c=5.0, shape=(28, 28)):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return (a * rows + b * cols + c)[None].astype(np.float64)


def test_zero_field_is_the_identity():
    x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    np.testing.assert_array_equal(warp_field(x, np.zeros((3, 2, 28, 28))), x)


def test_whole_pixel_field_moves_pixels_and_fills_background():
    image = np.random.default_rng(1).random((1, 28, 28))
    field = np.zeros((1, 2, 28, 28))
    field[0, 0], field[0, 1] = 1.0, -2.0        # output (r, c) reads input (r + 1, c - 2)
    out = warp_field(image, field, background=-1.0)
    expected = np.full((28, 28), -1.0)
    expected[:27, 2:] = image[0, 1:, :26]
    np.testing.assert_array_equal(out[0], expected)


def test_bilinear_resampling_of_a_linear_image_is_exact_for_any_field():
    # f(r, c) = a r + b c + k is reproduced exactly by bilinear interpolation, so the
    # warped image must equal f at the displaced points wherever they lie inside.
    image = _ramp()
    rng = np.random.default_rng(2)
    field = rng.uniform(-3, 3, size=(1, 2, 28, 28))
    out = warp_field(image, field)
    rows, cols = np.mgrid[0:28, 0:28]
    source_r, source_c = rows + field[0, 0], cols + field[0, 1]
    inside = (source_r >= 0) & (source_r <= 27) & (source_c >= 0) & (source_c <= 27)
    expected = 0.7 * source_r - 0.3 * source_c + 5.0
    assert inside.sum() > 500
    np.testing.assert_allclose(out[0][inside], expected[inside], rtol=0, atol=1e-10)


def test_field_spread_matches_the_closed_form():
    # Each interior component is alpha * sum_ij g_i g_j u_ij with u ~ U(-1, 1):
    # variance alpha^2 / 3 * (sum_i g_i^2) (sum_j g_j^2).
    alpha, sigma = 34.0, 4.0
    field = elastic_field(6000, np.random.default_rng(3), alpha, sigma, dtype=np.float64)
    g = gaussian_matrix(28, sigma, np.dtype(np.float64))[14]
    expected = alpha / np.sqrt(3) * np.sum(g ** 2)
    measured = field[:, :, 14, 14].std()
    assert measured == pytest.approx(expected, rel=0.03)
    assert abs(field[:, :, 14, 14].mean()) < 0.05 * expected
    # Smooth: neighbours are strongly correlated, pixels 14 apart nearly not.
    near = np.corrcoef(field[:, 0, 14, 14], field[:, 0, 14, 15])[0, 1]
    far = np.corrcoef(field[:, 0, 14, 0], field[:, 0, 14, 27])[0, 1]
    assert near > 0.9 and abs(far) < 0.2


def test_same_seed_same_bits_and_shapes_and_dtypes_kept():
    x = (np.random.default_rng(4).random((5, 784)) * 255).astype(np.uint8)
    a = elastic_distort(x, np.random.default_rng(9))
    b = elastic_distort(x, np.random.default_rng(9))
    c = elastic_distort(x, np.random.default_rng(10))
    assert a.dtype == np.uint8 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    three_d = elastic_distort(x.reshape(5, 28, 28).astype(np.float32), np.random.default_rng(9))
    assert three_d.shape == (5, 28, 28) and three_d.dtype == np.float32


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="sigma"):
        elastic_field(1, np.random.default_rng(0), sigma=0)
    with pytest.raises(ValueError, match="alpha"):
        elastic_field(1, np.random.default_rng(0), alpha=-1)
    with pytest.raises(TypeError, match="Generator"):
        elastic_distort(np.zeros((1, 784)), 0)


def test_train_config_accepts_augmentation_names():
    assert TrainConfig(augment="affine").augment is True       # same hash as before
    assert TrainConfig(augment="none").augment is False
    assert TrainConfig(augment="elastic").augment == "elastic"
    assert set(AUGMENTATIONS) == {"affine", "elastic", "affine+elastic"}
    with pytest.raises(ConfigError, match="augment"):
        TrainConfig(augment="elastik")


def test_trainer_distorts_every_training_batch(monkeypatch):
    calls = []

    def spy(x, rng):
        calls.append(len(x))
        return elastic_distort(x, rng)

    monkeypatch.setitem(AUGMENTATIONS, "elastic", spy)
    data = fake_mnist(seed=0, n_train=600, n_test=100)
    config = TrainConfig(hidden=(16,), epochs=2, augment="elastic", validation_size=100, batch_size=100)
    _, history = train(config, data=data, progress=False, log=lambda line: None)
    _, plain = train(TrainConfig(hidden=(16,), epochs=2, validation_size=100, batch_size=100), data=data,
                     progress=False, log=lambda line: None)
    assert calls == [100] * 10                       # 500 training images, 5 batches, 2 epochs
    assert history.records[-1]["train_loss"] != plain.records[-1]["train_loss"]
