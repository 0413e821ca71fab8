"""Where jobs run: one small executor interface, a local and a Dask implementation.

The interface has the shape of :mod:`concurrent.futures`::

    with make_executor("local", jobs=2) as executor:          # or "dask"
        pending = [executor.submit(fn, *args) for args in work]
        for future in executor.as_completed(pending):
            value = future.result()     # fn's return value, or what it raised

Any picklable callable works (a module-level function and picklable arguments);
the study runner submits one training job per (run, seed), the tuner its trials.
The contract for ``fn``:

- It runs in another process, perhaps on another machine: it must not rely on
  the client's memory, and what it returns travels back pickled. It should be a
  pure function of its arguments (the client, not the job, writes results).
- It may run more than once: a worker that dies mid-job (killed, out of memory)
  costs only that job, which Dask starts again on another worker up to
  ``allowed_failures`` times. Only the attempt that returns counts.
- An exception it raises is re-raised by ``future.result()``; a worker lost too
  often raises Dask's ``KilledWorker`` there. The client decides what to record.
- Keep at most ``executor.slots`` jobs submitted (the study runner submits the
  next as one ends): Dask counts a worker's death against every job queued on
  that worker, so with more submitted a dying job can take bystanders with it.

Executors also say what a job needs to know about where it runs:
``slots`` (jobs running at once), ``shares_filesystem`` (paths of the client
are valid in the workers, so a job may keep a checkpoint under the output
directory) and ``blas_threads`` (what each worker's BLAS was set to).

BLAS threads are set the same way in both: OpenBLAS, MKL and OpenMP read their
thread count once, when NumPy is imported, so the variables must be in a
worker's environment before it starts. :class:`LocalExecutor` sets them in this
process while it spawns its pool (``spawn``, never ``fork``, whose children
would inherit an initialised BLAS); :class:`DaskExecutor` sets Dask's
``distributed.nanny.pre-spawn-environ`` to the same values for the workers of
its local cluster. Workers of a remote cluster get that setting from their own
Dask configuration (1 thread unless changed); jobs record what they saw.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import re
from concurrent import futures

from mnist_mlp.errors import ConfigError, MnistMlpError

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "ExecutorError", "make_executor",
           "check_executor_options", "check_scheduler_address", "default_threads", "blas_threads",
           "BLAS_THREAD_VARIABLES", "EXECUTORS"]

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
EXECUTORS = ("local", "dask")
_CONNECT_TIMEOUT = 10  # seconds to reach a scheduler
_SLOT = "mnist-mlp-job"  # a Dask worker resource: local workers have one, each job takes it
_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
_INSTALL_HINT = "install it with: pip install 'mnist-mlp[dask]'"
_DASHBOARD = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$")
DEFAULT_DASHBOARD = "127.0.0.1:8787"


class ExecutorError(MnistMlpError, ConnectionError):
    """The executor itself failed (e.g. the scheduler connection was lost), not a job."""


@contextlib.contextmanager
def blas_threads(count):
    """Set the BLAS thread variables to ``count`` in ``os.environ``, restore them on exit."""
    with _restored_environ():
        os.environ.update({name: str(count) for name in BLAS_THREAD_VARIABLES})
        yield


@contextlib.contextmanager
def _restored_environ():
    """Put ``os.environ`` back as it was when the block began (values set, added, removed)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


