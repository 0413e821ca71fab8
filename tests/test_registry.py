"""Adding an activation is one class plus one entry in ACTIVATIONS: configs accept it,
the builder uses it, model files save and load it, and the command line offers it."""

import numpy as np
import pytest

from mnist_mlp.activations import ACTIVATIONS
from mnist_mlp.cli import build_parser
from mnist_mlp.layers import Layer
from mnist_mlp.network import Network
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import train


class LeakyRelu(Layer):
    r""":math:`f(u) = u` for :math:`u > 0`, else :math:`0.1 u`; :math:`f'(u) = 1` or 0.1."""

    def forward(self, input):
        self._saved_for_backward(input)
        return np.where(input > 0, input, input * input.dtype.type(0.1))

    def backward(self, grad_output):
        u = self._saved()
        return grad_output * np.where(u > 0, 1.0, 0.1).astype(grad_output.dtype)


@pytest.fixture
def leaky(monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "leaky", LeakyRelu)


def _clusters(n, rng, centres):
    y = np.arange(n) % 10
    return centres[y] + 0.2 * rng.standard_normal((n, 784)).astype(np.float32), y


def test_a_registered_activation_trains_saves_and_loads(leaky, tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 784)).astype(np.float32) * 0.15
    (train_x, train_y), (test_x, test_y) = _clusters(600, rng, centres), _clusters(200, rng, centres)
    config = TrainConfig(activation="leaky", hidden=(16,), epochs=3, batch_size=50,
                         validation_size=100, learning_rate=0.05)
    model, history = train(config, tmp_path, data=(train_x, test_x, train_y, test_y), progress=False,
                           log=lambda line: None)
    assert isinstance(model.layer_list[1], LeakyRelu)
    assert history.final()["val_acc"] > 0.9  # ten separable clusters; chance is 0.1
    loaded = Network.load(tmp_path / "model.npz")
    assert [type(layer) for layer in loaded.layer_list] == [type(layer) for layer in model.layer_list]
    np.testing.assert_array_equal(loaded.forward(test_x[:5]), model.forward(test_x[:5]))


def test_the_command_line_offers_a_registered_activation(leaky, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    assert "leaky" in capsys.readouterr().out


def test_an_unregistered_activation_is_refused_with_the_table():
    with pytest.raises(ValueError, match="Unknown activation 'leaky'; choose one of: gelu, relu"):
        TrainConfig(activation="leaky")
