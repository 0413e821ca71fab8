"""The benchmark harness measures what it says it measures (no timing is asserted).

benchmarks/ is not a package and not installed; these tests import it by path. None
of them needs PyTorch or scikit-learn, which the test extra does not install.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import run  # noqa: E402
import workers  # noqa: E402


def test_gemm_flops_counts_forward_weight_and_input_gradients_except_the_first_layers():
    # 784-256-10, batch 100, 60,000 samples: per batch 2 x (2*100*784*256) for the first
    # layer (no input gradient) + 3 x (2*100*256*10) for the second; 600 batches.
    per_batch = 2 * (2 * 100 * 784 * 256) + 3 * (2 * 100 * 256 * 10)
    assert workers.gemm_flops([784, 256, 10], 60_000, 100) == 600 * per_batch
    # A remainder batch counts with its own size: 250 samples in batches of 100.
    flops = workers.gemm_flops([8, 4, 2], 250, 100)
    per_row = 2 * (2 * 8 * 4) + 3 * (2 * 4 * 2)
    assert flops == 250 * per_row


def test_the_floor_runs_exactly_the_counted_matrix_products():
    sizes, batch = [784, 64, 32, 10], 50
    x = np.zeros((120, 784), np.float32)
    floor = workers.Floor(sizes, batch, x, np.zeros(120, int), argparse.Namespace(seed=0))
    counted = 0
    for b in workers._batch_sizes(len(x), batch):
        for a, c, out in floor.plans[b]:
            assert a.shape[1] == c.shape[0] and out.shape == (a.shape[0], c.shape[1])
            counted += 2 * a.shape[0] * a.shape[1] * c.shape[1]
    assert counted == workers.gemm_flops(sizes, len(x), batch)


@pytest.fixture(scope="module")
def tiny_problem():
    rng = np.random.default_rng(7)
    n = 1030  # batches of 100 and a remainder of 30
    x = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    args = argparse.Namespace(seed=3, lr=0.05, momentum=0.9)
    return [784, 32, 16, 10], 100, x, y, args


@pytest.mark.parametrize("impl, rtol", [("lean", 1e-5), ("textbook", 1e-4)])
def test_the_numpy_baselines_train_the_same_model_as_mnist_mlp(tiny_problem, impl, rtol):
    # Same initial weights, same shuffling, same update: the per-epoch mean losses must
    # agree to the precision of the arithmetic (lean: float32 in another order;
    # textbook: float64), so the table compares like with like.
    sizes, batch, x, y, args = tiny_problem
    ours = workers.MnistMlp(sizes, batch, x, y, args)
    theirs = workers.CLASSES[impl](sizes, batch, x, y, args)
    ours_losses = [ours.epoch() for _ in range(3)]
    their_losses = [theirs.epoch() for _ in range(3)]
    assert ours_losses[-1] < ours_losses[0]  # it is training, not standing still
    np.testing.assert_allclose(their_losses, ours_losses, rtol=rtol)


def test_the_train_net_row_and_the_trainer_row_train_identically(tiny_problem):
    # The seed's train_net (Linear.update) and the trainer's SGD.step run the same
    # kernel: the two benchmark rows compute the same losses, bit for bit.
    sizes, batch, x, y, args = tiny_problem
    trainer, seed = workers.MnistMlp(sizes, batch, x, y, args), workers.TrainNet(sizes, batch, x, y, args)
    trainer_losses = [trainer.epoch() for _ in range(2)]
    seed_losses = [seed.epoch() for _ in range(2)]
    # train_net averages float32 batch losses with np.mean, the worker with a float sum.
    np.testing.assert_allclose(seed_losses, trainer_losses, rtol=1e-6)
    for (_, a, _), (_, b, _) in zip(trainer.net.named_params(), seed.net.named_params()):
        assert np.array_equal(a, b)


def test_a_worker_process_answers_the_protocol(tmp_path, tiny_problem):
    sizes, batch, x, y, _ = tiny_problem
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    args = argparse.Namespace(lr=0.05, momentum=0.9, threads=1, seed=0, settle=0.0,
                              keep_openblas_env=False)
    env, _ = run.worker_env(args)
    worker = run.Worker("lean", str(tmp_path), sizes, batch, args, env)
    try:
        assert worker.info["ready"] is True
        first, second = worker.epoch(), worker.epoch()
        assert first["seconds"] > 0 and second["loss"] < first["loss"]
        assert first["foreign_cpu"] is None or 0.0 <= first["foreign_cpu"] <= 1.0
        peak = worker.close()["peak"]
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
    # The data alone is 1030 x 784 float32 (3.2 MB); the peak includes NumPy's import.
    assert peak["vmhwm_kib"] > x.nbytes / 1024
    assert worker.process.returncode == 0


def test_ratios_are_medians_of_per_round_ratios():
    # Round by round: 1/2, 3/2, 2/8 -> median 0.5; the ratio of medians would be 2/2 = 1.
    assert run._ratio([1.0, 3.0, 2.0], [2.0, 2.0, 8.0]) == 0.5
    assert run._ratio([1.0], None) is None
