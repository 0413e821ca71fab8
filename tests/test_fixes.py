"""Issue 18: what a new user hit, one test (or a few) per item.

Each test failed before its fix (see docs/fixes.md). The data are the tiny synthetic
IDX datasets of test_cli_train; the checksum tests build a fake "known" dataset whose
published MD5 sums are patched to those of files written here.
"""

import json

import numpy as np
import pytest
from test_cli_train import small_args, write_dataset

from mnist_mlp.cli import main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


# -- item 5: output locations are checked before any work ---------------------------------


def test_train_into_a_path_below_a_file_is_one_line_before_training(data_dir, tmp_path, capsys,
                                                                      monkeypatch):
    from mnist_mlp.cli import train as train_command

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_command, "train", no_training)
    blocker = tmp_path / "README.md"
    blocker.write_text("a file")
    assert main(small_args(data_dir, blocker / "run")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training into" not in err
    assert "output directory" in err and "README.md is a file, not a directory" in err
    assert "--out DIR" in err


# -- item 4: predict reports every image ---------------------------------------------------


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """One small trained run directory (model.npz, checkpoint.npz, history.json)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(small_args(data_dir, out, "--epochs", "2")) == 0
    return out


def test_predict_reports_each_image_and_fails_if_any_did(trained, tmp_path, capsys):
    from PIL import Image

    seven = tmp_path / "seven.png"
    blob = np.zeros((56, 56), np.uint8)
    blob[20:36, 24:32] = 255
    Image.fromarray(blob).save(seven)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(blank)
    missing = tmp_path / "missing.png"
    capsys.readouterr()
    code = main(["predict", str(trained / "model.npz"), str(seven), str(blank), str(missing)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0].startswith(f"{seven}: ")  # the readable image is reported
    assert len(out.splitlines()) == 2
    errors = err.strip().splitlines()
    assert any(line.startswith(f"{blank}: ") for line in errors)
    assert any(line.startswith(f"{missing}: ") for line in errors)
    assert errors[-1] == "mnist-mlp predict: error: 2 of 3 images could not be classified"
    # All readable: exit 0, one report per image.
    assert main(["predict", str(trained / "model.npz"), str(seven), str(seven)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


# -- item 1: every file says what it is; readers say what they got and what they expected --


def _one_error_line(capsys):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_files_written_by_a_run_say_what_they_are(trained):
    for name, kind in (("model.npz", "model"), ("checkpoint.npz", "checkpoint")):
        with np.load(trained / name, allow_pickle=False) as archive:
            assert json.loads(str(archive["__header__"]))["kind"] == kind
    assert json.loads((trained / "history.json").read_text())["format"] == "mnist-mlp history"


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_checkpoint_given_for_a_model_is_named_with_the_model_beside_it(trained, command, capsys,
                                                                          tmp_path):
    extra = [str(tmp_path / "x.png")] if command == "predict" else []
    capsys.readouterr()
    assert main([command, str(trained / "checkpoint.npz"), *extra]) == 1
    line = _one_error_line(capsys)
    assert "is a training checkpoint, not a model file" in line
    assert str(trained / "model.npz") in line


@pytest.mark.parametrize("name, content, what", [
    ("history.json", None, "a training history"),
    ("README.md", "# mnist-mlp\n\nA from-scratch NumPy MLP.\n", "a text file"),
    ("result.json", '{"name": "a", "status": "ok"}', "a JSON file"),
    ("curves.png", b"\x89PNG\r\n\x1a\n" + bytes(32), "a PNG image"),
    ("empty.npz", b"", "an empty file"),
])
def test_other_files_given_for_a_model_get_one_line(trained, tmp_path, capsys, name, content, what):
    path = trained / name if content is None else tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    capsys.readouterr()
    assert main(["evaluate", str(path)]) == 1
    line = _one_error_line(capsys)
    assert f"{path} is {what}, not a model file" in line
    assert "model.npz" in line and "pickle" not in line


def test_a_model_given_for_a_history_or_checkpoint_is_named(trained, tmp_path):
    from mnist_mlp.errors import DataError
    from mnist_mlp.train.history import History

    with pytest.raises(DataError, match=r"is a model file, not a training history"):
        History.load(trained / "model.npz")
    from mnist_mlp.fileio import read_archive

    with pytest.raises(DataError, match=r"is a model file, not a training checkpoint"):
        read_archive(trained / "model.npz", "checkpoint", missing="gone")


def test_model_files_without_a_kind_still_load(trained, tmp_path):
    """Model files written before the kind field: recognised by their architecture."""
    from mnist_mlp.network import Network

    with np.load(trained / "model.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays.pop("__header__")))
    del header["kind"]
    np.savez(tmp_path / "old.npz", __header__=np.array(json.dumps(header)), **arrays)
    old, new = Network.load(tmp_path / "old.npz"), Network.load(trained / "model.npz")
    for (_, a, _), (_, b, _) in zip(old.named_params(), new.named_params(), strict=True):
        assert np.array_equal(a, b)


# -- item 6: a run that collapses to chance is flagged ------------------------------------


def test_a_collapse_to_chance_is_warned_and_marked_in_the_history(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    # The case on the synthetic data: lr 1.5 kills the ReLUs, the loss stays finite.
    assert main(small_args(data_dir, out, "--lr", "1.5", "--epochs", "2")) == 0
    printed = capsys.readouterr().out  # the summary; the trainer's log line is checked below
    from mnist_mlp.train.history import History

    history = History.load(out / "history.json")
    assert history.final()["val_acc"] <= 0.12 and history.at_chance is True
    assert json.loads((out / "history.json").read_text())["at_chance"] is True
    warning = [line for line in printed.splitlines() if line.startswith("warning:")]
    assert warning and "validation accuracy 10.00%" in warning[0]
    # The same hint as for divergence.
    assert "try a lower learning rate than 1.5; e.g. 0.15" in warning[0]


def test_a_constant_prediction_is_at_chance_and_a_learning_run_is_not(trained):
    """Identical inputs give one output for all, so the accuracy is one class's share: chance."""
    from mnist_mlp.train.config import TrainConfig
    from mnist_mlp.train.history import History
    from mnist_mlp.train.trainer import train

    labels = np.arange(400) % 10
    zeros = np.zeros((400, 784), np.float32)
    config = TrainConfig(hidden=(8,), epochs=1, validation_size=100, batch_size=50)
    lines = []
    _, history = train(config, data=(zeros, zeros[:100], labels, labels[:100]), progress=False,
                       log=lines.append)
    assert history.final()["val_acc"] == pytest.approx(0.1)
    warning = [line for line in lines if "chance" in line]
    assert history.at_chance is True and len(warning) == 1
    assert "validation accuracy 10.00%" in warning[0] and "a constant guess scores 10.00%" in warning[0]
    assert History.load(trained / "history.json").at_chance is False
    # Histories written before the field load as not at chance.
    old = History.from_dict({"format": "mnist-mlp history", "records": []})
    assert old.at_chance is False


# -- item 2: checksums verified whenever a known dataset is loaded -------------------------


@pytest.fixture
def known(tmp_path, monkeypatch):
    """A small dataset made "the published MNIST": the registry's MD5 sums are those of its
    files (computed here with hashlib), and the verification cache is private to the test."""
    import dataclasses
    import hashlib

    from mnist_mlp.data import datasets

    directory = write_dataset(tmp_path / "data", n_train=300, n_test=100)
    md5 = {stem: hashlib.md5((directory / stem).read_bytes()).hexdigest()
           for stem in datasets._STEMS}
    monkeypatch.setitem(datasets._DATASETS, "mnist",
                        dataclasses.replace(datasets._DATASETS["mnist"], md5=md5))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_MLP_NO_VERIFY", raising=False)
    return directory


def _overwrite(path, offset, size, seed=0):
    """Overwrite ``size`` bytes at ``offset`` with random bytes: same size, other content."""
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _train_args(data_dir, out, *extra):
    """small_args without its --no-verify: the known dataset is verified."""
    args = [arg for arg in small_args(data_dir, out, "--epochs", "1") if arg != "--no-verify"]
    return args + list(extra)


def test_a_file_corrupted_in_place_is_refused_naming_it(known, tmp_path, capsys):
    images = known / "train-images-idx3-ubyte"
    _overwrite(images, 16 + 784 * 10, 784 * 50)
    code = main(_train_args(known, tmp_path / "run"))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("training into")]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"mnist-mlp train: error: {images}: checksum mismatch: md5 ")
    assert "--no-verify" in lines[0] and "mnist-mlp fetch --data-dir" in lines[0]
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
    # evaluate and report load data too, and refuse it the same way.
    from mnist_mlp.errors import DataError
    from mnist_mlp.load_data import load_dataset

    with pytest.raises(DataError, match="train-images-idx3-ubyte: checksum mismatch"):
        load_dataset("mnist", known)


