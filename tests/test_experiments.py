"""The study's spec, result store, runner and the Bonus 3 stability table.

Training here runs on a small synthetic dataset (ten noisy prototype images),
in-process (``jobs=1``) so that ``train`` can be counted; the parallel path is
covered by the end-to-end test in ``test_report.py``.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from fakes import fake_mnist

from mnist_mlp.errors import ConfigError
from mnist_mlp.study import runner as runner_module
from mnist_mlp.study.runner import blas_threads, run_suite
from mnist_mlp.study.spec import load_suite, parse_suite
from mnist_mlp.study.stability import stability_table
from mnist_mlp.study.store import Store, run_key
from mnist_mlp.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]

SUITE = """\
[variables]
loss = ["loss", "margin"]

[quick]
epochs = 1

[defaults]
hidden = [16]
epochs = 2
validation_size = 200
learning_rate = 0.05
batch_size = 50

[runs.a-relu]

[runs.a-sigmoid]
activation = "sigmoid"

[runs.a-hinge]
loss = "hinge"
margin = 1.0

[groups.act]
title = "Activations"
variable = "activation"
runs = ["a-relu", "a-sigmoid"]

[groups.loss]
title = "Losses"
variable = "loss"
runs = ["a-relu", "a-hinge"]
"""

# A run whose learning rate makes MSE overflow within a few steps.
DIVERGING = """
[runs.a-diverge]
loss = "mse"
learning_rate = 1e12

[groups.unstable]
title = "Unstable"
variable = "none"
runs = ["a-diverge"]
"""


@pytest.fixture
def count_train(monkeypatch):
    """Count the runner's calls of ``trainer.train`` (the real one still runs)."""
    calls = []
    real = runner_module.train

    def counted(config, *args, **kwargs):
        calls.append(config)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(runner_module, "train", counted)
    return calls


def _line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# -- spec -----------------------------------------------------------------------------------

def test_group_differing_in_two_variables_is_refused():
    text = SUITE.replace('activation = "sigmoid"', 'activation = "sigmoid"\nhidden = [32]')
    with pytest.raises(ConfigError, match=r"group 'act' varies 'activation'.*also differ in hidden"):
        parse_suite(text, "study.toml")


def test_group_variable_may_cover_several_keys():
    # loss and margin both change between a-relu and a-hinge: one variable, "loss".
    suite = parse_suite(SUITE, "study.toml")
    loss_group = next(g for g in suite.groups if g.name == "loss")
    assert loss_group.keys == ("loss", "margin")
    assert suite.runs["a-hinge"].config().margin == 1.0
    # The same pair under a one-key variable is refused, naming the extra key.
    text = SUITE.replace('variable = "loss"', 'variable = "activation"')
    with pytest.raises(ConfigError, match=r"also differ in loss, margin"):
        parse_suite(text, "study.toml")


@pytest.mark.parametrize("needle, replacement, expected", [
    ('activation = "sigmoid"', 'activaton = "sigmoid"',
     r"unknown key 'activaton' in \[runs.a-sigmoid\] \(did you mean 'activation'\?\); "
     r"valid keys: .*activation"),
    ('activation = "sigmoid"', 'activation = "tanh"',
     r"unknown activation 'tanh' in \[runs.a-sigmoid\]; choose one of: gelu, relu, selu, "
     r"sigmoid, swish"),
    ('loss = "hinge"', 'loss = "l1"',
     r"unknown loss 'l1' in \[runs.a-hinge\]; choose one of: ce, focal, hinge, mse, softmax_ce, "
     r"softmax_hinge"),
    ("batch_size = 50", "batchsize = 50", r"unknown key 'batchsize' in \[defaults\]"),
])
def test_bad_key_or_name_reports_its_line_and_the_choices(needle, replacement, expected):
    text = SUITE.replace(needle, replacement)
    line = _line_of(text, replacement)
    with pytest.raises(ConfigError, match=rf"^study.toml:{line}: {expected}"):
        parse_suite(text, "study.toml")


