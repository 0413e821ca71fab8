"""Optimisers against hand-computed steps, checkpoint round trips, schedules and errors.

Expected values are computed here from the published formulas, step by step in
float64 with plain Python/NumPy arithmetic (scikit-learn's test_stochastic_optimizers
style), independently of the in-place code under test.
"""

import math

import numpy as np
import pytest

from mnist_mlp.errors import ConfigError
from mnist_mlp.layers import Linear
from mnist_mlp.network import Network
from mnist_mlp.optim import (
    OPTIMIZERS,
    SCHEDULES,
    SGD,
    Adam,
    AdamW,
    make_optimizer,
    make_schedule,
)

W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
B0 = np.array([0.1, -0.3])
# Gradients of three successive steps, one pair (dW, db) per step.
GRADS = [
    (np.array([[0.2, -0.4], [1.0, 0.0]]), np.array([0.5, -0.5])),
    (np.array([[-0.1, 0.3], [0.5, 2.0]]), np.array([0.0, 0.25])),
    (np.array([[0.05, 0.05], [-1.0, 1.0]]), np.array([-0.2, 0.1])),
]


def _run(optimizer, grads=GRADS, dtype=np.float64, lrs=None):
    """Apply ``optimizer`` to copies of W0, B0 for each gradient pair; return the params."""
    w, b = W0.astype(dtype), B0.astype(dtype)
    for i, (gw, gb) in enumerate(grads):
        pairs = [("w", w, gw.astype(dtype)), ("b", b, gb.astype(dtype))]
        optimizer.step(pairs, lr=None if lrs is None else lrs[i])
    return w, b


def _expected_sgd(lr, mu, wd, nesterov):
    out = []
    for p0, index in ((W0, 0), (B0, 1)):
        w, v = p0.copy(), np.zeros_like(p0)
        for grads in GRADS:
            d = grads[index] + wd * w
            v = mu * v + d
            w = w - lr * (d + mu * v if nesterov else v)
        out.append(w)
    return out


@pytest.mark.parametrize("mu, wd, nesterov", [(0.0, 0.0, False), (0.9, 0.0, False),
                                               (0.5, 0.01, False), (0.9, 0.1, True),
                                               (0.0, 0.2, False), (0.7, 0.0, True)])
def test_sgd_matches_hand_computed_steps(mu, wd, nesterov):
    w, b = _run(SGD(0.1, momentum=mu, nesterov=nesterov, weight_decay=wd))
    exp_w, exp_b = _expected_sgd(0.1, mu, wd, nesterov)
    np.testing.assert_allclose(w, exp_w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b, exp_b, rtol=1e-13, atol=1e-15)


def test_sgd_one_step_by_hand():
    # w = 2, g = 0.5, lr = 0.1, wd = 0.1: d = 0.5 + 0.2 = 0.7 and w = 2 - 0.07 = 1.93.
    w = np.array([2.0])
    SGD(0.1, momentum=0.9, weight_decay=0.1).step([("w", w, np.array([0.5]))])
    assert w[0] == pytest.approx(1.93, abs=1e-15)
    # Nesterov with a fresh velocity: v = d = 0.7, step lr * (d + mu v) = 0.1 * 1.33.
    w = np.array([2.0])
    SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1).step([("w", w, np.array([0.5]))])
    assert w[0] == pytest.approx(2 - 0.133, abs=1e-15)