def test_no_verify_warns_once_naming_the_files_and_goes_on(known, tmp_path, capsys):
    _overwrite(known / "train-labels-idx1-ubyte", 8, 30)  # relabelled on purpose
    labels = known / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8:] = bytes(b % 10 for b in data[8:])  # still valid labels 0-9
    labels.write_bytes(bytes(data))
    assert main(_train_args(known, tmp_path / "run", "--no-verify")) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == ["mnist-mlp: warning: not verified (--no-verify): files that differ from "
                        f"the published mnist ones, used as they are: {labels}"]
    assert main(["evaluate", str(tmp_path / "run" / "model.npz"), "--data-dir", str(known),
                 "--no-verify"]) == 0
    assert capsys.readouterr().err.count("warning: not verified") == 1
    # Without the flag the same files are refused again: the flag holds for one command.
    assert main(["evaluate", str(tmp_path / "run" / "model.npz"), "--data-dir", str(known)]) == 1
    assert f"{labels}: checksum mismatch" in capsys.readouterr().err


def test_unchanged_files_are_not_hashed_again(known, monkeypatch, tmp_path):
    import os

    from mnist_mlp.data import verify
    from mnist_mlp.load_data import load_dataset

    hashed = []
    real = verify.content_md5
    monkeypatch.setattr(verify, "content_md5", lambda path, *a: hashed.append(path.name) or real(path, *a))
    load_dataset("mnist", known)
    assert len(hashed) == 4
    cache = json.loads((tmp_path / "cache" / "mnist-mlp" / verify.CACHE_NAME).read_text())
    assert len(cache["files"]) == 4
    load_dataset("mnist", known)
    assert len(hashed) == 4  # a stat per file, no hashing
    # Changed in place, even with the modification time put back: hashed again, refused.
    images = known / "t10k-images-idx3-ubyte"
    before = images.stat()
    _overwrite(images, 100, 10)
    os.utime(images, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(Exception, match="t10k-images-idx3-ubyte: checksum mismatch"):
        load_dataset("mnist", known)
    assert hashed[4:] == ["t10k-images-idx3-ubyte"]


def test_real_mnist_overwritten_at_the_same_size_is_refused(mnist_dir, tmp_path, monkeypatch):
    """The issue's case on the real files: 100 KB overwritten inside train-images."""
    import shutil

    from mnist_mlp.errors import DataError
    from mnist_mlp.load_data import load_dataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MNIST_MLP_NO_VERIFY", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (data / stem).symlink_to((mnist_dir / stem).resolve())
    shutil.copyfile(mnist_dir / "train-images-idx3-ubyte", data / "train-images-idx3-ubyte")
    _overwrite(data / "train-images-idx3-ubyte", 1_000_000, 100_000)
    assert (data / "train-images-idx3-ubyte").stat().st_size == 47_040_016
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: checksum mismatch: md5 [0-9a-f]{32}, "
                       r"the published mnist train-images-idx3-ubyte has 6bbc9ace898e44ae57da46a324031adb"):
        load_dataset("mnist", data)
    train_x = load_dataset("mnist", data, verify=False, normalize="none")[0]
    assert train_x.shape == (60000, 784)


