"""One benchmarked implementation per process: ``python benchmarks/workers.py IMPL ...``.

``run.py`` starts one worker per implementation, so each is measured in a fresh
interpreter (its own peak RSS, its own BLAS threads) and they never share a heap.
The worker builds its model, says it is ready, then runs one training epoch each
time it reads ``epoch`` on stdin and answers with a line ``@@BENCH {json}``;
``done`` makes it report its peak memory and exit. Other output (a library's
logging) is ignored by the coordinator, which reads only ``@@BENCH`` lines.

Implementations (all train the same MLP on the same arrays, same batch size,
SGD with momentum, ReLU, softmax cross-entropy):

``mnist_mlp``
    This project's core loop as ``mnist-mlp train`` runs it (``trainer._train_epoch``):
    ``data_iterator``, ``Network.forward``, one-hot, ``SoftmaxCrossEntropyLoss.forward``
    and ``backward``, ``Network.backward``, ``SGD.step(net.named_params())``, the
    per-batch accuracy count, float32.
``train_net``
    The seed's own function, ``solve_net.train_net`` (its ``Network.update(config)``
    runs each ``Linear``'s SGD; per-batch loss and accuracy lists as the seed keeps
    them), called once per epoch on the same network, float32.
``torch``
    ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``F.cross_entropy``,
    ``torch.optim.SGD(momentum=...)``, CPU, ``torch.set_num_threads(threads)``.
``sklearn``
    ``MLPClassifier(solver="sgd", nesterovs_momentum=False, alpha=0, ...)``, one
    epoch per ``fit`` call with ``max_iter=1`` and ``warm_start=True``.
``textbook``
    ``textbook.py``: the plain float64 homework-style NumPy MLP.
``lean``
    ``lean.py``: the leanest float32 NumPy loop we could write (preallocated
    buffers, no layer objects, no checks): how close any NumPy loop gets.
``floor``
    Not an MLP: exactly the matrix products of one epoch (same shapes, same count,
    float32), each ``np.matmul`` writing into a preallocated output, nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = ("floor", "lean", "mnist_mlp", "train_net", "torch", "sklearn", "textbook")


def _say(payload):
    print("@@BENCH " + json.dumps(payload), flush=True)


def _batch_sizes(n, batch_size):
    """Sizes of the batches of one epoch: full ones, then the remainder if any."""
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def gemm_flops(sizes, n, batch_size):
    """Floating-point operations in one epoch's matrix products.

    Per batch of ``b`` rows and per ``Linear`` layer ``k -> m``: forward
    ``X W`` (``2 b k m``), weight gradient ``X^T G`` (``2 k b m``), and, for every
    layer except the first, input gradient ``G W^T`` (``2 b m k``). The first
    layer's input gradient would be the gradient with respect to the data, which
    training never needs and none of the implementations is charged for. Bias adds,
    activations, the loss and the update are not matrix products and not counted.
    """
    total = 0
    for b in _batch_sizes(n, batch_size):
        for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
            total += (2 if i == 0 else 3) * 2 * b * k * m
    return total


# -- implementations ----------------------------------------------------------------------


class Floor:
    """The epoch's matrix products alone, in the order a training step issues them."""

    def __init__(self, sizes, batch_size, x, y, args):
        rng = np.random.default_rng(args.seed)
        self.n, self.batch_size = len(x), batch_size
        self.plans = {b: self._plan(sizes, b, rng) for b in set(_batch_sizes(len(x), batch_size))}

    @staticmethod
    def _plan(sizes, b, rng):
        def rand(*shape):
            return (rng.standard_normal(shape) * 0.1).astype(np.float32)

        forward, backward = [], []
        for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
            x, w, g = rand(b, k), rand(k, m), rand(b, m)
            forward.append((x, w, np.empty((b, m), np.float32)))
            backward.append((x.T, g, np.empty((k, m), np.float32)))        # grad_W = X^T G
            if i > 0:
                backward.append((g, w.T, np.empty((b, k), np.float32)))    # grad_X = G W^T
        return forward + backward[::-1]

    def epoch(self):
        for b in _batch_sizes(self.n, self.batch_size):
            for a, c, out in self.plans[b]:
                np.matmul(a, c, out=out)
        return None