def test_invalid_value_points_at_its_line():
    text = SUITE.replace("margin = 1.0", "margin = -1.0")
    line = _line_of(text, "margin = -1.0")
    with pytest.raises(ConfigError, match=rf"^study.toml:{line}: run 'a-hinge': .*'margin'"):
        parse_suite(text, "study.toml")


def test_extends_inherits_and_cycles_are_refused():
    text = SUITE + '\n[runs.b]\nextends = "a-hinge"\nhidden = [8]\n'
    config = parse_suite(text).runs["b"].config()
    assert (config.loss, config.margin, config.hidden) == ("hinge", 1.0, (8,))
    cyclic = SUITE + '\n[runs.x]\nextends = "y"\n\n[runs.y]\nextends = "x"\n'
    with pytest.raises(ConfigError, match=r"cycle: x -> y -> x"):
        parse_suite(cyclic)


def test_unknown_run_in_group_and_invalid_toml():
    text = SUITE.replace('runs = ["a-relu", "a-sigmoid"]', 'runs = ["a-relu", "a-sigmod"]')
    with pytest.raises(ConfigError, match=r"unknown runs \['a-sigmod'\]"):
        parse_suite(text)
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        parse_suite("[runs.a\n")


def test_repository_study_covers_the_seed():
    """experiments.toml has every comparison the seed's Report and Bonus sections ask for."""
    suite = load_suite(REPO / "experiments.toml")
    configs = suite.configs()
    groups = {g.name: [configs[r] for r in g.runs] for g in suite.groups}

    def values(group, key):
        return {getattr(c, key) for c in groups[group]}

    activations = {"relu", "sigmoid", "selu", "swish", "gelu"}
    assert values("activation-1h", "activation") == activations
    assert values("activation-2h", "activation") == activations
    losses = {"mse", "softmax_ce", "hinge", "softmax_hinge", "focal"}
    assert values("loss-1h", "loss") == losses and values("loss-2h", "loss") == losses
    assert {len(c.hidden) for c in groups["loss-1h"]} == {1}
    assert {len(c.hidden) for c in groups["loss-2h"]} == {2}
    assert {c.margin for c in groups["loss-1h"] if c.loss == "softmax_hinge"} == {0.5}
    assert {len(c.hidden) for c in groups["depth"]} == {1, 2}
    assert values("focal", "loss") == {"focal", "softmax_ce", "ce"}
    overfit = groups["overfitting"]
    assert any(c.dropout > 0 for c in overfit) and any(c.weight_decay > 0 for c in overfit)
    assert any(c.early_stopping for c in overfit) and any(c.augment for c in overfit)
    assert all(c.train_subset for c in overfit)


# -- store and runner -------------------------------------------------------------------------

def test_second_invocation_reuses_every_run(tmp_path, count_train):
    suite = parse_suite(SUITE)
    data = fake_mnist()
    first = run_suite(suite, tmp_path, data=data, progress=False)
    assert len(count_train) == 3 and sorted(first.trained) == [("a-hinge", 0), ("a-relu", 0), ("a-sigmoid", 0)]
    assert all(r.ok for r in first.results.values())
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/result.json")}
    assert len(stamps) == 3

    second = run_suite(suite, tmp_path, data=data, progress=False)
    assert len(count_train) == 3  # no training at all
    assert second.trained == [] and sorted(second.reused) == sorted(first.trained)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    for name, result in second.results.items():
        assert result.reused and result.final == first.results[name].final


def test_changed_setting_retrains_only_that_run(tmp_path, count_train):
    data = fake_mnist()
    run_suite(parse_suite(SUITE), tmp_path, data=data, progress=False)
    edited = parse_suite(SUITE.replace("margin = 1.0", "margin = 2.0"))
    outcome = run_suite(edited, tmp_path, data=data, progress=False)
    assert outcome.trained == [("a-hinge", 0)] and len(count_train) == 4
    assert count_train[-1].margin == 2.0


def test_run_key_ignores_only_the_data_directory():
    base = TrainConfig(hidden=(16,))
    assert run_key(base) == run_key(TrainConfig(hidden=(16,), data_dir="/elsewhere"))
    assert run_key(base) != run_key(TrainConfig(hidden=(16,), seed=1))
    assert len(run_key(base)) == 12