def test_no_verify_and_download_are_on_every_command_that_loads_data_and_reach_workers():
    import subprocess
    import sys

    from mnist_mlp.cli import build_parser
    from mnist_mlp.data.policy import data_policy, verify_enabled

    parser = build_parser()
    for argv in (["train"], ["evaluate", "m.npz"], ["report"]):
        args = parser.parse_args([*argv, "--no-verify", "--download"])
        assert args.verify is False and args.download is True
    probe = "from mnist_mlp.data.policy import *; print(verify_enabled(), download_allowed())"
    with data_policy(verify=False, download=True):
        child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                               timeout=60, check=True)  # as a spawned study worker starts
    assert child.stdout.split() == ["False", "True"]
    assert verify_enabled()  # restored after the command


# -- item 3: a mistyped --data-dir is not a download ----------------------------------------


@pytest.fixture
def fetches(monkeypatch):
    """Record fetch calls; the fake fetch writes the synthetic dataset where asked."""
    from mnist_mlp.data import fetch

    calls = []

    def fake_fetch(name, data_dir=None, progress=True):
        calls.append((name, data_dir))
        write_dataset(fetch.dataset_dir(name, data_dir))

    monkeypatch.setattr(fetch, "fetch_dataset", fake_fetch)
    monkeypatch.delenv("MNIST_MLP_DOWNLOAD", raising=False)
    return calls


