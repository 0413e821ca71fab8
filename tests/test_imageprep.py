"""Pictures of digits brought into MNIST form: polarity, transparency, size, box, centring.

Each picture is drawn with Pillow in a temporary directory; the checks measure the
result directly (bounding box of the ink, centre of mass), per MNIST's recipe.
"""


import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_mlp.data.imageprep import load_digit_image, to_mnist_form
from mnist_mlp.errors import DataError


def _seven(size, ink, paper, mode="RGB", width_frac=0.06):
    """A '7'-like stroke (bar and diagonal) filling the middle of a ``size`` (w, h) canvas."""
    w, h = size
    image = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(image)
    line = max(1, round(width_frac * min(w, h)))
    draw.line([(0.3 * w, 0.25 * h), (0.7 * w, 0.25 * h), (0.45 * w, 0.8 * h)], fill=ink, width=line)
    return image


def _ink_box(digit):
    image = digit.reshape(28, 28)
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _centre_of_mass(digit):
    image = digit.reshape(28, 28).astype(np.float64)
    r = np.arange(28)
    return image.sum(axis=1) @ r / image.sum(), image.sum(axis=0) @ r / image.sum()


def _check_mnist_form(digit):
    assert digit.shape == (784,) and digit.dtype == np.float32
    assert digit.min() == 0 and digit.max() == 255
    assert np.array_equal(digit, np.rint(digit))
    assert max(_ink_box(digit)) in (19, 20, 21)
    cy, cx = _centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 + 1e-9 and abs(cx - 14) <= 0.5 + 1e-9
    corners = digit.reshape(28, 28)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == 0)  # white on black


def _save(image, tmp_path, name):
    path = tmp_path / name
    image.save(path)
    return path


def test_black_on_white_rgb_is_inverted(tmp_path):
    dark = load_digit_image(_save(_seven((120, 160), (0, 0, 0), (255, 255, 255)), tmp_path, "a.png"))
    light = load_digit_image(_save(_seven((120, 160), 255, 0, mode="L"), tmp_path, "b.png"))
    _check_mnist_form(dark)
    _check_mnist_form(light)
    # Same shape in either polarity gives the same digit.
    assert np.abs(dark - light).max() <= 1


def test_white_on_black_grayscale(tmp_path):
    digit = load_digit_image(_save(_seven((90, 90), 255, 0, mode="L"), tmp_path, "w.png"))
    _check_mnist_form(digit)
    # The bar of the 7 is near the top: more ink in the upper half than in the lower.
    image = digit.reshape(28, 28)
    assert image[:14].sum() > image[14:].sum()


def test_rgba_transparency_is_composited_on_white(tmp_path):
    stroke = _seven((100, 140), (0, 0, 0, 255), (0, 0, 0, 0), mode="RGBA")  # transparent paper
    digit = load_digit_image(_save(stroke, tmp_path, "t.png"))
    _check_mnist_form(digit)
    opaque = _seven((100, 140), (0, 0, 0), (255, 255, 255))
    reference = load_digit_image(_save(opaque, tmp_path, "r.png"))
    assert np.array_equal(digit, reference)


def test_coloured_ink_on_grey_paper_jpeg(tmp_path):
    """A noisy JPEG photo-like picture: blue ink on grey paper."""
    image = _seven((300, 300), (20, 40, 160), (200, 200, 190))
    noise = np.random.default_rng(0).normal(0, 4, (300, 300, 3))
    noisy = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
    digit = load_digit_image(_save(Image.fromarray(noisy), tmp_path, "photo.jpg"))
    _check_mnist_form(digit)


@pytest.mark.parametrize("size", [(10, 10), (1000, 600), (600, 1000)])
def test_tiny_and_huge_images(size, tmp_path):
    digit = load_digit_image(_save(_seven(size, 0, 255, mode="L"), tmp_path, "s.png"))
    _check_mnist_form(digit)


def test_aspect_ratio_is_kept(tmp_path):
    image = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(image).rectangle([95, 20, 104, 179], fill=255)    # 10 wide, 160 tall
    digit = load_digit_image(_save(image, tmp_path, "bar.png"))
    height, width = _ink_box(digit)
    assert height == 20 and width in (1, 2, 3)                       # 10 * 20/160 = 1.25
    _check_mnist_form(digit)


def test_sixteen_bit_and_palette_images(tmp_path):
    deep = np.asarray(_seven((80, 80), 255, 0, mode="L"), np.uint16) * 257
    digit16 = load_digit_image(_save(Image.fromarray(deep), tmp_path, "deep.png"))
    digit8 = load_digit_image(_save(_seven((80, 80), 255, 0, mode="L"), tmp_path, "plain.png"))
    assert np.abs(digit16 - digit8).max() <= 1
    palette = _seven((80, 80), 255, 0, mode="L").convert("P")
    assert np.array_equal(load_digit_image(_save(palette, tmp_path, "p.gif")), digit8)


def test_blank_image_is_refused(tmp_path):
    path = _save(Image.new("RGB", (50, 50), (255, 255, 255)), tmp_path, "blank.png")
    with pytest.raises(DataError, match=r"blank\.png.*no digit found: the image is blank"):
        load_digit_image(path)
    noisy = np.random.default_rng(1).normal(128, 2, (40, 40)).clip(0, 255).astype(np.uint8)
    with pytest.raises(DataError, match="blank"):
        load_digit_image(_save(Image.fromarray(noisy), tmp_path, "grey.png"))


def test_unreadable_files_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a picture\n")
    with pytest.raises(DataError, match=r"notes\.txt.*not an image"):
        load_digit_image(text)
    truncated = tmp_path / "cut.png"
    _seven((60, 60), 0, 255, mode="L").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(DataError, match=r"cut\.png"):
        load_digit_image(truncated)
    with pytest.raises(DataError, match=r"missing\.png.*does not exist"):
        load_digit_image(tmp_path / "missing.png")
    with pytest.raises(DataError, match="expected a 2-D grayscale image"):
        to_mnist_form(np.zeros((3, 4, 5)))


def test_box_is_moved_inside_the_field_when_mass_is_lopsided():
    # A dot at the top left and a heavy block at the bottom right of a 40x40 box: the
    # centre of mass lies about 15.4 px into the 20-px box along both axes, so centring
    # it at 14 would start the box at -1. It is clamped to start at 0 and keeps all ink.
    gray = np.zeros((50, 50), np.float32)
    gray[5, 5] = 255
    gray[29:45, 29:45] = 255
    digit = to_mnist_form(gray)
    assert _ink_box(digit) == (20, 20)
    image = digit.reshape(28, 28)
    assert image[0].sum() > 0 and image[:, 0].sum() > 0     # pushed against the top left
    cy, cx = _centre_of_mass(digit)
    assert cy > 14.5 and cx > 14.5                          # off centre: it had to move


def test_real_mnist_digits_come_back_as_themselves(tmp_path, mnist_dir):
    raw = np.fromfile(mnist_dir / "t10k-images-idx3-ubyte", dtype=np.uint8, offset=16, count=784 * 20)
    raw = raw.reshape(20, 28, 28)
    for i, original in enumerate(raw):
        path = tmp_path / f"mnist{i}.png"
        Image.fromarray(original).save(path)
        digit = load_digit_image(path)
        # Already in MNIST form: only the contrast stretch to a peak of 255 may differ.
        expected = np.rint(original * (255.0 / original.max()))
        close = np.abs(digit - expected.ravel()) <= 2
        assert close.mean() >= 0.97, i