def test_failing_run_is_marked_and_the_rest_complete(tmp_path, count_train):
    suite = parse_suite(SUITE + DIVERGING)
    outcome = run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    failed = outcome.results["a-diverge", 0]
    assert not failed.ok and failed.error_type == "DivergenceError"
    assert "diverged" in failed.error
    assert all(outcome.results[n, 0].ok for n in ("a-relu", "a-sigmoid", "a-hinge"))
    # Divergence repeats with the same settings: the failure is reused, not retrained.
    again = run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    assert again.trained == [] and not again.results["a-diverge", 0].ok


def test_unexpected_error_is_recorded_then_retried(tmp_path, monkeypatch):
    suite = parse_suite(SUITE)
    real = runner_module.train

    def broken_for_sigmoid(config, *args, **kwargs):
        if config.activation == "sigmoid":
            raise RuntimeError("simulated crash\nwith two lines")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(runner_module, "train", broken_for_sigmoid)
    outcome = run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    assert outcome.results["a-sigmoid", 0].error == "RuntimeError: simulated crash with two lines"
    monkeypatch.setattr(runner_module, "train", real)
    retry = run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    assert retry.trained == [("a-sigmoid", 0)] and retry.results["a-sigmoid", 0].ok


def test_interrupted_suite_resumes_from_the_checkpoint(tmp_path, monkeypatch):
    suite = parse_suite(SUITE.replace("epochs = 2", "epochs = 3"))
    real = runner_module.train

    def interrupt_in_epoch_two(config, out_dir, **kwargs):
        def log(line):
            if line.startswith("epoch 2/"):  # logged before epoch 2's checkpoint is written
                raise KeyboardInterrupt
        return real(config, out_dir, **{**kwargs, "log": log})

    monkeypatch.setattr(runner_module, "train", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    monkeypatch.setattr(runner_module, "train", real)
    outcome = run_suite(suite, tmp_path, data=fake_mnist(), progress=False)
    resumed = outcome.results["a-relu", 0]  # the longest-first order is a tie; a-relu comes first
    log = (Store(tmp_path).run_dir("a-relu", resumed.key) / "train.log").read_text()
    assert "resuming" in log and "after epoch 1 of 3" in log
    assert resumed.ok and resumed.epochs_run == 3
    assert not list(tmp_path.glob("runs/*/checkpoint.npz"))  # removed once finished


def test_unwritable_output_directory_is_reported_before_training(tmp_path, count_train):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"output directory .*a-file.* is not writable"):
        run_suite(parse_suite(SUITE), blocker / "out", data=fake_mnist(), progress=False)
    assert count_train == []


def test_quick_settings_override_every_run(tmp_path):
    outcome = run_suite(parse_suite(SUITE), tmp_path, quick=True, data=fake_mnist(),
                        progress=False)
    assert outcome.quick and {r.epochs_run for r in outcome.results.values()} == {1}


