"""Time training epochs of the same MLP in this project, PyTorch, scikit-learn and plain NumPy.

Usage (from the repository root, after ``pip install -e '.[bench]'``)::

    python benchmarks/run.py            # full run: 60,000 samples, warm-up + 5 epochs
    python benchmarks/run.py --quick    # smoke run: 10,000 samples, warm-up + 3 epochs

Two architectures, as in the issue: 784-256-10 with batch 100 and 784-1024-1024-10
with batch 128; ReLU, softmax cross-entropy, SGD with momentum 0.9. Data: MNIST's
training images from ``data/`` (scaled to [0, 1], float32) when the files are
there, else random data of the same shape (the timing does not depend on the
values; the output says which was used).

How it measures
---------------
Every implementation runs in its own fresh subprocess (``workers.py``); all of an
architecture's workers are started first, then the coordinator asks them for
epochs in rounds: one warm-up epoch each, then ``--epochs`` rounds in which every
worker runs one epoch, in an order rotated from round to round. The machine is
shared and its load drifts over minutes; interleaving puts each implementation's
epochs next to the others', so the ratios (to PyTorch, to the floor) are taken
within a round and their median over the rounds is reported. Epoch times are the
medians over the rounds. The floor is a worker that runs exactly the epoch's
matrix products and nothing else (see ``workers.Floor``). Peak RSS is each
worker's own ``ru_maxrss`` at the end of its run (data, model, warm-up and timed
epochs included).

If ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set, both are removed from
the workers' environment (they pin an older, slower kernel on some processors;
``--keep-openblas-env`` keeps them) and the table records which kernel each
worker's OpenBLAS then runs, as threadpoolctl reports it. Tests and CI never
change them.

Results go to ``benchmarks/results/bench.json`` and ``bench.md`` (``--quick``
writes ``quick.json`` and ``quick.md``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from workers import IMPLS, gemm_flops  # noqa: E402  (benchmarks/ is not a package)

ARCHS = {"784-256-10": ([784, 256, 10], 100), "784-1024-1024-10": ([784, 1024, 1024, 10], 128)}
LABELS = {"floor": "GEMM floor", "lean": "leanest NumPy loop (lean.py)",
          "mnist_mlp": "mnist_mlp, `mnist-mlp train`'s loop", "train_net": "mnist_mlp, the seed's train_net",
          "torch": "PyTorch",
          "sklearn": "scikit-learn MLPClassifier", "textbook": "textbook NumPy float64"}
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# -- data ------------------------------------------------------------------------------


def _read_idx(path):
    """An IDX file (raw or .gz) as a uint8 array; the header gives the dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(directory, stem):
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            path = os.path.join(directory, name + suffix)
            if os.path.exists(path):
                return path
    return None


def load_training_data(directory, n, seed):
    """``(x, y, source)``: the first ``n`` MNIST training images in [0, 1], or random data."""
    images = _find(directory, "train-images-idx3-ubyte")
    labels = _find(directory, "train-labels-idx1-ubyte")
    if images and labels:
        try:
            x = _read_idx(images).reshape(-1, 784)[:n].astype(np.float32) / np.float32(255)
            y = _read_idx(labels)[:n].astype(np.int64)
            if len(x) == n and len(y) == n:
                return x, y, f"MNIST training images from {os.path.relpath(images, ROOT)}"
        except (OSError, ValueError, IndexError):
            pass
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y, "random data of MNIST's shape (MNIST files not found)"


# -- machine facts -------------------------------------------------------------------------


def machine_info():
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["cpu"] = value.strip()
            elif key.strip() in ("L2 cache", "L3 cache"):
                info[key.strip().lower().replace(" ", "_")] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def _machine_jiffies():
    """(busy, total) CPU time of the whole machine in clock ticks, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _process_jiffies(pid):
    """User + system CPU time of process ``pid`` (all its threads), in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, ValueError, IndexError):
        return None


def load_average():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


# -- workers ---------------------------------------------------------------------------