def test_a_mistyped_data_dir_is_one_line_and_no_download(trained, tmp_path, capsys, fetches):
    typo = tmp_path / "dta"
    assert main(small_args(typo, tmp_path / "run")) == 1
    lines = [line for line in capsys.readouterr().err.splitlines()
             if not line.startswith("training into")]
    assert lines == [f"mnist-mlp train: error: data directory {typo} does not exist; check "
                     "--data-dir (the default is data), or fetch mnist into it with "
                     f"`mnist-mlp fetch --data-dir {typo}` or --download"]
    assert fetches == [] and not typo.exists()
    assert main(["evaluate", str(trained / "model.npz"), "--data-dir", str(typo)]) == 1
    assert f"error: data directory {typo} does not exist" in _one_error_line(capsys)
    assert fetches == [] and not typo.exists()


def test_download_or_the_default_directory_fetches(tmp_path, monkeypatch, capsys, fetches):
    from mnist_mlp.load_data import ensure_dataset

    typo = tmp_path / "new"
    assert main(small_args(typo, tmp_path / "run", "--epochs", "1", "--download")) == 0
    assert fetches == [("mnist", str(typo))]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_MLP_DATA", raising=False)
    assert ensure_dataset("mnist") == tmp_path.joinpath("data").relative_to(tmp_path)
    assert fetches[-1] == ("mnist", None)  # the default directory is filled on first use


def test_a_study_with_no_verify_warns_once_across_its_worker_processes(known, tmp_path, capfd):
    """report --no-verify: the parent warns before it starts the workers, which stay quiet."""
    from test_experiments import SUITE

    from mnist_mlp.data.policy import data_policy
    from mnist_mlp.errors import DataError
    from mnist_mlp.study.runner import run_suite
    from mnist_mlp.study.spec import parse_suite

    _overwrite(known / "t10k-images-idx3-ubyte", 16, 784)
    suite = parse_suite(SUITE)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: checksum mismatch"):
        run_suite(suite, tmp_path / "refused", jobs=2, quick=True, data_dir=known, progress=False)
    assert not list((tmp_path / "refused").glob("runs/*/result.json"))  # refused before any run
    capfd.readouterr()
    with data_policy(verify=False):
        outcome = run_suite(suite, tmp_path / "out", jobs=2, quick=True, data_dir=known,
                            progress=False)
    assert all(result.ok for result in outcome.results.values()), outcome.results
    assert len(outcome.trained) == 3
    err = capfd.readouterr().err  # this process and the spawned workers write to fd 2
    assert err.count("warning: not verified (--no-verify)") == 1
