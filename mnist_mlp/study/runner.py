"""Run the study: every job that has no stored result, on an executor (local processes or Dask).

A job is one run trained with one seed (:class:`~mnist_mlp.study.spec.Job`);
results are keyed by ``(run name, seed)``. Finished jobs whose settings did not
change are loaded from the :class:`~mnist_mlp.study.store.Store`; the others
train, longest first, ``jobs`` at a time. A run that fails (divergence or any other exception) is
stored as failed with its error and the rest of the suite carries on.

Where jobs run is an :class:`~mnist_mlp.study.executors.Executor`: the local
process pool (default), or a Dask cluster. The runner does not know which: it
submits :func:`run_job` (a pure function of the job's settings, which returns
the result record and the files) and, as each job completes, writes its files
and then its ``result.json`` into the store itself, atomically. So a lost job
leaves nothing that looks finished, and the next invocation trains only what
has no result. BLAS threads per worker are the executor's (``cpu_count //
jobs`` for local workers, set before they import NumPy; see
:mod:`~mnist_mlp.study.executors`); with ``jobs=1`` jobs train in this process,
with its BLAS as it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.fileio import atomic_write
from mnist_mlp.load_data import ensure_dataset, load_dataset
from mnist_mlp.study.executors import (
    BLAS_THREAD_VARIABLES,
    LocalExecutor,
    blas_threads,
    default_threads,
)
from mnist_mlp.study.progress import Progress
from mnist_mlp.study.store import DETERMINISTIC_ERRORS, RunResult, Store, run_key
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import CHECKPOINT_FILE, train

__all__ = ["SuiteOutcome", "run_suite", "run_job", "blas_threads", "run_blas_threads",
           "BLAS_THREAD_VARIABLES", "SCRATCH_DIR"]

# Under the output directory: where jobs train when the workers share this filesystem.
SCRATCH_DIR = "scratch"
_MNIST_TRAIN_SIZE = 60_000  # for the cost estimate only


@dataclass
class SuiteOutcome:
    """What :func:`run_suite` did: a result per job (suite order) and how long it took.

    ``results`` maps ``(run name, seed)`` to its RunResult, runs in file order and
    seeds innermost; ``trained`` and ``reused`` list such pairs; ``seeds`` the
    number of seeds per run.
    """

    results: dict
    seconds: float
    jobs: int
    quick: bool
    trained: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    seeds: int = 1
    executor: str = ""           # where the jobs trained, e.g. "local process pool, 2 workers"
    blas_threads: object = None  # the executor's BLAS threads per worker

    def of_run(self, name):
        """The results of run ``name``, one per seed, in seed order."""
        return [result for (run, _), result in self.results.items() if run == name]

    def run_names(self):
        """The runs, in file order."""
        return list(dict.fromkeys(run for run, _ in self.results))


def run_suite(suite, out_dir, *, jobs=1, quick=False, data_dir=None, data=None, progress=True,
              seeds=None, executor=None):
    """Train what is missing from ``out_dir`` and return every run's result.

    Parameters
    ----------
    suite : Suite
        From :func:`~mnist_mlp.study.spec.load_suite`.
    out_dir : path-like
        Output directory; checked writable before anything trains.
    jobs : int >= 1
        Runs trained at the same time, each in its own process (1: in this process).
    quick : bool
        Apply the suite's ``[quick]`` overrides to every run.
    data_dir : path-like, optional
        Dataset directory (the loader's default when None).
    data : tuple, optional
        ``(train_x, test_x, train_y, test_y)`` to use instead of loading (tests).
    progress : bool
        Show a progress bar over the runs on stderr, with a line per finished run.
    seeds : int, optional
        Seeds per run; the suite's ``seeds`` (or its quick seeds) when None.
    executor : Executor, optional
        Where the jobs train (:mod:`~mnist_mlp.study.executors`); the caller
        opens and closes it. Default: a :class:`LocalExecutor` of ``jobs`` workers.

    Returns
    -------
    SuiteOutcome
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"The 'jobs' parameter must be an integer >= 1; got {jobs!r}.")
    start = time.perf_counter()
    store = Store(out_dir)
    store.check_writable()
    # One entry per job: (run name, seed) -> its TrainConfig, seed included.
    configs = {job.id: _with_data_dir(job.config, data_dir)
               for job in suite.jobs(quick=quick, seeds=seeds)}
    outcome = SuiteOutcome({}, 0.0, jobs, quick, seeds=suite.seed_count(quick, seeds))
    outcome.results = _stored_results(store, configs)
    outcome.reused = list(outcome.results)
    pending = sorted((job for job in configs if job not in outcome.results),
                     key=lambda job: -_cost(configs[job]))
    if pending and data is None:
        # Fetch once here: workers fetching the same files at once would collide.
        for dataset in sorted({configs[job].dataset for job in pending}):
            ensure_dataset(dataset, data_dir, progress=progress)
    given = contextlib.nullcontext(executor) if executor is not None else None
    with Progress(len(configs), progress, status=_status_line) as bar, \
            given or LocalExecutor(jobs) as engine:
        outcome.jobs, outcome.executor = engine.slots, engine.description
        outcome.blas_threads = engine.blas_threads
        for job in outcome.reused:
            bar.finished(outcome.results[job])
        scratch_root = Path(out_dir).absolute() / SCRATCH_DIR if engine.shares_filesystem else None
        for result in _execute(pending, configs, store, engine, data, scratch_root, bar):
            outcome.results[result.job] = result
            outcome.trained.append(result.job)
    if scratch_root is not None:
        with contextlib.suppress(OSError):
            scratch_root.rmdir()  # empty once every job has ended; kept while one can resume
    outcome.results = {job: outcome.results[job] for job in configs}
    outcome.seconds = time.perf_counter() - start
    return outcome