def mnist_mlp_network(sizes, rng):
    """This project's ReLU MLP of ``sizes`` with He initialisation (also profile_core.py's)."""
    from mnist_mlp.layers import Linear, Relu
    from mnist_mlp.network import Network

    net = Network()
    for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        net.add(Linear(f"fc{i + 1}", k, m, init="he", rng=rng))
        if i < len(sizes) - 2:
            net.add(Relu(f"relu{i + 1}"))
    return net


class MnistMlp:
    """This project, through its public API, in the steps ``mnist-mlp train`` takes."""

    def __init__(self, sizes, batch_size, x, y, args):
        from mnist_mlp.loss import SoftmaxCrossEntropyLoss
        from mnist_mlp.optim import SGD

        rng = np.random.default_rng(args.seed)
        self.net = mnist_mlp_network(sizes, rng)
        self.loss = SoftmaxCrossEntropyLoss("loss")
        self.optimizer = SGD(args.lr, momentum=args.momentum)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.classes = sizes[-1]
        self.rng = rng

    def epoch(self):
        from mnist_mlp.solve_net import data_iterator
        from mnist_mlp.utils import onehot_encoding

        net, loss, total, count, correct = self.net, self.loss, 0.0, 0, 0
        for xb, yb in data_iterator(self.x, self.y, self.batch_size, rng=self.rng):
            output = net.forward(xb)
            target = onehot_encoding(yb, self.classes, dtype=output.dtype)
            batch_loss = loss.forward(output, target)
            if not math.isfinite(batch_loss):
                raise RuntimeError("diverged")
            net.backward(loss.backward(output, target))
            self.optimizer.step(net.named_params())
            correct += int(np.count_nonzero(output.argmax(axis=1) == yb))
            total += batch_loss
            count += 1
        return total / count


class TrainNet:
    """The seed's ``train_net``, one call per epoch, logging once per epoch."""

    def __init__(self, sizes, batch_size, x, y, args):
        from mnist_mlp.loss import SoftmaxCrossEntropyLoss

        self.rng = np.random.default_rng(args.seed)
        self.net = mnist_mlp_network(sizes, self.rng)
        self.loss = SoftmaxCrossEntropyLoss("loss")
        self.config = {"learning_rate": args.lr, "momentum": args.momentum, "weight_decay": 0.0}
        self.x, self.y, self.batch_size = x, y, batch_size

    def epoch(self):
        from mnist_mlp.solve_net import train_net

        batches = -(-len(self.x) // self.batch_size)
        losses, _ = train_net(self.net, self.loss, self.config, self.x, self.y, self.batch_size,
                              disp_freq=batches, rng=self.rng)
        return losses[-1]  # one window: the mean batch loss of the epoch


class Torch:
    """The PyTorch model a user would write, CPU only."""

    def __init__(self, sizes, batch_size, x, y, args):
        import torch
        from torch import nn

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        modules = []
        for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
            modules.append(nn.Linear(k, m))
            if i < len(sizes) - 2:
                modules.append(nn.ReLU())
        self.torch = torch
        self.model = nn.Sequential(*modules)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=args.lr, momentum=args.momentum)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(args.seed)

    def epoch(self):
        torch, model, optimizer = self.torch, self.model, self.optimizer
        cross_entropy = torch.nn.functional.cross_entropy
        order = torch.randperm(len(self.x), generator=self.generator)
        total, count = 0.0, 0
        for start in range(0, len(self.x), self.batch_size):
            index = order[start:start + self.batch_size]
            loss = cross_entropy(model(self.x[index]), self.y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            count += 1
        return total / count


class Sklearn:
    """scikit-learn's MLPClassifier with the same optimiser, one epoch per ``fit``."""

    def __init__(self, sizes, batch_size, x, y, args):
        from sklearn.neural_network import MLPClassifier

        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="sgd",
            alpha=0.0, batch_size=batch_size, learning_rate="constant",
            learning_rate_init=args.lr, momentum=args.momentum, nesterovs_momentum=False,
            max_iter=1, warm_start=True, shuffle=True, early_stopping=False,
            tol=0.0, n_iter_no_change=10**9, random_state=args.seed,
        )
        self.x, self.y = x, y

    def epoch(self):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 on purpose
            self.model.fit(self.x, self.y)
        return float(self.model.loss_)


