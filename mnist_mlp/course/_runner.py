"""Sandbox runner: imports a submission's modules and runs the grader's probes on them.

Runs unprivileged inside the sandbox (see :mod:`mnist_mlp.course._boot`), as
``python -I -B _runner.py JOB``, never imported by the grader. Standard library
and NumPy only. It reads the job (JSON) before any submission code runs, and
writes one JSON line per stage to fd 3: ``{"stage": "functions", ...}``, then
``{"stage": "training", ...}``. The grader compares the numbers with its own
formulas; nothing here decides whether a check passed.

An audit hook (:func:`sys.addaudithook`, which code cannot remove) blocks and
records what a submission has no business doing: sockets, new processes, and
opening files outside the scratch folder and the interpreter's own folders. The
kernel limits and the namespaces of the boot hold even where it does not reach.
"""

import json
import os
import sys
import time
import traceback
import warnings

_PID = os.getpid()
_VIOLATIONS = []
_CODES = "/codes/"
_OUT = sys.stdout  # the result pipe once main() has opened it


def _send(message):
    if os.getpid() != _PID:  # a forked copy of this process: only the original speaks
        os._exit(0)
    message["violations"] = list(_VIOLATIONS)
    _OUT.write(json.dumps(message) + "\n")
    _OUT.flush()


def _install_hook(scratch, readable):
    blocked_events = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
                      "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn",
                      "os.spawn", "subprocess.Popen", "pty.spawn"}
    armed = [False]

    def hook(event, args):
        if not armed[0]:
            return
        if event in blocked_events:
            what = "a network socket" if event.startswith("socket") else "a new process"
            detail = f"tried to open {what} ({event}{_short(args)})"
            _VIOLATIONS.append(detail)
            raise PermissionError(f"sandbox: {detail}")
        if event == "open" and isinstance(args[0], (str, bytes)):
            # realpath: a symlink in the scratch folder does not lead outside it.
            path = os.path.realpath(os.fsdecode(args[0]))
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            allowed = (scratch,) if writing else (scratch, *readable)
            if not any(path == root or path.startswith(root + os.sep) for root in allowed):
                detail = f"tried to {'write' if writing else 'read'} {path}, outside its scratch folder"
                _VIOLATIONS.append(detail)
                raise PermissionError(f"sandbox: {detail}")

    sys.addaudithook(hook)
    return armed


def _short(args):
    text = ", ".join(repr(a) for a in args[:2] if not hasattr(a, "fileno"))
    return f": {text[:80]}" if text else ""


def _error(exc):
    """One line for the grader: the exception and where in the submission it came from."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _CODES in f.filename]
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}"[:300] + where


def _array(value):
    import numpy as np

    if value is None:
        raise TypeError("returned None (not implemented?)")
    arr = np.asarray(value, dtype=np.float64)
    return arr.tolist()


def _probe(layers, losses, probe, out):
    """Fill ``out`` step by step, so what worked before an error still reaches the grader."""
    import numpy as np

    kind, name = probe["kind"], probe["name"]
    if kind == "activation":
        layer = getattr(layers, name)(name.lower())
        x = np.array(probe["x"], dtype=np.float64)
        out["y"] = _array(layer.forward(x.copy()))
        out["gx"] = _array(layer.backward(np.array(probe["g"], dtype=np.float64)))
    elif kind == "linear":
        x, w, b = (np.array(probe[k], dtype=np.float64) for k in ("x", "W", "b"))
        layer = layers.Linear("fc", w.shape[0], w.shape[1], 0.1)
        layer.W, layer.b = w.copy(), b.copy()
        for grad in ("grad_W", "grad_b", "diff_W", "diff_b"):
            if hasattr(layer, grad):
                setattr(layer, grad, np.zeros_like(w if grad.endswith("W") else b))
        out["y"] = _array(layer.forward(x.copy()))
        out["gx"] = _array(layer.backward(np.array(probe["g"], dtype=np.float64)))
        out["gW"], out["gb"] = _array(layer.grad_W), _array(layer.grad_b)
    else:
        loss = getattr(losses, name)("loss", **probe.get("kwargs", {}))
        x, t = np.array(probe["x"], dtype=np.float64), np.array(probe["t"], dtype=np.float64)
        out["value"] = float(np.asarray(loss.forward(x.copy(), t.copy()), dtype=np.float64))
        out["gx"] = _array(loss.backward(x.copy(), t.copy()))


def _run_probes(layers, losses, probes, strict):
    import numpy as np

    results = {}
    for probe in probes:
        key = probe["id"]
        results[key] = out = {}
        try:
            with warnings.catch_warnings(), np.errstate(
                    over="raise", invalid="raise", divide="raise", under="ignore") if strict \
                    else np.errstate():
                if strict:
                    warnings.simplefilter("error")
                _probe(layers, losses, probe, out)
        except Exception as exc:  # the submission's bug, reported as data
            out["error"] = _error(exc)
    return results


def _training(modules, job):
    import numpy as np

    network, layers, losses, solve_net = modules
    spec = job["training"]
    data = {k: np.load(os.path.join(job["data"], f"{k}.npy"), allow_pickle=False)
            for k in ("train_x", "train_y", "val_x")}
    train_x = (data["train_x"].astype(np.float32) - 128) / 255
    val_x = (data["val_x"].astype(np.float32) - 128) / 255
    np.random.seed(spec["seed"])
    model = network.Network()
    model.add(layers.Linear("fc1", 784, spec["hidden"], spec["init_std"]))
    model.add(layers.Relu("relu1"))
    model.add(layers.Linear("fc2", spec["hidden"], 10, spec["init_std"]))
    loss = losses.SoftmaxCrossEntropyLoss("loss")
    config = {"learning_rate": spec["learning_rate"], "weight_decay": 0.0,
              "momentum": spec["momentum"], "batch_size": spec["batch_size"],
              "max_epoch": spec["epochs"], "disp_freq": 100, "test_epoch": 1}
    start = time.perf_counter()
    for _ in range(spec["epochs"]):
        solve_net.train_net(model, loss, config, train_x, data["train_y"].astype(np.int64),
                            config["batch_size"], config["disp_freq"])
    predictions = []
    for i in range(0, len(val_x), 1000):
        predictions += np.argmax(np.asarray(model.forward(val_x[i : i + 1000])), axis=1).tolist()
    return {"predictions": predictions, "seconds": time.perf_counter() - start}


def main(job_path, fd):
    global _OUT, _CODES
    _OUT = os.fdopen(fd, "w", encoding="utf-8")
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)

    readable = tuple(os.path.realpath(p) for p in job["readable"])
    armed = _install_hook(os.path.realpath(job["scratch"]), readable)
    _CODES = os.path.join(os.path.realpath(job["scratch"]), "codes") + os.sep
    sys.path.insert(0, _CODES.rstrip(os.sep))
    sys.setrecursionlimit(10000)
    armed[0] = job.get("audit", True)  # off only in the grader's own tests of the kernel-level walls
    try:
        import layers
        import loss as losses
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a submission too
        _send({"stage": "functions", "error": f"importing layers.py and loss.py failed: {_error(exc)}"})
        return 0
    _send({"stage": "functions", "probes": _run_probes(layers, losses, job["probes"], False),
           "stability": _run_probes(layers, losses, job["stability"], True)})
    if job.get("training"):
        try:
            import network
            import solve_net

            result = _training((network, layers, losses, solve_net), job)
        except BaseException as exc:  # noqa: BLE001
            result = {"error": _error(exc)}
        _send({"stage": "training", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
