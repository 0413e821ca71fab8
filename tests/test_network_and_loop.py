"""Network, model files, the seed's training loop, and seed-style code running unchanged."""

import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_mlp.errors import DataError
from mnist_mlp.layers import Dropout, Gelu, Linear, Relu, Selu, Sigmoid, Softmax, Swish
from mnist_mlp.loss import SoftmaxCrossEntropyLoss
from mnist_mlp.network import Network
from mnist_mlp.solve_net import data_iterator, test_net, train_net

REPO = Path(__file__).resolve().parents[1]


def _blobs(n=600, seed=0):
    """Three well-separated Gaussian clusters in 20 dimensions: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.standard_normal((3, 20)) * 3
    x = centres[labels] + rng.standard_normal((n, 20))
    return x.astype(np.float32), labels


def _small_net(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (Network().add(Linear("fc1", 20, 16, rng=rng, dtype=dtype)).add(Relu("r"))
            .add(Linear("fc2", 16, 3, rng=rng, dtype=dtype)))


def test_data_iterator_covers_every_sample_once_in_batches():
    x, y = np.arange(10)[:, None], np.arange(10)
    batches = list(data_iterator(x, y, 4, rng=np.random.default_rng(0)))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, np.arange(10))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # inputs stay paired with labels


def test_train_net_learns_and_returns_window_averages():
    x, y = _blobs()
    net, loss = _small_net(), SoftmaxCrossEntropyLoss("loss")
    config = {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.0}
    first_loss, first_acc = test_net(net, loss, x, y, 100)
    losses, accs = [], []
    for _ in range(3):
        window_losses, window_accs = train_net(net, loss, config, x, y, 50, 5,
                                               rng=np.random.default_rng(1))
        losses += window_losses
        accs += window_accs
    assert len(window_losses) == 600 // 50 // 5 + 1  # 2 full windows of 5 and 1 of 2
    final_loss, final_acc = test_net(net, loss, x, y, 100)
    assert final_loss < first_loss / 5 and final_acc > 0.97 > first_acc
    assert all(0.0 <= a <= 1.0 for a in accs)


def test_test_net_weighs_a_short_last_batch_by_its_size():
    x, y = _blobs(n=250)
    net, loss = _small_net(), SoftmaxCrossEntropyLoss("loss")
    whole_loss, whole_acc = test_net(net, loss, x, y, 250)
    batched_loss, batched_acc = test_net(net, loss, x, y, 100)
    assert batched_loss == pytest.approx(whole_loss, rel=1e-5)
    assert batched_acc == pytest.approx(whole_acc)


def _all_layer_net():
    rng = np.random.default_rng(3)
    net = Network()
    for layer in (Linear("fc1", 20, 12, rng=rng), Relu("a"), Linear("fc2", 12, 12, rng=rng),
                  Sigmoid("b"), Linear("fc3", 12, 12, rng=rng), Selu("c"), Dropout("d", 0.2),
                  Linear("fc4", 12, 12, rng=rng), Swish("e"), Linear("fc5", 12, 12, rng=rng),
                  Gelu("f"), Linear("fc6", 12, 3, init="xavier", rng=rng), Softmax("s")):
        net.add(layer)
    return net


def test_save_and_load_round_trip(tmp_path):
    net = _all_layer_net().eval()
    path = tmp_path / "model.npz"
    net.save(path, metadata={"normalize": "center"})
    loaded = Network.load(path).eval()
    x, _ = _blobs(n=7)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    assert repr(loaded) == repr(net)
    assert loaded.metadata == {"normalize": "center"}
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind


def test_load_refuses_files_that_need_pickle(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __header__=np.array([{"architecture": []}], dtype=object))
    with pytest.raises(DataError, match="not a readable mnist-mlp model file"):
        Network.load(path)


@pytest.mark.parametrize("content, problem", [(b"not a zip", "is a text file, not a model file"),
                                              (None, "does not exist")])
def test_load_reports_unreadable_files(tmp_path, content, problem):
    path = tmp_path / "model.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=problem):
        Network.load(path)


def test_load_reports_wrong_shapes(tmp_path):
    path = tmp_path / "model.npz"
    _small_net().save(path)
    with zipfile.ZipFile(path) as archive:
        arrays = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
    arrays["layer0.W"] = np.zeros((3, 3), dtype=np.float32)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="layer0.W is missing or has the wrong shape"):
        Network.load(path)


SEED_STYLE_SCRIPT = textwrap.dedent("""
    # Written the way the seed's run_mlp.py is: nothing below knows about mnist_mlp's extras.
    from mnist_mlp.network import Network
    from mnist_mlp.utils import LOG_INFO
    from mnist_mlp.layers import Relu, Sigmoid, Linear, Gelu, Selu, Swish
    from mnist_mlp.loss import MSELoss, SoftmaxCrossEntropyLoss, HingeLoss
    from mnist_mlp.solve_net import train_net, test_net
    import numpy as np

    rs = np.random.RandomState(0)
    train_data = rs.randn(2000, 784).astype('float32')
    train_label = (train_data[:, :10].argmax(axis=1)).astype('int64')
    test_data, test_label = train_data[:500], train_label[:500]

    model = Network()
    model.add(Linear('fc1', 784, 64, 0.01))
    model.add(Gelu('gelu'))
    model.add(Linear('fc2', 64, 10, 0.01))
    loss = SoftmaxCrossEntropyLoss(name='loss')

    config = {
        'learning_rate': 0.1,
        'weight_decay': 0.0001,
        'momentum': 0.9,
        'batch_size': 100,
        'max_epoch': 3,
        'disp_freq': 10,
        'test_epoch': 1
    }

    for epoch in range(config['max_epoch']):
        LOG_INFO('Training @ %d epoch...' % (epoch))
        train_net(model, loss, config, train_data, train_label, config['batch_size'], config['disp_freq'])
        if epoch % config['test_epoch'] == 0:
            LOG_INFO('Testing @ %d epoch...' % (epoch))
            test_net(model, loss, test_data, test_label, config['batch_size'])
