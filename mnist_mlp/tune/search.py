"""The search: an Optuna study in a journal file, trials run by any executor.

The main process owns the sampler: it asks the study for a trial, draws its
parameters (seeded TPE, define-by-run), and submits :func:`run_trial` to an
executor; when a trial returns, the main process tells the study how it ended.
Workers only open the same journal file to report each epoch's validation
accuracy and ask the median pruner whether to stop.

An executor is any object with ``submit(fn, *args)`` returning a future (with
``result()``) and ``as_completed(futures)`` yielding them as they finish: a Dask
``Client`` wrapper fits, as do the study's local executors (:mod:`mnist_mlp.study.executors`:
one trial at a time in this process, the reproducible default, or ``--jobs N`` processes).

Resuming: the journal records every finished trial, so ``resume=True`` reopens the
study, marks trials left running by a killed process as failed, enqueues their
parameters again, and runs only the trials still missing. The study remembers the
fingerprint of its search space and refuses another one.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from mnist_mlp.errors import ConfigError
from mnist_mlp.tune.objective import TrialJob, open_storage, run_trial

__all__ = ["run_search", "open_study", "STUDY_FILE", "STUDY_NAME",
           "finished_trials"]

STUDY_FILE = "study.journal"
STUDY_NAME = "mnist-mlp-tune"
_SPACE_ATTR = "space_fingerprint"


def open_study(out_dir, space, resume):
    """Create the study in ``out_dir/study.journal``, or reopen it with ``resume``.

    Raises ConfigError before any trial runs: a study file exists without
    ``resume`` (or none with it), or it was made for another search space.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our one line per trial is enough
    path = Path(out_dir) / STUDY_FILE
    if path.exists() and not resume:
        raise ConfigError(f"{path} already holds a study; continue it with --resume or choose "
                          "another --out")
    if resume and not path.exists():
        raise ConfigError(f"--resume: no study file {path}; run without --resume to start one")
    path.parent.mkdir(parents=True, exist_ok=True)
    sampler = optuna.samplers.TPESampler(seed=space.search["seed"])
    study = optuna.create_study(study_name=STUDY_NAME, storage=open_storage(path), direction="maximize",
                                sampler=sampler, load_if_exists=resume)
    recorded = study.user_attrs.get(_SPACE_ATTR)
    if not resume:
        study.set_user_attr(_SPACE_ATTR, space.fingerprint())
        study.set_user_attr("baseline", space.baseline())
        study.enqueue_trial(space.baseline())  # the project's defaults: trial 0, the yardstick
    elif recorded != space.fingerprint():
        raise ConfigError(f"{path} was made for another search space (fingerprint {recorded}, this "
                          f"space {space.fingerprint()}); use the space it was made with or another --out")
    return study


def finished_trials(study):
    """Trials that ran to their end (complete, pruned, or failed by divergence): never run again.

    A trial a killed process left behind is failed by :func:`_requeue_stale` but has
    no ``epochs`` attribute (workers set it as a trial ends), so it does not count.
    """
    import optuna

    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in ended or (t.state == optuna.trial.TrialState.FAIL and "epochs" in t.user_attrs)]


def _requeue_stale(study, log):
    """Trials a killed run left 'running' are failed and their parameters enqueued again."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params)
        log(f"trial {trial.number} was interrupted; its parameters are queued again")


def run_search(study, space, out_dir, trials, executor, *, jobs=1, timeout=None, log=print,
               overrides=None, on_trial=None):
    """Run trials until ``trials`` have finished (see :func:`finished_trials`) or ``timeout`` seconds pass.

    ``overrides`` (e.g. ``data_dir``) go into every trial's TrainConfig but not into the
    study's identity. ``on_trial(result)`` is called in the main process after each trial is told to
    the study (the CLI rewrites ``trials.csv`` there). Returns the study.
    """
    import optuna

    _requeue_stale(study, log)
    done = len(finished_trials(study))
    if done:
        log(f"resuming: {done} of {trials} trials already finished")
    storage_path = str(Path(out_dir) / STUDY_FILE)
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = {}
    while True:
        room = trials - done - len(pending)
        in_time = deadline is None or time.monotonic() < deadline
        while room > 0 and len(pending) < jobs and in_time:
            trial = study.ask()
            with warnings.catch_warnings():
                # The baseline (trial 0) may lie outside a range; Optuna uses it anyway.
                warnings.filterwarnings("ignore", message="Fixed parameter .* out of range")
                values = space.suggest(trial)
            # Optuna has no public name for a trial's storage id; workers need it to report.
            job = TrialJob(storage_path, study.study_name, trial._trial_id, trial.number,
                           space.config(values, **(overrides or {})).to_dict(), space.search["warmup_epochs"],
                           space.search["startup_trials"])
            pending[executor.submit(run_trial, job)] = trial.number
            room -= 1
        if not pending:
            return study
        future = next(iter(executor.as_completed(pending)))
        number = pending.pop(future)
        result = future.result()
        state = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
                 "fail": optuna.trial.TrialState.FAIL}[result["state"]]
        study.tell(number, result["value"] if state == optuna.trial.TrialState.COMPLETE else None,
                   state=state)
        done += 1
        log(_describe(result))
        if on_trial is not None:
            on_trial(result)


def _describe(result):
    value = "" if result["value"] is None else f", validation accuracy {100 * result['value']:.2f}%"
    error = f": {result['error']}" if result["error"] else ""
    return (f"trial {result['number']} {result['state']} after {result['epochs']} epochs "
            f"({result['seconds']:.1f} s){value}{error}")
