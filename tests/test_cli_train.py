"""``mnist-mlp train``, ``evaluate`` and ``predict`` end to end on a tiny synthetic dataset
written in the real IDX format, including a real SIGKILL in the middle of a run and
``--resume``.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mnist_mlp.cli import main
from mnist_mlp.load_data import write_idx
from mnist_mlp.network import Network
from mnist_mlp.train.history import History
from mnist_mlp.train.trainer import CHECKPOINT_FILE


def write_dataset(directory, n_train=700, n_test=200, seed=0):
    """Ten blurred-blob "digits" as uint8 28x28 images in the four MNIST IDX files."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:28, 0:28]
    angles = 2 * np.pi * np.arange(10) / 10  # ten blob positions on a circle, 5.6 px apart
    centres = 13.5 + 9 * np.stack([np.sin(angles), np.cos(angles)], axis=1)

    def make(n):
        labels = rng.permutation(np.arange(n) % 10)
        jitter = rng.normal(0, 0.7, size=(n, 2))
        r = centres[labels, 0, None, None] + jitter[:, 0, None, None]
        c = centres[labels, 1, None, None] + jitter[:, 1, None, None]
        images = 255 * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / 8.0)
        images += rng.normal(0, 20, images.shape)
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)

    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = make(n)
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)
    return directory


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


def small_args(data_dir, out, *extra):
    # --no-verify: the synthetic files are not the published MNIST (one warning line).
    return ["train", "--data-dir", str(data_dir), "--out", str(out), "--hidden", "32",
            "--epochs", "3", "--batch-size", "50", "--validation-size", "100", "--lr", "0.05",
            "--no-progress", "--no-verify", *extra]


def weights(path):
    return {key: param.copy() for key, param, _ in Network.load(path).named_params()}


@pytest.mark.parametrize("flags, pattern", [
    (["--hidden", "0"], r"'hidden' parameter must be one or more positive integers.*got '0'"),
    (["--hidden", "abc"], r"'hidden'.*got 'abc'"),
    (["--hidden", "256,,128"], r"'hidden'.*got '256,,128'"),
    (["--lr", "0"], r"'learning_rate' parameter must be a finite number > 0; got 0.0"),
    (["--lr", "fast"], r"'learning_rate' parameter must be a number; got 'fast'"),
    (["--epochs", "0"], r"'epochs' parameter must be an integer >= 1; got 0"),
    (["--epochs", "2.5"], r"'epochs' parameter must be an integer; got '2.5'"),
    (["--batch-size", "-5"], r"'batch_size'.*got -5"),
    (["--dropout", "1.5"], r"The 'dropout' parameter must be in \[0, 1\); got 1.5\."),
    (["--activation", "tanh"], r"Unknown activation 'tanh'; choose one of: gelu, relu, selu, sigmoid, swish"),
    (["--loss", "l1"], r"Unknown loss 'l1'; choose one of: ce, focal, hinge, mse, softmax_ce, softmax_hinge"),
    (["--optimizer", "rmsprop"], r"Unknown optimizer 'rmsprop'; choose one of: adam, adamw, sgd"),
    (["--validation-size", "5000"], r"'validation_size' parameter must be <= 699"),
])
def test_bad_flags_get_one_line_and_no_training(flags, pattern, data_dir, tmp_path, capsys):
    code = main(small_args(data_dir, tmp_path / "run", *flags))
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(
        ("training into", "mnist-mlp: warning: not verified"))]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("mnist-mlp train: error: ")
    import re
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()


