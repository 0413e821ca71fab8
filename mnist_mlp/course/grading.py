"""Grade submissions: read each safely, check its files, run its code in the sandbox, score it.

:func:`grade` is ``mnist-mlp grade``. Per submission it runs the file checks of
:mod:`mnist_mlp.course.filechecks` in this process (they only read text), then
one sandboxed run (:mod:`mnist_mlp.course.sandbox`) of the runner, which feeds
the probes of :mod:`mnist_mlp.course.probes` to the submission's layers and
losses and trains its network; the numbers come back as JSON and are judged
here. A submission that breaks, loops, hogs memory, forks, writes outside its
scratch folder, opens a socket or reaches for the test labels gets the checks
of that run failed with the reason; the grader goes on with the next.

The training check sees only the MNIST training split: the first
``train_size`` images (with labels) to train on, and the last
``validation_size`` images *without* labels, whose predicted classes the
grader scores against labels that never enter the sandbox.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mnist_mlp.course.filechecks import (
    layout_check,
    rules_check,
    summary_check,
    write_codes,
)
from mnist_mlp.course.handout import build_handout
from mnist_mlp.course.probes import (
    Check,
    judge_probe,
    judge_stability,
    make_probes,
    make_stability_probes,
)
from mnist_mlp.course.rubric import CHECK_NAMES, Rubric, load_rubric
from mnist_mlp.course.sandbox import RunResult, Sandbox, SandboxLimits
from mnist_mlp.course.submissions import SubmissionRefused, read_submission
from mnist_mlp.errors import ConfigError, DataError

__all__ = ["grade", "resolve_template"]


def resolve_template(template: str | os.PathLike | None, workspace: Path) -> Path:
    """The folder of pristine ``*.py`` files the ``summary`` and ``rules`` checks compare against.

    ``None``: this project's handout. A folder as ``mnist-mlp handout`` writes it:
    its ``code_analyze/_codes`` (else its ``codes``). Otherwise the folder itself,
    holding the seed's files with their TODO blocks.
    """
    if template is None:
        folder = workspace / "template"
        folder.mkdir()
        for name, (text, _) in build_handout().items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder
    root = Path(template)
    for folder in (root / "code_analyze" / "_codes", root / "codes", root):
        if folder.is_dir() and any(folder.glob("*.py")):
            return folder
    raise ConfigError(f"the template {str(root)!r} holds no .py files (nor code_analyze/_codes/ or codes/); "
                      "pass the handout the course gave its students with --template DIR")


def _prepare_data(data_dir, rubric: Rubric, folder: Path) -> np.ndarray:
    """Write the sandbox's share of the training split; return the validation labels."""
    from mnist_mlp.data.idx import _find_idx, read_idx
    from mnist_mlp.load_data import default_data_dir

    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    paths = [_find_idx(directory, stem) for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")]
    if None in paths:
        raise DataError(f"no MNIST training split in {str(directory)!r}; get it with "
                        f"`mnist-mlp fetch --data-dir {directory}` or pass --data-dir DIR")
    images, labels = read_idx(paths[0], ndim=3).reshape(-1, 784), read_idx(paths[1], ndim=1)
    n, v = rubric.training["train_size"], rubric.training["validation_size"]
    folder.mkdir(mode=0o755)
    np.save(folder / "train_x.npy", images[:n])
    np.save(folder / "train_y.npy", labels[:n])
    np.save(folder / "val_x.npy", images[-v:])
    for path in folder.iterdir():
        path.chmod(0o644)
    Sandbox.install_runner(folder)
    (folder / "_runner.py").chmod(0o644)
    return labels[-v:].astype(np.int64)


def _explain(error: str, limits: SandboxLimits) -> str:
    if "MemoryError" in error or "Unable to allocate" in error:
        return f"memory limit of {limits.memory_mb} MB exceeded ({error})"
    if "BlockingIOError" in error and "Resource temporarily unavailable" in error:
        return f"process limit of {limits.processes} reached ({error})"
    return error


class _Grader:
    def __init__(self, rubric, sandbox, template, data, val_labels, workspace):
        self.rubric, self.sandbox, self.template = rubric, sandbox, template
        self.data, self.val_labels, self.workspace = data, val_labels, workspace
        self.probes = make_probes(np.random.default_rng(rubric.training["seed"]))
        self.stability = make_stability_probes()
        self.slots: queue.Queue = queue.Queue()

    def grade_one(self, index: int, path: str) -> dict:
        try:
            sub, refused = read_submission(path), None
        except SubmissionRefused as exc:
            sub, refused = None, exc.reason
        name = sub.name if sub else Path(path).name.removesuffix(".zip")
        if sub is None:
            checks = [Check(n, False, f"refused: {refused}") for n in CHECK_NAMES]
            return self._row(name, path, checks, "")
        codes = write_codes(sub, self.workspace / f"codes-{index}")
        checks = [layout_check(sub), rules_check(sub, self.template, codes), summary_check(sub, self.template, codes)]
        slot = self.slots.get()
        try:
            run = self._run(index, sub, slot)
        finally:
            self.slots.put(slot)
        checks = self._judge(run) + checks
        shutil.rmtree(codes, ignore_errors=True)
        return self._row(name, path, checks, run.output, run.seconds)

    def _run(self, index, sub, slot) -> RunResult:
        scratch = self.workspace / f"sub-{index}"
        write_codes(sub, scratch / "codes")
        self.sandbox.prepare_scratch(scratch, slot)
        job = {"probes": self.probes, "stability": self.stability, "training": self.rubric.training}
        try:
            return self.sandbox.run(scratch, self.data, job, slot)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _judge(self, run: RunResult) -> list[Check]:
        limits, tol = self.sandbox.limits, self.rubric.tolerance
        functions, training = run.messages.get("functions"), run.messages.get("training")
        failure = run.reason or "no result came back from the sandbox"
        if functions and functions.get("violations"):
            failure, functions = "sandbox: " + functions["violations"][0], None
        elif functions and functions.get("error"):
            failure, functions = _explain(functions["error"], limits), None
        if functions is not None and run.reason and training is None:
            failure = run.reason
        results = (functions or {}).get("probes")
        checks = []
        for probe in self.probes:
            got = results.get(probe["id"]) if isinstance(results, dict) else None
            checks += judge_probe(probe, got, tol, failure if functions is None else None)
        checks.append(judge_stability(self.stability, (functions or {}).get("stability"), failure))
        checks.append(self._training(training, failure if functions is None else run.reason))
        return checks

    def _training(self, message, failure) -> Check:
        spec = self.rubric.training
        if not isinstance(message, dict):
            return Check("training", False, failure or "no result came back from the sandbox")
        if message.get("violations"):
            return Check("training", False, "sandbox: " + message["violations"][-1])
        if message.get("error"):
            return Check("training", False, _explain(str(message["error"]), self.sandbox.limits))
        predictions = message.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != len(self.val_labels):
            return Check("training", False, "the predictions that came back are not one class per image")
        accuracy = float(np.mean(np.asarray(predictions, dtype=object) == self.val_labels))
        budget = (f"{spec['epochs']} epochs of 784-{spec['hidden']}-10 ReLU, lr {spec['learning_rate']:g}, "
                  f"momentum {spec['momentum']:g}, on {spec['train_size']} training images")
        seconds = message.get("seconds")
        took = f", {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
        passed = accuracy >= spec["threshold"]
        return Check("training", passed, f"validation accuracy {100 * accuracy:.2f}% "
                     f"({'>=' if passed else '<'} {100 * spec['threshold']:g}%) after {budget}{took}")

    def _row(self, name, path, checks, output, seconds=0.0) -> dict:
        order = {n: i for i, n in enumerate(CHECK_NAMES)}
        checks = sorted(checks, key=lambda c: order[c["name"]])
        for check in checks:
            check["points"] = self.rubric.points[check["name"]] if check["passed"] else 0.0
        return {"submission": name, "source": str(path), "score": sum(c["points"] for c in checks),
                "max_score": self.rubric.max_score, "failed": [c["name"] for c in checks if not c["passed"]],
                "checks": checks, "output": output, "seconds": round(seconds, 2)}


def grade(submissions, *, template=None, jobs: int = 1, limits: SandboxLimits = SandboxLimits(),
          rubric=None, data_dir=None, unsafe: bool = False, progress=None) -> tuple[list[dict], Sandbox]:
    """Grade every submission; return one row per submission (see :func:`_Grader._row`), in order.

    Raises
    ------
    SandboxUnavailable
        Isolation cannot be had and ``unsafe`` is False.
    ConfigError, DataError
        A bad rubric, template, limit or data folder.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer; got {jobs!r}")
    rubric = load_rubric(rubric)
    sandbox = Sandbox(limits, unsafe=unsafe)
    workspace = Path(tempfile.mkdtemp(prefix="mnist-mlp-grade-"))
    try:
        template_dir = resolve_template(template, workspace)
        val_labels = _prepare_data(data_dir, rubric, workspace / "data")
        grader = _Grader(rubric, sandbox, template_dir, workspace / "data", val_labels, workspace)
        for slot in range(jobs):
            grader.slots.put(slot)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grader.grade_one, i, str(p)) for i, p in enumerate(submissions)]
            rows = []
            for future in futures:
                rows.append(future.result())
                if progress is not None:
                    progress(rows[-1])
        return rows, sandbox
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
