"""The HTTP side of ``mnist-mlp serve``: one page, its static files and a small JSON API.

Routes::

    GET  /                    the page (static/index.html)
    GET  /static/<file>       its script and style sheet
    GET  /api/model           what model is loaded: layers, dataset, classes, accuracy
    POST /api/predict         {"pixels": [...784]} or {"image": "data:image/png;base64,..."}
    GET  /api/sample[?index=] a test digit (random unless an index is given) and its label
    GET  /api/unit/<i>.png    first-layer unit i's input weights as a 28x28 image

The standard library's :class:`~http.server.ThreadingHTTPServer` is enough here: the
page makes one small request per stroke, a prediction costs well under a millisecond,
and the server is meant for one person on loopback. It adds no dependency, and what
a framework would bring (routing, validation) is a few explicit lines below.

Every refused request gets a 4xx status with a JSON body ``{"error": message}``,
including the ones the standard library refuses itself (a malformed request line,
an unknown method); the only state shared between requests is the read-only model.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from mnist_mlp.errors import ConfigError
from mnist_mlp.serve.api import ApiError, parse_predict

__all__ = ["MAX_BODY", "DigitServer", "make_server"]

MAX_BODY = 8 * 1024 * 1024  # bytes; a phone photo as a base64 data URL fits
_READ_TIMEOUT = 20          # seconds a client may take to send its request
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
# Everything the page loads comes from this server: no CDN, no inline script.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_UNIT_PATH = re.compile(r"/api/unit/([0-9]{1,6})\.png")
_ROUTES = {"/": "GET", "/index.html": "GET", "/api/model": "GET", "/api/sample": "GET",
           "/api/predict": "POST"}
_logger = logging.getLogger("mnist_mlp.serve")


def _static_files():
    """``{name: bytes}`` of the package's static/ directory (package data)."""
    folder = resources.files("mnist_mlp.serve") / "static"
    return {item.name: item.read_bytes() for item in folder.iterdir()
            if item.is_file() and item.name.rsplit(".", 1)[-1] in ("html", "js", "css")}


