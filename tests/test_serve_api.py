"""``mnist-mlp serve``'s JSON API, on a live server bound to a free loopback port.

Truth comes from outside the server: predictions are compared with ``mnist-mlp predict``
and with ``predict_proba`` called directly, labels with the IDX files, weights with the
model file; every malformed request must get a 4xx JSON error and leave the server serving.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import select
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from serve_support import (
    TIMEOUT,
    as_drawing,
    data_url,
    direct_probabilities,
    mnist_test_split,
    png_bytes,
    request,
    running,
    trained_model,
)

from mnist_mlp.cli import main
from mnist_mlp.errors import ConfigError, DataError
from mnist_mlp.layers import Linear, Relu
from mnist_mlp.load_data import CLASS_NAMES
from mnist_mlp.network import Network
from mnist_mlp.serve import ServedModel, TestDigits, make_server
from mnist_mlp.serve.api import MAX_IMAGE_PIXELS
from mnist_mlp.train.history import History

SMALL_LIMIT = 64 * 1024  # the test server's body limit, to test 413 without megabytes


@pytest.fixture(scope="module")
def model_path(mnist_dir):
    return trained_model(mnist_dir)


@pytest.fixture(scope="module")
def server(model_path, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    digits = TestDigits(images=images, labels=labels, seed=0)
    with running(make_server(ServedModel.load(model_path), port=0, samples=digits,
                             max_body=SMALL_LIMIT)) as live:
        yield live


@pytest.fixture()
def port(server):
    yield server.server_address[1]
    # After every test, good or bad requests alike, the server still answers.
    status, _, body = request(server.server_address[1], "GET", "/api/model")
    assert status == 200 and body["classes"]


def cli_predict(model_path, image_path, capsys):
    """Predicted class and probabilities as ``mnist-mlp predict`` prints them."""
    assert main(["predict", str(model_path), str(image_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    predicted = int(re.search(r": (\d)", out[0]).group(1))
    probabilities = [float(p) for p in re.findall(r"\d: ([0-9.]+)", out[1])]
    return predicted, np.array(probabilities)


# -- the model and good predictions -----------------------------------------------------


def test_model_description_matches_the_model_file(port, model_path):
    status, response, body = request(port, "GET", "/api/model")
    history = History.load(model_path.parent / "history.json")
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert body["layers"] == ["Linear 784 -> 128", "Relu", "Linear 128 -> 10"]
    assert body["summary"] == "784-128-10 relu"
    assert body["parameters"] == 784 * 128 + 128 + 128 * 10 + 10
    assert body["dataset"] == "mnist" and body["classes"] == [str(d) for d in range(10)]
    assert body["test_accuracy"] == history.final()["test_acc"] > 0.95
    assert body["validation_accuracy"] == history.final()["val_acc"]
    assert body["hidden_units"] == 128 and body["samples"] is True


def test_pixels_in_mnist_form_give_predict_probas_answer(port, model_path, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    expected = direct_probabilities(model_path, images[:20])
    for digit, probabilities in zip(images[:20], expected):
        status, _, body = request(port, "POST", "/api/predict",
                                  {"pixels": digit.tolist(), "preprocess": False})
        assert status == 200
        np.testing.assert_allclose(body["probabilities"], probabilities, rtol=1e-5, atol=1e-7)
        assert body["predicted"] == int(np.argmax(probabilities))
        assert body["label"] == str(body["predicted"])
        assert body["image"] == digit.tolist() and body["preprocessed"] is False
    # The model is a real one: most of these digits are read right.
    assert np.mean(expected.argmax(axis=1) == labels[:20]) >= 0.9


def test_image_data_url_answers_what_mnist_mlp_predict_prints(port, model_path, mnist_dir,
                                                              tmp_path, capsys):
    images, labels = mnist_test_split(mnist_dir)
    for index in (0, 1, 2):
        picture = as_drawing(images[index])
        path = tmp_path / f"digit{index}.png"
        picture.save(path)
        predicted, probabilities = cli_predict(model_path, path, capsys)
        status, _, body = request(port, "POST", "/api/predict",
                                  {"image": data_url(path.read_bytes())})
        assert status == 200 and body["preprocessed"] is True
        assert body["predicted"] == predicted == labels[index]
        np.testing.assert_allclose(body["probabilities"], probabilities, atol=5e-4)  # printed to 3 places


def test_jpeg_upload_and_raw_pixels_are_preprocessed_like_predict(port, model_path, mnist_dir,
                                                                 tmp_path, capsys):
    images, _ = mnist_test_split(mnist_dir)
    jpeg = png_bytes(as_drawing(images[3]), "JPEG")
    (tmp_path / "d.jpg").write_bytes(jpeg)
    predicted, probabilities = cli_predict(model_path, tmp_path / "d.jpg", capsys)
    _, _, body = request(port, "POST", "/api/predict", {"image": data_url(jpeg, "image/jpeg")})
    assert body["predicted"] == predicted
    np.testing.assert_allclose(body["probabilities"], probabilities, atol=5e-4)
    # 784 raw grey levels, dark on light and off-centre, are a picture like any other.
    picture = 255 - np.roll(images[4].reshape(28, 28), (3, -4), axis=(0, 1))
    Image.fromarray(picture.astype(np.uint8), "L").save(tmp_path / "p.png")
    predicted, probabilities = cli_predict(model_path, tmp_path / "p.png", capsys)
    _, _, body = request(port, "POST", "/api/predict", {"pixels": picture.ravel().tolist()})
    assert body["predicted"] == predicted and body["preprocessed"] is True
    np.testing.assert_allclose(body["probabilities"], probabilities, atol=5e-4)


def test_units_are_the_most_active_first_layer_units(port, model_path, mnist_dir):
    images, _ = mnist_test_split(mnist_dir)
    net = Network.load(model_path)
    from mnist_mlp.data.normalize import normalize_like
    x = normalize_like(net.metadata, images[:1].astype(np.float32))
    hidden = np.maximum(x @ net.layer_list[0].W + net.layer_list[0].b, 0)[0]  # ReLU(xW + b)
    _, _, body = request(port, "POST", "/api/predict",
                         {"pixels": images[0].tolist(), "preprocess": False})
    units = body["units"]
    assert [u["unit"] for u in units] == list(np.argsort(-hidden, kind="stable")[:8])
    np.testing.assert_allclose([u["activation"] for u in units], np.sort(hidden)[::-1][:8], rtol=1e-5)


def test_unit_picture_shows_the_weights_signs(port, model_path):
    weights = Network.load(model_path).layer_list[0].W[:, 5].reshape(28, 28)
    status, response, body = request(port, "GET", "/api/unit/5.png")
    assert status == 200 and response.getheader("Content-Type") == "image/png"
    rgb = np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).astype(int)
    assert rgb.shape == (28, 28, 3)
    strongest = np.unravel_index(np.argmax(np.abs(weights)), weights.shape)
    assert tuple(rgb[strongest]) == ((255, 0, 0) if weights[strongest] > 0 else (0, 0, 255))
    # Positive weights are red-dominated, negative ones blue-dominated.
    assert np.all((rgb[..., 0] >= rgb[..., 2])[weights > 0])
    assert np.all((rgb[..., 2] >= rgb[..., 0])[weights < 0])


def test_sample_gives_a_test_digit_and_its_true_label(port, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    status, _, body = request(port, "GET", "/api/sample?index=1234")
    assert status == 200 and body["index"] == 1234
    assert body["label"] == labels[1234] and body["class"] == str(labels[1234])
    assert body["pixels"] == images[1234].tolist()
    _, _, random_one = request(port, "GET", "/api/sample")
    assert 0 <= random_one["index"] < 10000 and random_one["label"] == labels[random_one["index"]]


def test_random_samples_follow_the_seed():
    images = np.zeros((50, 784), np.uint8)
    labels = np.arange(50) % 10
    first = TestDigits(images=images, labels=labels, seed=3)
    second = TestDigits(images=images, labels=labels, seed=3)
    assert [first.random_index() for _ in range(10)] == [second.random_index() for _ in range(10)]


def test_page_and_static_files_come_from_the_package(port):
    status, response, page = request(port, "GET", "/")
    assert status == 200 and response.getheader("Content-Type").startswith("text/html")
    html = page.decode()
    assert '<canvas id="pad"' in html and "default-src 'self'" in response.getheader(
        "Content-Security-Policy")
    # Everything the page loads is served here: no CDN, no absolute URL.
    for link in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert link.startswith(("/", "data:")), link
        if link.startswith("/"):
            assert request(port, "GET", link)[0] == 200
    assert request(port, "GET", "/static/app.js")[1].getheader("Content-Type").startswith(
        "text/javascript")
    assert request(port, "GET", "/static/style.css")[1].getheader("Content-Type").startswith(
        "text/css")


def test_keep_alive_connection_survives_an_error(port, mnist_dir):
    import http.client

    images, _ = mnist_test_split(mnist_dir)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        for body in (b"{broken", json.dumps({"pixels": images[0].tolist(), "preprocess": False}),
                     b"[]", json.dumps({"pixels": images[1].tolist(), "preprocess": False})):
            connection.request("POST", "/api/predict", body=body)
            response = connection.getresponse()
            answer = json.loads(response.read())
            assert response.status in (200, 400) and ("error" in answer) == (response.status == 400)
    finally:
        connection.close()


# -- bad input: every one a 4xx with a JSON message ---------------------------------------


def _pixels(value=0.0, count=784):
    return [value] * count


def _mixed(bad):
    pixels = _pixels(10.0)
    pixels[17] = bad
    return pixels


_BAD_BODIES = {
    "truncated JSON": (b'{"pixels": [1, 2', 400, "not valid JSON"),
    "not UTF-8": (b"\xff\xfe\x00{", 400, "UTF-8"),
    "empty body": (b"", 400, "not valid JSON"),
    "deep nesting": (b"[" * 30_000 + b"]" * 30_000, 400, "nested too deeply"),
    "a list": (b"[1, 2, 3]", 400, "JSON object"),
    "no field": (b"{}", 400, "exactly one of"),
    "both fields": (json.dumps({"pixels": _pixels(), "image": "data:,"}).encode(), 400, "exactly one"),
    "unknown field": (json.dumps({"pixels": _pixels(), "colour": 1}).encode(), 400, "unknown field"),
    "too few": (json.dumps({"pixels": _pixels(count=783)}).encode(), 400, "got 783"),
    "too many": (json.dumps({"pixels": _pixels(count=785)}).encode(), 400, "got 785"),
    "none": (json.dumps({"pixels": []}).encode(), 400, "got 0"),
    "nested 28x28": (json.dumps({"pixels": [[0] * 28] * 28}).encode(), 400, "got 28"),
    "not a list": (json.dumps({"pixels": "0" * 784}).encode(), 400, "must be a list"),
    "NaN": (b'{"pixels": [' + b"NaN, " * 783 + b"1]}", 400, "NaN"),
    "Infinity": (b'{"pixels": [' + b"1, " * 783 + b"Infinity]}", 400, "Infinity"),
    "-Infinity": (b'{"pixels": [' + b"-Infinity, " * 783 + b"1]}", 400, "Infinity"),
    "overflow to infinity": (b'{"pixels": [' + b"1e999, " * 783 + b"1]}", 400, "finite"),
    "huge integer": (b'{"pixels": [' + b"1" + b"0" * 400 + b", 1" * 783 + b"]}", 400, "[0, 255]"),
    "above 255": (json.dumps({"pixels": _mixed(256)}).encode(), 400, "[0, 255]"),
    "negative": (json.dumps({"pixels": _mixed(-0.5)}).encode(), 400, "[0, 255]"),
    "a string": (json.dumps({"pixels": _mixed("7")}).encode(), 400, "[17] must be a number"),
    "null": (json.dumps({"pixels": _mixed(None)}).encode(), 400, "must be a number"),
    "a boolean": (json.dumps({"pixels": _mixed(True)}).encode(), 400, "must be a number"),
    "preprocess not bool": (json.dumps({"pixels": _pixels(), "preprocess": "no"}).encode(), 400,
                            "true or false"),
    "blank picture": (json.dumps({"pixels": _pixels(200.0)}).encode(), 422, "blank"),
    "image not a data URL": (json.dumps({"image": "http://example.com/7.png"}).encode(), 400,
                             "data URL"),
    "image not a string": (json.dumps({"image": 7}).encode(), 400, "data URL"),
    "text upload": (json.dumps({"image": data_url(b"hello, world", "text/plain")}).encode(), 415,
                    "not an image"),
    "bytes that are no image": (json.dumps({"image": data_url(b"GIF? no. " * 50)}).encode(), 415,
                                "not an image"),
    "not base64": (json.dumps({"image": "data:image/png;base64,@@@not*base64"}).encode(), 400,
                   "base64"),
    "not base64-encoded": (json.dumps({"image": "data:image/png,abc"}).encode(), 400, "base64"),
    "image with preprocess false": (json.dumps({"image": "data:image/png;base64,AA==",
                                                "preprocess": False}).encode(), 400, "always"),
}


def _png_case(name):
    if name == "truncated PNG":
        return data_url(png_bytes(Image.new("L", (40, 40), 255))[:60]), 422, "cannot read"
    if name == "blank PNG":
        return data_url(png_bytes(Image.new("RGB", (50, 30), (255, 255, 255)))), 422, "blank"
    if name == "transparent blank PNG":
        return data_url(png_bytes(Image.new("RGBA", (50, 30), (0, 0, 0, 0)))), 422, "blank"
    raise KeyError(name)


def _assert_json_error(status, response, body, expected_status, fragment):
    assert status == expected_status, body
    assert response.getheader("Content-Type") == "application/json"
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    assert fragment.lower() in body["error"].lower(), body["error"]


@pytest.mark.parametrize("name", sorted(_BAD_BODIES))
def test_bad_predict_body_is_a_4xx_json_error(port, name):
    body, expected, fragment = _BAD_BODIES[name]
    _assert_json_error(*request(port, "POST", "/api/predict", body), expected, fragment)


@pytest.mark.parametrize("name", ["truncated PNG", "blank PNG", "transparent blank PNG"])
def test_bad_image_is_a_4xx_json_error(port, name):
    url, expected, fragment = _png_case(name)
    _assert_json_error(*request(port, "POST", "/api/predict", {"image": url}), expected, fragment)


def test_image_of_too_many_pixels_is_refused_before_decoding(port):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    huge = png_bytes(Image.new("1", (side, side), 1))  # a few kB: one colour compresses well
    _assert_json_error(*request(port, "POST", "/api/predict", {"image": data_url(huge)}), 413,
                       "at most")


def test_body_over_the_limit_is_refused_unread(port):
    # Only the headers are sent: the server must answer from the Content-Length alone.
    status, body = raw_exchange(port, b"POST /api/predict HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: %d\r\n\r\n" % (SMALL_LIMIT + 1))
    assert status == 413 and "at most" in body["error"]
    # And a whole body over the limit, sent by an ordinary client.
    big = json.dumps({"image": data_url(b"x" * SMALL_LIMIT)}).encode()
    try:
        status, response, answer = request(port, "POST", "/api/predict", big)
    except (ConnectionResetError, BrokenPipeError):
        pytest.fail("the server reset the connection instead of answering 413")
    _assert_json_error(status, response, answer, 413, "at most")


def raw_exchange(port, data):
    """Send raw bytes, read the whole answer (the server closes): (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@pytest.mark.parametrize("data, expected, fragment", [
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411,
     "chunked"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", 400, "whole number"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "whole number"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
     400, "ended after 2 of 100"),
    (b"HELLO THERE\r\n\r\n", 400, "request type"),
    (b"GET / HTTP/2.0\r\n\r\n", 400, "version"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, ""),   # a TLS hello
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414, ""),
], ids=["no length", "chunked", "length not a number", "negative length", "short body",
        "garbage request line", "HTTP/2", "TLS", "URI too long"])
