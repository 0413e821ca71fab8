"""``mnist-mlp serve``: draw a digit in the browser and watch the network read it.

:mod:`.server` (HTTP routes, the page's static files), :mod:`.api` (what a request may
hold), :mod:`.model` (predict, describe, first-layer units), :mod:`.samples` (test
digits for the sample button) and :mod:`.find` (which model to serve by default).
"""

from mnist_mlp.serve.find import find_default_model, train_quick_model
from mnist_mlp.serve.model import ServedModel
from mnist_mlp.serve.samples import TestDigits
from mnist_mlp.serve.server import MAX_BODY, DigitServer, make_server

__all__ = [
           "MAX_BODY",
           "DigitServer",
           "ServedModel",
           "TestDigits",
           "find_default_model",
           "make_server",
           "train_quick_model",
]