""")


def test_seed_style_script_runs_unchanged_and_repeats_exactly(tmp_path):
    script = tmp_path / "seed_style.py"
    script.write_text(SEED_STYLE_SCRIPT)

    def run():
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        # Drop the wall-clock timestamps; every number must repeat.
        return [line.split(" ", 1)[1] for line in result.stdout.splitlines()]

    first = run()
    assert first == run()
    tests = [float(m.group(1)) for m in map(re.compile(r"total acc ([0-9.]+)").search, first) if m]
    assert len(tests) == 3 and tests[-1] > 0.9  # the label is a simple function of the input
    assert sum("Training iter" in line for line in first) == 3 * 2


def test_run_mlp_rejects_bad_epochs_in_one_line():
    result = subprocess.run([sys.executable, str(REPO / "run_mlp.py"), "--epochs", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--epochs must be a positive integer; got 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("mode", [True, False])
def test_test_net_evaluates_without_dropout_and_restores_the_mode(mode):
    x, y = _blobs(n=200)
    rng = np.random.default_rng(8)
    net = (Network().add(Linear("fc1", 20, 16, rng=rng)).add(Dropout("d", 0.5, rng=rng))
           .add(Linear("fc2", 16, 3, rng=rng))).train(mode)
    loss = SoftmaxCrossEntropyLoss("loss")
    first = test_net(net, loss, x, y, 50)
    assert test_net(net, loss, x, y, 50) == first  # no random mask: the same numbers twice
    assert net.training is mode
    with pytest.raises(ZeroDivisionError):
        with net.evaluating():
            assert not net.training
            raise ZeroDivisionError  # the mode comes back even when the block fails
    assert net.training is mode