@pytest.mark.parametrize("mu, wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 5e-4), (0.0, 1e-3)])
def test_seed_update_follows_the_sgd_formula_and_diff_w_is_its_velocity(mu, wd):
    """Linear.update(config), the seed's path, against v = mu v + g + wd w, w -= lr v by hand.

    The config changes between steps (as a seed-style schedule would), and ``diff_W`` is
    the velocity of the optimiser behind the layer.
    """
    rng = np.random.default_rng(7)
    layer = Linear("fc", 4, 3, dtype=np.float64, rng=rng)
    w, v = layer.W.copy(), np.zeros_like(layer.W)
    for lr in (0.05, 0.05, 0.02, 0.05, 0.01):
        g = rng.standard_normal(w.shape)
        layer.grad_W[...] = g
        layer.grad_b[...] = 0.0
        layer.update({"learning_rate": lr, "momentum": mu, "weight_decay": wd})
        v = mu * v + g + wd * w if mu else g + wd * w
        w = w - lr * v
        np.testing.assert_allclose(layer.W, w, rtol=0, atol=1e-14)
        if mu:
            np.testing.assert_allclose(layer.diff_W, v, rtol=0, atol=1e-14)


def test_sgd_on_network_equals_seed_update():
    def net():
        return Network().add(Linear("fc", 6, 3, rng=np.random.default_rng(0)))
    seed_net, opt_net = net(), net()
    config = {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
    opt = SGD(0.1, momentum=0.9, weight_decay=1e-3)
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    for _ in range(4):
        for model in (seed_net, opt_net):
            model.forward(x)
            model.backward(np.ones((5, 3), np.float32))
        seed_net.update(config)
        opt.step(opt_net.named_params())
    for (_, p, _), (_, q, _) in zip(seed_net.named_params(), opt_net.named_params()):
        assert np.array_equal(p, q)


def _expected_adam(lr, b1, b2, eps, wd, decoupled):
    out = []
    for p0, index in ((W0, 0), (B0, 1)):
        w, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for t, grads in enumerate(GRADS, 1):
            g = grads[index]
            if decoupled:
                w = w - lr * wd * w
            else:
                g = g + wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


@pytest.mark.parametrize("cls, wd", [(Adam, 0.0), (Adam, 0.1), (AdamW, 0.0), (AdamW, 0.1)])
def test_adam_family_matches_hand_computed_steps(cls, wd):
    # eps on the scale of the gradients, so it matters; the eps placement (after the
    # bias-corrected sqrt) follows PyTorch and the paper's Algorithm 1.
    opt = cls(learning_rate=0.01, beta1=0.8, beta2=0.9, eps=1e-2, weight_decay=wd)
    w, b = _run(opt)
    exp_w, exp_b = _expected_adam(0.01, 0.8, 0.9, 1e-2, wd, decoupled=cls is AdamW)
    np.testing.assert_allclose(w, exp_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b, exp_b, rtol=1e-12, atol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    """Bias correction: m_hat = g and v_hat = g^2 after one step, so the step is lr * sign(g)."""
    g = np.array([3.0, -0.002, 1e-3, -250.0], np.float32)
    w = np.zeros(4, np.float32)
    Adam(learning_rate=0.01, eps=1e-12).step([("w", w, g)])
    np.testing.assert_allclose(w, -0.01 * np.sign(g), rtol=1e-5)
    # A zero gradient does not move (0 / (0 + eps)).
    w = np.ones(2, np.float32)
    Adam(learning_rate=0.01).step([("w", w, np.zeros(2, np.float32))])
    assert np.array_equal(w, np.ones(2, np.float32))


def test_adamw_decay_is_decoupled():
    """With a zero gradient, AdamW only shrinks the weights, by exactly (1 - lr * wd) per step."""
    w = np.array([1.0, -2.0, 4.0])
    opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step([("w", w, np.zeros(3))])
    np.testing.assert_allclose(w, np.array([1.0, -2.0, 4.0]) * (1 - 0.05) ** 3, rtol=1e-15)
    # Adam's coupled L2 instead feeds wd*w through the moments: first step is lr*sign(w).
    w = np.array([1.0, -2.0, 4.0])
    Adam(learning_rate=0.1, weight_decay=0.5).step([("w", w, np.zeros(3))])
    np.testing.assert_allclose(w, [0.9, -1.9, 3.9], rtol=1e-7)


@pytest.mark.parametrize("name, kwargs", [("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
                                          ("sgd", {"learning_rate": 0.1, "momentum": 0.9,
                                                   "nesterov": True}),
                                          ("adam", {"weight_decay": 1e-3}),
                                          ("adamw", {})])
def test_state_dict_round_trip_continues_identically(name, kwargs, tmp_path):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(6)]
    w = rng.standard_normal((4, 3)).astype(np.float32)
    straight = make_optimizer(name, **kwargs)
    w_straight = w.copy()
    for g in grads:
        straight.step([("layer0.W", w_straight, g)])

    first = make_optimizer(name, **kwargs)
    w_resumed = w.copy()
    for g in grads[:3]:
        first.step([("layer0.W", w_resumed, g)])
    np.savez(tmp_path / "opt.npz", **first.state_dict())  # as a checkpoint would
    first.step([("layer0.W", w_resumed.copy(), grads[3])])  # the snapshot must not follow
    resumed = make_optimizer(name, **kwargs)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as archive:
        resumed.load_state_dict(dict(archive))
    assert resumed.step_count == 3
    for g in grads[3:]:
        resumed.step([("layer0.W", w_resumed, g)])
    assert np.array_equal(w_resumed, w_straight)


def test_state_dict_contents_and_bad_state():
    opt = SGD(0.1, momentum=0.5)
    opt.step([("a", np.zeros(2), np.ones(2))])
    state = opt.state_dict()
    assert set(state) == {"optimizer", "step", "momentum.a"}
    np.testing.assert_array_equal(state["momentum.a"], [1.0, 1.0])
    with pytest.raises(ValueError, match="'sgd'"):
        Adam().load_state_dict(state)
    with pytest.raises(ValueError, match="unknown state entry 'velocity.a'"):
        SGD(0.1, momentum=0.5).load_state_dict({"step": 1, "velocity.a": np.ones(2)})
    with pytest.raises(ValueError, match="no 'step'"):
        SGD(0.1).load_state_dict({})
    wrong = SGD(0.1, momentum=0.5)
    wrong.load_state_dict({"step": 1, "momentum.a": np.ones(3)})
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        wrong.step([("a", np.zeros(2), np.ones(2))])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_float32_preserved_in_place(name, weight_decay):
    w = np.ones((3, 2), np.float32)
    before = w
    opt = make_optimizer(name, learning_rate=0.1, weight_decay=weight_decay)
    for _ in range(2):
        opt.step([("w", w, np.full((3, 2), 0.5, np.float32))])
    assert w is before and w.dtype == np.float32
    assert np.all(w < 1)  # it did move
    for key, value in opt.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


def test_lr_override_scales_the_step():
    w = np.array([1.0])
    opt = SGD(0.1)
    opt.step([("w", w, np.array([1.0]))], lr=0.5)
    assert w[0] == 0.5
    opt.step([("w", w, np.array([1.0]))], lr=0.0)  # a schedule may end at zero
    assert w[0] == 0.5
    with pytest.raises(ValueError, match="'lr' parameter must be a finite number >= 0; got -1"):
        opt.step([("w", w, np.array([1.0]))], lr=-1)


@pytest.mark.parametrize("name, kwargs, message", [
    ("sgd", {"learning_rate": 0}, "'learning_rate' parameter must be a finite number > 0; got 0"),
    ("sgd", {"learning_rate": -0.1}, "'learning_rate' parameter must be a finite number > 0; got -0.1"),
    ("sgd", {"learning_rate": float("nan")}, "'learning_rate' parameter must be a finite"),
    ("sgd", {"learning_rate": 0.1, "momentum": 1.5}, r"'momentum' parameter must be in \[0, 1\); got 1.5"),
    ("sgd", {"learning_rate": 0.1, "momentum": -0.1}, r"'momentum' .* got -0.1"),
    ("sgd", {"learning_rate": 0.1, "nesterov": True}, "'nesterov' parameter needs momentum > 0"),
    ("sgd", {"learning_rate": 0.1, "weight_decay": -1}, "'weight_decay' parameter must be a finite number >= 0; got -1"),
    ("adam", {"beta1": 1.0}, r"'beta1' parameter must be in \[0, 1\); got 1.0"),
    ("adamw", {"beta2": -0.5}, r"'beta2' parameter must be in \[0, 1\); got -0.5"),
    ("adam", {"eps": 0}, "'eps' parameter must be a finite number > 0; got 0"),
    ("adam", {"momentum": 0.9}, "'momentum' parameter is not accepted by the 'adam' optimizer"),
])
def test_invalid_hyperparameters(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_optimizer(name, **kwargs)


def test_unknown_optimizer_lists_choices():
    choices = r"choose one of: adam, adamw, sgd"
    with pytest.raises(ValueError, match=r"Unknown optimizer 'rmsprop'; " + choices):
        make_optimizer("rmsprop")
    assert isinstance(make_optimizer("AdamW"), AdamW)


def test_schedule_known_values():
    constant = make_schedule("constant", 0.1, total_epochs=5)
    assert [constant(e) for e in range(5)] == [0.1] * 5
    # step: default step_size = 9 // 3 = 3, gamma 0.1.
    step = make_schedule("step", 1.0, total_epochs=9)
    assert [step(e) for e in range(9)] == pytest.approx([1, 1, 1, .1, .1, .1, .01, .01, .01])
    step2 = make_schedule("step", 0.8, total_epochs=6, step_size=2, gamma=0.5)
    assert [step2(e) for e in range(6)] == pytest.approx([0.8, 0.8, 0.4, 0.4, 0.2, 0.2])
    # cosine over T = 4: (1 + cos(pi e / 4)) / 2 = 1, (2 + sqrt2)/4, 1/2, (2 - sqrt2)/4; 0 at T.
    cosine = make_schedule("cosine", 2.0, total_epochs=4)
    r2 = math.sqrt(2)
    assert [cosine(e) for e in range(5)] == pytest.approx([2.0, (2 + r2) / 2, 1.0, (2 - r2) / 2, 0.0])
    assert cosine(10) == 0.0


def test_schedule_warmup():
    # Warm-up W = 2 of T = 6: 1/3, 2/3 of base, then cosine over the 4 remaining epochs.
    sched = make_schedule("cosine", 0.3, total_epochs=6, warmup_epochs=2)
    assert [sched(e) for e in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert sched(4) == pytest.approx(0.15)
    assert sched(1.5) == pytest.approx(0.25)  # fractional epochs: linear between
    step = make_schedule("step", 1.0, total_epochs=7, warmup_epochs=1)  # step_size (7-1)//3 = 2
    assert [step(e) for e in range(7)] == pytest.approx([0.5, 1, 1, .1, .1, .01, .01])


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "linear"}, r"Unknown schedule 'linear'; choose one of: constant, cosine, step"),
    ({"base_lr": 0}, "'base_lr' parameter must be a finite number > 0; got 0"),
    ({"total_epochs": 0}, "'total_epochs' parameter must be an integer >= 1; got 0"),
    ({"warmup_epochs": 5}, r"'warmup_epochs' parameter must be < total_epochs \(5\); got 5"),
    ({"step_size": 0}, "'step_size' parameter must be an integer >= 1; got 0"),
    ({"gamma": 1.5}, r"'gamma' parameter must be in \(0, 1\]; got 1.5"),
])
def test_schedule_errors(kwargs, message):
    args = {"name": "step", "base_lr": 0.1, "total_epochs": 5, **kwargs}
    with pytest.raises(ConfigError, match=message):
        make_schedule(**args)
    with pytest.raises(ValueError, match="'epoch' parameter must be a finite number >= 0; got -1"):
        make_schedule("constant", 0.1, 3)(-1)


def test_registries():
    assert sorted(SCHEDULES) == ["constant", "cosine", "step"]
    assert OPTIMIZERS == {"sgd": SGD, "adam": Adam, "adamw": AdamW}
