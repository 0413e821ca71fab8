"""Model and loss construction from a TrainConfig, and the model file's normalisation metadata."""

import math

import numpy as np
import pytest

from mnist_mlp.activations import ACTIVATIONS, Softmax
from mnist_mlp.data.normalize import normalization_metadata, normalize_like
from mnist_mlp.layers import Dropout, Linear
from mnist_mlp.load_data import normalize_images, pixel_stats
from mnist_mlp.loss import (
    LOSSES,
    CrossEntropyLoss,
    FocalLoss,
    HingeLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from mnist_mlp.network import Network
from mnist_mlp.train.build import (
    build_loss,
    build_model,
    loss_from_metadata,
    predict_proba,
)
from mnist_mlp.train.config import TrainConfig


def _linears(model):
    return [layer for layer in model.layer_list if isinstance(layer, Linear)]


def test_architecture_follows_the_config():
    config = TrainConfig(hidden=(32, 16), activation="gelu", dropout=0.25)
    model = build_model(config, np.random.default_rng(0))
    kinds = [type(layer).__name__ for layer in model.layer_list]
    assert kinds == ["Linear", "Gelu", "Dropout", "Linear", "Gelu", "Dropout", "Linear"]
    assert [(l.in_num, l.out_num) for l in _linears(model)] == [(784, 32), (32, 16), (16, 10)]
    assert all(layer.p == 0.25 for layer in model.layer_list if isinstance(layer, Dropout))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_builds_a_working_net(name):
    model = build_model(TrainConfig(hidden=(8,), activation=name), np.random.default_rng(0))
    assert isinstance(model.layer_list[1], ACTIVATIONS[name])
    out = model.forward(np.zeros((3, 784), np.float32))
    assert out.shape == (3, 10) and out.dtype == np.float32


def test_no_dropout_layer_when_dropout_is_zero():
    model = build_model(TrainConfig(hidden=(8, 8)), np.random.default_rng(0))
    assert not any(isinstance(layer, Dropout) for layer in model.layer_list)


@pytest.mark.parametrize("loss, cls, softmax_last", [
    ("mse", MSELoss, False), ("softmax_ce", SoftmaxCrossEntropyLoss, False),
    ("ce", CrossEntropyLoss, True), ("hinge", HingeLoss, False),
    ("softmax_hinge", HingeLoss, True), ("focal", FocalLoss, False),
])
def test_losses_and_softmax_output(loss, cls, softmax_last):
    config = TrainConfig(hidden=(8,), loss=loss, margin=0.5, gamma=1.5)
    assert isinstance(build_loss(config), cls)
    model = build_model(config, np.random.default_rng(0))
    assert isinstance(model.layer_list[-1], Softmax) is softmax_last
    assert set(LOSSES) == {"mse", "softmax_ce", "ce", "hinge", "softmax_hinge", "focal"}


def test_loss_hyperparameters_reach_the_loss():
    assert build_loss(TrainConfig(loss="hinge", margin=0.5)).margin == 0.5
    focal = build_loss(TrainConfig(loss="focal", gamma=0.5, alpha=0.25))
    assert focal.gamma == 0.5
    # A scalar alpha weighs every class the same: a quarter of the unweighted loss.
    logits = np.random.default_rng(0).standard_normal((6, 10))
    target = np.eye(10)[[0, 3, 9, 1, 1, 5]]
    unweighted = build_loss(TrainConfig(loss="focal", gamma=0.5))
    assert focal.forward(logits, target) == pytest.approx(0.25 * unweighted.forward(logits, target))


@pytest.mark.parametrize("init, width, expected_std", [
    ("gaussian", 300, 0.05),                   # the seed's N(0, init_std^2)
    ("he", 300, math.sqrt(2 / 784)),
    ("xavier", 300, math.sqrt(2 / (784 + 300))),
])
def test_initialisation_scale(init, width, expected_std):
    config = TrainConfig(hidden=(width,), init=init, init_std=0.05)
    first = _linears(build_model(config, np.random.default_rng(1)))[0]
    # 235,200 draws: the sample std is within 1% of the true one with overwhelming probability.
    assert first.W.std() == pytest.approx(expected_std, rel=0.01)
    assert abs(first.W.mean()) < 0.01 * expected_std * 10
    assert np.all(first.b == 0)


def test_same_rng_seed_gives_the_same_weights():
    config = TrainConfig(hidden=(16,))
    a = build_model(config, np.random.default_rng(7))
    b = build_model(config, np.random.default_rng(7))
    c = build_model(config, np.random.default_rng(8))
    for (key, wa, _), (_, wb, _), (_, wc, _) in zip(a.named_params(), b.named_params(), c.named_params()):
        assert np.array_equal(wa, wb)
        if key.endswith(".W"):  # biases start at zero whatever the seed
            assert not np.array_equal(wa, wc)


def test_float64_model():
    model = build_model(TrainConfig(hidden=(4,), dtype="float64"), np.random.default_rng(0))
    assert all(param.dtype == np.float64 for _, param, _ in model.named_params())


def test_predict_proba_is_a_distribution_and_matches_argmax():
    rng = np.random.default_rng(0)
    for loss in ("softmax_ce", "ce"):
        model = build_model(TrainConfig(hidden=(8,), loss=loss, dropout=0.5), rng)
        x = rng.standard_normal((25, 784)).astype(np.float32)
        probs = predict_proba(model, x, batch_size=7)
        assert probs.shape == (25, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(probs >= 0)
        model.eval()
        assert np.array_equal(probs.argmax(axis=1), model.forward(x).argmax(axis=1))
        assert model.training is False  # predict_proba restores the mode it found


@pytest.mark.parametrize("method", ["center", "unit", "none"])
def test_normalize_like_matches_the_loader(method):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 784)).astype(np.uint8)
    expected = normalize_images(images, method)
    got = normalize_like(normalization_metadata(method), images.astype(np.float32))
    assert np.array_equal(got, expected)


def test_standard_normalisation_statistics_survive_a_model_file(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(50, 784)).astype(np.uint8)
    stats = pixel_stats(train)
    meta = normalization_metadata("standard", stats)
    model = build_model(TrainConfig(hidden=(4,)), rng)
    model.save(tmp_path / "m.npz", metadata=meta)
    loaded = Network.load(tmp_path / "m.npz")
    images = train[:3].astype(np.float32)
    np.testing.assert_array_equal(normalize_like(loaded.metadata, images),
                                  normalize_images(train[:3], "standard", stats=stats))


def test_loss_from_metadata():
    config = TrainConfig(loss="hinge", margin=0.5)
    loss = loss_from_metadata({"config": config.to_dict()})
    assert isinstance(loss, HingeLoss) and loss.margin == 0.5
    assert loss_from_metadata({}) is None