def test_malformed_http_is_a_4xx_json_error(port, data, expected, fragment):
    if data.endswith(b"Content-Length: 100\r\nConnection: close\r\n\r\n{}"):
        # Send two bytes of a 100-byte body, then stop sending: the server sees the end.
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
        head, _, body = reply.partition(b"\r\n\r\n")
        status, body = int(head.split(b" ", 2)[1]), json.loads(body)
    else:
        status, body = raw_exchange(port, data)
    assert status == expected and isinstance(body["error"], str) and body["error"]
    assert fragment.lower() in body["error"].lower()


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/nope", 404), ("GET", "/api", 404), ("GET", "/api/predict/x", 404),
    ("GET", "/static/../server.py", 404), ("GET", "/static/missing.js", 404),
    ("GET", "/api/unit/128.png", 404), ("GET", "/api/unit/-1.png", 404),
    ("GET", "/api/unit/x.png", 404), ("POST", "/nope", 404),
    ("GET", "/api/predict", 405), ("PUT", "/api/predict", 405), ("DELETE", "/api/model", 405),
    ("POST", "/api/model", 405), ("PATCH", "/", 405), ("HEAD", "/", 405),
    ("OPTIONS", "/api/predict", 405), ("BREW", "/", 405),
    ("GET", "/api/sample?index=10000", 400), ("GET", "/api/sample?index=abc", 400),
    ("GET", "/api/sample?index=-3", 400), ("GET", "/api/sample?index=%C2%B2", 400),
])
def test_unknown_paths_and_methods_are_4xx_json_errors(port, method, path, expected):
    body = b'{"pixels": []}' if method in ("POST", "PUT", "PATCH") else None
    status, response, answer = request(port, method, path, body)
    assert status == expected
    if method != "HEAD":  # a HEAD answer carries no body, by HTTP's rules
        assert response.getheader("Content-Type") == "application/json" and answer["error"]
    if expected == 405:
        assert response.getheader("Allow") in ("GET", "POST")


