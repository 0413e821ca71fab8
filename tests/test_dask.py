"""The study on a Dask cluster: same results as the local executor, lost workers, failures.

Everything runs on 127.0.0.1: a ``LocalCluster`` of two worker processes with
one thread each (module fixture), and in the last tests a real ``dask
scheduler`` and ``dask worker`` started as subprocesses. Every wait is bounded:
the cluster's ``wait_timeout`` turns a job that never finishes into an
ExecutorError, subprocesses are waited for with timeouts and killed in
``finally``.

The fault tests wrap the job function (the executor interface takes any
callable): the wrapper runs in the worker, and there it kills its own process
once, or raises.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from fakes import fake_mnist

from mnist_mlp.cli import main
from mnist_mlp.study import executors
from mnist_mlp.study.executors import DaskExecutor, ExecutorError, LocalExecutor
from mnist_mlp.study.runner import run_suite
from mnist_mlp.study.spec import parse_suite
from mnist_mlp.study.store import Store

REPO = Path(__file__).resolve().parents[1]
WAIT = 120  # seconds any single wait may take before the test fails instead of hanging

SUITE = """\
seeds = 2

[defaults]
hidden = [16]
epochs = 2
validation_size = 200
learning_rate = 0.05
batch_size = 50
dropout = 0.1

[runs.relu]

[runs.sigmoid]
activation = "sigmoid"

[groups.act]
title = "Activations"
variable = "activation"
runs = ["relu", "sigmoid"]
"""

DIVERGING = """
[runs.diverges]
loss = "mse"
learning_rate = 1e12

[groups.unstable]
title = "Unstable"
variable = "none"
runs = ["diverges"]
"""

# The wrappers below run inside Dask workers: ship them by value, so that the
# workers need not import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(workers=2, threads=1, wait_timeout=WAIT) as executor:
        yield executor


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the same suite on the local process pool (2 workers, 1 BLAS thread)."""
    out = tmp_path_factory.mktemp("local")
    with LocalExecutor(2, threads=1) as executor:
        outcome = run_suite(parse_suite(SUITE), out, data=fake_mnist(), progress=False,
                            executor=executor)
    return outcome, out


def _models(out):
    """``{run directory: {array name: array}}`` of every stored model."""
    models = {}
    for path in sorted(Path(out).glob("runs/*/model.npz")):
        with np.load(path, allow_pickle=False) as archive:
            models[path.parent.name] = {key: archive[key] for key in archive.files}
    return models


def _assert_same_models(out, reference_out):
    ours, theirs = _models(out), _models(reference_out)
    assert sorted(ours) == sorted(theirs) and len(ours) == 4  # 2 runs x 2 seeds
    for run_dir, arrays in theirs.items():
        assert sorted(ours[run_dir]) == sorted(arrays)
        for key, array in arrays.items():
            assert np.array_equal(ours[run_dir][key], array), (run_dir, key)


def _metrics(outcome):
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    return {job: {k: r.final.get(k) for k in keys} for job, r in outcome.results.items()}


class _Wrapped(executors.Executor):
    """An executor that submits ``wrapper(marker_dir, target, fn, *args)`` instead of ``fn``."""

    def __init__(self, inner, wrapper, marker_dir, target):
        self.inner, self.wrapper, self.marker_dir, self.target = inner, wrapper, marker_dir, target
        for name in ("slots", "shares_filesystem", "blas_threads", "description"):
            setattr(self, name, getattr(inner, name))

    def submit(self, fn, /, *args):
        return self.inner.submit(self.wrapper, os.fspath(self.marker_dir), self.target, fn, *args)

    def as_completed(self, submitted):
        return self.inner.as_completed(submitted)


def _job_id(args):
    name, _key, config = args[:3]
    return f"{name}-{config.seed}"


def _exit_in_epoch_two_once(marker_dir, target, fn, *args):
    """Kill this worker process (``os._exit``) after epoch 1's checkpoint, the first time only."""
    marker = Path(marker_dir) / "killed"
    if _job_id(args) == target and not marker.exists():
        marker.write_text(str(os.getpid()))
        from mnist_mlp.study import runner
        real = runner.train

        def train(config, out_dir, **kwargs):
            def log(line):
                if line.startswith("epoch 2/"):  # epoch 1's checkpoint is on disk, epoch 2's not
                    os._exit(13)
            return real(config, out_dir, **{**kwargs, "log": log})

        runner.train = train  # this process dies with the patch
    return fn(*args)


def _always_exit(marker_dir, target, fn, *args):
    if _job_id(args) == target:
        os._exit(13)
    return fn(*args)


def _raise_for_target(marker_dir, target, fn, *args):
    if _job_id(args) == target:
        raise RuntimeError(f"simulated failure of {target}")
    return fn(*args)


# -- a LocalCluster on loopback ---------------------------------------------------------------

