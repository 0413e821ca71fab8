"""The command line tells user mistakes from bugs: one line and exit 1 for the first,
"this is a bug" with the traceback and exit 70 for the second."""

import errno

import pytest

from mnist_mlp.cli import EXIT_BUG, main
from mnist_mlp.cli import fetch as fetch_command
from mnist_mlp.errors import DataError


def _fetch_raising(monkeypatch, exc):
    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(fetch_command, "fetch_dataset", broken)


def test_an_injected_bug_shows_the_traceback_and_exits_70(monkeypatch, capsys, tmp_path):
    _fetch_raising(monkeypatch, ValueError("operands could not be broadcast together"))
    assert main(["fetch", "--data-dir", str(tmp_path)]) == EXIT_BUG == 70
    err = capsys.readouterr().err
    assert "this is a bug in mnist-mlp" in err
    assert "Traceback (most recent call last)" in err
    assert "ValueError: operands could not be broadcast together" in err


def test_a_user_mistake_is_one_line_without_traceback(monkeypatch, capsys, tmp_path):
    _fetch_raising(monkeypatch, DataError("train-images-idx3-ubyte: checksum mismatch"))
    assert main(["fetch", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "mnist-mlp fetch: error: train-images-idx3-ubyte: checksum mismatch\n"


@pytest.mark.parametrize("exc, user", [
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "data/x"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EBADF, "Bad file descriptor"), False),  # no file named: ours
])
def test_os_errors_about_files_or_the_disk_are_the_users(monkeypatch, capsys, tmp_path, exc, user):
    _fetch_raising(monkeypatch, exc)
    code = main(["fetch", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == (1 if user else EXIT_BUG)
    assert ("Traceback" in err) is not user


def test_debug_reraises_for_the_full_traceback(monkeypatch, tmp_path):
    _fetch_raising(monkeypatch, DataError("bad"))
    with pytest.raises(DataError, match="bad"):
        main(["--debug", "fetch", "--data-dir", str(tmp_path)])
