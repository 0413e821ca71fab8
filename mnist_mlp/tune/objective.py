"""One trial: train on the training split, score on the validation split; no test data.

:func:`run_trial` is what an executor runs, in this process or another one. It
reads the **training files only** (:func:`load_training_split`), hands the trainer
``test_x = test_y = None``, reports the validation accuracy after every epoch to
the study (for median pruning) and returns the final epoch's validation accuracy.
No code path of a trial opens the test files, so the search cannot depend on them.

:func:`final_fit` trains one configuration after the search, and only it reads
the test split, to evaluate the finished model once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mnist_mlp import load_data
from mnist_mlp.data.load import read_split
from mnist_mlp.data.normalize import normalization_metadata
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import evaluate, train

__all__ = ["TrialJob", "run_trial", "final_fit", "load_training_split", "open_storage"]

_CACHE = {}  # one training split per worker process: (dataset, dir, normalize, dtype) -> data


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run one trial: picklable, no Optuna objects."""

    storage_path: str
    study_name: str
    trial_id: int
    number: int
    config: dict
    warmup_epochs: int
    startup_trials: int


def open_storage(path):
    """Optuna's journal file storage at ``path`` (safe for several processes)."""
    import optuna

    backend_cls = getattr(optuna.storages.journal, "JournalFileBackend", None)
    if backend_cls is None:  # pragma: no cover - optuna < 4.0
        backend_cls = optuna.storages.JournalFileStorage
    return optuna.storages.JournalStorage(backend_cls(str(path)))


def load_training_split(config):
    """The normalised training images and labels of ``config.dataset``; never the test files.

    Normalisation statistics come from the training images, as in training.
    Returns ``(train_x, train_y, normalisation metadata)``.
    """
    method = config.normalize or load_data.DEFAULT_NORMALIZE
    key = (config.dataset, config.data_dir, method, config.dtype)
    if key not in _CACHE:
        images, labels = read_split(config.dataset, "train", config.data_dir)
        stats = load_data.pixel_stats(images) if method == "standard" else None
        x = load_data.normalize_images(images, method, stats=stats, dtype=config.dtype)
        _CACHE.clear()  # one dataset at a time per process is enough
        _CACHE[key] = (x, labels, normalization_metadata(method, stats), stats)
    return _CACHE[key][:3]


class _Pruned(Exception):
    """Raised from the epoch callback to stop a trial the pruner has given up on."""


def run_trial(job):
    """Train the trial's configuration; return a dict describing how it ended.

    Keys: ``number``, ``state`` ("complete", "pruned" or "fail"), ``value`` (final
    validation accuracy, or the last reported one when pruned), ``epochs``,
    ``seconds``, ``curve`` (validation accuracy per epoch) and ``error``.
    """
    import optuna

    config = TrainConfig.from_dict(dict(job.config))
    train_x, train_y, _ = load_training_split(config)  # the training files only
    pruner = optuna.pruners.MedianPruner(n_startup_trials=job.startup_trials,
                                         n_warmup_steps=job.warmup_epochs)
    study = optuna.load_study(study_name=job.study_name, storage=open_storage(job.storage_path),
                              pruner=pruner)
    trial = optuna.trial.Trial(study, job.trial_id)
    curve = []

    def report(record):
        curve.append(record["val_acc"])
        trial.report(record["val_acc"], record["epoch"])
        if trial.should_prune():
            raise _Pruned

    start = time.perf_counter()
    state, error = "complete", None
    try:
        train(config, data=(train_x, None, train_y, None), progress=False, log=lambda line: None,
              on_epoch=report)
    except _Pruned:
        state = "pruned"
    except (ValueError, ArithmeticError) as exc:  # divergence or a bad combination
        state, error = "fail", str(exc)
    value = curve[-1] if curve and state != "fail" else None
    result = {"number": job.number, "state": state, "value": value, "epochs": len(curve),
              "seconds": time.perf_counter() - start, "curve": curve, "error": error}
    for key in ("epochs", "seconds", "error"):  # trials.csv reads these from the study
        trial.set_user_attr(key, result[key])
    return result


def final_fit(config_dict, out_path=None):
    """Train once on the training split, then evaluate once on validation and test.

    The test split is read here, after training, for the single evaluation that is
    reported; nothing about it flows back into the search. Returns a dict with
    ``val_acc``, ``test_acc``, ``seconds`` and ``seed``; saves the model to
    ``out_path`` (an ``.npz``) when given.
    """
    config = TrainConfig.from_dict(dict(config_dict))
    train_x, train_y, norm_meta = load_training_split(config)
    start = time.perf_counter()
    model, history = train(config, data=(train_x, None, train_y, None), progress=False,
                           log=lambda line: None)
    seconds = time.perf_counter() - start
    test_x, test_y = _test_split(config)
    result = {"seed": config.seed, "val_acc": history.records[-1]["val_acc"],
              "test_acc": evaluate(model, test_x, test_y)["accuracy"], "seconds": seconds}
    if out_path is not None:
        metadata = {"dataset": config.dataset, "classes": list(load_data.CLASS_NAMES[config.dataset]),
                    "config": config.to_dict(), **norm_meta}
        model.save(out_path, metadata=metadata)
    return result


def _test_split(config):
    """The test images, normalised with the training statistics (as in training)."""
    images, labels = read_split(config.dataset, "t10k", config.data_dir)
    method = config.normalize or load_data.DEFAULT_NORMALIZE
    stats = _CACHE[(config.dataset, config.data_dir, method, config.dtype)][3]
    return load_data.normalize_images(images, method, stats=stats, dtype=config.dtype), labels