def test_sample_without_the_test_files_says_how_to_fetch(tmp_path, model_path):
    digits = TestDigits("mnist", tmp_path / "empty")
    with running(make_server(ServedModel.load(model_path), port=0, samples=digits)) as live:
        status, _, body = request(live.server_address[1], "GET", "/api/sample")
    assert status == 404 and "mnist-mlp fetch" in body["error"]


# -- other models ------------------------------------------------------------------------


def _random_net(sizes, rng):
    net = Network()
    for index, (a, b) in enumerate(itertools.pairwise(sizes)):
        net.add(Linear(f"fc{index + 1}", a, b, 0.05, rng=rng))
        if index < len(sizes) - 2:
            net.add(Relu(f"relu{index + 1}"))
    return net


def test_fashion_model_speaks_in_its_class_names(tmp_path):
    net = _random_net((784, 16, 10), np.random.default_rng(0))
    net.save(tmp_path / "fashion.npz", metadata={"dataset": "fashion-mnist",
                                                  "classes": list(CLASS_NAMES["fashion-mnist"])})
    digit = np.random.default_rng(1).integers(0, 256, 784).tolist()
    with running(make_server(ServedModel.load(tmp_path / "fashion.npz"), port=0)) as live:
        port = live.server_address[1]
        assert request(port, "GET", "/api/model")[2]["classes"] == list(CLASS_NAMES["fashion-mnist"])
        _, _, body = request(port, "POST", "/api/predict", {"pixels": digit, "preprocess": False})
        assert request(port, "GET", "/api/sample")[0] == 404   # no test digits given
    expected = direct_probabilities(tmp_path / "fashion.npz", [digit])[0]
    assert body["label"] == CLASS_NAMES["fashion-mnist"][int(np.argmax(expected))]
    np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-5, atol=1e-7)


