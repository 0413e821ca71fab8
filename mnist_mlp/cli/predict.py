"""``mnist-mlp predict MODEL IMAGE...``: classify image files with a trained model.

Each image (grayscale or colour PNG/JPEG, any size) is brought to MNIST form by
:func:`mnist_mlp.data.imageprep.load_digit_image`, normalised as the model's training
data were, and the predicted class and the 10 class probabilities are printed. An image
that cannot be read is reported on stderr and the others are still classified; the exit
status is 1 if any image failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mnist_mlp.data.normalize import normalize_like
from mnist_mlp.errors import DataError
from mnist_mlp.load_data import CLASS_NAMES
from mnist_mlp.network import Network
from mnist_mlp.train.build import predict_proba

__all__ = ["register", "format_prediction"]


def register(subparsers):
    """Add the ``predict`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "predict",
        help="classify image files (PNG/JPEG) with a trained model",
        description="Bring each image to MNIST form (grayscale, inverted if dark on light, "
        "cropped, scaled to 20x20 and centred by centre of mass in 28x28), normalise it as the "
        "model's training data and print the predicted class and the class probabilities.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL", help="model file (.npz)")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files")
    parser.set_defaults(func=_run)


def _run(args):
    from mnist_mlp.data.imageprep import (
        load_digit_image,  # Pillow is imported only when images are read
    )

    model = Network.load(args.model)
    meta = getattr(model, "metadata", {}) or {}
    classes = tuple(meta.get("classes") or CLASS_NAMES.get(meta.get("dataset", "mnist"), CLASS_NAMES["mnist"]))
    # Every image is reported: its prediction on stdout, or why it was not classified on
    # stderr; one bad file does not hide the others' answers.
    failed = 0
    for path in args.images:
        try:
            raw = load_digit_image(path)
        except (DataError, OSError) as exc:
            failed += 1
            print(f"{path}: not classified: {exc}", file=sys.stderr, flush=True)
            continue
        probabilities = predict_proba(model, normalize_like(meta, raw[None], dtype=model.dtype))[0]
        print(format_prediction(path, probabilities, classes), flush=True)
    if failed:
        raise DataError(f"{failed} of {len(args.images)} images could not be classified")
    return 0


def format_prediction(path, probabilities, classes):
    """Two lines: the file and its predicted class, then every class's probability."""
    best = int(np.argmax(probabilities))
    label = classes[best] if classes[best] == str(best) else f"{best} ({classes[best]})"
    spread = "  ".join(f"{index}: {p:.3f}" for index, p in enumerate(probabilities))
    return f"{path}: {label}  (probability {probabilities[best]:.3f})\n  {spread}"