class Executor:
    """Base class: ``submit``, ``as_completed``, ``close``; a context manager."""

    slots = 1
    shares_filesystem = True
    blas_threads = None
    description = ""

    def submit(self, fn, /, *args, **kwargs):
        """Schedule ``fn(*args, **kwargs)``; return a future (``result()``, ``done()``)."""
        raise NotImplementedError

    def as_completed(self, submitted):
        """Yield the futures of ``submitted`` as they finish (any order)."""
        raise NotImplementedError

    def close(self, cancel=False):
        """Release the workers; with ``cancel``, drop jobs that have not finished."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(cancel=exc_type is not None)


# -- local ----------------------------------------------------------------------------------

class _Deferred(futures.Future):
    """A future that runs its call in this process when first asked for (``jobs=1``).

    Running at submit time would finish every job before the caller sees the
    first result, so an interrupt would lose them all; deferred, each result is
    in the caller's hands as soon as its job ends.
    """

    def __init__(self, fn, args, kwargs):
        super().__init__()
        self._call = (fn, args, kwargs)

    def run(self):
        if self.done():
            return
        fn, args, kwargs = self._call
        self.set_running_or_notify_cancel()
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the caller through result()
            self.set_exception(exc)
        else:
            self.set_result(value)

    def result(self, timeout=None):
        self.run()
        return super().result(timeout)


class LocalExecutor(Executor):
    """``jobs`` worker processes on this machine (``jobs=1``: in this process).

    Parameters
    ----------
    jobs : int >= 1
    threads : int, optional
        BLAS threads per worker; default ``cpu_count // jobs``. Not applied with
        ``jobs=1``, which keeps this process's BLAS as it is.
    """

    def __init__(self, jobs=1, *, threads=None):
        _check_jobs(jobs)
        self.slots = jobs
        self._pool = None
        if jobs == 1:
            self.blas_threads = _inherited_threads()
            self.description = "in this process"
        else:
            self.blas_threads = threads or default_threads(jobs)
            self.description = f"local process pool, {jobs} workers"
            self._pool = futures.ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, /, *args, **kwargs):
        if self._pool is None:
            return _Deferred(fn, args, kwargs)
        # The pool spawns a worker inside submit() while it has fewer than
        # max_workers: the worker inherits these variables and imports NumPy under them.
        with blas_threads(self.blas_threads):
            return self._pool.submit(fn, *args, **kwargs)

    def as_completed(self, submitted):
        if self._pool is None:
            for future in submitted:
                future.run()
                yield future
            return
        yield from futures.as_completed(submitted)

    def close(self, cancel=False):
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def default_threads(jobs):
    """BLAS threads per worker so that ``jobs`` workers do not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _inherited_threads():
    configured = [os.environ[v] for v in BLAS_THREAD_VARIABLES if v in os.environ]
    return configured[0] if configured else f"library default (up to {os.cpu_count()})"


def _check_jobs(jobs):
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"The 'jobs' parameter must be an integer >= 1; got {jobs!r}.")


# -- dask -----------------------------------------------------------------------------------

def check_scheduler_address(address):
    """Return ``address`` if it reads ``tcp://HOST:PORT`` (or ``tls://``); else a ConfigError."""
    match = _ADDRESS.match(address or "")
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(f"malformed scheduler address {address!r}: expected tcp://HOST:PORT "
                          "(e.g. tcp://10.0.0.5:8786, as printed by `dask scheduler`)")
    return address


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--executor dask needs Dask's distributed package; "
                          f"{_INSTALL_HINT}") from None
    return distributed