def test_model_without_hidden_layer_has_no_units(tmp_path):
    net = _random_net((784, 10), np.random.default_rng(0))
    net.save(tmp_path / "linear.npz")
    with running(make_server(ServedModel.load(tmp_path / "linear.npz"), port=0)) as live:
        port = live.server_address[1]
        _, _, body = request(port, "POST", "/api/predict", {"pixels": _pixels(9.0),
                                                            "preprocess": False})
        assert body["units"] == [] and request(port, "GET", "/api/unit/0.png")[0] == 404
        assert request(port, "GET", "/api/model")[2]["hidden_units"] == 0


def test_a_model_of_the_wrong_shape_is_refused(tmp_path):
    _random_net((100, 8, 10), np.random.default_rng(0)).save(tmp_path / "small.npz")
    with pytest.raises(DataError, match="does not map 784 pixels"):
        ServedModel.load(tmp_path / "small.npz")


def test_port_in_use_is_a_one_line_config_error(model_path):
    with running(make_server(ServedModel.load(model_path), port=0)) as live:
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1"):
            make_server(ServedModel.load(model_path), port=live.server_address[1])


def test_image_pixels_round_trip_base64():
    # The helper used above encodes what the server decodes.
    assert base64.b64decode(data_url(b"\x00\x01").split(",", 1)[1]) == b"\x00\x01"


