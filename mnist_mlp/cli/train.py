"""``mnist-mlp train``: train an MLP from flags or a TOML file, write its run directory.

Flags name the keys of :class:`~mnist_mlp.train.config.TrainConfig`; values are parsed
and checked here and in ``TrainConfig`` before any data is touched, so a typo
costs one line of error and no training time. The run directory receives
``history.json``, ``model.npz``, ``checkpoint.npz`` and ``curves.png``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from mnist_mlp.activations import ACTIVATIONS
from mnist_mlp.cli.options import add_data_options
from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.fileio import check_output_dir
from mnist_mlp.layers import INITS
from mnist_mlp.load_data import DATASET_NAMES, NORMALIZATIONS
from mnist_mlp.loss import LOSSES
from mnist_mlp.optim import OPTIMIZERS, SCHEDULES
from mnist_mlp.train.chance import lower_lr_hint
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import CHECKPOINT_FILE, HISTORY_FILE, MODEL_FILE, train

__all__ = ["register", "config_from_args", "read_toml", "CURVES_FILE"]

CURVES_FILE = "curves.png"
_RUNS_DIR = Path("runs")


def _names(table):
    return ", ".join(sorted(table))


def _registry_names():
    """The registries' names for the help texts, read when the parser is built (not when this
    module is imported), so an entry registered later is offered too."""
    return {"normalize": _names(NORMALIZATIONS), "activation": _names(ACTIVATIONS),
            "loss": _names(LOSSES), "optimizer": _names(OPTIMIZERS),
            "schedule": _names(SCHEDULES), "init": ", ".join(INITS)}


# (flag, TrainConfig key, value kind, metavar, help). Kinds "int" / "float" / "str"
# take one value; "bool" makes --flag / --no-flag. Values are parsed by _convert,
# not by argparse, so a bad one gives the same one-line error as a bad TOML entry.
_FLAGS = (
    ("--dataset", "dataset", "str", "NAME", f"dataset: {', '.join(DATASET_NAMES)} (default mnist)"),
    ("--data-dir", "data_dir", "str", "DIR", "data directory (default: $MNIST_MLP_DATA, else ./data)"),
    ("--normalize", "normalize", "str", "NAME", "input scaling: {normalize} (default center)"),
    ("--hidden", "hidden", "str", "SIZES", "hidden layer widths, comma-separated (default 256; e.g. 512,256)"),
    ("--activation", "activation", "str", "NAME", "{activation} (default relu)"),
    ("--loss", "loss", "str", "NAME", "{loss} (default softmax_ce)"),
    ("--margin", "margin", "float", "M", "hinge margin (default 5; the seed suggests 0.5 with softmax_hinge)"),
    ("--gamma", "gamma", "float", "G", "focal loss gamma (default 2)"),
    ("--optimizer", "optimizer", "str", "NAME", "{optimizer} (default sgd)"),
    ("--lr", "learning_rate", "float", "LR", "learning rate (default 0.08)"),
    ("--momentum", "momentum", "float", "MU", "SGD momentum in [0, 1) (default 0.9)"),
    ("--nesterov", "nesterov", "bool", None, "Nesterov momentum (SGD)"),
    ("--weight-decay", "weight_decay", "float", "WD", "L2 weight decay (decoupled for adamw; default 3e-4)"),
    ("--schedule", "schedule", "str", "NAME", "learning-rate schedule: {schedule} (default cosine)"),
    ("--warmup", "warmup_epochs", "int", "EPOCHS", "epochs of linear learning-rate warm-up (default 0)"),
    ("--batch-size", "batch_size", "int", "N", "mini-batch size (default 100)"),
    ("--epochs", "epochs", "int", "N", "number of epochs (default 20)"),
    ("--dropout", "dropout", "float", "P", "dropout probability after each hidden layer, in [0, 1) (default 0)"),
    ("--augment", "augment", "augment", "NAME",
     "distort training images: alone, random shifts and small affine transforms; with a NAME, "
     "none, affine, elastic (Simard et al. 2003) or affine+elastic"),
    ("--init", "init", "str", "NAME", "weight initialisation: {init} (default he)"),
    ("--init-std", "init_std", "float", "STD", "standard deviation for --init gaussian (default 0.01)"),
    ("--seed", "seed", "int", "S", "random seed: same seed, same bits (default 0)"),
    ("--validation-size", "validation_size", "int", "N",
     "training samples held out for validation, stratified (default 5000; 0 for none)"),
    ("--train-subset", "train_subset", "int", "N", "train on a stratified subset of N samples"),
    ("--test-subset", "test_subset", "int", "N", "report test metrics on a stratified subset of N samples"),
    ("--early-stopping", "early_stopping", "bool", None,
     "stop when the validation loss stops improving and keep the best weights"),
    ("--patience", "patience", "int", "EPOCHS", "epochs without improvement before stopping (default 5)"),
    ("--dtype", "dtype", "str", "NAME", "float32 (default) or float64"),
)


def register(subparsers):
    """Add the ``train`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "train",
        help="train an MLP and write its model, history and curves",
        description="Train a multilayer perceptron. Settings come from the defaults, then from "
        "--config FILE.toml (same keys as the flags' names in TrainConfig, e.g. learning_rate, "
        "hidden = [512, 256]), then from flags given on the command line. A stratified validation "
        "split of the training set drives early stopping; test metrics are only reported. "
        "The run directory gets history.json, model.npz, checkpoint.npz and curves.png.",
    )
    group = parser.add_argument_group("model and training (keys of the TOML file in brackets)")
    names = _registry_names()
    for flag, key, kind, metavar, text in _FLAGS:
        text = text.format(**names)
        if kind == "bool":
            group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=f"{text} [{key}]")
        elif kind == "augment":  # --augment, --augment NAME, --no-augment
            group.add_argument(flag, dest=key, metavar=metavar, nargs="?", const=True,
                               default=argparse.SUPPRESS, help=f"{text} [{key}]")
            group.add_argument("--no-" + flag[2:], dest=key, action="store_false",
                               default=argparse.SUPPRESS, help="no distortion")
        else:
            group.add_argument(flag, dest=key, metavar=metavar, default=argparse.SUPPRESS,
                               help=f"{text} [{key}]")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML file of TrainConfig keys")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory (default runs/NAME or runs/<date-time>)")
    parser.add_argument("--name", metavar="NAME", help="name of the run directory under runs/")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out from its last checkpoint")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it is also off when stderr is not a terminal)")
    add_data_options(parser, data_dir=False)  # --data-dir is a training setting above
    parser.set_defaults(func=_run)


def read_toml(path):
    """The mapping in a TOML file; ConfigError if it cannot be read or parsed."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML ({exc})") from None


def _convert(key, kind, text):
    """A flag's string as the type its key needs, or a one-line ConfigError."""
    if kind in ("str", "bool", "augment"):
        return text
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        rule = "an integer" if kind == "int" else "a number"
        raise ConfigError(f"The '{key}' parameter must be {rule}; got {text!r}.") from None


def config_from_args(args):
    """Defaults, then the TOML file, then the flags given explicitly: a TrainConfig."""
    values = {}
    if args.config is not None:
        values.update(read_toml(args.config))
    for _, key, kind, _, _ in _FLAGS:
        if hasattr(args, key):
            values[key] = _convert(key, kind, getattr(args, key))
    try:
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        where = f"{args.config}: " if args.config is not None else ""
        raise ConfigError(f"{where}{exc}") from None
    except TypeError as exc:  # a value of an impossible type in the TOML, e.g. a table
        raise ConfigError(f"invalid configuration value ({exc})") from None


def _out_dir(args):
    if args.out is not None:
        out = args.out
    elif args.name:
        out = _RUNS_DIR / args.name
    else:
        out = _RUNS_DIR / datetime.now().strftime("%Y%m%d-%H%M%S")
    existing = [name for name in (CHECKPOINT_FILE, HISTORY_FILE, MODEL_FILE) if (out / name).exists()]
    if existing and not args.resume:
        raise ConfigError(f"{out} already holds a run ({', '.join(existing)}); pass --resume to "
                          "continue it, or choose another --out.")
    if args.resume and not (out / CHECKPOINT_FILE).exists():
        raise DataError(f"nothing to resume: {out / CHECKPOINT_FILE} does not exist")
    return check_output_dir(out)


def _run(args):
    config = config_from_args(args)
    out = _out_dir(args)
    from mnist_mlp.report.plots import (
        plot_history,  # matplotlib only once the input has been accepted
    )

    start = time.perf_counter()
    logger = logging.getLogger("mnist_mlp.train")
    logger.info(f"training into {out}")
    model, history = train(config, out, resume=args.resume, progress=args.progress, log=logger.info)
    plot_history(history, out / CURVES_FILE)
    _print_summary(history, out, time.perf_counter() - start)
    return 0


def _print_summary(history, out, wall_seconds):
    final = history.final()
    rows = [("training", final["train_loss"], final["train_acc"]),
            ("validation", final["val_loss"], final["val_acc"]),
            ("test", final["test_loss"], final["test_acc"])]
    print(f"\nRun {out}: epoch {history.best_epoch} of {len(history)} "
          f"({'early stopping' if history.stopped_early else 'last epoch'}); "
          f"training {sum(history.column('seconds')):.1f} s, total {wall_seconds:.1f} s")
    print(f"{'set':<12}{'loss':>10}{'accuracy':>11}")
    for name, loss, acc in rows:
        if loss is not None:
            print(f"{name:<12}{loss:>10.4f}{100 * acc:>10.2f}%")
    print("(training: mean over the epoch's batches, in training mode)")
    if history.at_chance:
        which, acc = ("validation", final["val_acc"]) if final["val_acc"] is not None else (
            "training", final["train_acc"])
        print(f"warning: this model is at chance level ({which} accuracy {100 * acc:.2f}%): the "
              f"network has collapsed; {lower_lr_hint(history.config['learning_rate'])}")
    print(f"files: {out / MODEL_FILE}, {out / HISTORY_FILE}, {out / CURVES_FILE}")
