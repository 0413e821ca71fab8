"""The search-space file: parsed with line numbers; every mistake is one line, before any trial."""

from pathlib import Path

import pytest

from mnist_mlp.cli import main
from mnist_mlp.errors import ConfigError
from mnist_mlp.tune.space import load_space, parse_space

REPO = Path(__file__).resolve().parents[1]

_GOOD = """\
[search]
trials = 4
seed = 1

[fixed]
epochs = 2
hidden = [32]

[params.learning_rate]
low = 0.01
high = 0.2
log = true

[params.batch_size]
choices = [50, 100]

[params.momentum]
low = 0.5
high = 0.9

[quick]
trials = 2
epochs = 1
"""


def _error(text):
    with pytest.raises(ConfigError) as info:
        parse_space(text, "space.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_space_parses_and_builds_configs():
    space = parse_space(_GOOD, "space.toml")
    assert [p.name for p in space.params] == ["learning_rate", "batch_size", "momentum"]
    assert [p.kind for p in space.params] == ["float", "categorical", "float"]
    assert space.search["trials"] == 4 and space.search["seed"] == 1
    config = space.config({"learning_rate": 0.05, "batch_size": 50, "momentum": 0.7})
    assert (config.learning_rate, config.batch_size, config.momentum, config.epochs) == (0.05, 50, 0.7, 2)
    assert space.baseline() == {"learning_rate": 0.08, "batch_size": 100, "momentum": 0.9}
    quick = space.with_quick()
    assert quick.search["trials"] == 2 and quick.fixed["epochs"] == 1
    assert quick.fingerprint() != space.fingerprint()


def test_fingerprint_ignores_the_trial_count_but_not_the_ranges():
    base = parse_space(_GOOD).fingerprint()
    assert parse_space(_GOOD.replace("trials = 4", "trials = 40")).fingerprint() == base
    assert parse_space(_GOOD.replace("high = 0.2", "high = 0.3")).fingerprint() != base


def test_depth_and_width_make_the_hidden_layers():
    space = parse_space("[params.depth]\nlow = 1\nhigh = 3\n[params.width]\nlow = 16\nhigh = 64\n")
    assert space.config({"depth": 3, "width": 20}).hidden == (20, 20, 20)
    assert space.baseline() == {"depth": 1, "width": 256}


def test_unknown_parameter_names_its_line_and_the_closest_name():
    message = _error(_GOOD.replace("[params.momentum]", "[params.momentun]"))
    assert message.startswith("space.toml:17:") and "momentun" in message and "'momentum'" in message


def test_empty_range_is_refused_with_its_line():
    message = _error(_GOOD.replace("high = 0.9", "high = 0.5"))
    assert message.startswith("space.toml:19:") and "empty" in message


def test_log_range_including_zero_is_refused():
    message = _error(_GOOD.replace("low = 0.01", "low = 0.0"))
    assert message.startswith("space.toml:10:") and "log range must be positive" in message


def test_other_mistakes():
    assert "space.toml:15:" in _error(_GOOD.replace("choices = [50, 100]", "choices = []"))
    assert "space.toml:11:" in _error(_GOOD.replace("high = 0.2", "hi = 0.2"))
    assert "space.toml:6:" in _error(_GOOD.replace("epochs = 2", "epoch = 2"))
    message = _error(_GOOD.replace("choices = [50, 100]", "choices = [50, 0]"))
    assert "space.toml:15:" in message and "batch_size" in message
    assert "both searched" in _error(_GOOD.replace("epochs = 2", "epochs = 2\nmomentum = 0.5"))
    assert "searches nothing" in _error("[fixed]\nepochs = 2\n")
    assert "[serach]" in _error("[serach]\ntrials = 3\n")
    assert "not valid TOML" in _error("[params.lr\n")


def test_repository_space_file_is_valid():
    space = load_space(REPO / "tune.toml")
    assert {"learning_rate", "depth", "width", "augment"} <= {p.name for p in space.params}
    assert space.with_quick().search["trials"] <= 5


def _cli(args, capsys):
    code = main(["tune", *args])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("flags, words", [
    (["--trials", "0"], "--trials must be an integer >= 1"),
    (["--jobs", "0"], "--jobs must be an integer >= 1"),
    (["--timeout", "0"], "--timeout"),
])
def test_bad_counts_are_one_line_before_anything_runs(tmp_path, capsys, flags, words):
    space = tmp_path / "space.toml"
    space.write_text(_GOOD)
    code, err = _cli(["--space", str(space), "--out", str(tmp_path / "out"), *flags], capsys)
    assert code == 1 and len(err) == 1 and words in err[0]
    assert not (tmp_path / "out").exists()


def test_bad_space_file_is_one_line_from_the_cli(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text(_GOOD.replace("low = 0.01", "low = 0"))
    code, err = _cli(["--space", str(space), "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and len(err) == 1 and f"{space}:10:" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_default_outside_the_choices_makes_the_baseline_take_the_first_choice():
    # Optuna cannot enqueue a categorical value outside its choices; the project's default
    # augment = false is not among these, so trial 0 takes "elastic" (it crashed before).
    # A default that is among the choices stays (dropout 0.0 is the choice 0).
    space = parse_space('[params.augment]\nchoices = ["elastic", "affine+elastic"]\n'
                        '[params.dropout]\nchoices = [0.25, 0]\n')
    assert space.baseline() == {"augment": "elastic", "dropout": 0.0}
