"""``tune()``: the whole of ``mnist-mlp tune`` as one library call.

Order of work: validate everything (space file, counts, the study file, the
training files) so that bad input fails before any trial; search on the
validation split; then retrain the best and the baseline parameters once per
final seed and evaluate each once on the test set; write the outputs.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from mnist_mlp.errors import ConfigError
from mnist_mlp.study import executors as study_executors
from mnist_mlp.tune import results
from mnist_mlp.tune.objective import final_fit, load_training_split
from mnist_mlp.tune.search import (
    finished_trials,
    open_study,
    run_search,
)
from mnist_mlp.tune.space import load_space

__all__ = ["tune", "make_executor"]


def make_executor(name, jobs, **options):
    """The study's executor for ``--executor NAME --jobs N`` (:mod:`mnist_mlp.study.executors`):
    one local job runs in this process, more in worker processes, ``"dask"`` on a cluster
    (``options``: ``scheduler``, ``dashboard``)."""
    return study_executors.make_executor(name, jobs=jobs, **options)


def _check_counts(trials, jobs, timeout):
    for name, value in (("--trials", trials), ("--jobs", jobs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be an integer >= 1; got {value!r}")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout must be a number of minutes > 0; got {timeout!r}")


def tune(space_path, out_dir, *, trials=None, timeout=None, jobs=1, executor="local", resume=False,
         quick=False, data_dir=None, log=print):
    """Search, retrain the best, write the outputs; return the summary written to best.json.

    ``timeout`` is in minutes; ``trials`` defaults to the space's ``[search] trials``
    (or ``[quick] trials`` with ``quick``). ``executor`` is ``"local"``, ``"dask"``, or
    the keyword arguments of :func:`mnist_mlp.study.executors.make_executor` (``kind``,
    ``scheduler``, ``dashboard``).
    """
    _check_counts(trials, jobs, timeout)
    space = load_space(space_path)
    space = space.with_quick() if quick else space
    trials = trials if trials is not None else space.search["trials"]
    out = Path(out_dir)
    overrides = {} if data_dir is None else {"data_dir": str(data_dir)}
    load_training_split(space.config(space.baseline(), **overrides))  # missing files fail here
    options = {"kind": executor} if isinstance(executor, str) else dict(executor)
    # The executor before the study file: a scheduler that cannot be reached leaves no
    # study behind that a rerun would have to --resume.
    pool = make_executor(options.pop("kind"), jobs, **options)
    try:
        study = open_study(out, space, resume)
    except BaseException:
        pool.close()
        raise
    if getattr(pool, "dashboard_link", None):
        log(f"Dask dashboard: {pool.dashboard_link}")
    try:
        run_search(study, space, out, trials, pool, jobs=jobs,
                   timeout=None if timeout is None else 60 * timeout, log=log, overrides=overrides,
                   on_trial=lambda result: results.write_trials_csv(study, space, out / results.TRIALS_CSV))
        results.write_trials_csv(study, space, out / results.TRIALS_CSV)
        summary = _finish(study, space, out, pool, overrides, log)
    finally:
        pool.close()
    return summary


def _finish(study, space, out, pool, overrides, log):
    """Retrain best and baseline per final seed (test evaluated once each); write everything."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ConfigError("no trial completed (all pruned or failed); see trials.csv")
    best = max(complete, key=lambda t: (t.value, -t.number))
    baseline = study.get_trials(deepcopy=False)[0]
    seeds = [space.config(best.params).seed + i for i in range(space.search["final_seeds"])]
    log(f"best trial {best.number}: validation accuracy {100 * best.value:.2f}%; retraining it and the "
        f"baseline with seeds {seeds}, each evaluated once on the test set")
    jobs = {}
    for name, params in (("best", best.params), ("baseline", baseline.params)):
        for i, seed in enumerate(seeds):
            config = space.config(params, seed=seed, **overrides).to_dict()
            path = str(out / results.BEST_MODEL) if name == "best" and i == 0 else None
            jobs[pool.submit(final_fit, config, path)] = (name, i)
    fits = {"best": [None] * len(seeds), "baseline": [None] * len(seeds)}
    for future in pool.as_completed(list(jobs)):
        name, i = jobs[future]
        fits[name][i] = future.result()
    states = {}
    for trial in finished_trials(study):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    summary = {
        "space": space.source, "space_fingerprint": space.fingerprint(), "sampler_seed": space.search["seed"],
        "trials_finished": len(finished_trials(study)),
        "states": ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
        "best": {"trial": best.number, "params": best.params, "val_acc": best.value,
                 "config": space.config(best.params).to_dict(), "final": fits["best"],
                 "test_acc": fits["best"][0]["test_acc"],
                 "test_acc_mean": statistics.mean(f["test_acc"] for f in fits["best"])},
        "baseline": {"trial": 0, "params": baseline.params, "val_acc": baseline.value,
                     "final": fits["baseline"]},
    }
    results.write_best(out / results.BEST_JSON, summary)
    drawn = results.write_figures(study, out)
    results.write_report(out, summary, results.trial_rows(study, space), drawn)
    log(f"best retrained: test accuracy {100 * summary['best']['test_acc']:.2f}% (seed {seeds[0]}); "
        f"mean over {len(seeds)} seeds {100 * summary['best']['test_acc_mean']:.2f}%")
    return summary