def test_local_cluster_results_equal_the_local_executor_array_for_array(cluster, local_run,
                                                                         tmp_path):
    reference, reference_out = local_run
    outcome = run_suite(parse_suite(SUITE), tmp_path, data=fake_mnist(), progress=False,
                        executor=cluster)
    assert all(r.ok for r in outcome.results.values()) and len(outcome.results) == 4
    _assert_same_models(tmp_path, reference_out)
    assert _metrics(outcome) == _metrics(reference)
    # The same BLAS thread setting reached the training processes of both executors.
    assert {r.blas_threads for r in outcome.results.values()} == {"1"}
    assert {r.blas_threads for r in reference.results.values()} == {"1"}
    assert not (tmp_path / "scratch").exists()  # every job ended: nothing left to resume from
    # The store is the record: a second invocation submits nothing.
    again = run_suite(parse_suite(SUITE), tmp_path, data=fake_mnist(), progress=False,
                      executor=cluster)
    assert again.trained == [] and sorted(again.reused) == sorted(outcome.results)


def test_worker_killed_mid_job_is_retried_and_resumes_to_the_same_weights(cluster, local_run,
                                                                           tmp_path):
    _, reference_out = local_run
    markers = tmp_path / "markers"
    markers.mkdir()
    executor = _Wrapped(cluster, _exit_in_epoch_two_once, markers, "sigmoid-1")
    outcome = run_suite(parse_suite(SUITE), tmp_path / "out", data=fake_mnist(), progress=False,
                        executor=executor)
    assert (markers / "killed").exists()  # the worker did die once
    assert all(r.ok for r in outcome.results.values()) and len(outcome.results) == 4
    killed = outcome.results[("sigmoid", 1)]
    log = (Store(tmp_path / "out").run_dir(killed.name, killed.key) / "train.log").read_text()
    assert "after epoch 1 of 2" in log  # the retry resumed from the dead attempt's checkpoint
    _assert_same_models(tmp_path / "out", reference_out)


def test_job_that_kills_every_worker_is_given_up_and_the_rest_complete(tmp_path):
    environ = dict(os.environ)
    with DaskExecutor(workers=2, threads=1, allowed_failures=0, wait_timeout=WAIT) as dying:
        executor = _Wrapped(dying, _always_exit, tmp_path, "relu-1")
        outcome = run_suite(parse_suite(SUITE), tmp_path / "out", data=fake_mnist(),
                            progress=False, executor=executor)
    lost = outcome.results[("relu", 1)]
    assert lost.status == "failed" and lost.error_type == "KilledWorker", lost.error
    assert sum(r.ok for r in outcome.results.values()) == 3
    assert dict(os.environ) == environ  # the nannies' pre-spawn variables did not leak here


def test_job_that_raises_is_recorded_failed_and_the_rest_complete(cluster, tmp_path):
    suite = parse_suite(SUITE + DIVERGING)
    executor = _Wrapped(cluster, _raise_for_target, tmp_path, "relu-0")
    outcome = run_suite(suite, tmp_path / "out", data=fake_mnist(), progress=False,
                        executor=executor)
    failed = outcome.results[("relu", 0)]
    assert failed.status == "failed" and failed.error == "RuntimeError: simulated failure of relu-0"
    diverged = outcome.results[("diverges", 0)]  # raised inside training, caught by the job
    assert diverged.status == "failed" and diverged.error_type == "DivergenceError"
    ok = [job for job, r in outcome.results.items() if r.ok]
    assert sorted(ok) == [("relu", 1), ("sigmoid", 0), ("sigmoid", 1)]
    stored = json.loads((Store(tmp_path / "out").run_dir("relu", failed.key) / "result.json")
                        .read_text())
    assert stored["status"] == "failed"
    # The crash was not the settings' fault: the next invocation trains that job alone.
    retry = run_suite(suite, tmp_path / "out", data=fake_mnist(), progress=False,
                      executor=cluster)
    assert retry.trained == [("relu", 0)] and retry.results[("relu", 0)].ok


