"""The sandbox's kernel-level walls, with the runner's audit hook switched off.

The grader's runner blocks sockets, new processes and files outside the scratch
folder with an audit hook; these tests turn the hook off (a switch in the job,
which the grader writes, never the submission) to show that the namespaces,
the unprivileged user and the resource limits hold on their own.
"""

import json
import os
import shutil
import site
import sys
from pathlib import Path

import numpy
import pytest

from mnist_mlp.course.sandbox import (
    Sandbox,
    SandboxLimits,
    SandboxUnavailable,
    isolation_problem,
)

LIMITS = SandboxLimits(time_limit=10, memory_mb=512, processes=16, cpu=2)


@pytest.fixture
def run(tmp_path):
    """Run ``code`` as the submission's layers.py in the sandbox, hook off; return (error, result)."""

    def go(code, limits=LIMITS, slot=0):
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        Sandbox.install_runner(data)
        scratch = tmp_path / f"scratch{slot}"
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "codes").mkdir(parents=True)
        (scratch / "codes" / "layers.py").write_text(code)
        (scratch / "codes" / "loss.py").write_text("")
        sandbox = Sandbox(limits)
        sandbox.prepare_scratch(scratch, slot)
        result = sandbox.run(scratch, data, {"probes": [], "stability": [], "training": None,
                                             "audit": False}, slot)
        functions = result.messages.get("functions") or {}
        return functions.get("error"), result

    return go


def test_isolation_is_available_here():
    # The grading tests rely on it; CI must run as root on Linux with util-linux's unshare.
    assert isolation_problem() is None


REPO = Path(__file__).resolve().parents[1]


def _toward_the_interpreter(directory):
    """Names in ``directory`` on the way to the interpreter paths the sandbox binds back
    (a virtual environment inside the checkout, as CI makes, passes through it)."""
    bound = (sys.prefix, sys.base_prefix, *site.getsitepackages(),
             str(Path(numpy.__file__).resolve().parents[1]), str(Path(sys.executable).resolve().parent))
    names = set()
    for path in bound:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(directory))
        if rel != "." and not rel.startswith(".."):
            names.add(rel.split(os.sep)[0])
    return names


def test_the_submission_runs_unprivileged_in_an_empty_world(run):
    _, result = run(
        "import os, json\n"
        "ls = lambda d: sorted(os.listdir(d)) if os.path.isdir(d) else []\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
        f"                  'work': ls('/work'), 'repo': ls({str(REPO)!r}),\n"
        "                  'tmp': ls('/tmp'), 'shm': os.listdir('/dev/shm'),\n"
        "                  'pids': sorted(os.listdir('/proc'))}))\n")
    facts = json.loads(result.output.strip().splitlines()[-1])
    assert facts["uid"] == facts["gid"] == 61000 and facts["groups"] == []
    # The grader's tree and shared memory are hidden: nothing but the way to the interpreter.
    assert set(facts["work"]) <= _toward_the_interpreter("/work")
    assert set(facts["repo"]) <= _toward_the_interpreter(REPO)
    assert "mnist_mlp" not in facts["repo"] and "data" not in facts["repo"]
    assert facts["shm"] == []
    assert facts["tmp"] == ["data", "work"]
    # A PID namespace of its own: the boot (PID 1) and the runner, nothing of the host.
    assert [p for p in facts["pids"] if p.isdigit()] == ["1", "2"]


@pytest.mark.parametrize("code, message", [
    ("open({sentinel!r}, 'w').write('x')\n", "No such file or directory"),  # /tmp is a fresh tmpfs
    ("open('/root/mnist-mlp-sandbox-test', 'w').write('x')\n", "Read-only file system"),
    ("open('/etc/mnist-mlp-sandbox-test', 'w').write('x')\n", "Permission denied"),
    ("open({labels!r}, 'rb').read()\n", "No such file or directory"),
    ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n", "Network is unreachable"),
])
def test_walls_hold_without_the_audit_hook(run, tmp_path, code, message):
    sentinel = tmp_path / "grader-file.txt"
    sentinel.write_text("mine\n")
    labels = Path(__file__).resolve().parents[1] / "data" / "t10k-labels-idx1-ubyte"
    error, _ = run(code.format(sentinel=str(sentinel), labels=str(labels)))
    assert error is not None and message in error, error
    assert sentinel.read_text() == "mine\n"
    assert not Path("/root/mnist-mlp-sandbox-test").exists()
    assert not Path("/etc/mnist-mlp-sandbox-test").exists()


def test_a_fork_bomb_hits_the_process_limit(run):
    error, result = run("import os\nwhile True:\n    os.fork()\n")
    assert error is not None and "BlockingIOError" in error, (error, result.reason)


def test_memory_beyond_the_limit_is_refused(run):
    error, _ = run("import numpy\nblocks = [numpy.ones(2**24) for _ in range(100)]\n")  # 100 x 128 MB
    assert error is not None and "MemoryError" in error


def test_a_busy_loop_is_stopped_by_the_cpu_limit(run):
    # A generous wall clock, so that even on a loaded machine the CPU limit comes first.
    _, result = run("while True:\n    pass\n", limits=SandboxLimits(time_limit=120, memory_mb=512, cpu=2))
    assert result.reason is not None and "CPU-time limit of 2 s" in result.reason, result.reason
    assert "functions" not in result.messages


def test_a_sleeping_loop_is_stopped_by_the_wall_clock(run):
    _, result = run("import time\nwhile True:\n    time.sleep(1)\n",
                    limits=SandboxLimits(time_limit=3, memory_mb=512, processes=16))
    assert result.reason == "timed out after 3 s of wall-clock time (killed)"


def test_output_is_captured_and_truncated(run):
    _, result = run("print('x' * 100000)\nprint('the end')\n",
                    limits=SandboxLimits(time_limit=10, memory_mb=512, output_chars=200))
    assert len(result.output) < 300 and "characters cut" in result.output
    assert result.output.rstrip().endswith("the end")


def test_without_isolation_the_sandbox_refuses_unless_unsafe(monkeypatch):
    import mnist_mlp.course.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation_problem", lambda: "the sandbox needs root")
    with pytest.raises(SandboxUnavailable, match="pass --unsafe"):
        Sandbox(LIMITS)
    unsafe = Sandbox(LIMITS, unsafe=True)
    assert not unsafe.isolated and unsafe.warning.startswith("UNSAFE")


GARBAGE = r"""
import os, sys
os.write(int(sys.argv[-1]), b'not json\n[1, 2]\n{"no stage": 1}\n')
"""


def test_garbage_on_the_result_pipe_is_ignored(run):
    # The pipe's number is the runner's last argument; a submission may write anything to it.
    _, result = run(GARBAGE)
    assert set(result.messages) == {"functions", "exit"}
    assert result.messages["functions"]["probes"] == {} and result.reason is None