class DaskExecutor(Executor):
    """Jobs on a Dask cluster: the one at ``address``, or a new local one.

    Parameters
    ----------
    address : str, optional
        ``tcp://HOST:PORT`` of a running ``dask scheduler``. Without it a
        ``LocalCluster`` starts on 127.0.0.1: ``workers`` processes with one
        thread each, no dashboard unless ``dashboard`` is an address like ":8787".
    workers : int >= 1
        Workers of the local cluster (ignored with ``address``).
    threads : int, optional
        BLAS threads per local worker; default ``cpu_count // workers``.
    allowed_failures : int, optional
        Worker deaths a job may cause before it is given up, on the local cluster.
        Default: Dask's ``distributed.scheduler.allowed-failures`` (3; settable as
        ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES``), which is also what a
        remote scheduler uses, from its own configuration.
    connect_timeout : float, optional
        Seconds to reach the scheduler before giving up with a ConfigError (10).
    wait_timeout : float, optional
        Seconds :meth:`as_completed` waits for the next job before giving up with
        an ExecutorError (None: as long as it takes; tests bound it).
    """

    shares_filesystem = False
    dashboard_link = None  # the local cluster's dashboard URL, when one was asked for

    def __init__(self, address=None, *, workers=1, threads=None,
                 allowed_failures=None, connect_timeout=None,
                 wait_timeout=None, dashboard=None):
        _check_jobs(workers)
        self.wait_timeout = wait_timeout
        connect_timeout = connect_timeout or _CONNECT_TIMEOUT
        distributed = _import_distributed()
        self._distributed = distributed
        self._cluster = None
        # Dask logs every connection at INFO; the study's own lines are the progress.
        self._logger = logging.getLogger("distributed")
        self._log_level = self._logger.level
        self._logger.setLevel(max(self._log_level, logging.WARNING))
        if address is not None:
            self.address = check_scheduler_address(address)
            self._client = self._connect(self.address, connect_timeout)
            self.blas_threads = "set by each worker's Dask configuration (default 1)"
            self.description = f"Dask cluster at {self.address}, {self.slots} worker threads"
            return
        self._slots = workers
        self.blas_threads = threads or default_threads(workers)
        self.shares_filesystem = True  # the workers run on this machine
        self._cluster = self._local_cluster(workers, allowed_failures, dashboard)
        self.address = self._cluster.scheduler_address
        self._client = self._connect(self.address, connect_timeout)
        self.description = f"Dask LocalCluster on 127.0.0.1, {workers} workers"
        if dashboard:
            self.dashboard_link = self._cluster.dashboard_link
            self.description += f", dashboard at {self.dashboard_link}"

    @property
    def slots(self):
        """Jobs that can run at once: the local workers, or the cluster's threads right now
        (workers may join or leave a remote cluster while a study runs)."""
        if self._cluster is not None:
            return self._slots
        with contextlib.suppress(Exception):  # a lost connection shows in as_completed
            return max(1, sum(self._client.nthreads().values()))
        return 1

    def _local_cluster(self, workers, allowed_failures, dashboard):
        import dask
        # Dask's default MALLOC_TRIM_THRESHOLD_=65536 turns off glibc's adaptive mmap
        # threshold: every NumPy temporary over 128 KiB is then mapped and unmapped
        # again, 9x the page faults and ~10% more CPU per training here. Workers get
        # the local pool's malloc instead, and its BLAS threads.
        environ = {**{name: value for name, value
                      in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                      if name != "MALLOC_TRIM_THRESHOLD_"},
                   **{name: str(self.blas_threads) for name in BLAS_THREAD_VARIABLES}}
        if allowed_failures is None:
            allowed_failures = dask.config.get("distributed.scheduler.allowed-failures")
        settings = {"distributed.nanny.pre-spawn-environ": environ,
                    "distributed.scheduler.allowed-failures": allowed_failures,
                    "distributed.worker.multiprocessing-method": "spawn",
                    # Background threads that compete with the training for the GIL and
                    # the cores: the statistical profiler (a stack sample each 10 ms),
                    # the event-loop tick (20 ms), memory (100 ms) and system (500 ms)
                    # monitors. Idle, they cost a 2-core machine ~4% of its CPU; slowed
                    # down as here, under 1%.
                    "distributed.worker.profile.enabled": False,
                    "distributed.admin.tick.interval": "1s",
                    "distributed.admin.system-monitor.interval": "5s",
                    "distributed.worker.memory.monitor-interval": "1s"}
        # The nannies run in this process and set pre-spawn-environ in os.environ
        # before each spawn (a restart too: close() restores it once more).
        self._environ = dict(os.environ)
        with dask.config.set(settings), _restored_environ():
            return self._distributed.LocalCluster(
                host="127.0.0.1", n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=dashboard, silence_logs=40, resources={_SLOT: 1},
                # Without a dashboard the scheduler still serves health checks over
                # HTTP, by default on port 8787: any free port instead, on loopback.
                scheduler_kwargs=None if dashboard else {"dashboard_address": "127.0.0.1:0"})

    def _connect(self, address, timeout):
        try:
            return self._distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            self._logger.setLevel(self._log_level)
            raise ConfigError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                              f"({type(exc).__name__}); start it with `dask scheduler` and check "
                              "the address and firewall") from None

    def submit(self, fn, /, *args, **kwargs):
        # pure=False: two jobs with equal arguments are still two jobs (no deduplication);
        # retries=0: an exception is the job's result, only a lost worker is retried.
        # On the local cluster each job takes its worker's one slot: the scheduler
        # hands a worker its next job only when the last has ended, so a worker that
        # dies takes no queued bystander with it (each would count a failure).
        resources = {_SLOT: 1} if self._cluster is not None else None
        return self._client.submit(fn, *args, pure=False, retries=0, resources=resources,
                                   **kwargs)

    def as_completed(self, submitted):
        done = self._distributed.as_completed(submitted, loop=self._client.loop,
                                              timeout=self.wait_timeout)
        try:
            for future in done:
                # A result that arrived counts; anything else after the connection dropped
                # (a cancelled future, a closing client) is the cluster's failure, not the job's.
                if future.status not in ("finished", "error"):
                    raise ExecutorError(f"lost the connection to the Dask scheduler at "
                                        f"{self.address}; finished runs are stored: run the same "
                                        "command again to resume")
                yield future
        except TimeoutError:
            raise ExecutorError(f"no job finished within {self.wait_timeout:g} s on the Dask "
                                f"cluster at {self.address}") from None

    def close(self, cancel=False):
        if cancel:
            with contextlib.suppress(Exception):
                self._client.cancel(list(self._client.futures.values()))
        # Closing after a lost connection fails and logs tracebacks: the user has had
        # the one line that says what happened.
        with contextlib.suppress(Exception), _quiet():
            self._client.close(timeout=_CONNECT_TIMEOUT)
        if self._cluster is not None:
            with contextlib.suppress(Exception), _quiet():
                self._cluster.close(timeout=_CONNECT_TIMEOUT)
            for name in set(os.environ) - set(self._environ):
                del os.environ[name]
            os.environ.update(self._environ)
        self._logger.setLevel(self._log_level)