def test_train_writes_the_run_and_evaluate_agrees(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(small_args(data_dir, out)) == 0
    printed = capsys.readouterr().out
    assert {"history.json", "model.npz", "checkpoint.npz", "curves.png"} <= {p.name for p in out.iterdir()}
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    history = History.load(out / "history.json")
    final = history.final()
    assert final["test_acc"] > 0.9
    assert f"{100 * final['test_acc']:.2f}%" in printed and "validation" in printed

    assert main(["evaluate", str(out / "model.npz"), "--data-dir", str(data_dir), "--no-verify"]) == 0
    report = capsys.readouterr().out
    # The saved model, normalised from its metadata, scores what training recorded.
    assert f"test accuracy: {100 * final['test_acc']:.2f}%" in report
    assert f"test loss (softmax_ce): {final['test_loss']:.4f}" in report
    assert "confusion matrix" in report and "per-class accuracy" in report
    matrix_rows = report.split("predicted class):\n")[1].splitlines()[1:]
    counts = np.array([[int(v) for v in row.split()[1:]] for row in matrix_rows])
    assert counts.shape == (10, 10) and counts.sum() == 200
    assert np.trace(counts) == round(final["test_acc"] * 200)


def test_an_existing_run_is_not_overwritten(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(small_args(data_dir, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(small_args(data_dir, out, "--epochs", "1")) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_toml_config_and_flags_override_it(data_dir, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('hidden = [24, 12]\nactivation = "gelu"\nlearning_rate = 0.5\nepochs = 2\n')
    out = tmp_path / "run"
    assert main(small_args(data_dir, out, "--config", str(config), "--lr", "0.02")) == 0
    saved = json.loads((out / "history.json").read_text())["config"]
    # hidden and activation from the file, the learning rate from the flag, epochs
    # from the flags too (small_args passes --epochs 3).
    assert saved["hidden"] == [32] and saved["activation"] == "gelu"
    assert saved["learning_rate"] == 0.02 and saved["epochs"] == 3
    out2 = tmp_path / "run2"
    args = [a for a in small_args(data_dir, out2, "--config", str(config))]
    args.remove("--hidden"), args.remove("32")
    assert main(args) == 0
    assert json.loads((out2 / "history.json").read_text())["config"]["hidden"] == [24, 12]


@pytest.mark.parametrize("flags, expected", [
    ([], False),                             # the default
    (["--augment"], True),                   # alone: the affine shifts, as before
    (["--augment", "elastic"], "elastic"),
    (["--augment", "affine+elastic"], "affine+elastic"),
    (["--augment", "none"], False),
    (["--augment", "elastic", "--no-augment"], False),
])
def test_augment_flag_takes_an_optional_name(flags, expected):
    from mnist_mlp.cli import build_parser
    from mnist_mlp.cli.train import config_from_args
    args = build_parser().parse_args(["train", *flags])
    assert config_from_args(args).augment == expected


def test_an_unknown_augmentation_name_gets_one_line(data_dir, tmp_path, capsys):
    assert main(small_args(data_dir, tmp_path / "run", "--augment", "elastik")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "'augment'" in err and "elastic" in err
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()


@pytest.mark.parametrize("content, pattern", [
    ("lr = 0.1\n", r"run.toml: Unknown configuration key 'lr' \(did you mean 'learning_rate'\?\); valid keys:"),
    ("dropout = 1.5\n", r"run.toml: The 'dropout' parameter must be in \[0, 1\); got 1.5\."),
    ("epochs = \n", r"is not valid TOML"),
])
def test_bad_toml_is_refused_in_one_line(content, pattern, data_dir, tmp_path, capsys):
    (tmp_path / "run.toml").write_text(content)
    assert main(small_args(data_dir, tmp_path / "run", "--config", str(tmp_path / "run.toml"))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    import re
    assert len(err) == 1 and re.search(pattern, err[0]), err


def test_missing_model_and_unreadable_files_get_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert main(["evaluate", str(tmp_path / "junk.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.npz is a text file, not a model file" in err[0]


def test_predict_prints_digit_and_probabilities(data_dir, tmp_path, capsys):
    imageprep = pytest.importorskip("mnist_mlp.data.imageprep")
    from PIL import Image

    out = tmp_path / "run"
    assert main(small_args(data_dir, out)) == 0
    capsys.readouterr()
    image = tmp_path / "digit.png"
    blob = np.zeros((56, 56), np.uint8)
    blob[20:36, 24:32] = 255
    Image.fromarray(blob).save(image)
    assert main(["predict", str(out / "model.npz"), str(image)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{image}: ")
    probabilities = [float(part.split(": ")[1]) for part in lines[1].split("  ") if part.strip()]
    assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=0.01)
    digit = int(lines[0].split(": ")[1].split()[0])
    assert probabilities[digit] == max(probabilities)
    # The model's own answer on the same preprocessed image, computed directly.
    model = Network.load(out / "model.npz")
    model.eval()
    x = (imageprep.load_digit_image(image)[None] - 128) / 255
    assert int(model.forward(x.astype(np.float32)).argmax()) == digit

    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert main(["predict", str(out / "model.npz"), str(tmp_path / "broken.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    # The image's own line, then the one-line summary of the command.
    assert len(err) == 2 and "broken.png" in err[0] and "1 of 1 images" in err[1]


def _cli(*args):
    return [sys.executable, "-m", "mnist_mlp", *args]


# The trainer in a child process that, once its first checkpoint is on disk, says so in a
# file and blocks: the test kills it there, so nothing depends on how fast it trains.
_BLOCK_AFTER_FIRST_CHECKPOINT = """
import pathlib, sys, time
from mnist_mlp.train import trainer
save = trainer.save_checkpoint
def save_then_block(*args, **kwargs):
    save(*args, **kwargs)
    pathlib.Path(sys.argv[1]).write_text("checkpoint written")
    while True:
        time.sleep(60)
trainer.save_checkpoint = save_then_block
from mnist_mlp.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_sigkill_mid_run_then_resume_gives_the_same_weights(data_dir, tmp_path):
    """A run killed with SIGKILL after its first checkpoint, resumed, ends bit-identical."""
    data = write_dataset(tmp_path / "data", n_train=3000, n_test=200, seed=1)
    flags = ["--data-dir", str(data), "--no-verify", "--hidden", "64", "--epochs", "6", "--batch-size", "20",
             "--validation-size", "200", "--lr", "0.02", "--dropout", "0.1", "--augment",
             "--no-progress"]
    killed, signal_file = tmp_path / "killed", tmp_path / "checkpoint-written"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    process = subprocess.Popen(
        [sys.executable, "-c", _BLOCK_AFTER_FIRST_CHECKPOINT, str(signal_file),
         "train", "--out", str(killed), *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not signal_file.exists():  # the child blocks once it exists: no race
            assert process.poll() is None, "training ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "model.npz").exists()
    with np.load(killed / CHECKPOINT_FILE, allow_pickle=False) as archive:
        epoch_at_kill = json.loads(str(archive["__header__"]))["epoch"]
    assert epoch_at_kill == 1

    resumed = subprocess.run(_cli("train", "--out", str(killed), "--resume", *flags), env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} after epoch {epoch_at_kill} of 6" in resumed.stderr

    # The same thread count as the killed run: BLAS sums in another order with more threads.
    straight = tmp_path / "straight"
    subprocess.run(_cli("train", "--out", str(straight), *flags), env=env, check=True,
                   capture_output=True, timeout=120)
    a, b = weights(killed / "model.npz"), weights(straight / "model.npz")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    assert len(History.load(killed / "history.json")) == 6