class Worker:
    """A ``workers.py`` subprocess and the line protocol to talk to it."""

    def __init__(self, impl, data_dir, sizes, batch_size, args, env):
        command = [sys.executable, os.path.join(HERE, "workers.py"), impl, "--data", data_dir,
                   "--sizes", ",".join(map(str, sizes)), "--batch-size", str(batch_size),
                   "--lr", str(args.lr), "--momentum", str(args.momentum),
                   "--threads", str(args.threads), "--seed", str(args.seed)]
        self.impl = impl
        self.settle = args.settle
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env, cwd=ROOT)
        self.info = self._reply()

    def _reply(self):
        for line in self.process.stdout:
            if line.startswith("@@BENCH "):
                return json.loads(line[len("@@BENCH "):])
        raise RuntimeError(f"benchmark worker {self.impl!r} exited with code {self.process.wait()}")

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._reply()

    def epoch(self):
        """Run one epoch; also measure how busy *other* processes kept the machine.

        ``foreign_cpu`` is the CPU time used during the epoch by everything except
        this worker, as a fraction of the machine's capacity (cores x wall time).
        On a shared machine an epoch with a large share was slowed by someone else.
        """
        # Let the previous worker's BLAS / OpenMP threads stop spinning (OpenBLAS
        # busy-waits for a while after each call) so they do not steal this epoch's CPU.
        time.sleep(self.settle)
        machine0, own0, mine0 = _machine_jiffies(), _process_jiffies(self.process.pid), os.times()
        reply = self.ask("epoch")
        machine1, own1, mine1 = _machine_jiffies(), _process_jiffies(self.process.pid), os.times()
        if None not in (machine0, machine1, own0, own1):
            ticks = os.sysconf("SC_CLK_TCK")
            mine = (mine1.user + mine1.system - mine0.user - mine0.system) * ticks
            foreign = (machine1[0] - machine0[0]) - (own1 - own0) - mine
            capacity = max(1, machine1[1] - machine0[1])
            # Jiffy counters are read at slightly different instants, so the share can
            # come out a hair outside [0, 1]; it is a fraction of the machine.
            reply["foreign_cpu"] = min(1.0, max(0.0, foreign / capacity))
        else:
            reply["foreign_cpu"] = None
        return reply

    def close(self):
        reply = self.ask("done")
        self.process.wait(timeout=60)
        return reply


def worker_env(args):
    env = dict(os.environ)
    removed = {}
    if not args.keep_openblas_env and any(name in env for name in OPENBLAS_ENV):
        for name in OPENBLAS_ENV:  # together: an L2 size without its core type makes no sense
            if name in env:
                removed[name] = env.pop(name)
    src = os.path.join(ROOT)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env, removed