def _stored_results(store, configs):
    """``{(name, seed): RunResult}`` of the jobs whose stored result can be reused as it is."""
    stored = {job: store.load(job[0], run_key(config)) for job, config in configs.items()}
    return {job: result for job, result in stored.items() if result is not None}


def _with_data_dir(config, data_dir):
    if data_dir is None:
        return config
    return TrainConfig.from_dict({**config.to_dict(), "data_dir": os.fspath(data_dir)})


def _cost(config):
    """Relative training cost, to start the longest runs first (fewer idle workers at the end)."""
    sizes = (784, *config.hidden, 10)
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    train_n = config.train_subset or (_MNIST_TRAIN_SIZE - config.validation_size)
    per_epoch = 3 * train_n * (1.5 if config.augment else 1.0) + config.validation_size + 10_000
    return config.epochs * per_epoch * weights


# -- executing jobs -------------------------------------------------------------------------

def run_blas_threads(jobs):
    """BLAS threads per job: ``cpu_count // jobs`` in workers; inline, whatever this process has."""
    return LocalExecutor(1).blas_threads if jobs == 1 else default_threads(jobs)


def _execute(pending, configs, store, executor, data, scratch_root, bar):
    """Run the pending jobs in order; store and yield each result as it arrives.

    At most ``executor.slots`` jobs are submitted at a time, the next one as
    soon as one ends. So the longest-first order holds on any executor, and a
    worker never holds a queued job besides the one it runs: a worker that dies
    takes no bystander with it (on Dask, each would count a failure of its own).
    """
    queue, in_flight, shown = list(pending), {}, {}
    while queue or in_flight:
        while queue and len(in_flight) < executor.slots:
            job = queue.pop(0)
            name, config = job[0], configs[job]
            key = run_key(config)
            scratch = None if scratch_root is None else os.fspath(scratch_root / f"{name}-{key}")
            in_flight[executor.submit(run_job, name, key, config, data, scratch)] = job
            # What the progress display shows of the job: its epochs, read from its log.
            shown[job] = (_job_label(job), None if scratch is None else Path(scratch) / "train.log",
                          config.epochs)
        bar.started([shown[job] for job in in_flight.values()])
        done = next(iter(executor.as_completed(list(in_flight))))
        job = in_flight.pop(done)
        result = _store_output(store, job[0], configs[job], done)
        bar.finished(result)
        yield result
    bar.started([])


def _job_label(job):
    """``h1-relu seed 1``: how progress lines name a job."""
    return f"{job[0]} seed {job[1]}"


