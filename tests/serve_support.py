"""Helpers shared by the ``mnist-mlp serve`` tests: one small real model, a live server.

The model is trained once per test process (a few seconds: 784-128-10, 3 epochs on the
real MNIST training split, about 96.5% on the test set) and cached here rather than
in a fixture, so the API, browser and load tests share it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import http.client
import io
import json
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_mlp.data.normalize import normalize_like
from mnist_mlp.load_data import read_idx
from mnist_mlp.network import Network
from mnist_mlp.train.build import predict_proba
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import train

TIMEOUT = 10  # seconds: every socket operation in the tests is bounded


@functools.cache
def trained_model(data_dir):
    """Path of a small net trained on real MNIST (cached for the whole test process)."""
    out = Path(tempfile.mkdtemp(prefix="mnist-mlp-serve-test-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    config = TrainConfig(data_dir=str(data_dir), hidden=(128,), epochs=3, seed=0)
    train(config, out, progress=False, log=lambda line: None)
    return out / "model.npz"


@functools.cache
def mnist_test_split(data_dir):
    """The MNIST test images (uint8, (10000, 784)) and labels, read from the IDX files."""
    images = read_idx(Path(data_dir) / "t10k-images-idx3-ubyte", ndim=3).reshape(-1, 784)
    labels = read_idx(Path(data_dir) / "t10k-labels-idx1-ubyte", ndim=1).astype(np.int64)
    return images, labels


def direct_probabilities(model_path, digits):
    """What ``mnist-mlp predict`` computes for MNIST-form digits, without any server."""
    model = Network.load(model_path)
    x = normalize_like(model.metadata, np.asarray(digits, dtype=np.float32).reshape(-1, 784),
                       dtype=model.dtype)
    return predict_proba(model, x)


def as_drawing(digit, scale=8):
    """A test digit as a person's drawing: dark ink on white, ``scale`` times larger, RGB."""
    ink = 255 - np.asarray(digit, dtype=np.uint8).reshape(28, 28)
    picture = Image.fromarray(ink, "L").resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR)
    return picture.convert("RGB")


def png_bytes(picture, fmt="PNG"):
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def data_url(data, media="image/png"):
    return f"data:{media};base64," + base64.b64encode(data).decode("ascii")


@contextlib.contextmanager
def running(server):
    """Serve ``server`` in a background thread for the ``with`` block."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def request(port, method, path, body=None, headers=None):
    """One request on a fresh connection: ``(status, headers, parsed JSON or raw bytes)``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type", "")
        parse = kind == "application/json" and method != "HEAD"  # a HEAD answer has no body
        return response.status, response, json.loads(data) if parse else data
    finally:
        connection.close()
