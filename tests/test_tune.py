"""`mnist-mlp tune`: the search never reads the test set, resumes after kill -9, writes its outputs."""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna  # the tune extra; also in the test extra
import pytest
from fakes import fake_mnist

from mnist_mlp.cli import main
from mnist_mlp.data.idx import write_idx
from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.tune import tune
from mnist_mlp.tune.objective import open_storage
from mnist_mlp.tune.search import STUDY_FILE, STUDY_NAME

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _own_data_is_not_the_published_mnist(monkeypatch):
    """These tests search generated IDX files: what --no-verify is for (subprocesses inherit it)."""
    monkeypatch.setenv("MNIST_MLP_NO_VERIFY", "1")

_SPACE = """\
[search]
trials = 4
seed = 3
startup_trials = 2
warmup_epochs = 1
final_seeds = 2

[fixed]
epochs = {epochs}
validation_size = 200

[params.learning_rate]
low = 0.01
high = 0.3
log = true

[params.width]
low = 8
high = 32

[params.dropout]
low = 0.0
high = 0.3
"""


def _write_data(directory, test_labels=None, with_test=True):
    """fake_mnist as the four IDX files MNIST comes in; optionally other test labels."""
    train_x, test_x, train_y, test_y = fake_mnist(seed=5, n_train=800, n_test=200)
    directory.mkdir(parents=True)
    write_idx(directory / "train-images-idx3-ubyte", (train_x * 255).astype(np.uint8).reshape(-1, 28, 28))
    write_idx(directory / "train-labels-idx1-ubyte", train_y.astype(np.uint8))
    if with_test:
        labels = test_y if test_labels is None else test_labels(test_y)
        write_idx(directory / "t10k-images-idx3-ubyte", (test_x * 255).astype(np.uint8).reshape(-1, 28, 28))
        write_idx(directory / "t10k-labels-idx1-ubyte", labels.astype(np.uint8))
    return directory


def _space(tmp_path, epochs=3):
    path = tmp_path / "space.toml"
    path.write_text(_SPACE.format(epochs=epochs))
    return path


def _rows(out):
    with open(out / "trials.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _quiet(line):
    pass


def test_permuted_test_labels_change_nothing_in_the_search(tmp_path):
    space = _space(tmp_path)
    real = _write_data(tmp_path / "real")
    # Test labels permuted (class c called c + 1): every test label is wrong.
    permuted = _write_data(tmp_path / "permuted", test_labels=lambda y: (y + 1) % 10)
    a = tune(space, tmp_path / "a", data_dir=real, log=_quiet)
    b = tune(space, tmp_path / "b", data_dir=permuted, log=_quiet)
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")        # same trials, same values
    assert len(_rows(tmp_path / "a")) == 4
    assert a["best"]["params"] == b["best"]["params"] and a["best"]["val_acc"] == b["best"]["val_acc"]
    assert [f["val_acc"] for f in a["best"]["final"]] == [f["val_acc"] for f in b["best"]["final"]]
    # The test set is read after the search, once per final model, and there it shows.
    assert a["best"]["test_acc"] > 0.5 and b["best"]["test_acc"] < 0.2


def test_trials_run_without_the_test_files(tmp_path):
    """With no test files at all the whole search runs; only the final evaluation needs them."""
    data = _write_data(tmp_path / "data", with_test=False)
    with pytest.raises(DataError, match="t10k"):
        tune(_space(tmp_path), tmp_path / "out", data_dir=data, log=_quiet)
    rows = _rows(tmp_path / "out")
    assert len(rows) == 4 and all(row["state"] in ("complete", "pruned") for row in rows)


def test_outputs_baseline_first_and_pruning_reports(tmp_path):
    data = _write_data(tmp_path / "data")
    summary = tune(_space(tmp_path), tmp_path / "out", data_dir=data, log=_quiet)
    out = tmp_path / "out"
    for name in ("best.json", "trials.csv", "best-model.npz", "TUNE.md", "tune.html", STUDY_FILE):
        assert (out / name).is_file()
    rows = _rows(out)
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3]
    assert float(rows[0]["learning_rate"]) == 0.08 and int(rows[0]["width"]) == 256  # the defaults
    best = json.loads((out / "best.json").read_text())
    assert best == json.loads(json.dumps(summary))
    assert best["best"]["val_acc"] == max(float(r["val_acc"]) for r in rows if r["state"] == "complete")
    assert len(best["best"]["final"]) == 2 and len(best["baseline"]["final"]) == 2
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(out / STUDY_FILE))
    for trial in study.trials:  # every epoch reported to the pruner
        assert sorted(trial.intermediate_values) == list(range(1, trial.user_attrs["epochs"] + 1))
    assert "Best against baseline" in (out / "TUNE.md").read_text()
    assert "data:image/png;base64" in (out / "tune.html").read_text()


