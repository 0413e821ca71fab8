"""Issue 18: what a new user hit, one test (or a few) per item.

Each test failed before its fix (see docs/fixes.md). The data are the tiny synthetic
IDX datasets of test_cli_train; the checksum tests build a fake "known" dataset whose
published MD5 sums are patched to those of files written here.
"""

import json

import numpy as np
import pytest

from mnist_mlp.cli import main
from test_cli_train import small_args, write_dataset


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
