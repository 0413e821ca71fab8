"""``mnist-mlp grade`` options: the rubric file, --template, --unsafe, and the refusal without isolation."""

import json
import re

import pytest
from coursefakes import fast_rubric, make_submission, solution_codes

from mnist_mlp.cli import main
from mnist_mlp.course.grading import resolve_template
from mnist_mlp.course.handout import write_handout
from mnist_mlp.course.rubric import CHECK_NAMES, DEFAULT_RUBRIC, load_rubric
from mnist_mlp.errors import ConfigError


def test_the_default_rubric_gives_points_to_every_check():
    rubric = load_rubric()
    assert set(rubric.points) == set(CHECK_NAMES)
    assert rubric.max_score == sum(p for n, p in rubric.points.items() if n not in rubric.bonus)
    assert rubric.bonus == {"FocalLoss.forward", "FocalLoss.backward", "stability"}
    assert rubric.training["threshold"] == 0.95


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('"Linear.forward" = 4', '"Linear.forwrd" = 4'), r"unknown: \['Linear.forwrd'\]"),
    (lambda t: t.replace('layout = 2\n', ''), r"missing: \['layout'\]"),
    (lambda t: t.replace("rules = 5", "rules = -1"), "points for 'rules' must be a number >= 0"),
    (lambda t: t.replace("epochs = 2", "epochs = 2.5"), "epochs must be a positive int"),
    (lambda t: t.replace("train_size = 50000", "train_size = 55000"), "at most 60000"),
    (lambda t: t + "\n[broken", "cannot be read"),
])
def test_a_bad_rubric_is_refused_with_what_is_wrong(tmp_path, edit, message):
    path = tmp_path / "rubric.toml"
    path.write_text(edit(DEFAULT_RUBRIC.read_text()))
    with pytest.raises(ConfigError, match=message):
        load_rubric(path)


def test_template_may_be_a_handout_folder_or_the_seeds_files(tmp_path):
    write_handout(tmp_path / "hw")
    assert resolve_template(tmp_path / "hw", tmp_path) == tmp_path / "hw" / "code_analyze" / "_codes"
    assert resolve_template(tmp_path / "hw" / "codes", tmp_path) == tmp_path / "hw" / "codes"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no .py files"):
        resolve_template(tmp_path / "empty", tmp_path)


def test_without_isolation_grade_refuses_unless_unsafe(tmp_path, mnist_dir, monkeypatch, capsys):
    import mnist_mlp.course.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation_problem", lambda: "the sandbox needs root")
    sub = make_submission(tmp_path / "good", solution_codes())
    argv = [str(sub), "--out", str(tmp_path / "out"), "--rubric", str(fast_rubric(tmp_path)),
            "--data-dir", str(mnist_dir), "--template", str(tmp_path / "hw")]
    write_handout(tmp_path / "hw")
    assert main(["grade", *argv]) == 1
    err = capsys.readouterr().err
    assert "cannot isolate submissions: the sandbox needs root" in err and "--unsafe" in err
    assert not (tmp_path / "out").exists()
    # --unsafe grades with limits only, and says so.
    assert main(["grade", *argv, "--unsafe"]) == 0
    captured = capsys.readouterr()
    assert "warning: UNSAFE: no isolation" in captured.err
    row = json.loads((tmp_path / "out" / "grades.json").read_text())[0]
    assert row["failed"] == [], [c for c in row["checks"] if not c["passed"]]
    assert re.search(r"^good: \d+/\d+ ", captured.out, re.M)
