"""``mnist-mlp evaluate MODEL``: test loss and accuracy, per-class accuracy, confusion matrix.

The model file remembers its dataset, normalisation and loss, so the test set is
scaled exactly as the training data were and the loss is the one it was trained with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_mlp import checks
from mnist_mlp.cli.options import add_data_options
from mnist_mlp.data.normalize import normalize_like
from mnist_mlp.errors import ConfigError
from mnist_mlp.load_data import CLASS_NAMES, DATASET_NAMES, ensure_dataset, load_dataset
from mnist_mlp.network import Network
from mnist_mlp.train.build import loss_from_metadata
from mnist_mlp.train.trainer import evaluate

__all__ = ["register", "format_report"]


def register(subparsers):
    """Add the ``evaluate`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "evaluate",
        help="test loss and accuracy, per-class accuracy and confusion matrix of a model",
        description="Evaluate a model file written by `mnist-mlp train` on the test set of its "
        "dataset, normalised as in training.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file (.npz)")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default=None,
                        help="dataset to test on (default: the one the model was trained on)")
    parser.add_argument("--batch-size", type=int, default=1000, metavar="N",
                        help="images per forward pass (default 1000)")
    add_data_options(parser)
    parser.set_defaults(func=_run)


def _run(args):
    model = Network.load(args.model)
    meta = getattr(model, "metadata", {}) or {}
    dataset = args.dataset or meta.get("dataset") or "mnist"
    if args.batch_size < 1:
        raise ConfigError(checks.message("batch_size", "an integer >= 1", args.batch_size))
    ensure_dataset(dataset, args.data_dir)
    _, test_raw, _, test_y = load_dataset(dataset, args.data_dir, normalize="none")
    test_x = normalize_like(meta, test_raw, dtype=model.dtype)
    loss = loss_from_metadata(meta)
    result = evaluate(model, test_x, test_y, batch_size=args.batch_size, loss=loss)
    print(f"model {args.model} on the {dataset} test set ({len(test_y)} images)")
    print(format_report(result, CLASS_NAMES[dataset], loss_name=getattr(loss, "name", None)))
    return 0


def format_report(result, class_names, loss_name=None):
    """The text ``evaluate`` prints: totals, per-class accuracy and the confusion matrix."""
    lines = []
    if result["loss"] is not None:
        lines.append(f"test loss ({loss_name}): {result['loss']:.4f}")
    lines.append(f"test accuracy: {100 * result['accuracy']:.2f}%")
    confusion = result["confusion"]
    support = confusion.sum(axis=1)
    # Digits are their own names; Fashion-MNIST's classes get "3 Dress".
    names = [str(i) if name == str(i) else f"{i} {name}" for i, name in enumerate(class_names)]
    width = max(5, *(len(name) for name in names))
    lines += ["", "per-class accuracy:", f"  {'class':<{width}}{'accuracy':>10}{'images':>8}"]
    for index, (name, acc) in enumerate(zip(names, result["per_class_accuracy"])):
        shown = "-" if np.isnan(acc) else f"{100 * acc:.2f}%"
        lines.append(f"  {name:<{width}}{shown:>10}{support[index]:>8}")
    width = max(5, len(str(int(confusion.max()))) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted class):",
              "      " + "".join(f"{j:>{width}}" for j in range(confusion.shape[1]))]
    for i, row in enumerate(confusion):
        lines.append(f"  {i:>3} " + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)
