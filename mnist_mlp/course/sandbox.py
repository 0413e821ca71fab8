"""Run untrusted submission code in a locked-down subprocess; get its results back as JSON.

Submission code never runs in the grader's process. :meth:`Sandbox.run` starts
``_runner.py`` on one submission's scratch folder:

* **Isolation** (Linux, as root): ``unshare`` gives the child fresh network
  (no interface up: no socket reaches anything, 127.0.0.1 included), mount,
  PID, IPC and UTS namespaces; :mod:`mnist_mlp.course._boot` then hides every
  non-system folder behind empty tmpfs mounts (the grader, the other
  submissions, the home folder, the MNIST test split), binds back only the
  interpreter, the scratch folder (read-write) and the shared training data
  (read-only), and drops to an unprivileged uid of its own (one per parallel
  slot, so the process limit counts that sandbox alone).
* **Limits**: a wall-clock timeout that kills the whole process group (and,
  through the PID namespace, every process the submission started); kernel
  limits on address space, CPU time, processes, file size and open files.
* **Results** come back as JSON lines on a pipe (never pickle, never objects);
  stdout and stderr go to a file, read back truncated.

Where the isolation cannot be had (not root, no ``unshare``, namespaces not
permitted), :class:`Sandbox` refuses with :class:`SandboxUnavailable` unless
``unsafe=True``, which keeps the limits, the timeout, the scratch copy and the
runner's audit hook but nothing else; it says so.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import site
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_mlp.errors import ConfigError

__all__ = ["RunResult", "Sandbox", "SandboxLimits", "SandboxUnavailable", "isolation_problem"]

_HERE = Path(__file__).resolve().parent
_BOOT, _RUNNER = _HERE / "_boot.py", _HERE / "_runner.py"
_UNSHARE = ["--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]
_FIRST_UID = 61000  # slot k runs as uid/gid 61000 + k: unprivileged, owned by nobody else
_MAX_MESSAGE_BYTES = 16 << 20
_SIGNALS = {
    signal.SIGXCPU: "exceeded its CPU-time limit of {cpu} s (killed)",
    signal.SIGKILL: "was killed (memory or CPU-time limit)",
    signal.SIGXFSZ: "wrote a file larger than the {file_mb} MB limit (killed)",
    signal.SIGSEGV: "crashed (segmentation fault)",
}


class SandboxUnavailable(ConfigError):
    """The isolation the grader needs cannot be had here (and ``--unsafe`` was not given)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-submission limits.

    ``cpu`` (seconds of CPU time) defaults to the wall-clock limit plus 5 s: a
    single-threaded loop then always meets the wall clock first, with that reason,
    while a submission burning several cores is still stopped by the CPU limit.
    """

    time_limit: float = 300.0
    memory_mb: int = 2048
    processes: int = 64
    file_mb: int = 64
    open_files: int = 256
    output_chars: int = 4000
    cpu: int | None = None

    def __post_init__(self):
        if not self.time_limit > 0:
            raise ConfigError(f"the time limit must be > 0 seconds; got {self.time_limit!r}")
        if not self.memory_mb >= 64:
            raise ConfigError(f"the memory limit must be at least 64 MB; got {self.memory_mb!r}")

    @property
    def cpu_seconds(self) -> int:
        return self.cpu or math.ceil(self.time_limit) + 5

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_AS": self.memory_mb << 20, "RLIMIT_CPU": self.cpu_seconds,
                "RLIMIT_NPROC": self.processes, "RLIMIT_FSIZE": self.file_mb << 20,
                "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}


@dataclass
class RunResult:
    """What one sandboxed run gave back.

    ``messages`` maps a stage (``"functions"``, ``"training"``) to the JSON the
    runner sent; ``reason`` says why the run ended abnormally (None when it did not).
    """

    messages: dict[str, dict] = field(default_factory=dict)
    reason: str | None = None
    output: str = ""
    seconds: float = 0.0


def isolation_problem() -> str | None:
    """Why full isolation is not available here, or None when it is."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux namespaces; this is " + sys.platform
    if os.geteuid() != 0:
        return "the sandbox needs root to create namespaces and drop to an unprivileged user"
    if shutil.which("unshare") is None:
        return "the 'unshare' command (util-linux) is not installed"
    probe = subprocess.run(["unshare", *_UNSHARE, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"namespaces are not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


def _exposed() -> list[str]:
    """Folders the interpreter and NumPy need, outermost only."""
    import numpy

    paths = {sys.prefix, sys.base_prefix, *site.getsitepackages(),
             str(Path(numpy.__file__).resolve().parents[1]), str(Path(sys.executable).resolve().parent)}
    paths = sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))
    return [p for p in paths if not any(p.startswith(q + os.sep) for q in paths if q != p)]


