"""Augmentation: exact cases (identity, whole-pixel shifts, quarter turns), a closed form
for general affine maps (bilinear interpolation reproduces linear images exactly),
invariants (shape, dtype, range, seeding) and errors."""

import numpy as np
import pytest

from mnist_mlp.data.augment import augment_batch, random_shift, warp_affine


def _images(n=4, shape=(28, 28), seed=0, dtype=np.float32):
    """Random, hence asymmetric, images."""
    return np.random.default_rng(seed).random((n, *shape)).astype(dtype)


def test_identity_reproduces_input_exactly():
    x = _images().reshape(4, 784)
    assert np.array_equal(warp_affine(x), x)
    out = augment_batch(x, np.random.default_rng(1), max_shift=0, max_rotation=0, max_scale=0)
    assert np.array_equal(out, x) and out is not x


@pytest.mark.parametrize("dy, dx", [(2, -3), (0, 1), (-1, 0), (5, 5)])
def test_integer_translation_moves_pixels_exactly(dy, dx):
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 10, 12], x[0, 11, 12], x[0, 10, 13] = 1.0, 0.5, 0.25  # an L-shaped pattern
    out = warp_affine(x, shift=(dy, dx))
    expected = np.zeros_like(x)
    expected[0, 10 + dy, 12 + dx], expected[0, 11 + dy, 12 + dx] = 1.0, 0.5
    expected[0, 10 + dy, 13 + dx] = 0.25
    assert np.array_equal(out, expected)


def test_translation_fills_with_background():
    x = _images(2) - 0.5                                # normalised: background is not 0
    out = warp_affine(x, shift=(3, 0))
    assert np.array_equal(out[:, 3:], x[:, :-3])
    assert np.array_equal(out[:, :3], np.broadcast_to(x.min(axis=(1, 2))[:, None, None], (2, 3, 28)))
    out = warp_affine(x, shift=(0, -2), background=-7.0)
    assert np.all(out[:, :, -2:] == -7.0) and np.array_equal(out[:, :, :-2], x[:, :, 2:])


@pytest.mark.parametrize("angle, k", [(90, 1), (180, 2), (-90, -1), (270, 3)])
def test_quarter_turns_match_rot90(angle, k):
    x = _images(3)
    out = warp_affine(x, rotation=angle)
    np.testing.assert_array_equal(out, np.rot90(x, k=k, axes=(1, 2)))


def test_half_turn_of_a_non_square_image_flips_both_axes():
    x = _images(2, shape=(20, 31))
    np.testing.assert_array_equal(warp_affine(x, rotation=180), x[:, ::-1, ::-1])


def test_general_affine_matches_closed_form_on_linear_images():
    """Bilinear interpolation is exact for f(r, c) = a r + b c + k, so wherever the source
    point lies inside the image the output must equal f at that point, computed here
    from the transform's definition with a generic matrix inverse."""
    height, width = 28, 28
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    image = 0.3 * rows - 0.2 * cols + 5.0
    params = dict(rotation=17.0, scale=1.15, shear=8.0, shift=(1.5, -0.75))
    out = warp_affine(image[None], **params)[0]
    theta, phi = np.deg2rad(17.0), np.deg2rad(8.0)
    rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    matrix = 1.15 * rotate @ np.array([[1.0, 0.0], [-np.tan(phi), 1.0]])
    centre = np.array([13.5, 13.5])
    q = np.stack([rows.ravel(), cols.ravel()]) - centre[:, None]
    src = np.linalg.inv(matrix) @ (q - np.array([[1.5], [-0.75]])) + centre[:, None]
    inside = ((src >= 0) & (src <= [[height - 1], [width - 1]])).all(axis=0)
    assert inside.sum() > 400
    expected = 0.3 * src[0] - 0.2 * src[1] + 5.0
    np.testing.assert_allclose(out.ravel()[inside], expected[inside], rtol=0, atol=1e-10)


def test_shear_leans_the_top_right():
    x = np.zeros((1, 29, 29))
    x[0, :, 14] = 1.0                                   # vertical line through the centre
    out = warp_affine(x, shear=45.0)[0]
    # Row r moves right by (14 - r) tan(45) = 14 - r: the line becomes the anti-diagonal.
    np.testing.assert_allclose(out, np.fliplr(np.eye(29)), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28)])