def test_blas_thread_variables_are_set_then_restored(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with blas_threads(1):
        assert [os.environ[v] for v in runner_module.BLAS_THREAD_VARIABLES] == ["1", "1", "1"]
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ


def test_stored_result_is_plain_json(tmp_path):
    run_suite(parse_suite(SUITE), tmp_path, data=fake_mnist(), progress=False)
    stored = json.loads(next(tmp_path.glob("runs/a-relu-*/result.json")).read_text())
    assert stored["status"] == "ok" and stored["config"]["hidden"] == [16]
    assert 0.0 <= stored["final"]["test_acc"] <= 1.0 and "reused" not in stored
    assert stored["cpu_seconds"] > 0 and stored["train_seconds"] > 0


# -- bonus 3 ----------------------------------------------------------------------------------

def test_stability_table_naive_breaks_ours_does_not():
    rows = stability_table()
    assert {r.dtype for r in rows} == {"float64", "float32"}
    assert all(r.ours_finite and r.ours_warnings == 0 for r in rows)
    assert sum(not r.naive_finite for r in rows) >= len(rows) // 2
    assert all(r.naive_warnings > 0 for r in rows if not r.naive_finite)
    # Every formula of the seed's bonus appears with a non-finite naive result.
    broken = {r.quantity for r in rows if not r.naive_finite}
    assert {"sigmoid", "softmax", "log-softmax", "cross-entropy", "focal (gamma=2)"} <= broken


def test_stability_table_exact_values_by_hand():
    rows = {(r.quantity, r.ours_function, r.input, r.dtype): r for r in stability_table()}
    # log-softmax of [1000, 0, -1000]: the log-sum-exp is 1000 + log(1 + e^-1000 + e^-2000).
    row = rows[("log-softmax", "log_softmax", "[1000, 0, -1000]", "float64")]
    assert row.exact_value == "[0, -1000, -2000]" and row.ours_value == row.exact_value
    # Cross-entropy of the class with logit -1000: 2000. The unfused Softmax +
    # CrossEntropyLoss clamps p at the smallest normal float: -log(2.2e-308) = 708.4.
    fused = rows[("cross-entropy", "SoftmaxCrossEntropyLoss", "[1000, 0, -1000], t=2", "float64")]
    unfused = rows[("cross-entropy", "Softmax + CrossEntropyLoss", "[1000, 0, -1000], t=2",
                    "float64")]
    assert float(fused.ours_value) == 2000.0 and fused.ours_max_rel_error == 0.0
    assert float(unfused.ours_value) == pytest.approx(-math.log(np.finfo(np.float64).tiny), rel=1e-5)


# -- seeds ----------------------------------------------------------------------------------

def test_seeds_of_the_study_quick_and_override():
    suite = parse_suite("seeds = 3\n" + SUITE.replace("[quick]\n", "[quick]\nseeds = 1\n"))
    assert (suite.seeds, suite.quick_seeds) == (3, 1)
    jobs = suite.jobs()
    assert [job.id for job in jobs[:3]] == [("a-relu", 0), ("a-relu", 1), ("a-relu", 2)]
    assert [job.config.seed for job in jobs[:3]] == [0, 1, 2] and len(jobs) == 9
    assert len(suite.jobs(quick=True)) == 3 and len(suite.jobs(seeds=2)) == 6
    # Without [quick] seeds, a quick study has at most two; a run's own seed shifts its seeds.
    plain = parse_suite("seeds = 5\n" + SUITE.replace("batch_size = 50", "batch_size = 50\nseed = 7"))
    assert plain.seed_count(quick=True) == 2
    assert [job.seed for job in plain.jobs(quick=True)][:2] == [7, 8]
    assert parse_suite(SUITE).seeds == 1  # a study that does not say has one seed


@pytest.mark.parametrize("text, where", [("seeds = 0\n", "seeds = 0"),
                                         ('seeds = "three"\n', 'seeds = "three"')])
def test_bad_seed_count_names_its_line(text, where):
    source = text + SUITE
    line = _line_of(source, where)
    with pytest.raises(ConfigError, match=rf"^study.toml:{line}: 'seeds' must be an integer >= 1"):
        parse_suite(source, "study.toml")
    with pytest.raises(ConfigError, match=r"'seeds' parameter must be an integer >= 1; got 0"):
        parse_suite(SUITE).jobs(seeds=0)


def test_results_are_kept_per_run_and_seed_and_more_seeds_train_only_the_new(tmp_path,
                                                                              count_train):
    suite = parse_suite(SUITE)
    data = fake_mnist()
    first = run_suite(suite, tmp_path, data=data, progress=False, seeds=2)
    assert len(count_train) == 6 and first.seeds == 2
    assert [r.seed for r in first.of_run("a-relu")] == [0, 1]
    stored = [json.loads(p.read_text()) for p in tmp_path.glob("runs/a-relu-*/result.json")]
    assert sorted(s["config"]["seed"] for s in stored) == [0, 1]
    # Each seed trained its own model: seed 0 and seed 1 differ.
    finals = [r.final["train_eval_loss"] for r in first.of_run("a-relu")]
    assert finals[0] != finals[1]
    more = run_suite(suite, tmp_path, data=data, progress=False, seeds=3)
    assert sorted(more.trained) == [("a-hinge", 2), ("a-relu", 2), ("a-sigmoid", 2)]
    assert len(count_train) == 9 and len(more.reused) == 6
