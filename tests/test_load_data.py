"""IDX reading and writing, dataset loading, normalisation and the restricted unpickler.

The datasets written here are synthetic, not the published files, so they are loaded
with ``verify=False`` (checksum verification is tested in test_fixes.py).
"""

import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest

from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.load_data import (
    CLASS_NAMES,
    DEFAULT_NORMALIZE,
    NORMALIZATIONS,
    dataset_dir,
    default_data_dir,
    load_dataset,
    load_mnist_2d,
    load_numpy_pickle,
    normalize_images,
    pixel_stats,
    read_idx,
    write_idx,
)

STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def dotted(stem):
    return stem.replace("-idx", ".idx", 1)


def make_dataset(directory, n_train=6, n_test=4, seed=0, rename=lambda stem: stem):
    """Write a small, valid four-file dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        STEMS[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        STEMS[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        STEMS[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        STEMS[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(directory / rename(stem), array)
    return arrays


def idx_bytes(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


# ------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("spelling", [lambda s: s, dotted])
@pytest.mark.parametrize("shape", [(7,), (3, 28, 28), (2, 5, 4)])
def test_idx_round_trip(tmp_path, gz, spelling, shape):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    stem = "t10k-labels-idx1-ubyte" if len(shape) == 1 else "t10k-images-idx3-ubyte"
    path = tmp_path / (spelling(stem) + (".gz" if gz else ""))
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    if gz:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert path.stat().st_size == 4 + 4 * len(shape) + array.size


def test_idx_header_layout(tmp_path):
    write_idx(tmp_path / "l", np.array([3, 1, 4], np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes.fromhex("00000801 00000003") + bytes([3, 1, 4])


def test_write_idx_rejects_other_arrays(tmp_path):
    with pytest.raises(DataError, match=r"uint8 arrays of 1 or 3 dimensions; got int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(DataError, match=r"shape \(2, 2\)"):
        write_idx(tmp_path / "x", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_write_idx_leaves_no_temp_files(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((2, 28, 28), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


BAD_FILES = {
    "missing": (None, "file not found"),
    "wrong magic": (
        idx_bytes(0x00000802, (2, 2), b"\0" * 4),
        r"wrong magic number 0x00000802, expected 0x00000801",
    ),
    "empty": (b"", r"truncated file: 0 bytes"),
    "short header": (
        bytes.fromhex("00000801 0000"),
        r"truncated file: 6 bytes, shorter than its 8-byte header",
    ),
    "short data": (
        idx_bytes(0x801, (10,), b"\1" * 7),
        r"truncated file: the header promises 10 = 10 data bytes, only 7",
    ),
    "extra data": (
        idx_bytes(0x801, (3,), b"\1" * 5),
        r"header dimensions 3 disagree with the file size",
    ),
    "gzip without .gz": (gzip.compress(idx_bytes(0x801, (1,), b"\1")), r"looks gzip-compressed"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_read_idx_errors_name_file_and_problem(tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "train-labels-idx1-ubyte"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path, ndim=1)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_read_idx_images_where_labels_expected(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(
        DataError, match=r"wrong magic number 0x00000803, expected 0x00000801 \(labels\)"
    ):
        read_idx(path, ndim=1)


@pytest.mark.parametrize("content", [b"this is not gzip", None], ids=["not-gzip", "cut-gzip"])
def test_read_idx_bad_gzip(tmp_path, content):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    if content is None:  # a gzip stream cut in the middle
        content = gzip.compress(idx_bytes(0x801, (5000,), os.urandom(5000)))[:-100]
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"not a valid gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ loading


def test_load_mnist_2d_seed_call(tmp_path):
    arrays = make_dataset(tmp_path)
    train_data, test_data, train_label, test_label = load_mnist_2d(str(tmp_path), verify=False)
    assert train_data.shape == (6, 784) and test_data.shape == (4, 784)
    assert train_data.dtype == np.float32 and test_data.dtype == np.float32
    assert train_label.dtype == np.int64 and test_label.dtype == np.int64
    np.testing.assert_array_equal(train_label, arrays[STEMS[1]])
    np.testing.assert_array_equal(test_label, arrays[STEMS[3]])
    assert DEFAULT_NORMALIZE == "center"
    expected = (arrays[STEMS[2]].reshape(4, 784).astype(np.float64) - 128) / 255
    np.testing.assert_array_equal(test_data, expected.astype(np.float32))


@pytest.mark.parametrize("rename", [dotted, lambda s: s + ".gz", lambda s: dotted(s) + ".gz"])
def test_load_other_spellings(tmp_path, rename):
    make_dataset(tmp_path / "a")
    make_dataset(tmp_path / "b", rename=rename)
    for mine, theirs in zip(
        load_mnist_2d(tmp_path / "a", verify=False), load_mnist_2d(tmp_path / "b", verify=False),
        strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)


def test_load_missing_file_says_how_to_fetch(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / STEMS[3]).unlink()
    with pytest.raises(DataError, match=r"file not found .*`mnist-mlp fetch --data-dir ") as info:
        load_mnist_2d(tmp_path)
    assert str(tmp_path / STEMS[3]) in str(info.value)
    with pytest.raises(DataError, match=r"`mnist-mlp fetch --dataset fashion-mnist --data-dir "):
        load_dataset("fashion-mnist", tmp_path)


def test_load_count_mismatch_names_both_files(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / STEMS[1], np.zeros(5, np.uint8))
    with pytest.raises(
        DataError, match=r"holds 6 images but .*train-labels-idx1-ubyte holds 5 labels"
    ):
        load_mnist_2d(tmp_path)


def test_load_labels_outside_0_9(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / STEMS[3], np.array([1, 2, 10, 255], np.uint8))
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte: label 10 at index 2 is outside 0-9 \(2 such"
    ):
        load_mnist_2d(tmp_path)


def test_load_wrong_image_size(tmp_path):
    make_dataset(tmp_path)
    write_idx(tmp_path / STEMS[0], np.zeros((6, 32, 32), np.uint8))
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte: images are 32x32 pixels, expected 28x28"
    ):
        load_mnist_2d(tmp_path)


def test_load_swapped_files(tmp_path):
    arrays = make_dataset(tmp_path)
    write_idx(tmp_path / STEMS[0], arrays[STEMS[1]])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: wrong magic number 0x00000801"):
        load_mnist_2d(tmp_path)


def test_fashion_mnist_lives_in_its_own_directory(tmp_path):
    make_dataset(tmp_path / "fashion-mnist", seed=5, rename=lambda s: s + ".gz")
    assert dataset_dir("fashion-mnist", tmp_path) == tmp_path / "fashion-mnist"
    train_data, test_data, train_label, test_label = load_dataset(
        "fashion-mnist", tmp_path, normalize="unit", verify=False
    )
    assert train_data.shape == (6, 784) and test_label.shape == (4,)
    assert CLASS_NAMES["fashion-mnist"][9] == "Ankle boot"
    assert CLASS_NAMES["mnist"] == tuple("0123456789")


def test_unknown_dataset_lists_names(tmp_path):
    with pytest.raises(
        ConfigError, match=r"Unknown dataset 'cifar'; choose one of: fashion-mnist, mnist"
    ):
        load_dataset("cifar", tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_MLP_DATA", raising=False)
    assert str(default_data_dir()) == "data"
    monkeypatch.setenv("MNIST_MLP_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    make_dataset(tmp_path)
    assert load_mnist_2d(verify=False)[0].shape == (6, 784)


# ------------------------------------------------------------ normalisation


PIXELS = np.array([[0, 128, 255], [255, 0, 1]], np.uint8)


@pytest.mark.parametrize(
    "method, expected",
    [
        ("center", (PIXELS.astype(np.float64) - 128) / 255),
        ("unit", PIXELS / 255.0),
        ("none", PIXELS.astype(np.float64)),
    ],
)
def test_normalize_formulas(method, expected):
    out = normalize_images(PIXELS, method)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-7, atol=0)
    assert normalize_images(PIXELS, method, dtype=np.float64).dtype == np.float64


def test_unit_range():
    out = normalize_images(np.arange(256, dtype=np.uint8)[None], "unit")
    assert out.min() == 0.0 and out.max() == 1.0


def test_standard_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(3)
    train = rng.integers(0, 100, (50, 28, 28), dtype=np.uint8)
    train[:, 0, 0] = 7  # a constant pixel, like MNIST's borders
    test = rng.integers(150, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.zeros(50, np.uint8), np.zeros(20, np.uint8)
    for stem, array in zip(STEMS, (train, labels[0], test, labels[1]), strict=True):
        write_idx(tmp_path / stem, array)
    train_data, test_data, _, _ = load_mnist_2d(tmp_path, normalize="standard", verify=False)
    np.testing.assert_allclose(train_data.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train_data[:, 1:].std(axis=0), 1, rtol=1e-4)
    assert np.all(train_data[:, 0] == 0)
    flat_train, flat_test = (
        train.reshape(50, -1).astype(np.float64),
        test.reshape(20, -1).astype(np.float64),
    )
    std = flat_train.std(axis=0)
    std[std == 0] = 1
    expected = (flat_test - flat_train.mean(axis=0)) / std
    np.testing.assert_allclose(test_data, expected, rtol=1e-5, atol=1e-5)
    assert test_data.mean() > 2  # the test set was shifted; its own statistics were not used


def test_pixel_stats_chunks_agree():
    x = np.random.default_rng(4).integers(0, 256, (1000, 10), dtype=np.uint8)
    mean, std = pixel_stats(x, chunk=64)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=0), rtol=1e-10)


def test_unknown_normalize_lists_names(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"Unknown normalize 'zscore'; choose one of: center, none, standard, unit",
    ):
        load_mnist_2d(tmp_path, normalize="zscore")
    assert sorted(NORMALIZATIONS) == ["center", "none", "standard", "unit"]


def test_standard_without_stats_and_bad_dtype():
    with pytest.raises(ConfigError, match=r"needs stats"):
        normalize_images(PIXELS, "standard")
    with pytest.raises(ConfigError, match=r"'dtype' parameter must be a floating dtype; got int32"):
        normalize_images(PIXELS, "unit", dtype=np.int32)


def test_normalize_does_not_modify_input():
    x = PIXELS.astype(np.float32)
    normalize_images(x, "center", dtype=np.float32)
    np.testing.assert_array_equal(x, PIXELS)


# ------------------------------------------------------- restricted unpickler


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsShell(f"echo pwned > {marker}"), protocol=2)
    with pytest.raises(
        DataError, match=r"evil.pkl: refusing to load (posix|os|nt)\.system; only NumPy arrays"
    ):
        load_numpy_pickle(io.BytesIO(payload), "evil.pkl")
    assert not marker.exists()


@pytest.mark.parametrize(
    "target", [eval, getattr, pickle.loads], ids=["eval", "getattr", "pickle.loads"]
)
def test_unpickler_refuses_other_callables(target):
    class Sneaky:
        def __reduce__(self):
            return (target, ("1",))

    with pytest.raises(DataError, match=r"refusing to load"):
        load_numpy_pickle(io.BytesIO(pickle.dumps(Sneaky(), protocol=2)))


def test_unpickler_garbage_is_data_error():
    with pytest.raises(DataError, match=r"x.pkl: not a readable pickle of NumPy arrays"):
        load_numpy_pickle(io.BytesIO(b"\x80\x02garbage"), "x.pkl")


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, as the classic mnist.pkl.gz does."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _arrays():
    rng = np.random.default_rng(7)
    return (
        (rng.random((3, 4), dtype=np.float32), rng.integers(0, 10, 3)),
        (np.arange(5, dtype=np.uint8),),
    )


def _assert_same(loaded, expected):
    assert isinstance(loaded, tuple) and len(loaded) == len(expected)
    for got, want in zip(loaded, expected, strict=True):
        if isinstance(want, tuple):
            _assert_same(got, want)
        else:
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_loads_numpy_arrays(protocol):
    payload = pickle.dumps(_arrays(), protocol=protocol)
    _assert_same(load_numpy_pickle(io.BytesIO(payload)), _arrays())


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_unpickler_loads_python2_pickle(module):
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(_arrays())
    payload = buf.getvalue()
    # Whichever NumPy wrote the test pickle, spell the module as the pickle under test does.
    for name in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        payload = payload.replace(b"c" + name + b"\n", b"c" + module + b"\n")
    assert b"c" + module + b"\n_reconstruct" in payload
    _assert_same(load_numpy_pickle(io.BytesIO(payload)), _arrays())
