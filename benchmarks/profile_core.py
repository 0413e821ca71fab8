"""Where an epoch of this project's core loop spends its time, phase by phase.

Usage::

    python benchmarks/profile_core.py                   # both architectures, random data
    python benchmarks/profile_core.py --arch 784-1024-1024-10 --epochs 3

It runs the same steps as ``workers.MnistMlp`` (``data_iterator``, ``Network``
forward, loss forward and backward, ``Network.backward``, ``Network.update``) but
calls each layer itself, with a clock around every call, and prints the time per
epoch of each phase next to the epoch's GEMM floor. The phases that are not
matrix products (bias adds, ReLU, loss, momentum update, batch gathering, Python)
are what separates an epoch from its floor. Totals are medians over the epochs.
A sampling profiler gives the same picture without instrumentation::

    py-spy record -r 500 -o profile.svg -- python benchmarks/profile_core.py --epochs 2
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workers import Floor, mnist_mlp_network  # noqa: E402

from mnist_mlp.loss import SoftmaxCrossEntropyLoss  # noqa: E402
from mnist_mlp.solve_net import data_iterator  # noqa: E402
from mnist_mlp.utils import onehot_encoding  # noqa: E402

ARCHS = {"784-256-10": ([784, 256, 10], 100), "784-1024-1024-10": ([784, 1024, 1024, 10], 128)}


METHODS = ("forward", "backward", "backward_params", "update")


def instrument(net, clock):
    """Put a clock around every layer method the network calls (instance attributes
    shadow the class's methods, so ``Network`` itself runs unchanged). A method
    called from inside another one (``Linear.backward`` calls ``backward_params``)
    counts towards the outer call only."""
    depth = [0]
    for layer in net.layer_list:
        for method in METHODS:
            if hasattr(layer, method):
                phase = f"{method} {layer.name}"
                setattr(layer, method, _timed(getattr(layer, method), phase, clock, depth))


def _timed(function, phase, clock, depth):
    perf = time.perf_counter

    def timed(*args, **kwargs):
        depth[0] += 1
        t0 = perf()
        try:
            return function(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                clock[phase] += perf() - t0
    return timed


def profiled_epoch(net, loss, x, y, batch_size, config, rng, clock):
    """One epoch of the core loop; ``clock[phase]`` accumulates seconds."""
    perf = time.perf_counter
    batches = data_iterator(x, y, batch_size, rng=rng)
    while True:
        t0 = perf()
        try:
            xb, yb = next(batches)
        except StopIteration:
            break
        clock["gather batch"] += perf() - t0
        out = net.forward(xb)
        t0 = perf()
        target = onehot_encoding(yb, out.shape[1], dtype=out.dtype)
        loss.forward(out, target)
        grad = loss.backward(out, target)
        clock["one-hot + loss forward/backward"] += perf() - t0
        net.backward(grad)
        net.update(config)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), action="append")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60_000)
    args = parser.parse_args(argv)
    for name in args.arch or list(ARCHS):
        sizes, batch_size = ARCHS[name]
        rng = np.random.default_rng(0)
        x = rng.random((args.samples, 784), dtype=np.float32)
        y = rng.integers(0, 10, args.samples)
        net, loss = mnist_mlp_network(sizes, rng), SoftmaxCrossEntropyLoss("loss")
        config = {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0}
        floor = Floor(sizes, batch_size, x, y, argparse.Namespace(seed=0))
        clock = collections.Counter()
        instrument(net, clock)
        profiled_epoch(net, loss, x, y, batch_size, config, rng, clock)  # warm-up
        epochs, floors, totals = [], [], []
        for _ in range(args.epochs):
            clock.clear()
            t0 = time.perf_counter()
            profiled_epoch(net, loss, x, y, batch_size, config, rng, clock)
            totals.append(time.perf_counter() - t0)
            epochs.append(collections.Counter(clock))
            t0 = time.perf_counter()
            floor.epoch()
            floors.append(time.perf_counter() - t0)
        print(f"\n{name}, batch {batch_size}: epoch {statistics.median(totals):.3f} s, "
              f"GEMM floor {statistics.median(floors):.3f} s "
              f"(ratio {statistics.median(totals) / statistics.median(floors):.2f}); "
              f"per phase (s/epoch, median of {args.epochs}):")
        phases = sorted(epochs[0], key=lambda p: -epochs[0][p])
        for phase in phases:
            seconds = statistics.median(c[phase] for c in epochs)
            print(f"  {phase:<36} {seconds:8.3f}")
        accounted = statistics.median(sum(c.values()) for c in epochs)
        print(f"  {'rest: Network loops, Python, clocks':<36} {statistics.median(totals) - accounted:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