def test_shape_and_dtype_preserved(dtype, shape):
    x = (np.random.default_rng(0).random(shape) * 200).astype(dtype)
    out = augment_batch(x, np.random.default_rng(0), max_shear=5.0)
    assert out.shape == shape and out.dtype == dtype


def test_same_seed_same_output_and_seed_matters():
    x = _images(6).reshape(6, 784)
    a = augment_batch(x, np.random.default_rng(42), max_shear=10.0)
    b = augment_batch(x, np.random.default_rng(42), max_shear=10.0)
    c = augment_batch(x, np.random.default_rng(43), max_shear=10.0)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, x)


def test_values_stay_within_each_images_range():
    x = (_images(50) * 4 - 1).reshape(50, 784)           # range about [-1, 3]
    out = augment_batch(x, np.random.default_rng(5), max_shift=3, max_rotation=30,
                        max_scale=0.3, max_shear=20)
    # Bilinear blends are convex combinations; allow float32 rounding (a few ulps).
    slack = 4 * np.finfo(np.float32).eps * 3
    assert np.all(out >= x.min(axis=1, keepdims=True) - slack)
    assert np.all(out <= x.max(axis=1, keepdims=True) + slack)


def test_batches_larger_than_a_chunk_match_image_by_image():
    """The resampler works in chunks of images; results must not depend on it."""
    n = 300
    x = _images(n, shape=(8, 8)).reshape(n, 64)
    rng = np.random.default_rng(9)
    rotation, scale = rng.uniform(-40, 40, n), rng.uniform(0.8, 1.2, n)
    shift = rng.uniform(-2, 2, (n, 2))
    batch = warp_affine(x, rotation=rotation, scale=scale, shift=shift, image_shape=(8, 8))
    for i in (0, 63, 64, 128, 255, 256, 299):
        one = warp_affine(x[i:i + 1], rotation=rotation[i], scale=scale[i], shift=shift[i],
                          image_shape=(8, 8))
        assert np.array_equal(batch[i], one[0])


def test_random_shift_is_a_whole_pixel_translation():
    x = _images(20)
    out = random_shift(x, np.random.default_rng(3), max_shift=2)
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for image, moved in zip(x, out):
        padded = np.pad(image, 2, constant_values=image.min())
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(moved, padded[2 - dy:30 - dy, 2 - dx:30 - dx])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 5                                 # the shifts do vary
    again = random_shift(x, np.random.default_rng(3), max_shift=2)
    assert np.array_equal(out, again)
    assert np.array_equal(random_shift(x.reshape(20, 784), np.random.default_rng(0), 0),
                          x.reshape(20, 784))


def test_empty_batch():
    out = augment_batch(np.zeros((0, 784), np.float32), np.random.default_rng(0))
    assert out.shape == (0, 784) and out.dtype == np.float32


@pytest.mark.parametrize("kwargs, message", [
    ({"max_scale": 1.0}, r"'max_scale' parameter must be in \[0, 1\); got 1.0"),
    ({"max_rotation": -5}, r"'max_rotation' parameter must be a finite number >= 0; got -5"),
    ({"max_shift": "2"}, r"'max_shift' parameter must be a finite number >= 0; got '2'"),
    ({"max_shear": 90}, r"'max_shear' parameter must be in \[0, 90\); got 90"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment_batch(np.zeros((1, 784)), np.random.default_rng(0), **kwargs)


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(batch, 784\).*got \(2, 100\)"):
        augment_batch(np.zeros((2, 100)), np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        augment_batch(np.zeros((2, 784)), 0)
    with pytest.raises(ValueError, match="'scale' parameter must be > 0 and finite; got 0.0"):
        warp_affine(np.zeros((1, 784)), scale=0.0)
    with pytest.raises(ValueError, match="'rotation' parameter must be finite; got nan"):
        warp_affine(np.zeros((2, 784)), rotation=[1.0, np.nan])
    with pytest.raises(ValueError, match="'max_shift' parameter must be an integer >= 0; got 1.5"):
        random_shift(np.zeros((1, 784)), np.random.default_rng(0), 1.5)