def run_architecture(name, sizes, batch_size, impls, data_dir, n, args, env, log):
    """Start one worker per implementation, then time epochs round by round.

    A round is *clean* when no epoch in it shared the machine with more than
    ``--max-foreign`` of foreign CPU load. Rounds continue until ``--epochs`` clean
    rounds are in, or ``--max-rounds`` have run; the summary uses the clean rounds
    when there are at least three, else all rounds (and says so).
    """
    log(f"{name}: starting {', '.join(impls)}")
    workers = {impl: Worker(impl, data_dir, sizes, batch_size, args, env) for impl in impls}
    load_before = load_average()
    rounds = []  # one dict per round: impl -> worker reply
    try:
        for impl in impls:  # warm-up: first-touch of buffers, BLAS thread start, caches
            workers[impl].epoch()
        while sum(r["clean"] for r in rounds) < args.epochs and len(rounds) < args.max_rounds:
            shift = len(rounds) % len(impls)
            replies = {impl: workers[impl].epoch() for impl in impls[shift:] + impls[:shift]}
            foreign = [r["foreign_cpu"] for r in replies.values()]
            clean = all(f is None or f <= args.max_foreign for f in foreign)
            rounds.append({"replies": replies, "clean": clean})
            log(f"{name}: round {len(rounds)} ({'clean' if clean else 'disturbed'}): " + ", ".join(
                f"{impl} {replies[impl]['seconds']:.2f}s"
                f"/{100 * (replies[impl]['foreign_cpu'] or 0):.0f}%" for impl in impls))
        peaks = {impl: workers[impl].close()["peak"] for impl in impls}
    finally:
        for worker in workers.values():
            if worker.process.poll() is None:
                worker.process.kill()
    load_after = load_average()
    clean = [r for r in rounds if r["clean"]]
    used = clean if len(clean) >= 3 else rounds
    times = {impl: [r["replies"][impl]["seconds"] for r in used] for impl in impls}
    losses = {impl: [r["replies"][impl]["loss"] for r in rounds] for impl in impls}
    foreign = {impl: [r["replies"][impl]["foreign_cpu"] for r in used] for impl in impls}
    result = summarise(name, sizes, batch_size, n, impls, times, losses, foreign, peaks, workers,
                       load_before, load_after)
    result["rounds_run"] = len(rounds)
    result["clean_rounds"] = len(clean)
    result["rounds_used"] = "clean" if used is clean else "all (fewer than 3 clean)"
    return result


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(numerator, denominator):
    """Median over rounds of the per-round ratio; None if either side is missing."""
    if not numerator or not denominator:
        return None
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def summarise(name, sizes, batch_size, n, impls, times, losses, foreign, peaks, workers, before,
              after):
    flops = gemm_flops(sizes, n, batch_size)
    rows = []
    for impl in impls:
        median = statistics.median(times[impl])
        rows.append({
            "impl": impl,
            "label": LABELS[impl],
            "epoch_seconds_median": median,
            "epoch_seconds_best": min(times[impl]),
            "epoch_seconds": times[impl],
            "ratio_to_torch": _ratio(times[impl], times.get("torch")),
            "gemm_gflops_per_s": flops / median / 1e9,
            "ratio_to_floor": _ratio(times[impl], times.get("floor")),
            "peak_rss_mib": peaks[impl].get("vmhwm_kib", peaks[impl]["ru_maxrss_kib"]) / 1024,
            "peak": peaks[impl],
            "last_epoch_loss": losses[impl][-1],
            "foreign_cpu_median": _median_or_none(foreign[impl]),
            "threadpools": workers[impl].info["threadpools"],
            "versions": workers[impl].info["versions"],
            "env": workers[impl].info["env"],
        })
    floor = statistics.median(times["floor"]) if "floor" in times else None
    return {"architecture": name, "sizes": sizes, "batch_size": batch_size, "samples": n,
            "batches_per_epoch": -(-n // batch_size), "gemm_flops_per_epoch": flops,
            "floor_seconds": floor, "load_average_before": before, "load_average_after": after,
            "rows": rows}


# -- output ------------------------------------------------------------------------------


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def blas_summary(result):
    """One line per distinct BLAS / OpenMP pool the workers loaded."""
    seen = {}
    for arch in result["architectures"]:
        for row in arch["rows"]:
            for pool in row["threadpools"]:
                key = (pool.get("prefix"), pool.get("version"), pool.get("architecture"),
                       pool.get("num_threads"))
                seen.setdefault(key, set()).add(row["impl"])
    lines = []
    for (prefix, version, kernel, threads), users in sorted(seen.items(), key=str):
        kernel_text = f", kernel {kernel}" if kernel else ""
        lines.append(f"{prefix} {version or ''}{kernel_text}, {threads} threads "
                     f"(loaded by: {', '.join(sorted(users))})")
    return lines


def markdown(result):
    meta = result["meta"]
    lines = [
        f"Benchmark of {meta['date']} on {meta['machine']['cpu']}, {meta['machine']['cores']} cores"
        f" ({'quick run, ' if meta['quick'] else ''}{meta['samples']} samples, {meta['data']}).",
        "",
        f"SGD lr {meta['lr']}, momentum {meta['momentum']}; median of {meta['epochs']} epochs after "
        "one warm-up epoch; ratios are medians of per-round ratios (epochs interleaved). "
        "'other load': median share of the machine's CPU that other processes used during "
        f"this implementation's epochs (rounds above {100 * meta['max_foreign']:.0f}% are "
        "retried).",
        "",
    ]
    for arch in result["architectures"]:
        lines += [
            f"### {arch['architecture']}, batch {arch['batch_size']}",
            "",
            f"GEMM work per epoch: {arch['gemm_flops_per_epoch'] / 1e9:.1f} GFLOP "
            f"({arch['batches_per_epoch']} batches); floor {_fmt(arch['floor_seconds'], '.3f')} s; "
            f"load average before/after: {_fmt_load(arch['load_average_before'])} / "
            f"{_fmt_load(arch['load_average_after'])}; rounds: {arch['rounds_run']} run, "
            f"{arch['clean_rounds']} clean, {arch['rounds_used']} used.",
            "",
            "| implementation | epoch s (median) | x PyTorch | GEMM GFLOP/s | epoch / floor "
            "| best epoch s | peak RSS MiB | loss (last epoch) | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in arch["rows"]:
            loss = row["last_epoch_loss"]
            lines.append(
                f"| {row['label']} | {row['epoch_seconds_median']:.3f} | "
                f"{_fmt(row['ratio_to_torch'], '.2f')} | {row['gemm_gflops_per_s']:.1f} | "
                f"{_fmt(row['ratio_to_floor'], '.2f')} | {row['epoch_seconds_best']:.3f} | "
                f"{row['peak_rss_mib']:.0f} | "
                f"{'-' if loss is None else format(loss, '.4f')} | "
                f"{_fmt_pct(row['foreign_cpu_median'])} |")
        lines.append("")
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".", ""]
    lines += ["BLAS / thread pools (threadpoolctl):", ""]
    lines += [f"- {line}" for line in blas_summary(result)]
    lines += ["", meta["openblas_env_note"], ""]
    return "\n".join(lines)


def _fmt_pct(value):
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _fmt_load(load):
    return "n/a" if not load else "/".join(f"{v:.2f}" for v in load)


def versions(result):
    """Versions as the workers reported them (the coordinator imports no framework,
    so that it stays small and does not perturb the machine)."""
    found = {"python": platform.python_version(), "numpy": np.__version__}
    for arch in result["architectures"]:
        for row in arch["rows"]:
            for key in ("torch", "sklearn"):
                if key in row["versions"]:
                    found[key] = row["versions"][key]
    try:
        from importlib.metadata import version
        found["threadpoolctl"] = version("threadpoolctl")
    except Exception:  # noqa: BLE001 - informative only
        found["threadpoolctl"] = "not installed"
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 samples and 3 timed epochs: a smoke run, not the table")
    parser.add_argument("--epochs", type=int, help="timed epochs after the warm-up (>= 3)")
    parser.add_argument("--samples", type=int, help="training samples per epoch")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="a round is clean if other processes used at most this share of "
                             "the CPU during each of its epochs (default 0.1)")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of pause before each epoch (default 0.3)")
    parser.add_argument("--max-rounds", type=int,
                        help="give up waiting for clean rounds after this many (default 3 x epochs)")
    parser.add_argument("--arch", choices=sorted(ARCHS), action="append",
                        help="only this architecture (repeatable)")
    parser.add_argument("--impl", choices=IMPLS, action="append",
                        help="only this implementation (repeatable; floor and torch are always run)")
    parser.add_argument("--data", default=os.path.join(ROOT, "data"))
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for PyTorch (NumPy's OpenBLAS uses one per core)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the workers' environment")
    args = parser.parse_args(argv)
    epochs = args.epochs or (3 if args.quick else 5)
    if epochs < 3:
        parser.error("--epochs must be at least 3")
    args.epochs = epochs
    args.max_rounds = args.max_rounds or 3 * epochs
    n = args.samples or (10_000 if args.quick else 60_000)
    impls = tuple(i for i in IMPLS if not args.impl or i in args.impl or i in ("floor", "torch"))
    archs = args.arch or list(ARCHS)

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    x, y, source = load_training_data(args.data, n, args.seed)
    env, removed = worker_env(args)
    if removed:
        note = (f"{' and '.join(sorted(removed))} (= {removed}) were set in the environment and "
                "were removed for the benchmark workers; the kernels above are the ones that ran.")
    elif args.keep_openblas_env:
        note = "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE were kept as set in the environment."
    else:
        note = "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE were not set; nothing was changed."
    log(f"data: {source}; load average {_fmt_load(load_average())}")
    result = {"meta": {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "quick": args.quick, "samples": n, "data": source,
        "epochs": epochs, "max_foreign": args.max_foreign, "lr": args.lr, "momentum": args.momentum, "threads": args.threads,
        "openblas_env_removed": removed, "openblas_env_note": note,
        "command": " ".join(["python", "benchmarks/run.py"] + (argv if argv is not None else sys.argv[1:])),
    }, "architectures": []}
    with tempfile.TemporaryDirectory(prefix="mnist-mlp-bench-") as data_dir:
        np.save(os.path.join(data_dir, "x.npy"), x)
        np.save(os.path.join(data_dir, "y.npy"), y)
        del x, y
        for name in archs:
            sizes, batch_size = ARCHS[name]
            result["architectures"].append(
                run_architecture(name, sizes, batch_size, impls, data_dir, n, args, env, log))

    result["meta"]["versions"] = versions(result)
    os.makedirs(args.out, exist_ok=True)
    stem = "quick" if args.quick else "bench"
    text = markdown(result)
    _atomic_write(os.path.join(args.out, stem + ".json"), json.dumps(result, indent=2) + "\n")
    _atomic_write(os.path.join(args.out, stem + ".md"), text)
    print(text)
    return 0


def _atomic_write(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