@contextlib.contextmanager
def _quiet():
    """No log records for the block (Dask's loggers have levels of their own, so disable all)."""
    saved = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(saved)


def check_dashboard_address(address):
    """Return ``address`` if it reads ``HOST:PORT`` (``:PORT`` is every interface); else a ConfigError."""
    match = _DASHBOARD.match(address or "")
    if match is None or not 0 <= int(match.group(2)) < 65536:
        raise ConfigError(f"malformed dashboard address {address!r}: expected HOST:PORT "
                          f"(e.g. {DEFAULT_DASHBOARD}, the default of a bare --dashboard)")
    return address


def check_executor_options(kind="local", scheduler=None, dashboard=None):
    """Refuse a bad executor choice without starting anything (ConfigError, one line).

    An unknown ``kind``, a ``scheduler`` or ``dashboard`` without ``kind="dask"``, a
    malformed address, a dashboard for a remote scheduler (it serves its own), a
    dashboard without bokeh, or ``"dask"`` without Dask installed.
    """
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTORS)}")
    if kind == "local":
        for flag, value in (("--scheduler", scheduler), ("--dashboard", dashboard)):
            if value is not None:
                raise ConfigError(f"{flag} needs --executor dask (the local executor has no "
                                  f"{flag[2:]}); add --executor dask or drop {flag}")
        return
    if scheduler is not None:
        check_scheduler_address(scheduler)
    if dashboard is not None:
        if scheduler is not None:
            raise ConfigError("--dashboard is for the local cluster; a running scheduler serves "
                              "its own (`dask scheduler --dashboard-address HOST:PORT`): drop --dashboard")
        check_dashboard_address(dashboard)
        if importlib.util.find_spec("bokeh") is None:
            raise ConfigError("Dask's dashboard needs bokeh; install it with: pip install 'bokeh>=3.9'")
    _import_distributed()


def make_executor(kind="local", *, jobs=1, scheduler=None, dashboard=None, **options):
    """The executor named ``kind`` (``"local"`` or ``"dask"``), started; errors as ConfigError.

    ``scheduler`` (an address) is only valid with ``kind="dask"``; ``jobs`` is the
    number of local workers (the local pool's, or the local Dask cluster's).
    ``options`` go to the executor's constructor.
    """
    check_executor_options(kind, scheduler, dashboard)
    if kind == "local":
        return LocalExecutor(jobs, **options)
    return DaskExecutor(scheduler, workers=jobs, dashboard=dashboard, **options)
