"""``mnist-mlp serve`` under load, on loopback, bounded: every answer checked, latency printed.

The server runs as the real command (``python -m mnist_mlp serve MODEL --port 0``) in its
own process. 16 client threads, each on one keep-alive connection, send 2,000 prediction
requests for 2,000 different test digits (one in eight as a PNG data URL, preprocessed
like ``predict``; the rest as MNIST-form pixels); each answer must equal what
``predict_proba`` gives for that digit when called directly, so a mix-up between
concurrent requests would show. Then the same load again with malformed requests mixed
in: each of those must get its 4xx, and every good request must still be answered
right. p50 and p99 latency are printed, not asserted (the machine is shared).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from serve_support import (
    TIMEOUT,
    as_drawing,
    data_url,
    direct_probabilities,
    mnist_test_split,
    png_bytes,
    trained_model,
)

from mnist_mlp.data.imageprep import load_digit_image
from mnist_mlp.serve.server import MAX_BODY

CLIENTS = 16
REQUESTS = 2000
PNG_EVERY = 8          # one request in eight sends a PNG data URL
BAD_EVERY = 3          # in the mixed phase, a malformed request after every third good one
START_TIMEOUT = 120    # seconds for the server process to load and print its address


@pytest.fixture(scope="module")
def workload(mnist_dir, tmp_path_factory):
    """2,000 request bodies and, for each, the probabilities predict_proba gives directly."""
    model = trained_model(mnist_dir)
    images, _ = mnist_test_split(mnist_dir)
    folder = tmp_path_factory.mktemp("load")
    bodies, digits = [], []
    for index in range(REQUESTS):
        if index % PNG_EVERY == 0:
            png = png_bytes(as_drawing(images[index], scale=4))
            (folder / "d.png").write_bytes(png)
            digits.append(load_digit_image(folder / "d.png"))  # what predict reads from the file
            bodies.append(json.dumps({"image": data_url(png)}).encode())
        else:
            digits.append(images[index].astype(np.float32))
            bodies.append(json.dumps({"pixels": images[index].tolist(), "preprocess": False}).encode())
    return model, bodies, direct_probabilities(model, digits)


@pytest.fixture(scope="module")
def server_port(workload, mnist_dir):
    """The real command in a subprocess; its port, read from the line it prints."""
    command = [sys.executable, "-m", "mnist_mlp", "serve", str(workload[0]), "--port", "0",
               "--data-dir", str(mnist_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.monotonic() + START_TIMEOUT
        while "serving on" not in line:
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready or process.poll() is not None:
                pytest.fail(f"the server did not start: {process.stderr.read() if process.poll() is not None else 'timeout'}")
            line = process.stdout.readline()
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        _warm_up(port, workload[1])
        yield port
        assert process.poll() is None, "the server process died"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl+C: a clean stop
        try:
            _, errors = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "internal error" not in errors, errors


def _warm_up(port, bodies):
    """A few unmeasured requests of both kinds first: lazy imports and first-use costs."""
    client = _Client(port)
    for body in bodies[:2 * PNG_EVERY]:
        assert client.send("POST", "/api/predict", body)[0] == 200
    client.close()


class _Client:
    """One keep-alive connection; reconnects when the server closes it (after a 413, say)."""

    def __init__(self, port):
        self.port, self.connection = port, None

    def send(self, method, path, body=None, headers=None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, json.loads(data)

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _raw(port, data):
    """Raw bytes on a fresh connection (requests http.client cannot send); the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert json.loads(body)["error"]
    return int(head.split(b" ", 2)[1])