def test_local_cluster_listens_on_loopback_only(cluster):
    import psutil  # a dependency of distributed

    pids = {os.getpid(), *cluster._client.run(os.getpid).values()}  # scheduler+nannies, workers
    listening = [c.laddr for pid in pids for c in psutil.Process(pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 5  # scheduler, its HTTP endpoint, 2 nannies, 2 workers
    assert {address.ip for address in listening} == {"127.0.0.1"}, listening


# -- bad input: one line, before any training -------------------------------------------------

def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("flags, message", [
    (["--scheduler", "tcp://127.0.0.1:8786"], r"--scheduler needs --executor dask"),
    (["--executor", "dask", "--scheduler", "127.0.0.1:8786"], r"malformed scheduler address"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:70000"],
     r"malformed scheduler address"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:{port}"],
     r"cannot reach the Dask scheduler at tcp://127.0.0.1:\d+ within 2 s"),
    (["--dashboard"], r"--dashboard needs --executor dask"),
    (["--executor", "dask", "--dashboard", "8787"], r"malformed dashboard address '8787'"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--dashboard"],
     r"--dashboard is for the local cluster"),
])
def test_bad_executor_options_are_one_line_before_training(flags, message, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.setattr(executors, "_CONNECT_TIMEOUT", 2)
    study = tmp_path / "study.toml"
    study.write_text(SUITE)
    flags = [f.format(port=_free_port()) for f in flags]
    assert main(["report", "--config", str(study), "--out", str(tmp_path / "out"), *flags]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert __import__("re").search(message, err), err
    assert not list(tmp_path.glob("out/runs/*/result.json"))


def test_dashboard_without_bokeh_names_the_package(tmp_path, capsys, monkeypatch):
    real = executors.importlib.util.find_spec
    monkeypatch.setattr(executors.importlib.util, "find_spec",
                        lambda name, *a: None if name == "bokeh" else real(name, *a))
    assert main(["report", "--executor", "dask", "--dashboard", "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'bokeh" in err, err


def test_dashboard_when_asked_serves_on_loopback(tmp_path):
    """--dashboard: Dask's status page answers on the address given (bokeh is in the test extra)."""
    import urllib.request

    import psutil
    port = _free_port()
    with DaskExecutor(workers=1, dashboard=f"127.0.0.1:{port}", wait_timeout=60) as executor:
        assert executor.dashboard_link == f"http://127.0.0.1:{port}/status"
        assert executor.dashboard_link in executor.description
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30) as response:
            assert response.status == 200 and b"Dask" in response.read()
        listening = {c.laddr for c in psutil.Process(os.getpid()).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert ("127.0.0.1", port) in listening
        assert {address.ip for address in listening} == {"127.0.0.1"}, listening


def test_missing_dask_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    assert main(["report", "--executor", "dask", "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'mnist-mlp[dask]'" in err, err


# -- a real scheduler and worker as subprocesses ----------------------------------------------

@pytest.fixture
def dask_processes(tmp_path):
    """``dask scheduler`` and one ``dask worker`` on 127.0.0.1; yields the scheduler address."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    scheduler_file = tmp_path / "scheduler.json"
    # --host alone leaves their HTTP endpoints (health, metrics) on every interface.
    common = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    processes = []
    try:
        processes.append(_start([sys.executable, "-m", "dask", "scheduler", "--port", "0",
                                 "--scheduler-file", str(scheduler_file), *common], env, tmp_path))
        address = _wait_for_address(scheduler_file, processes[0])
        processes.append(_start([sys.executable, "-m", "dask", "worker", address, "--nworkers", "1",
                                 "--nthreads", "1", *common], env, tmp_path))
        yield address, processes
    finally:
        for process in reversed(processes):
            _stop(process)


def _start(argv, env, log_dir):
    log = open(log_dir / f"{argv[3]}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=log_dir)


def _wait_for_address(scheduler_file, process):
    deadline = time.monotonic() + WAIT
    while True:
        if scheduler_file.exists():
            with_address = json.loads(scheduler_file.read_text() or "{}").get("address")
            if with_address:
                return with_address
        assert process.poll() is None, "dask scheduler exited"
        assert time.monotonic() < deadline, "dask scheduler wrote no address"
        time.sleep(0.1)  # polling a file with a deadline, not a sleep standing in for a sync


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


QUICK_STUDY = SUITE.replace("seeds = 2", "seeds = 3") + """
[quick]
epochs = 1
train_subset = 1000
validation_size = 500
test_subset = 1000
seeds = 2
"""


def test_quick_study_through_a_real_scheduler_and_worker(dask_processes, tmp_path, capsys,
                                                          mnist_dir):
    address, processes = dask_processes
    with DaskExecutor(address, connect_timeout=WAIT) as probe:
        probe._client.wait_for_workers(1, timeout=WAIT)
    study = tmp_path / "study.toml"
    study.write_text(QUICK_STUDY)
    out = tmp_path / "out"
    argv = ["report", "--quick", "--executor", "dask", "--scheduler", address, "--config",
            str(study), "--out", str(out), "--data-dir", str(mnist_dir), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    results = [json.loads(p.read_text()) for p in out.glob("runs/*/result.json")]
    assert len(results) == 4 and {r["status"] for r in results} == {"ok"}
    assert len(list(out.glob("runs/*/model.npz"))) == 4 and (out / "REPORT.md").exists()
    assert not (out / "scratch").exists()  # a remote worker trains in its own temp directory
    assert all(process.poll() is None for process in processes)  # up until the fixture stops them
    assert _listening(processes) == {"127.0.0.1"}


def _listening(processes):
    """The IP addresses that the processes and their children listen on."""
    import psutil  # a dependency of distributed

    tree = [p for process in processes
            for p in [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]]
    return {c.laddr.ip for p in tree for c in p.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN}


def test_lost_scheduler_stops_the_client_with_one_clear_error(dask_processes):
    address, processes = dask_processes
    with DaskExecutor(address, connect_timeout=WAIT, wait_timeout=WAIT) as executor:
        executor._client.wait_for_workers(1, timeout=WAIT)
        running = executor.submit(time.sleep, WAIT)
        deadline = time.monotonic() + WAIT
        while not any(executor._client.processing().values()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        processes[0].kill()  # the scheduler
        processes[0].wait(timeout=30)
        with pytest.raises(ExecutorError, match=r"lost the connection to the Dask scheduler at "
                           r"tcp://127\.0\.0\.1:\d+; finished runs are stored"):
            list(executor.as_completed([running]))