class DigitServer(ThreadingHTTPServer):
    """A threading HTTP server holding the model, the test digits and the static files."""

    daemon_threads = True       # a hung client never keeps the process alive
    request_queue_size = 128    # many clients connecting at once wait, not fail

    def __init__(self, address, model, samples=None, max_body=MAX_BODY):
        self.model, self.samples, self.max_body = model, samples, max_body
        self.static = _static_files()
        super().__init__(address, _Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(model, host="127.0.0.1", port=8000, *, samples=None, max_body=MAX_BODY):
    """A :class:`DigitServer` bound to ``host:port`` (port 0: any free port); not started.

    Call ``serve_forever()`` on it (in a thread, for tests), then ``shutdown()`` and
    ``server_close()``.

    Raises
    ------
    ConfigError
        The address cannot be bound (port in use, unknown host).
    """
    try:
        return DigitServer((host, port), model, samples=samples, max_body=max_body)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                          "choose another --port or --host") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: a client reuses its connection
    # Headers and body leave in two writes; with Nagle's algorithm on, the second waits
    # for the client's delayed ACK of the first: a 40 ms stall on every keep-alive answer.
    disable_nagle_algorithm = True
    server_version = "mnist-mlp-serve"
    timeout = _READ_TIMEOUT

    # -- dispatch -------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def __getattr__(self, name):
        # The base class answers methods without a do_* handler with 501; any other
        # method (PUT, DELETE, BREW, ...) is the client's mistake: 405, in JSON.
        if name.startswith("do_"):
            return lambda: self._dispatch(name[3:])
        raise AttributeError(name)

    def _dispatch(self, method):
        self._body_read = False
        allowed = None
        if method != "POST" and self._has_body():
            self.close_connection = True  # only a POST's body is read; never parse one as a request
        try:
            path = self._path()
            allowed = "GET" if _UNIT_PATH.fullmatch(path) or path.startswith("/static/") \
                else _ROUTES.get(path)
            if allowed is None:
                raise ApiError(404, f"no such path {path!r}; the page is at /, the API under "
                               "/api/ (model, predict, sample)")
            if method != allowed:
                raise ApiError(405, f"{method} is not allowed on {path}; use {allowed}")
            self._route(method, path)
        except ApiError as exc:
            if self._has_body() and not self._body_read:
                self.close_connection = True  # an unread body must not be taken for a request
            headers = {"Allow": allowed} if exc.status == 405 else {}
            self._send_json(exc.status, {"error": exc.message}, headers)
        except Exception:  # a bug, not the client's fault: say so, keep serving
            _logger.exception("internal error answering %s %s", method, self.path)
            self.close_connection = True
            self._send_json(500, {"error": "internal server error (a bug: see the server log)"})

    def _path(self):
        try:
            return urlsplit(self.path).path
        except ValueError:
            raise ApiError(400, f"cannot parse the request target {self.path[:100]!r}") from None

    def _route(self, method, path):
        server = self.server
        if method == "POST":
            self._predict(self._read_body())
        elif path in ("/", "/index.html"):
            self._send_static("index.html")
        elif path.startswith("/static/"):
            self._send_static(path[len("/static/"):])
        elif path == "/api/model":
            self._send_json(200, server.model.describe() | {"max_body": server.max_body,
                                                             "samples": server.samples is not None})
        elif path == "/api/sample":
            self._sample()
        else:
            self._unit(int(_UNIT_PATH.fullmatch(path).group(1)))

    # -- the API --------------------------------------------------------------------

    def _predict(self, body):
        digit, preprocessed = parse_predict(body)
        model = self.server.model
        answer = model.predict(digit)
        self._send_json(200, {
            "predicted": answer.predicted, "label": model.classes[answer.predicted],
            "probabilities": answer.probabilities.tolist(),
            "image": digit.round().astype(int).tolist(), "preprocessed": preprocessed,
            "units": [{"unit": unit, "activation": value} for unit, value in answer.units],
        })

    def _sample(self):
        samples = self.server.samples
        if samples is None:
            raise ApiError(404, "this server has no test digits to sample")
        try:
            count = len(samples)
        except ValueError as exc:  # DataError: the files are missing; the message says how to fetch
            raise ApiError(404, f"no test digits: {exc}") from None
        index = self._index_param(count)
        if index is None:
            index = samples.random_index()
        pixels, label = samples.get(index)
        self._send_json(200, {"index": index, "label": label, "class": self.server.model.classes[label],
                              "pixels": pixels.astype(int).tolist()})

    def _index_param(self, count):
        values = parse_qs(urlsplit(self.path).query).get("index")
        if not values:
            return None
        text = values[0]
        if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) >= count:
            raise ApiError(400, f"'index' must be a whole number from 0 to {count - 1}; got {text!r}")
        return int(text)

    def _unit(self, unit):
        try:
            png = self.server.model.unit_png(unit)
        except KeyError:
            count = self.server.model.hidden_units
            raise ApiError(404, f"no first-layer unit {unit}; the model has {count}") from None
        self._send(200, png, "image/png", {"Cache-Control": "max-age=3600"})

    # -- HTTP plumbing ------------------------------------------------------------

    def _has_body(self):
        return bool(self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding"))

    def _read_body(self):
        """The request body, at most ``max_body`` bytes; 4xx for anything else."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(411, "chunked bodies are not accepted; send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise ApiError(411, "a POST needs a Content-Length header")
        if not re.fullmatch(r"\s*[0-9]{1,12}\s*", length):
            self.close_connection = True
            raise ApiError(400, f"Content-Length must be a whole number; got {length!r}")
        length = int(length)
        if length > self.server.max_body:
            # The body is never read: close the connection rather than parse it as a request.
            self.close_connection = True
            raise ApiError(413, f"the body has {length:,} bytes; at most "
                           f"{self.server.max_body:,} are accepted")
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) != length:
            self.close_connection = True
            raise ApiError(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _send_static(self, name):
        content = self.server.static.get(name)
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if content is None or suffix not in _TYPES:
            raise ApiError(404, f"no static file {name!r}")
        self._send(200, content, _TYPES[suffix],
                   {"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"})

    def _send_json(self, status, payload, headers=None):
        body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self._send(status, body, "application/json", {"Cache-Control": "no-store", **(headers or {})})

    def _send(self, status, body, content_type, headers):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in headers.items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left; nothing to answer

    def send_error(self, code, message=None, explain=None):
        """The base class's errors (bad request line, header too long, ...) in JSON."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            # Set before the request line was understood: answer with a status line and
            # headers, which an HTTP/0.9 reply would leave out.
            self.request_version = "HTTP/1.0"
        text = message or HTTPStatus(code).phrase
        if code >= 500:  # e.g. 501 or 505 for a request we cannot parse: the client's doing
            code, text = 400, f"{text} ({code})"
        self._send_json(code, {"error": text})

    def log_message(self, format, *args):
        _logger.debug("%s %s", self.address_string(), format % args)
