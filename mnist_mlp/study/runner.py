"""Run the study: every job that has no stored result, in parallel processes.

A job is one run trained with one seed (:class:`~mnist_mlp.study.spec.Job`);
results are keyed by ``(run name, seed)``. Finished jobs whose settings did not
change are loaded from the :class:`~mnist_mlp.study.store.Store`; the others
train, longest first, ``jobs`` at a time. A run that fails (divergence or any other exception) is
stored as failed with its error and the rest of the suite carries on.

BLAS threads. Each worker gets ``cpu_count // jobs`` BLAS threads so that
``jobs`` processes do not oversubscribe the cores. OpenBLAS, MKL and OpenMP read
their thread count once, when NumPy is first imported, so setting it inside a
running worker is too late (and a pool initializer runs after the worker has
imported this module, hence NumPy). Instead :func:`run_suite` sets
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` in its own
environment just before it creates the pool, and restores them afterwards.
Workers are started with the ``spawn`` method: a fresh interpreter that inherits
that environment and imports NumPy under it. (A ``fork``-ed worker would inherit
the parent's already initialised BLAS with the parent's thread count.) With
``jobs=1`` runs train in this process, with its BLAS as it is.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import multiprocessing
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.load_data import ensure_dataset, load_dataset
from mnist_mlp.study.store import DETERMINISTIC_ERRORS, RunResult, Store, run_key
from mnist_mlp.train.trainer import CHECKPOINT_FILE, TrainConfig, train

__all__ = ["SuiteOutcome", "run_suite", "execute_run", "blas_threads", "run_blas_threads",
           "BLAS_THREAD_VARIABLES"]

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
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

    def of_run(self, name):
        """The results of run ``name``, one per seed, in seed order."""
        return [result for (run, _), result in self.results.items() if run == name]

    def run_names(self):
        """The runs, in file order."""
        return list(dict.fromkeys(run for run, _ in self.results))


def run_suite(suite, out_dir, *, jobs=1, quick=False, data_dir=None, data=None, progress=True,
              seeds=None):
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
    with _Progress(len(configs), progress) as bar:
        for job in outcome.reused:
            bar.finished(outcome.results[job])
        run = _run_inline if jobs == 1 else _run_pool
        for result in run(pending, configs, store, jobs, data, bar):
            outcome.results[result.job] = result
            outcome.trained.append(result.job)
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


# -- executing runs -------------------------------------------------------------------------

def _run_inline(pending, configs, store, jobs, data, bar):
    for job in pending:
        bar.started([_job_label(job)])
        result = execute_run(job[0], configs[job], store, data)
        bar.finished(result)
        yield result


def run_blas_threads(jobs):
    """BLAS threads per run: ``cpu_count // jobs`` in workers; inline, whatever this process has."""
    if jobs > 1:
        return max(1, (os.cpu_count() or 1) // jobs)
    configured = [os.environ[v] for v in BLAS_THREAD_VARIABLES if v in os.environ]
    return configured[0] if configured else f"library default (up to {os.cpu_count()})"


def _run_pool(pending, configs, store, jobs, data, bar):
    threads = run_blas_threads(jobs)
    context = multiprocessing.get_context("spawn")
    submitted = {}
    # Worker processes start (and import NumPy) as jobs are submitted, inside
    # this block; the parent's environment is restored right after.
    with blas_threads(threads):
        pool = futures.ProcessPoolExecutor(max_workers=min(jobs, max(len(pending), 1)),
                                           mp_context=context)
        for job in pending:
            submitted[pool.submit(execute_run, job[0], configs[job], store, data)] = job
    try:
        running = list(submitted)
        bar.started([_job_label(submitted[f]) for f in running[:jobs]])
        for done in futures.as_completed(submitted):
            result = _pool_result(done, submitted[done], configs, store)
            running.remove(done)
            bar.finished(result)
            bar.started([_job_label(submitted[f]) for f in running[:jobs]])
            yield result
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _job_label(job):
    """``h1-relu seed 1``: how progress lines name a job."""
    return f"{job[0]} seed {job[1]}"


def _pool_result(done, job, configs, store):
    """The worker's result, or a failed result if the worker itself died."""
    name = job[0]
    try:
        return done.result()
    except Exception as exc:  # a crashed worker (BrokenProcessPool) or an unpicklable result
        result = RunResult(name, run_key(configs[job]), "failed", configs[job].to_dict(),
                           error=_one_line(exc), error_type=type(exc).__name__)
        with contextlib.suppress(OSError, ValueError):
            store.save(result)
        return result


@contextlib.contextmanager
def blas_threads(count):
    """Set the BLAS thread variables to ``count`` in ``os.environ``, restore them on exit."""
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_VARIABLES}
    os.environ.update({name: str(count) for name in BLAS_THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute_run(name, config, store, data=None):
    """Train one run into its store directory and record the outcome; never raises.

    Runs in a worker process (or inline). Any exception during training becomes a
    failed :class:`RunResult` carrying the error message.
    """
    key = run_key(config)
    run_dir = store.run_dir(name, key)
    run_dir.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        history = _train(config, run_dir, data)
        result = _ok_result(name, key, config, history)
        _plot_run(history, run_dir / "curves.png", name)
    except Exception as exc:
        result = RunResult(name, key, "failed", config.to_dict(), error=_one_line(exc),
                           error_type=type(exc).__name__)
        if result.error_type in DETERMINISTIC_ERRORS:
            _remove(run_dir / CHECKPOINT_FILE)  # it would fail the same way from there
    result.wall_seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result.blas_threads = os.environ.get("OPENBLAS_NUM_THREADS")
    store.save(result)
    if result.ok:
        _remove(run_dir / CHECKPOINT_FILE)  # the model and history are saved; free the space
    return result


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


# -- progress -------------------------------------------------------------------------------

class _Progress:
    """A tqdm bar over runs, with one line per finished run; silent when disabled."""

    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc="runs", unit="run", file=sys.stderr,
                            dynamic_ncols=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def started(self, names):
        if self.bar is not None:
            self.bar.set_postfix_str(f"training {', '.join(names)}" if names else "")

    def finished(self, result):
        if self.bar is None:
            return
        self.bar.write(_status_line(result), file=sys.stderr)
        self.bar.update(1)


def _status_line(result):
    label = _job_label(result.job)
    if not result.ok:
        return f"{label}: FAILED - {result.error}"
    how = ("reused" if result.reused else
           f"trained in {result.wall_seconds:.0f} s wall time ({result.cpu_seconds or 0:.0f} s CPU)")
    final = result.final
    val = "" if final.get("val_acc") is None else f", val {100 * final['val_acc']:.2f}%"
    return f"{label}: {how}{val}, test {100 * final['test_acc']:.2f}%"