class Sandbox:
    """Runs the runner on scratch folders under the limits (see the module docstring).

    Raises
    ------
    SandboxUnavailable
        When isolation cannot be had and ``unsafe`` is False.
    """

    def __init__(self, limits: SandboxLimits = SandboxLimits(), *, unsafe: bool = False):
        self.limits = limits
        problem = isolation_problem()
        if problem is not None and not unsafe:
            raise SandboxUnavailable(
                f"cannot isolate submissions: {problem}; run as root on Linux, or pass --unsafe "
                "to run them with resource limits only (they could then read and write your files)"
            )
        self.isolated = problem is None
        self.warning = None if self.isolated else f"UNSAFE: no isolation ({problem}); limits only"
        self._expose = _exposed()

    @staticmethod
    def install_runner(data: Path) -> None:
        """Put the runner into the shared data folder, where every sandbox reads it."""
        shutil.copyfile(_RUNNER, data / "_runner.py")

    def prepare_scratch(self, scratch: Path, slot: int) -> None:
        """Hand the scratch folder to the slot's unprivileged user (it may write only there)."""
        if not self.isolated:
            return
        uid = _FIRST_UID + slot
        for folder, _, files in os.walk(scratch):
            os.chown(folder, uid, uid)
            for name in files:
                os.chown(os.path.join(folder, name), uid, uid)
        os.chmod(scratch, 0o700)

    def run(self, scratch: Path, data: Path, job: dict, slot: int = 0) -> RunResult:
        """Run the runner with ``job`` on ``scratch``; ``data`` is shared, read-only."""
        private = scratch.parent / f".{scratch.name}.grader"
        private.mkdir(mode=0o700, exist_ok=True)
        inside_scratch, inside_data = ("/tmp/work", "/tmp/data") if self.isolated else (str(scratch), str(data))
        job = dict(job, scratch=inside_scratch, data=inside_data,
                   readable=[*self._expose, inside_data, "/usr", "/etc", "/proc/self"])
        job_path = scratch / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        read_end, write_end = os.pipe()
        argv, limits_fn = self._command(scratch, data, private, slot, write_end)
        log = private / "output.txt"
        start = time.perf_counter()
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    pass_fds=(write_end,), start_new_session=True, preexec_fn=limits_fn,
                                    cwd=str(scratch))
        os.close(write_end)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(read_end, chunks), daemon=True)
        reader.start()
        reason = self._wait(proc)
        reader.join(timeout=10)
        messages = _parse(b"".join(chunks))
        reason = reason or self._exit_reason(messages.get("exit"), messages.get("boot"))
        result = RunResult(messages, reason, _truncate(log, self.limits.output_chars),
                           time.perf_counter() - start)
        shutil.rmtree(private, ignore_errors=True)
        return result

    def _command(self, scratch, data, private, slot, fd):
        runner_args = [f"{'/tmp/work' if self.isolated else scratch}/job.json", str(fd)]
        if not self.isolated:
            rlimits = self.limits.rlimits()
            del rlimits["RLIMIT_NPROC"]  # would count every process of this user, the grader's too
            return [sys.executable, "-I", "-B", str(data / "_runner.py"), *runner_args], \
                lambda: _apply(rlimits)
        config = {"expose": self._expose, "scratch": str(scratch), "data": str(data),
                  "limits": self.limits.rlimits(), "uid": _FIRST_UID + slot, "gid": _FIRST_UID + slot,
                  "python": os.path.realpath(sys.executable), "runner_args": runner_args}
        config_path = private / "boot.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        return ["unshare", *_UNSHARE, sys.executable, "-I", "-B", str(_BOOT), str(config_path)], None

    def _wait(self, proc: subprocess.Popen) -> str | None:
        try:
            code = proc.wait(timeout=self.limits.time_limit)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return f"timed out after {self.limits.time_limit:g} s of wall-clock time (killed)"
        if code < 0:  # unsafe mode: the runner itself was killed
            return self._signal_reason(-code)
        return None

    def _exit_reason(self, exit_message, boot_message) -> str | None:
        """Why the runner ended abnormally, from what the namespace's PID 1 reported."""
        if isinstance(boot_message, dict):
            return f"the sandbox could not be set up: {boot_message.get('error')}"
        if isinstance(exit_message, dict) and isinstance(exit_message.get("signal"), int):
            return self._signal_reason(exit_message["signal"])
        return None

    def _signal_reason(self, number: int) -> str:
        template = _SIGNALS.get(number, f"was killed by signal {number}")
        return "the submission " + template.format(cpu=self.limits.cpu_seconds, file_mb=self.limits.file_mb)


def _apply(rlimits: dict[str, int]) -> None:
    """As the boot's limits (see :mod:`mnist_mlp.course._boot`), in unsafe mode."""
    for name, value in rlimits.items():
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _drain(fd: int, chunks: list[bytes]) -> None:
    """Read the result pipe to its end, keeping at most _MAX_MESSAGE_BYTES."""
    size = 0
    with os.fdopen(fd, "rb") as pipe:
        while block := pipe.read(1 << 16):
            if size < _MAX_MESSAGE_BYTES:
                chunks.append(block)
            size += len(block)


def _parse(data: bytes) -> dict[str, dict]:
    """The runner's JSON lines by stage; a line that is not a JSON object is ignored."""
    messages: dict[str, dict] = {}
    for line in data.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("stage"), str):
            messages.setdefault(message["stage"], message)
    return messages


def _truncate(path: Path, limit: int) -> str:
    """The first and last ``limit // 2`` characters of the captured output."""
    with open(path, "rb") as fh:
        data = fh.read()
    text = data.decode("utf-8", "replace")
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