# -- which model, the command line, package data ------------------------------------------


def _save_tiny(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    _random_net((784, 4, 10), np.random.default_rng(seed)).save(path)
    return path


def _history(path, val_acc):
    record = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0 - (val_acc or 0),
              "val_acc": val_acc, "test_loss": 1.0, "test_acc": 0.5, "lr": 0.1, "seconds": 1.0}
    History(records=[record], best_epoch=1).save(path)


def test_default_model_is_the_reports_choice(tmp_path):
    from mnist_mlp.report.writer import choose_best
    from mnist_mlp.serve import find_default_model
    from mnist_mlp.study.store import RunResult, Store

    store = Store(tmp_path / "report")
    results = {}
    for name, key, status, val_acc in (("a", "k1", "ok", 0.91), ("b", "k2", "ok", 0.95),
                                       ("c", "k3", "failed", None), ("d", "k4", "ok", 0.93)):
        final = {} if val_acc is None else {"val_acc": val_acc, "val_loss": 1 - val_acc}
        results[name] = RunResult(name=name, key=key, status=status, config={}, final=final)
        store.save(results[name])
        if status == "ok":
            _save_tiny(store.run_dir(name, key) / "model.npz")
    _save_tiny(tmp_path / "runs" / "later" / "model.npz")   # a train run does not outrank the report
    _history(tmp_path / "runs" / "later" / "history.json", 0.99)
    path, why = find_default_model(tmp_path)
    best = choose_best(results)
    assert path == store.run_dir(best.name, best.key) / "model.npz" and best.name == "b"
    assert "report" in why and "95.00%" in why


