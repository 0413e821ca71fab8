"""The study's progress display: epochs of the jobs in flight, plain lines off a terminal."""

import io

from fakes import fake_mnist

from mnist_mlp.study.progress import Progress, last_epoch
from mnist_mlp.study.runner import run_suite
from mnist_mlp.study.spec import parse_suite

SUITE = """\
[defaults]
hidden = [8]
epochs = 2
validation_size = 100

[runs.a]

[runs.b]
activation = "sigmoid"
"""


def test_last_epoch_reads_the_newest_epoch_line(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("resuming run after epoch 2 of 12\nepoch 3/12 | train loss 0.1\n"
                   "warning: RuntimeWarning: overflow\nepoch 4/12 | train loss 0.05\n")
    assert last_epoch(log) == (4, 12)
    assert last_epoch(tmp_path / "missing.log") is None


def test_jobs_in_flight_show_their_epoch(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("epoch 1/12 | x\n")
    out = io.StringIO()
    # poll: an hour, so the background thread never redraws during the test.
    with Progress(3, True, stream=out, terminal=False, interval=0, poll=3600) as progress:
        progress.started([("a seed 0", log, 12), ("b seed 1", None, 7)])
        log.write_text("epoch 1/12 | x\nepoch 5/12 | y\n")
        progress._show()
        assert progress.in_flight() == ["a seed 0 epoch 5/12", "b seed 1 epoch 0/7"]
    lines = out.getvalue().splitlines()
    assert lines == ["[0/3 done] training a seed 0 epoch 1/12, b seed 1 epoch 0/7",
                     "[0/3 done] training a seed 0 epoch 5/12, b seed 1 epoch 0/7"]


def test_terminal_gets_a_bar_and_a_pipe_gets_plain_lines():
    bar = io.StringIO()
    with Progress(2, True, stream=bar, terminal=True, poll=3600, status=str) as progress:
        progress.finished("job one: done")
    assert "\r" in bar.getvalue() and "job one: done" in bar.getvalue()
    plain = io.StringIO()
    with Progress(2, True, stream=plain, terminal=False, poll=3600, status=str) as progress:
        progress.finished("job one: done")
    assert plain.getvalue() == "[1/2] job one: done\n"


def test_a_study_off_a_terminal_writes_one_plain_line_per_job(tmp_path, capsys):
    run_suite(parse_suite(SUITE), tmp_path, data=fake_mnist(), progress=True, seeds=2)
    err = capsys.readouterr().err
    assert "\r" not in err
    finished = [line for line in err.splitlines() if line.startswith("[") and "trained in" in line]
    assert len(finished) == 4 and finished[-1].startswith("[4/4] ")
    assert all("s wall time (" in line and "s CPU)" in line for line in finished)
