"""Checkpoints of a training run: everything needed to resume it to the same bits.

One ``.npz`` holds the weights, the optimiser state, the training generators'
states, the history and the early-stopping state; it loads with
``allow_pickle=False``. Written atomically after every epoch by
:func:`mnist_mlp.train.trainer.train`.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.fileio import read_archive, write_archive
from mnist_mlp.train.history import History

__all__ = ["load_checkpoint", "save_checkpoint"]

_CHECKPOINT_FORMAT = "mnist-mlp checkpoint"
_CHECKPOINT_VERSION = 2  # 2: a separate noise generator (dropout, augmentation)


def save_checkpoint(path, run, config):
    """Weights, optimiser state, generator state, history and early-stopping state, atomically.

    Arrays go into the ``.npz`` under ``model/``, ``best/`` and ``optim/``; the
    rest is one JSON string, so the file loads with ``allow_pickle=False``.
    """
    arrays = {f"model/{key}": param for key, param, _ in run.model.named_params()}
    if run.best_params is not None:
        arrays.update({f"best/{key}": value for key, value in run.best_params.items()})
    optim_scalars = {}
    for key, value in run.optimizer.state_dict().items():
        if isinstance(value, np.ndarray):
            arrays[f"optim/{key}"] = value
        else:
            optim_scalars[key] = value
    header = {"format": _CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION,
              "config": config.to_dict(), "epoch": run.epoch, "iteration": run.iteration,
              "rng": run.rng.bit_generator.state,
              "noise_rng": run.noise_rng.bit_generator.state, "optimizer": optim_scalars,
              "best_loss": run.best_loss if math.isfinite(run.best_loss) else None,
              "best_epoch": run.best_epoch, "bad_epochs": run.bad_epochs,
              "history": run.history.to_dict()}
    write_archive(path, arrays, header, kind="checkpoint")


def _read_checkpoint(path):
    header, arrays = read_archive(path, "checkpoint",
                                  missing=f"no checkpoint to resume: {path} does not exist",
                                  advice="a run directory's checkpoint.npz is written by "
                                  "`mnist-mlp train` after every epoch")
    if header.get("format") != _CHECKPOINT_FORMAT or header.get("version") != _CHECKPOINT_VERSION:
        raise DataError(f"{path} is not an mnist-mlp checkpoint of version {_CHECKPOINT_VERSION}")
    return header, arrays


def _config_differences(saved, config):
    current = config.to_dict()
    return [f"{key}: {saved.get(key)!r} in the checkpoint, {current[key]!r} now"
            for key in current if key != "data_dir" and saved.get(key) != current[key]]


def load_checkpoint(path, run, config):
    """Put the state of ``path`` into ``run``; the configuration must match."""
    header, arrays = _read_checkpoint(path)
    differences = _config_differences(header["config"], config)
    if differences:
        raise ConfigError(f"{path} was written with other settings ({'; '.join(differences)}); "
                          "resume with the same settings or train into another directory.")
    for key, param, _ in run.model.named_params():
        saved = arrays.get(f"model/{key}")
        if saved is None or saved.shape != param.shape:
            raise DataError(f"{path}: the weights {key} are missing or have the wrong shape")
        param[...] = saved
    best = {key[len("best/"):]: value for key, value in arrays.items() if key.startswith("best/")}
    optim_state = dict(header["optimizer"])
    optim_state.update({key[len("optim/"):]: value for key, value in arrays.items()
                        if key.startswith("optim/")})
    try:
        run.optimizer.load_state_dict(optim_state)
        run.rng.bit_generator.state = header["rng"]
        run.noise_rng.bit_generator.state = header["noise_rng"]
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: cannot restore the optimiser or generator state ({exc})") from None
    run.history = History.from_dict(header["history"])
    run.epoch, run.iteration = header["epoch"], header["iteration"]
    run.best_loss = math.inf if header["best_loss"] is None else header["best_loss"]
    run.best_epoch, run.bad_epochs = header["best_epoch"], header["bad_epochs"]
    run.best_params = best or None