def test_existing_study_needs_resume_and_the_same_space(tmp_path):
    data = _write_data(tmp_path / "data")
    space = _space(tmp_path, epochs=1)
    tune(space, tmp_path / "out", trials=2, data_dir=data, log=_quiet)
    with pytest.raises(ConfigError, match="--resume"):
        tune(space, tmp_path / "out", trials=2, data_dir=data, log=_quiet)
    other = tmp_path / "other.toml"
    other.write_text(space.read_text().replace("high = 32", "high = 40"))
    before = (tmp_path / "out" / "trials.csv").read_text()
    with pytest.raises(ConfigError, match="another search space"):
        tune(other, tmp_path / "out", trials=3, resume=True, data_dir=data, log=_quiet)
    assert (tmp_path / "out" / "trials.csv").read_text() == before   # no trial ran
    with pytest.raises(ConfigError, match="no study file"):
        tune(space, tmp_path / "new", resume=True, data_dir=data, log=_quiet)


def test_parallel_jobs_finish_the_same_number_of_trials(tmp_path):
    data = _write_data(tmp_path / "data")
    summary = tune(_space(tmp_path, epochs=1), tmp_path / "out", trials=4, jobs=2, data_dir=data, log=_quiet)
    rows = _rows(tmp_path / "out")
    assert len(rows) == 4 and {r["state"] for r in rows} <= {"complete", "pruned"}
    assert summary["trials_finished"] == 4


def test_kill_9_then_resume_repeats_no_finished_trial(tmp_path):
    data = _write_data(tmp_path / "data")
    space, out = _space(tmp_path, epochs=6), tmp_path / "out"
    command = [sys.executable, "-m", "mnist_mlp", "tune", "--space", str(space), "--out", str(out),
               "--data-dir", str(data), "--trials", "5"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        # Block on the tuner's own line for a finished trial (flushed as the trial is
        # recorded), then kill it with no chance to clean up.
        for line in process.stdout:
            if line.startswith("trial 0 "):
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stdout.close()
    storage = open_storage(out / STUDY_FILE)
    killed = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    finished = {t.number: (t.value, t.datetime_start) for t in killed.trials if t.state.is_finished()}
    assert 0 in finished and len(finished) < 5
    result = subprocess.run(command + ["--resume"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resuming: {len(finished)} of 5 trials already finished" in result.stdout
    resumed = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(out / STUDY_FILE))
    ended = [t for t in resumed.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(ended) == 5                                    # not one more: nothing repeated
    for number, (value, started) in finished.items():        # finished trials untouched
        trial = resumed.trials[number]
        assert (trial.value, trial.datetime_start) == (value, started)
    stale = [t for t in resumed.trials if t.state.name == "FAIL"]
    assert len(resumed.trials) == 5 + len(stale) and len(stale) <= 1
    for trial in stale:                                       # an interrupted trial is run again
        assert any(t.params == trial.params for t in ended)


def test_quick_on_the_repository_space_with_real_mnist(mnist_dir, tmp_path, capsys):
    code = main(["tune", "--quick", "--space", str(REPO / "tune.toml"), "--out", str(tmp_path / "q"),
                 "--data-dir", str(mnist_dir)])
    assert code == 0
    best = json.loads((tmp_path / "q" / "best.json").read_text())
    assert best["trials_finished"] == 3 and 0.5 < best["best"]["test_acc"] <= 1.0
    assert "best retrained: test accuracy" in capsys.readouterr().out


def test_unreachable_scheduler_is_one_line_and_leaves_no_study(tmp_path, capsys, monkeypatch):
    import socket

    from mnist_mlp.study import executors
    monkeypatch.setattr(executors, "_CONNECT_TIMEOUT", 2)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    code = main(["tune", "--space", str(_space(tmp_path)), "--data-dir", str(_write_data(tmp_path / "d")),
                 "--out", str(out), "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"])
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" not in line]
    assert code == 1 and len(err) == 1, err
    assert "cannot reach the Dask scheduler" in err[0]
    assert not (out / STUDY_FILE).exists()  # the rerun needs no --resume
