"""The trainer: configuration checks, stratified splits, History, early stopping,
divergence, checkpoints, and that the test set never influences training.

Everything runs on small synthetic data (a few hundred 784-pixel samples), so
the whole file takes seconds.
"""

import json
import math

import numpy as np
import pytest

from mnist_mlp.errors import ConfigError, DataError, DivergenceError
from mnist_mlp.fileio import atomic_write
from mnist_mlp.layers import Linear
from mnist_mlp.loss import SoftmaxCrossEntropyLoss
from mnist_mlp.network import Network
from mnist_mlp.report.plots import plot_history
from mnist_mlp.solve_net import train_net
from mnist_mlp.train import trainer
from mnist_mlp.train.build import build_loss, build_model
from mnist_mlp.train.config import TrainConfig
from mnist_mlp.train.data import split_indices, stratified_order
from mnist_mlp.train.history import RECORD_KEYS, History
from mnist_mlp.train.trainer import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    evaluate,
    random_streams,
    train,
)


def synthetic(n_train=600, n_test=200, seed=0, noise=1.0, random_labels=False):
    """Ten Gaussian clusters in 784 dimensions, in the loader's (x, x, y, y) order."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 784)).astype(np.float32) * 0.15

    def make(n):
        y = rng.permutation(np.arange(n) % 10)
        x = centres[y] + noise * 0.15 * rng.standard_normal((n, 784))
        if random_labels:
            y = rng.integers(0, 10, n)
        return x.astype(np.float32), y.astype(np.int64)

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return train_x, test_x, train_y, test_y


def small(**overrides):
    settings = dict(hidden=(16,), epochs=3, batch_size=50, validation_size=100, learning_rate=0.05,
                    schedule="constant", weight_decay=0.0, disp_freq=4)
    settings.update(overrides)
    return TrainConfig(**settings)


def quiet_train(config, out_dir=None, data=None, **kwargs):
    kwargs.setdefault("log", lambda line: None)
    return train(config, out_dir, data=synthetic() if data is None else data, progress=False, **kwargs)


def weights(model):
    return {key: param.copy() for key, param, _ in model.named_params()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, pattern", [
    ("dropout", 1.5, r"The 'dropout' parameter must be in \[0, 1\); got 1.5\."),
    ("dropout", -0.1, r"'dropout'.*got -0.1"),
    ("learning_rate", 0.0, r"'learning_rate' parameter must be a finite number > 0; got 0.0"),
    ("learning_rate", -1.0, r"'learning_rate'.*got -1.0"),
    ("learning_rate", float("nan"), r"'learning_rate'.*got nan"),
    ("batch_size", 0, r"'batch_size' parameter must be an integer >= 1; got 0"),
    ("batch_size", 2.5, r"'batch_size'.*got 2.5"),
    ("epochs", 0, r"'epochs'.*got 0"),
    ("epochs", True, r"'epochs'.*got True"),
    ("hidden", "0", r"'hidden' parameter must be one or more positive integers.*got '0'"),
    ("hidden", "abc", r"'hidden'.*got 'abc'"),
    ("hidden", (256, 0), r"'hidden'.*got \(256, 0\)"),
    ("hidden", (), r"'hidden'.*got \(\)"),
    ("activation", "tanh", r"Unknown activation 'tanh'; choose one of: gelu, relu, selu, sigmoid, swish"),
    ("loss", "l1", r"Unknown loss 'l1'; choose one of: ce, focal, hinge, mse, softmax_ce, softmax_hinge"),
    ("optimizer", "rmsprop", r"Unknown optimizer 'rmsprop'; choose one of: adam, adamw, sgd"),
    ("schedule", "linear", r"Unknown schedule 'linear'; choose one of: constant, cosine, step"),
    ("init", "zeros", r"Unknown init 'zeros'; choose one of: gaussian, he, xavier"),
    ("dataset", "cifar", r"Unknown dataset 'cifar'"),
    ("momentum", 1.0, r"'momentum' parameter must be in \[0, 1\); got 1.0"),
    ("margin", 0, r"'margin'.*got 0"),
    ("alpha", [1.0, 2.0], r"'alpha'.*list of 10"),
    ("validation_size", -1, r"'validation_size'.*got -1"),
    ("train_subset", 0, r"'train_subset' parameter must be an integer >= 1 or None; got 0"),
    ("dtype", "float16", r"Unknown dtype 'float16'"),
    ("augment", "yes", r"'augment' parameter must be true or false; got 'yes'"),
])
def test_invalid_settings_are_refused_with_key_rule_and_value(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**{key: value})


@pytest.mark.parametrize("settings, pattern", [
    (dict(early_stopping=True, validation_size=0), r"'early_stopping'.*validation_size > 0"),
    (dict(epochs=3, warmup_epochs=3), r"'warmup_epochs' parameter must be < epochs \(3\); got 3"),
    (dict(nesterov=True, momentum=0.0), r"'nesterov'.*momentum > 0"),
])
def test_inconsistent_settings_are_refused(settings, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig(**settings)


def test_from_dict_refuses_unknown_keys_and_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"Unknown configuration key 'lr' \(did you mean 'learning_rate'\?\); "
                                          r"valid keys: dataset, .*learning_rate"):
        TrainConfig.from_dict({"lr": 0.1})


def test_hidden_sizes_are_parsed():
    assert TrainConfig(hidden="512, 256").hidden == (512, 256)
    assert TrainConfig(hidden=[64]).hidden == (64,)
    assert TrainConfig(hidden=32).hidden == (32,)


def test_to_dict_round_trips_through_json_and_hash_is_stable():
    config = TrainConfig(hidden=(64, 32), loss="focal", alpha=[0.5] * 10, early_stopping=True)
    data = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(data) == config
    assert TrainConfig.from_dict(data).config_hash() == config.config_hash()
    assert TrainConfig(seed=1).config_hash() != TrainConfig(seed=2).config_hash()
    assert len(config.config_hash()) == 16


# -- stratified splits ----------------------------------------------------------------------


def test_every_prefix_of_the_stratified_order_is_stratified():
    rng = np.random.default_rng(3)
    labels = rng.choice(10, size=1000, p=np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum())
    order = stratified_order(labels, np.random.default_rng(0))
    assert np.array_equal(np.sort(order), np.arange(1000))
    fractions = np.bincount(labels, minlength=10) / len(labels)
    for m in (10, 57, 100, 333, 999):
        counts = np.bincount(labels[order[:m]], minlength=10)
        assert np.all(np.abs(counts - m * fractions) <= 1.0 + 1e-9), (m, counts, m * fractions)


def test_split_is_seeded_disjoint_and_sized():
    labels = np.repeat(np.arange(10), 50)
    train_a, val_a = split_indices(labels, 100, None, np.random.default_rng(5))
    train_b, val_b = split_indices(labels, 100, None, np.random.default_rng(5))
    _, val_c = split_indices(labels, 100, None, np.random.default_rng(6))
    assert np.array_equal(val_a, val_b) and np.array_equal(train_a, train_b)
    assert not np.array_equal(val_a, val_c)
    assert len(val_a) == 100 and len(train_a) == 400
    assert not set(train_a) & set(val_a)
    assert np.array_equal(np.bincount(labels[val_a]), np.full(10, 10))
    subset, _ = split_indices(labels, 100, 40, np.random.default_rng(5))
    assert len(subset) == 40 and set(subset) <= set(train_a)
    assert np.array_equal(np.bincount(labels[subset]), np.full(10, 4))


@pytest.mark.parametrize("settings, pattern", [
    (dict(validation_size=600), r"'validation_size' parameter must be <= 599"),
    (dict(train_subset=501), r"'train_subset' parameter must be <= 500"),
    (dict(test_subset=201), r"'test_subset' parameter must be <= 200"),
])
def test_sizes_beyond_the_data_are_refused_before_training(settings, pattern):
    with pytest.raises(ConfigError, match=pattern):
        quiet_train(small(**settings))


def test_malformed_data_is_refused():
    train_x, test_x, train_y, test_y = synthetic()
    with pytest.raises(DataError, match="784-column"):
        quiet_train(small(), data=(train_x[:, :100], test_x, train_y, test_y))
    with pytest.raises(DataError, match="labels must be integers in"):
        quiet_train(small(), data=(train_x, test_x, train_y + 5, test_y))


# -- training ------------------------------------------------------------------------------


def test_training_learns_and_records_every_epoch():
    model, history = quiet_train(small(epochs=4))
    assert [r["epoch"] for r in history.records] == [1, 2, 3, 4]
    for record in history.records:
        assert set(RECORD_KEYS) <= set(record)
        assert record["seconds"] > 0 and record["lr"] == 0.05
    final = history.final()
    assert final is history.records[-1] and history.best_epoch == 4 and not history.stopped_early
    assert final["test_acc"] > 0.9 and final["val_acc"] > 0.9
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    # 500 training samples / 50 = 10 iterations an epoch, logged every 4: 4, 8, 10, 14, ...
    assert [entry["iteration"] for entry in history.iterations[:4]] == [4, 8, 10, 14]
    assert history.iterations[-1]["iteration"] == 40


def test_recorded_metrics_match_an_independent_evaluation():
    data = synthetic()
    model, history = quiet_train(small(validation_size=0), data=data)
    test_x, test_y = data[1], data[3]
    model.eval()
    out = model.forward(test_x)
    accuracy = np.mean(out.argmax(axis=1) == test_y)
    loss = SoftmaxCrossEntropyLoss().forward(out, np.eye(10, dtype=np.float32)[test_y])
    assert history.final()["test_acc"] == pytest.approx(accuracy)
    assert history.final()["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert history.final()["val_loss"] is None


def test_same_seed_same_bits_and_a_different_seed_differs():
    config = small(dropout=0.3, augment=True)
    first, _ = quiet_train(config)
    second, _ = quiet_train(config)
    third, _ = quiet_train(small(dropout=0.3, augment=True, seed=1))
    assert_same_weights(weights(first), weights(second))
    assert not np.array_equal(weights(first)["layer0.W"], weights(third)["layer0.W"])


def test_test_labels_never_influence_training():
    """The seed: "any information about testing samples should never be introduced"."""
    train_x, test_x, train_y, test_y = synthetic()
    permuted = np.random.default_rng(1).permutation(test_y)
    assert np.mean(permuted == test_y) < 0.5
    config = small(epochs=4, dropout=0.2, augment=True, early_stopping=True, patience=1,
                   schedule="cosine", test_subset=150)
    model_a, history_a = quiet_train(config, data=(train_x, test_x, train_y, test_y))
    model_b, history_b = quiet_train(config, data=(train_x, test_x, train_y, permuted))
    assert_same_weights(weights(model_a), weights(model_b))
    assert history_a.best_epoch == history_b.best_epoch
    assert history_a.column("val_loss") == history_b.column("val_loss")
    # The test metrics were computed from the labels given: they differ.
    assert history_a.column("test_acc") != history_b.column("test_acc")


def test_augmentation_transforms_every_training_batch(monkeypatch):
    calls = []
    real = trainer.augment_batch

    def spy(x, rng, **kwargs):
        calls.append(x.shape)
        return real(x, rng, **kwargs)

    monkeypatch.setattr(trainer, "augment_batch", spy)
    quiet_train(small(epochs=2, augment=True))
    assert calls == [(50, 784)] * 20  # 500 training samples, batches of 50, two epochs
    calls.clear()
    quiet_train(small(epochs=2))
    assert calls == []


@pytest.mark.parametrize("optimizer, schedule", [("adam", "step"), ("adamw", "cosine"), ("sgd", "step")])
def test_optimisers_and_schedules(optimizer, schedule):
    config = small(optimizer=optimizer, schedule=schedule, epochs=4, warmup_epochs=1,
                   learning_rate=0.002 if optimizer != "sgd" else 0.05, nesterov=optimizer == "sgd")
    _, history = quiet_train(config)
    lrs = history.column("lr")
    assert lrs[0] < lrs[1]                   # warm-up rises to the base rate
    assert lrs[1] == config.learning_rate    # first epoch after warm-up
    assert lrs[-1] < lrs[1]                  # then step / cosine decay
    assert history.final()["test_acc"] > 0.8


def test_divergence_stops_at_once_and_suggests_a_lower_learning_rate():
    with pytest.raises(DivergenceError, match=r"diverged at epoch 1.*try a lower learning rate"):
        quiet_train(small(learning_rate=1e30, momentum=0.0, loss="mse"))


# -- early stopping -------------------------------------------------------------------------


def test_should_stop_tracks_the_best_validation_loss():
    model = Network().add(Linear("fc", 784, 10, rng=np.random.default_rng(0)))
    run = trainer._Run(model=model, loss=None, optimizer=None, rng=None, history=History())
    config = small(early_stopping=True, patience=2)
    decisions = []
    for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.7, 0.75, 0.71], 1):
        model.layer_list[0].b[:] = epoch  # mark the weights of each epoch
        decisions.append(trainer._should_stop(run, {"epoch": epoch, "val_loss": val_loss}, config))
    assert decisions == [False, False, False, False, False, True]
    assert run.best_epoch == 4 and run.best_loss == 0.7
    assert np.all(run.best_params["layer0.b"] == 4)


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    # Random training labels: the validation loss gets worse as the net memorises them.
    data = synthetic(n_train=300, random_labels=True)
    config = small(early_stopping=True, patience=2, epochs=15, learning_rate=0.2, hidden=(64,))
    model, history = quiet_train(config, data=data)
    val = history.column("val_loss")
    assert history.stopped_early and len(val) < 15
    assert history.best_epoch == int(np.argmin(val)) + 1
    assert history.final()["epoch"] == history.best_epoch
    assert all(v >= val[history.best_epoch - 1] for v in val[history.best_epoch:])
    # Independent truth: the same run cut at the best epoch ends with these weights.
    reference, _ = quiet_train(small(epochs=history.best_epoch, learning_rate=0.2, hidden=(64,)), data=data)
    assert_same_weights(weights(model), weights(reference))


# -- files ---------------------------------------------------------------------------------


def test_output_directory_and_history_round_trip(tmp_path):
    model, history = quiet_train(small(), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {MODEL_FILE, HISTORY_FILE, CHECKPOINT_FILE}
    loaded = History.load(tmp_path / HISTORY_FILE)
    assert loaded.records == history.records and loaded.iterations == history.iterations
    assert loaded.best_epoch == history.best_epoch and loaded.config == small().to_dict()
    saved = Network.load(tmp_path / MODEL_FILE)
    assert_same_weights(weights(saved), weights(model))
    assert saved.metadata["normalize"] == "center" and saved.metadata["dataset"] == "mnist"
    assert saved.metadata["config"] == small().to_dict()


def test_history_writes_nan_as_null(tmp_path):
    history = History(records=[dict.fromkeys(("epoch", "seconds", "lr"), 1) | {
        "train_loss": math.nan, "train_acc": 0.1, "val_loss": None, "val_acc": None,
        "test_loss": math.inf, "test_acc": 0.1}])
    history.save(tmp_path / "h.json")
    text = (tmp_path / "h.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert History.load(tmp_path / "h.json").records[0]["train_loss"] is None


def test_history_load_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        History.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable history"):
        History.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"records": []}')
    with pytest.raises(DataError, match="not an mnist-mlp history"):
        History.load(tmp_path / "other.json")


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as handle:
            handle.write("new")
            raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_resume_in_process_continues_to_the_same_weights(tmp_path):
    data = synthetic()
    config = small(epochs=4, dropout=0.2, augment=True, optimizer="adam", learning_rate=0.002,
                   schedule="cosine", early_stopping=True, patience=3)
    full, full_history = quiet_train(config, tmp_path / "full", data=data)
    # Stop after two epochs: the checkpoint of a run configured for 4 epochs but cut short.
    short = tmp_path / "short"
    with pytest.raises(KeyboardInterrupt):
        quiet_train(config, short, data=data, **_interrupt_after(2))
    resumed, history = quiet_train(config, short, data=data, resume=True)
    assert_same_weights(weights(full), weights(resumed))
    def timeless(records):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in records]

    assert timeless(history.records) == timeless(full_history.records)
    assert history.best_epoch == full_history.best_epoch
    assert history.iterations == full_history.iterations


def _interrupt_after(epochs):
    """A log callback that raises once ``epochs`` epoch lines have been logged.

    The checkpoint is written after the epoch's log line, so the interrupt leaves
    the checkpoint of the epoch before: like a kill during the next epoch.
    """
    seen = []

    def log(line):
        if line.startswith("epoch "):
            seen.append(line)
            if len(seen) > epochs:
                raise KeyboardInterrupt

    return {"log": log}


def test_resume_refuses_other_settings_and_missing_checkpoints(tmp_path):
    quiet_train(small(), tmp_path)
    with pytest.raises(ConfigError, match=r"other settings \(epochs: 3 in the checkpoint, 5 now\)"):
        quiet_train(small(epochs=5), tmp_path, resume=True)
    with pytest.raises(DataError, match="no checkpoint to resume"):
        quiet_train(small(), tmp_path / "empty", resume=True)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / CHECKPOINT_FILE).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="checkpoint.npz is a text file, not a training checkpoint"):
        quiet_train(small(), tmp_path / "junk", resume=True)


def test_checkpoint_loads_without_pickle(tmp_path):
    quiet_train(small(), tmp_path)
    with np.load(tmp_path / CHECKPOINT_FILE, allow_pickle=False) as archive:
        header = json.loads(str(archive["__header__"]))
        assert header["epoch"] == 3 and "layer0.W" in {k.split("/", 1)[1] for k in archive.files
                                                        if k.startswith("model/")}
    assert header["rng"]["bit_generator"] == "PCG64"


# -- evaluation and plots -------------------------------------------------------------------


def test_evaluate_confusion_matrix_against_hand_counts():
    # A net that predicts the index of the largest of the first ten inputs.
    layer = Linear("fc", 784, 10, rng=np.random.default_rng(0))
    layer.W[:] = 0
    layer.W[np.arange(10), np.arange(10)] = 1
    model = Network().add(layer)
    rng = np.random.default_rng(0)
    predicted = rng.integers(0, 10, 57)
    labels = np.where(rng.random(57) < 0.7, predicted, rng.integers(0, 10, 57))
    labels[labels == 3] = 4  # class 3 never occurs: its accuracy is NaN
    x = np.zeros((57, 784), np.float32)
    x[np.arange(57), predicted] = 1
    result = evaluate(model, x, labels, batch_size=10, loss=SoftmaxCrossEntropyLoss())
    expected = np.zeros((10, 10), int)
    for t, p in zip(labels, predicted):
        expected[t, p] += 1
    assert np.array_equal(result["confusion"], expected)
    assert np.array_equal(result["predictions"], predicted)
    assert result["accuracy"] == pytest.approx(np.mean(labels == predicted))
    for c in range(10):
        if c == 3:
            assert np.isnan(result["per_class_accuracy"][c])
        else:
            mask = labels == c
            assert result["per_class_accuracy"][c] == pytest.approx(np.mean(predicted[mask] == c))
    logits = x[:, :10]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert result["loss"] == pytest.approx(-np.mean(log_p[np.arange(57), labels]), rel=1e-6)


def test_plot_history_writes_a_png(tmp_path):
    _, history = quiet_train(small(epochs=2))
    path = plot_history(history, tmp_path / "curves.png", title="test run")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    _, no_val = quiet_train(small(epochs=2, validation_size=0))
    plot_history(no_val, tmp_path / "no_val.png")
    assert (tmp_path / "no_val.png").stat().st_size > 1000


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 1e-4), (0.0, 0.0)])
def test_the_seed_loop_and_train_give_bit_identical_weights(momentum, weight_decay):
    """One SGD rule: the seed's train_net + Linear.update(config) and the trainer's
    optimiser, from the same initial weights and batch order, end with the same bits."""
    data = synthetic()
    config = small(validation_size=0, epochs=2, momentum=momentum, weight_decay=weight_decay, seed=4)
    trained, _ = train(config, data=data, progress=False, log=lambda line: None)
    streams = random_streams(config.seed)
    model, loss = build_model(config, streams["init"]), build_loss(config)
    seed_config = {"learning_rate": config.learning_rate, "momentum": momentum,
                   "weight_decay": weight_decay}
    train_x, _, train_y, _ = data
    for _ in range(config.epochs):
        train_net(model, loss, seed_config, train_x.astype(np.float32), train_y,
                  config.batch_size, config.disp_freq, rng=streams["train"])
    pairs = list(zip(model.named_params(), trained.named_params()))
    assert len(pairs) == 4
    for (key, seed_param, _), (_, train_param, _) in pairs:
        assert seed_param.dtype == train_param.dtype == np.float32
        assert np.array_equal(seed_param, train_param), key