class _StandaloneNumpy:
    """A model from a sibling file of this one (``textbook.py``, ``lean.py``), which
    shares no code with ``mnist_mlp``; its data in the dtype the file is written for."""

    MODULE, CLASS, DTYPE = "", "", np.float32

    def __init__(self, sizes, batch_size, x, y, args):
        sys.path.insert(0, HERE)
        model_class = getattr(importlib.import_module(self.MODULE), self.CLASS)
        self.rng = np.random.default_rng(args.seed)
        self.model = model_class(sizes, self.rng)
        self.x, self.y = x.astype(self.DTYPE, copy=False), y
        self.batch_size, self.args = batch_size, args

    def epoch(self):
        return self.model.train_epoch(self.x, self.y, self.batch_size, self.args.lr,
                                      self.args.momentum, self.rng)


class Textbook(_StandaloneNumpy):
    """``textbook.py`` on float64 copies of the data, as a homework would load it."""

    MODULE, CLASS, DTYPE = "textbook", "TextbookMLP", np.float64


class Lean(_StandaloneNumpy):
    """``lean.py``: the same model as ``mnist_mlp`` stripped to its NumPy minimum."""

    MODULE, CLASS, DTYPE = "lean", "LeanMLP", np.float32


CLASSES = {"floor": Floor, "lean": Lean, "mnist_mlp": MnistMlp, "train_net": TrainNet,
           "torch": Torch,
           "sklearn": Sklearn, "textbook": Textbook}


# -- process-level facts ---------------------------------------------------------------


def _threadpools():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture",
            "threading_layer")
    return [{key: pool.get(key) for key in keep if key in pool} for pool in threadpool_info()]


def _versions(impl):
    versions = {"numpy": np.__version__, "python": sys.version.split()[0]}
    if impl == "torch":
        import torch
        versions["torch"] = torch.__version__
        versions["torch_threads"] = torch.get_num_threads()
    if impl == "sklearn":
        import sklearn
        versions["sklearn"] = sklearn.__version__
    return versions


def _peak_memory_kib():
    """Peak resident set size of this process, in KiB.

    ``VmHWM`` (the high-water mark of this address space) is the number reported:
    ``ru_maxrss`` survives ``execve`` on Linux, so a worker would inherit its
    parent's resident size at ``fork`` time. Both are recorded.
    """
    peak = {"ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak["vmhwm_kib"] = int(line.split()[1])
    except OSError:
        pass
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=IMPLS)
    parser.add_argument("--data", required=True, help="directory holding x.npy and y.npy")
    parser.add_argument("--sizes", required=True, help="layer widths, e.g. 784,256,10")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",")]
    x = np.load(os.path.join(args.data, "x.npy"))
    y = np.load(os.path.join(args.data, "y.npy"))
    started = time.perf_counter()
    impl = CLASSES[args.impl](sizes, args.batch_size, x, y, args)
    _say({"ready": True, "setup_seconds": time.perf_counter() - started,
          "threadpools": _threadpools(), "versions": _versions(args.impl),
          "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                 "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}})
    for line in sys.stdin:
        command = line.strip()
        if command == "epoch":
            started = time.perf_counter()
            loss = impl.epoch()
            seconds = time.perf_counter() - started
            _say({"seconds": seconds, "loss": loss})
        elif command == "done":
            _say({"peak": _peak_memory_kib()})
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
