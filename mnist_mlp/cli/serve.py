"""``mnist-mlp serve [MODEL]``: a page to draw digits on and see what the network reads.

Without MODEL the report's best model (or the best ``train`` run) is served; see
:mod:`mnist_mlp.serve.find`. ``--train`` trains a quick one first. The server binds
127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from mnist_mlp.cli.options import add_data_options
from mnist_mlp.errors import ConfigError

__all__ = ["register"]


def register(subparsers):
    """Add the ``serve`` subcommand to the ``mnist-mlp`` parser."""
    parser = subparsers.add_parser(
        "serve",
        help="draw digits in the browser and watch the network read them",
        description="Serve a page (and a JSON API) where you draw a digit and see the class "
        "probabilities, the 28x28 image the network receives after the same preprocessing as "
        "`predict`, and its most active hidden units. MODEL defaults to the best model of the "
        "report in ./report, else the best run in ./runs.",
    )
    parser.add_argument("model", nargs="?", type=Path, metavar="MODEL",
                        help="model file (.npz); default: the best one in report/ or runs/")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--train", action="store_true",
                        help="first train a quick model (a few seconds) into runs/serve-quick/")
    add_data_options(parser)  # --data-dir: for --train and the sample digits
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sample button's random digits (default 0)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.set_defaults(func=_run)


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number; got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535; got {value}")
    return value


def _choose_model(args):
    from mnist_mlp.serve.find import find_default_model, train_quick_model

    if args.train and args.model is not None:
        raise ConfigError("give a MODEL or --train, not both")
    if args.model is not None:
        return args.model, "given on the command line"
    if args.train:
        log = logging.getLogger("mnist_mlp.train")
        log.info("training a quick model (one hidden layer of 128 units, 4 epochs)")
        return train_quick_model(data_dir=args.data_dir, progress=True, log=log.info), "just trained"
    return find_default_model()


def _run(args):
    from mnist_mlp.serve import ServedModel, TestDigits, make_server

    path, why = _choose_model(args)
    model = ServedModel.load(path)
    samples = TestDigits(model.dataset, args.data_dir, seed=args.seed)
    server = make_server(model, args.host, args.port, samples=samples)
    logging.getLogger("mnist_mlp.serve").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    print(f"model: {path} ({why}); {model.describe()['summary']}", file=sys.stderr)
    if not _is_loopback(args.host):
        print(f"note: listening on {args.host}: other machines can reach this page",
              file=sys.stderr)
    _stop_on_signals()  # before "serving on": whoever reads that line may signal at once
    try:
        print(f"serving on {server.url}  (Ctrl+C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def _stop_on_signals():
    """Ctrl+C and SIGTERM stop the server cleanly.

    A shell starts background jobs (``mnist-mlp serve &``, nohup, CI scripts) with SIGINT
    ignored, and Python then never raises KeyboardInterrupt: restore the default handler,
    and treat SIGTERM, what service managers send, the same way.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
