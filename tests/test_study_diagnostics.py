"""Per-epoch diagnostics against closed forms, and the paired random streams of a study.

The diagnostics (mnist_mlp/train/diagnostics.py) are checked on tiny networks
whose answer is known by hand: a unit with a bias of -1000 is dead, a sigmoid
with bias +-10 is saturated, the softmax cross-entropy gradient of a linear
model is X^T (P - T) / N. The pairing tests train real (small) runs and compare
what two runs of the same seed saw.
"""

import numpy as np
import pytest
from fakes import fake_mnist

from mnist_mlp.activations import Relu, Sigmoid, Softmax, softmax
from mnist_mlp.layers import Linear
from mnist_mlp.loss import CrossEntropyLoss, HingeLoss, SoftmaxCrossEntropyLoss
from mnist_mlp.network import Network
from mnist_mlp.train import diagnostics
from mnist_mlp.train import trainer as trainer_module
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.trainer import train

RNG = np.random.default_rng(0)


def _linear(name, n_in, n_out, W=None, b=None):
    layer = Linear(name, n_in, n_out, rng=np.random.default_rng(1), dtype=np.float64)
    if W is not None:
        layer.W[...] = W
    if b is not None:
        layer.b[...] = b
    return layer


def test_dead_relu_and_saturated_sigmoid_fractions_by_hand():
    x = RNG.random((50, 3)) + 0.1                   # positive inputs
    # Units 0, 1: positive weights, alive; units 2, 3: bias -1000, dead on every sample.
    relu_net = Network().add(_linear("fc1", 3, 4, W=np.ones((3, 4)), b=[0, 0, -1e3, -1e3]))
    relu_net.add(Relu("r")).add(_linear("fc2", 4, 10))
    # Zero weights, biases +10, -10, 0, 0: two of four outputs in every row are saturated.
    sig_net = Network().add(_linear("fc1", 3, 4, W=np.zeros((3, 4)), b=[10, -10, 0, 0]))
    sig_net.add(Sigmoid("s")).add(_linear("fc2", 4, 10))
    y = np.arange(50) % 10
    relu = diagnostics.measure(relu_net, SoftmaxCrossEntropyLoss(), x, y)
    sig = diagnostics.measure(sig_net, SoftmaxCrossEntropyLoss(), x, y)
    assert relu["dead_relu"] == [0.5] and relu["saturated_sigmoid"] is None
    assert sig["saturated_sigmoid"] == [0.5] and sig["dead_relu"] is None


def test_gradients_match_the_softmax_cross_entropy_closed_form():
    x = RNG.standard_normal((40, 5))
    y = RNG.integers(0, 10, 40)
    W, b = RNG.standard_normal((5, 10)), RNG.standard_normal(10)
    net = Network().add(_linear("fc", 5, 10, W=W, b=b))
    got = diagnostics.measure(net, SoftmaxCrossEntropyLoss(), x, y)
    P, T = softmax(x @ W + b), np.eye(10)[y]
    assert got["grad_norm"][0] == pytest.approx(np.linalg.norm(x.T @ (P - T) / 40), rel=1e-10)
    per_sample = np.linalg.norm(P - T, axis=1)        # dE^(n)/dlogits = p - t
    correct = (x @ W + b).argmax(axis=1) == y
    assert got["grad_correct"] == pytest.approx(per_sample[correct].mean(), rel=1e-10)
    assert got["grad_wrong"] == pytest.approx(per_sample[~correct].mean(), rel=1e-10)
    assert got["train_eval_acc"] == pytest.approx(correct.mean())
    # A final Softmax layer with cross-entropy on probabilities: the same logit gradient.
    unfused = Network().add(_linear("fc", 5, 10, W=W, b=b)).add(Softmax("sm"))
    other = diagnostics.measure(unfused, CrossEntropyLoss(), x, y)
    assert other["grad_correct"] == pytest.approx(got["grad_correct"], rel=1e-6)


def test_hinge_sends_no_gradient_once_every_margin_is_met():
    y = np.arange(30) % 10
    x = np.eye(10)[y]                               # one-hot inputs
    net = Network().add(_linear("fc", 10, 10, W=100 * np.eye(10), b=np.zeros(10)))
    got = diagnostics.measure(net, HingeLoss(margin=5.0), x, y)
    # True logit 100, the others 0: every margin of 5 is met, every sample is right.
    assert got["zero_grad_correct"] == 1.0 and got["grad_correct"] == 0.0
    assert got["grad_wrong"] is None and got["train_eval_acc"] == 1.0


def _small(**overrides):
    settings = dict(hidden=(16,), epochs=2, batch_size=50, validation_size=100,
                    learning_rate=0.05, schedule="constant", weight_decay=0.0)
    return TrainConfig(**{**settings, **overrides})


def _quiet(config, **kwargs):
    return train(config, data=fake_mnist(), progress=False, log=lambda line: None, **kwargs)


@pytest.fixture
def spy(monkeypatch):
    """Record every run's initial weights and batch order (the real functions still run)."""
    seen = {"init": [], "batches": []}
    real_build, real_iterator = trainer_module.build_model, trainer_module.data_iterator

    def build(config, rng, **kwargs):
        model = real_build(config, rng, **kwargs)
        seen["init"].append([p.copy() for _, p, _ in model.named_params()])
        seen["batches"].append([])
        return model

    def iterator(x, y, batch_size, **kwargs):
        for batch_x, batch_y in real_iterator(x, y, batch_size, **kwargs):
            seen["batches"][-1].append(batch_y.copy())
            yield batch_x, batch_y

    monkeypatch.setattr(trainer_module, "build_model", build)
    monkeypatch.setattr(trainer_module, "data_iterator", iterator)
    return seen


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


def test_runs_of_one_seed_share_batches_and_initial_weights(spy):
    _quiet(_small(seed=3))
    _quiet(_small(seed=3, activation="sigmoid"))
    _quiet(_small(seed=3, dropout=0.5, augment=True))   # draws masks and warps from "noise"
    _quiet(_small(seed=3, hidden=(16, 8)))
    _quiet(_small(seed=4))
    base, sigmoid, noisy, deeper, other = spy["init"]
    assert _same(base, sigmoid) and _same(base, noisy)
    assert np.array_equal(deeper[0], base[0])           # the first layer's shape agrees
    assert not np.array_equal(other[0], base[0])        # another seed, other weights
    batches = spy["batches"]
    assert all(_same(batches[0], batches[i]) for i in (1, 2, 3))
    assert not _same(batches[0], batches[4])


def test_measuring_diagnostics_changes_nothing_in_training(monkeypatch):
    config = _small(dropout=0.3, augment=True)
    measured, _ = _quiet(config)
    monkeypatch.setattr(diagnostics, "measure", lambda *args: {})
    plain, _ = _quiet(config)
    for (key, a, _), (_, b, _) in zip(measured.named_params(), plain.named_params()):
        assert a.tobytes() == b.tobytes(), key


def test_history_records_diagnostics_per_epoch_and_at_the_start():
    _, history = _quiet(_small(hidden=(16, 8)))
    assert set(diagnostics.DIAGNOSTIC_KEYS) <= set(history.initial)
    for record in history.records:
        assert set(diagnostics.DIAGNOSTIC_KEYS) <= set(record)
        assert len(record["grad_norm"]) == 3 and len(record["dead_relu"]) == 2