# (what, expected status, how to send it): the malformed requests of the API tests.
_BAD = [
    ("truncated JSON", 400, lambda c, p: c.send("POST", "/api/predict", b'{"pixels": [1, 2')),
    ("wrong length", 400, lambda c, p: c.send("POST", "/api/predict", b'{"pixels": [1, 2, 3]}')),
    ("NaN", 400, lambda c, p: c.send("POST", "/api/predict",
                                     b'{"pixels": [' + b"NaN," * 783 + b"0]}")),
    ("out of range", 400, lambda c, p: c.send("POST", "/api/predict",
                                              json.dumps({"pixels": [300] * 784}).encode())),
    ("non-image upload", 415, lambda c, p: c.send(
        "POST", "/api/predict", json.dumps({"image": data_url(b"plain text", "text/plain")}).encode())),
    ("unknown path", 404, lambda c, p: c.send("GET", "/api/nothing")),
    ("wrong method", 405, lambda c, p: c.send("DELETE", "/api/predict")),
    ("body over the limit", 413, lambda c, p: (_raw(p, b"POST /api/predict HTTP/1.1\r\nHost: x\r\n"
                                                       b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1)),
                                               None)),
    ("no Content-Length", 411, lambda c, p: (_raw(p, b"POST /api/predict HTTP/1.1\r\nHost: x\r\n"
                                                     b"Connection: close\r\n\r\n"), None)),
    ("garbage request line", 400, lambda c, p: (_raw(p, b"\x00\x01 nonsense\r\n\r\n"), None)),
]


def _run_load(port, bodies, expected, mixed):
    """Send every body once from CLIENTS threads; returns (latencies of good requests, problems)."""
    latencies = [None] * len(bodies)
    problems, bad_count = [], [0] * CLIENTS

    def client(k):
        connection = _Client(port)
        try:
            for step, index in enumerate(range(k, len(bodies), CLIENTS)):
                start = time.perf_counter()
                status, answer = connection.send("POST", "/api/predict", bodies[index],
                                                 {"Content-Type": "application/json"})
                latencies[index] = time.perf_counter() - start
                if status != 200 or answer["predicted"] != int(np.argmax(expected[index])) or not \
                        np.allclose(answer["probabilities"], expected[index], rtol=1e-5, atol=1e-7):
                    problems.append(f"request {index}: {status} {str(answer)[:200]}")
                if mixed and step % BAD_EVERY == BAD_EVERY - 1:
                    what, code, send = _BAD[(k + step) % len(_BAD)]
                    status = send(connection, port)[0]
                    bad_count[k] += 1
                    if status != code:
                        problems.append(f"{what}: expected {code}, got {status}")
        except Exception as exc:  # noqa: BLE001 - any failure is reported, with its thread
            problems.append(f"client {k}: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if any(thread.is_alive() for thread in threads):
        problems.append("a client thread did not finish within 300 s")
    return latencies, problems, sum(bad_count)


def _report(title, latencies, extra=""):
    values = np.array([v for v in latencies if v is not None]) * 1000
    p50, p99 = np.percentile(values, [50, 99])
    load = os.getloadavg()[0]
    return (f"{title}: {len(values)} good requests from {CLIENTS} clients, p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {values.max():.1f} ms{extra} (1-min load {load:.2f})")


def test_2000_requests_from_16_clients_all_answered_right(server_port, workload, capsys):
    _, bodies, expected = workload
    latencies, problems, _ = _run_load(server_port, bodies, expected, mixed=False)
    assert problems == [], problems[:10]
    assert all(v is not None for v in latencies)
    with capsys.disabled():
        print("\n" + _report("load", latencies))


def test_malformed_requests_mixed_in_leave_every_good_one_answered(server_port, workload, capsys):
    _, bodies, expected = workload
    latencies, problems, bad = _run_load(server_port, bodies, expected, mixed=True)
    assert problems == [], problems[:10]
    assert all(v is not None for v in latencies) and bad >= len(_BAD) * CLIENTS
    assert _Client(server_port).send("GET", "/api/model")[0] == 200
    with capsys.disabled():
        print("\n" + _report("load with malformed requests", latencies,
                             f"; {bad} malformed requests, each answered with its 4xx"))
