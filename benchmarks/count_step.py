"""Instructions and cache misses per training step, counted by Valgrind: a load-proof yardstick.

Usage::

    python benchmarks/count_step.py                       # both nets, the seed's loop
    python benchmarks/count_step.py --arch 784-256-10 --path trainer
    PYTHONPATH=/some/other/checkout python benchmarks/count_step.py   # another version

Wall-clock times on a shared machine move with everybody else's load; the number
of instructions a step executes does not. This script runs the loop under
``valgrind --tool=callgrind --cache-sim=yes`` with instrumentation off until the
warm-up steps are done (``callgrind_control --instr=on``), so start-up, imports and
warm-up are not counted, and divides the counts by ``--steps``. Besides instructions (Ir)
it reports the simulated misses of a 32 KiB L1 data cache and of a 1 MiB "last
level" (this machine's per-core L2), whose misses are the traffic to the shared L3
and memory that the elementwise passes are bound by: misses x 64 bytes.

Caveats: Valgrind does not emulate AVX-512, so OpenBLAS and NumPy run their AVX2
kernels under it (fewer elements per instruction than natively); BLAS runs one
thread (``OPENBLAS_NUM_THREADS=1``) so that no spinning thread is counted. The
counts compare versions of the code with each other; they are not times.

``--inner`` runs the steps themselves (what Valgrind executes).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = {"784-256-10": ([784, 256, 10], 100), "784-1024-1024-10": ([784, 1024, 1024, 10], 128)}
EVENTS = ("Ir", "D1mr", "D1mw", "DLmr", "DLmw")


def _steps(sizes, batch_size, steps, warmup, path):
    """Build the net and run ``warmup + steps`` steps of the seed's loop or the trainer's."""
    from mnist_mlp.layers import Linear, Relu
    from mnist_mlp.loss import SoftmaxCrossEntropyLoss
    from mnist_mlp.network import Network
    from mnist_mlp.optim import SGD
    from mnist_mlp.solve_net import data_iterator
    from mnist_mlp.utils import onehot_encoding

    rng = np.random.default_rng(0)
    net = Network()
    for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        net.add(Linear(f"fc{i + 1}", k, m, init="he", rng=rng))
        if i < len(sizes) - 2:
            net.add(Relu(f"relu{i + 1}"))
    loss = SoftmaxCrossEntropyLoss("loss")
    config = {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0}
    optimizer = SGD(0.01, momentum=0.9)
    n = (warmup + steps) * batch_size
    x = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n)
    for i, (xb, yb) in enumerate(data_iterator(x, y, batch_size, rng=rng)):
        if i == warmup and os.environ.get("COUNT_STEP_UNDER_CALLGRIND"):
            # Instrumentation was off during start-up, imports and warm-up; count from here.
            subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True,
                           capture_output=True)
        out = net.forward(xb)
        target = onehot_encoding(yb, sizes[-1], dtype=out.dtype)
        loss.forward(out, target)
        net.backward(loss.backward(out, target))
        if path == "seed":
            net.update(config)
        else:
            optimizer.step(net.named_params())


def _callgrind(args, steps):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
        env["COUNT_STEP_UNDER_CALLGRIND"] = "1"
        env.setdefault("PYTHONPATH", ROOT)  # this checkout's mnist_mlp unless told otherwise
        command = ["valgrind", "--tool=callgrind", "--cache-sim=yes", f"--callgrind-out-file={out}",
                   "--instr-atstart=no", "--D1=32768,8,64", "--LL=1048576,16,64", os.path.realpath(sys.executable),
                   os.path.abspath(__file__), "--inner", "--arch", args.arch[0], "--path", args.path,
                   "--steps", str(steps), "--warmup", str(args.warmup)]
        subprocess.run(command, check=True, env=env, capture_output=True)
        with open(out) as handle:
            text = handle.read()
    events = re.search(r"^events: (.*)$", text, re.M).group(1).split()
    totals = [int(v) for v in re.search(r"^(?:summary|totals): (.*)$", text, re.M).group(1).split()]
    return dict(zip(events, totals))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), action="append")
    parser.add_argument("--path", choices=("seed", "trainer"), default="seed",
                        help="Network.update(config) (train_net's) or SGD.step (mnist-mlp train's)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        sizes, batch_size = ARCHS[args.arch[0]]
        _steps(sizes, batch_size, args.steps, args.warmup, args.path)
        return 0
    for arch in args.arch or list(ARCHS):
        args.arch = [arch]
        counts = _callgrind(args, args.steps)
        per = {e: counts[e] / args.steps for e in EVENTS}
        ll_bytes = (per["DLmr"] + per["DLmw"]) * 64
        print(f"{arch} ({args.path} path): per step {per['Ir'] / 1e6:.2f} M instructions, "
              f"L1d misses {(per['D1mr'] + per['D1mw']) / 1e3:.1f} K, "
              f"L2 (1 MiB) misses {(per['DLmr'] + per['DLmw']) / 1e3:.1f} K "
              f"= {ll_bytes / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