def test_default_model_without_report_is_the_best_train_run(tmp_path):
    from mnist_mlp.serve import find_default_model

    for name, val_acc in (("r1", 0.90), ("r2", 0.96), ("r3", None)):
        _save_tiny(tmp_path / "runs" / name / "model.npz")
        if val_acc is not None:
            _history(tmp_path / "runs" / name / "history.json", val_acc)
    path, why = find_default_model(tmp_path)
    assert path == tmp_path / "runs" / "r2" / "model.npz" and "96.00%" in why


def test_no_model_anywhere_says_in_one_line_how_to_get_one(tmp_path, monkeypatch, capsys):
    from mnist_mlp.serve import find_default_model

    with pytest.raises(ConfigError, match=r"mnist-mlp serve --train"):
        find_default_model(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model found" in err and "mnist-mlp train" in err


def test_model_and_train_together_are_refused(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "m.npz"), "--train"]) == 1
    assert "not both" in capsys.readouterr().err


def test_train_flag_trains_a_quick_model_that_is_found_later(tmp_path, mnist_dir, monkeypatch):
    from mnist_mlp.serve import find, find_default_model, train_quick_model

    # Smaller than the real quick settings, to keep the suite fast; same code path.
    monkeypatch.setattr(find, "QUICK_SETTINGS", {"hidden": (16,), "epochs": 1,
                                                 "train_subset": 3000, "validation_size": 500})
    path = train_quick_model(tmp_path, data_dir=mnist_dir, progress=False, log=lambda line: None)
    assert path == tmp_path / "runs" / "serve-quick" / "model.npz"
    assert find_default_model(tmp_path)[0] == path
    description = ServedModel.load(path).describe()
    assert description["summary"] == "784-16-10 relu" and 0 < description["validation_accuracy"] <= 1


def test_search_folders_are_report_and_train_defaults():
    from mnist_mlp.cli import build_parser
    from mnist_mlp.cli import train as train_cli
    from mnist_mlp.serve.find import REPORT_DIR, RUNS_DIR

    assert build_parser().parse_args(["report"]).out == REPORT_DIR
    assert train_cli._RUNS_DIR == RUNS_DIR


def test_serve_binds_loopback_by_default():
    from mnist_mlp.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.model is None


def test_every_static_file_is_package_data():
    import fnmatch
    from pathlib import Path

    from mnist_mlp.cli.train import read_toml

    root = Path(__file__).resolve().parents[1]
    patterns = read_toml(root / "pyproject.toml")["tool"]["setuptools"]["package-data"][
        "mnist_mlp.serve"]
    static = root / "mnist_mlp" / "serve" / "static"
    files = sorted(p.name for p in static.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in patterns), name


def test_a_get_with_a_body_is_answered_and_its_body_never_parsed(port):
    # The unread body must not be read as a second request: the server closes instead.
    data = b"GET /api/model HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\nDELETE /api/model HTTP/1.1"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 200") and reply.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in reply


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_server_stops_cleanly_even_when_started_with_sigint_ignored(tmp_path, stop):
    """A background job (``serve &``, nohup, a CI script) starts with SIGINT ignored; Ctrl+C
    and SIGTERM must still stop the server, with exit code 0."""
    path = tmp_path / "model.npz"
    Network().add(Linear("fc1", 784, 10, 0.01, rng=np.random.default_rng(0))).save(path)

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen([sys.executable, "-m", "mnist_mlp", "serve", str(path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=ignore_sigint)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready and "serving on" in process.stdout.readline()
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in err
