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