def _store_output(store, name, config, future):
    """Write a finished job's files, then its ``result.json``, into the store; return its result.

    The client alone writes the store, each file atomically and the result last,
    so an interrupted or lost job leaves no result that a later invocation would trust.
    """
    try:
        record, files = future.result()
    except Exception as exc:  # noqa: BLE001 - the worker died (too often) or the result was lost
        record, files = _failed_result(name, run_key(config), config, exc).to_dict(), {}
    result = RunResult(**record)
    run_dir = store.run_dir(result.name, result.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    for filename, content in files.items():
        with atomic_write(run_dir / filename, "wb") as handle:
            handle.write(content)
    store.save(result)
    return result


def run_job(name, key, config, data=None, scratch=None):
    """Train one job; return ``(result record, files)``. The job function of the study.

    A pure function of its arguments, run by an executor in any worker: it trains
    in ``scratch`` and hands everything back for the client to store.

    Parameters
    ----------
    name, key : str
        The store's name and settings key of the job (``key`` is ``run_key(config)``).
    config : TrainConfig
        The job's settings, its seed included.
    data : tuple, optional
        ``(train_x, test_x, train_y, test_y)``; loaded in the worker when None.
    scratch : str, optional
        Directory to train in. It keeps the checkpoint after an interrupted or
        crashed attempt, so that the next attempt resumes from it (bit-identical
        to an uninterrupted run), and is removed once the job has ended. None: a
        temporary directory (workers that do not share the client's filesystem).

    Returns
    -------
    record : dict
        ``RunResult.to_dict()``: status, error, final metrics, timings.
    files : dict
        ``{file name: bytes}`` for the job's store directory: ``model.npz``,
        ``history.json``, ``curves.png``, ``train.log`` (those that were written).

    Any exception during training becomes a failed record carrying its message;
    only an interrupt (``KeyboardInterrupt``) or a dying process escapes.
    """
    with contextlib.ExitStack() as stack:
        if scratch is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mnist-mlp-job-")))
        else:
            work = Path(scratch)
            work.mkdir(parents=True, exist_ok=True)
        result = _train_job(name, key, config, data, work)
        files = {path.name: path.read_bytes() for path in sorted(work.iterdir())
                 if path.is_file() and path.name != CHECKPOINT_FILE}
        if scratch is not None and (result.ok or result.error_type in DETERMINISTIC_ERRORS):
            shutil.rmtree(work, ignore_errors=True)  # nothing left to resume from
    return result.to_dict(), files


def _train_job(name, key, config, data, work):
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        history = _train(config, work, data)
        result = _ok_result(name, key, config, history)
        _plot_run(history, work / "curves.png", name)
    except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
        result = _failed_result(name, key, config, exc)
    result.wall_seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result.blas_threads = os.environ.get("OPENBLAS_NUM_THREADS")
    return result


def _failed_result(name, key, config, exc):
    return RunResult(name, key, "failed", config.to_dict(), error=_one_line(exc),
                     error_type=type(exc).__name__)


def _train(config, run_dir, data):
    """Train, resuming from the run's checkpoint if an earlier invocation left one.

    NumPy's floating-point warnings (a diverging run overflows before its loss
    turns inf) go to the run's ``train.log`` rather than into the suite's output.
    """
    data = data if data is not None else _load_data(config)
    with open(run_dir / "train.log", "a", encoding="utf-8") as log_file, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")

        def log(line):
            print(line, file=log_file, flush=True)

        try:
            return _train_or_resume(config, run_dir, data, log)
        finally:
            for warning in caught:
                log(f"warning: {warning.category.__name__}: {warning.message} "
                    f"({Path(warning.filename).name}:{warning.lineno})")


def _train_or_resume(config, run_dir, data, log):
    checkpoint = run_dir / CHECKPOINT_FILE
    if checkpoint.exists():
        try:
            return train(config, run_dir, data=data, resume=True, progress=False, log=log)[1]
        except DataError as exc:  # an unreadable checkpoint: start afresh rather than fail
            log(f"cannot resume ({exc}); starting afresh")
            _remove(checkpoint)
    return train(config, run_dir, data=data, progress=False, log=log)[1]


_DATA_CACHE = {}


def _load_data(config):
    """The dataset for ``config``, loaded once per process and shared by its runs.

    ``"standard"`` normalisation is left to the trainer, which also stores the pixel
    statistics in the model file.
    """
    if config.normalize == "standard":
        return None
    from mnist_mlp.load_data import DEFAULT_NORMALIZE
    normalize = config.normalize or DEFAULT_NORMALIZE
    cache_key = (config.dataset, config.data_dir, normalize, config.dtype)
    if cache_key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # keep one dataset in memory, not every variant
        _DATA_CACHE[cache_key] = load_dataset(config.dataset, config.data_dir,
                                              normalize=normalize, dtype=config.dtype)
    return _DATA_CACHE[cache_key]


def _ok_result(name, key, config, history):
    final = history.final()
    return RunResult(
        name, key, "ok", config.to_dict(), final=dict(final), best_epoch=history.best_epoch,
        epochs_run=len(history.records), stopped_early=history.stopped_early,
        train_seconds=float(sum(r["seconds"] for r in history.records)),
    )


def _plot_run(history, path, name):
    from mnist_mlp.report.plots import (
        plot_history,  # matplotlib is imported only where figures are drawn
    )
    plot_history(history, path, title=f"{name}: loss and accuracy per epoch")


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


def _one_line(exc):
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


# -- progress (the display itself is mnist_mlp.study.progress) ---------------------------

def _status_line(result):
    label = _job_label(result.job)
    if not result.ok:
        return f"{label}: FAILED - {result.error}"
    how = ("reused" if result.reused else
           f"trained in {result.wall_seconds:.0f} s wall time ({result.cpu_seconds or 0:.0f} s CPU)")
    final = result.final
    val = "" if final.get("val_acc") is None else f", val {100 * final['val_acc']:.2f}%"
    return f"{label}: {how}{val}, test {100 * final['test_acc']:.2f}%"
