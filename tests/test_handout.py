"""The handout generated from the reference code: its files, its TODO blocks, its solution, analyze.py.

These tests fail (never skip) when the reference code changes so that the
handout can no longer be generated: the generator raises HandoutError, which
names the piece that went missing.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_mlp.cli import main
from mnist_mlp.course import handout
from mnist_mlp.course.codecheck import check_submission
from mnist_mlp.course.extract import Bundle, HandoutError, Piece
from mnist_mlp.course.handout import (
    HANDOUT_FILES,
    PLACEHOLDER,
    TODO_CLASSES,
    build_handout,
    fill_blocks,
    write_handout,
)

SEED_FILES = {"layers.py", "loss.py", "load_data.py", "utils.py", "network.py", "solve_net.py", "run_mlp.py"}
LOCAL = {name for name in HANDOUT_FILES}
STDLIB = set(sys.stdlib_module_names)


@pytest.fixture(scope="module")
def files():
    return build_handout()


def _todo_methods(text):
    """{(class, method)} whose body holds a TODO block."""
    lines, found = text.split("\n"), set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and any(
                    lines[i].strip() == "# TODO START" for i in range(fn.lineno, fn.end_lineno)
                ):
                    found.add((node.name, fn.name))
    return found


def test_the_seven_seed_files_flat_importing_each_other_numpy_only(files):
    assert set(files) == SEED_FILES
    for name, (template, solution) in files.items():
        for text in (template, solution):
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                    for mod in mods:
                        top = mod.split(".")[0]
                        assert top in LOCAL | STDLIB | {"numpy"}, f"{name} imports {mod}"


def test_todo_blocks_are_where_the_seed_asks_and_relu_sigmoid_are_given(files):
    found = _todo_methods(files["layers.py"][0]) | _todo_methods(files["loss.py"][0])
    classes = {cls for cls, _ in found}
    assert classes == set(TODO_CLASSES)
    for cls in TODO_CLASSES:
        assert {(cls, "forward"), (cls, "backward")} <= found
    assert not any(cls in ("Relu", "Sigmoid", "Layer") for cls, _ in found)
    # Every template block holds the course's placeholder and nothing else.
    for text in (files["layers.py"][0], files["loss.py"][0]):
        bodies = re.findall(r"# TODO START\n(.*?)\n\s*# TODO END", text, re.S)
        assert bodies and all([b.strip() for b in body.split("\n")] == list(PLACEHOLDER) for body in bodies)
    # The classes students write carry the seed's descriptions, not the derivatives they are to find.
    for text in (files["layers.py"][0], files["loss.py"][0]):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name in TODO_CLASSES:
                doc = ast.get_docstring(node)
                assert doc and "f'" not in doc and "partial" not in doc and "math" not in doc, node.name
    # The seed's names and signatures.
    ns = {}
    assert "def __init__(self, name, in_num, out_num, init_std=None" in files["layers.py"][0]
    assert "def train_net(model, loss, config, inputs, labels, batch_size, disp_freq" in files["solve_net.py"][0]
    assert "def load_mnist_2d(data_dir" in files["load_data.py"][0]
    del ns


def test_filled_template_is_the_solution_and_the_check_shows_exactly_the_filled_blocks(files, tmp_path):
    for name, (template, solution) in files.items():
        (tmp_path / "_codes").mkdir(exist_ok=True)
        (tmp_path / "codes").mkdir(exist_ok=True)
        (tmp_path / "_codes" / name).write_text(template)
        filled = fill_blocks(template, solution)
        assert filled == solution, name
        (tmp_path / "codes" / name).write_text(filled)
    n_blocks = sum(line.strip() == "# TODO START" for t, _ in files.values() for line in t.split("\n"))
    result = check_submission(tmp_path / "_codes", tmp_path / "codes")
    assert len(result.filled) == n_blocks == 18
    assert result.unfilled == [] and result.modifications == [] and result.warnings == []
    untouched = check_submission(tmp_path / "_codes", tmp_path / "_codes")
    assert untouched.filled == [] and len(untouched.unfilled) == n_blocks


def test_solution_trains_to_95_percent_with_its_own_run_mlp(tmp_path, mnist_dir):
    write_handout(tmp_path / "hw", solution=True)
    codes = tmp_path / "hw" / "codes"
    # The handout must run without this package: importing mnist_mlp is made to fail.
    script = (
        "import sys, runpy; sys.modules['mnist_mlp'] = None; sys.path.insert(0, '.'); "
        f"sys.argv = ['run_mlp.py', '--epochs', '2', '--data-dir', {str(mnist_dir)!r}]; "
        "runpy.run_path('run_mlp.py', run_name='__main__')"
    )
    # One BLAS thread: on a shared, loaded machine this is several times faster than two.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-I", "-c", script], cwd=codes, capture_output=True,
                         text=True, check=False, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    accuracy = float(re.search(r"Final test set: .* accuracy ([\d.]+)%", run.stdout).group(1))
    assert accuracy >= 95.0, run.stdout[-1000:]


def test_handout_cli_and_the_seeds_analyze_workflow_without_install(tmp_path, capsys):
    assert main(["handout", "--out", str(tmp_path / "hw")]) == 0
    assert "wrote the handout" in capsys.readouterr().out
    hw = tmp_path / "hw"
    assert {p.name for p in (hw / "codes").iterdir()} == SEED_FILES
    assert {p.name for p in (hw / "code_analyze" / "_codes").iterdir()} == SEED_FILES
    # -S: no site-packages (so no mnist_mlp, no NumPy); -E: no PYTHONPATH. The handout's own checker runs.
    run = subprocess.run([sys.executable, "-S", "-E", "./code_analyze/analyze.py"], cwd=hw,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "0 filled blocks, 18 unfilled" in run.stdout
    summary = (hw / "code_analyze" / "summary.txt").read_text()
    assert "#####\n# Unfilled Code\n#####\n# ../codes/layers.py:" in summary
    assert not (hw / "code_analyze" / "__pycache__").exists()
    # A student fills one block: it moves from unfilled to filled code.
    layers = (hw / "codes" / "layers.py").read_text()
    filled = layers.replace("'''Your codes here'''\n        pass", "return input @ self.W + self.b", 1)
    (hw / "codes" / "layers.py").write_text(filled)
    run = subprocess.run([sys.executable, "-S", "-E", "code_analyze/analyze.py"], cwd=hw,
                         capture_output=True, text=True, check=False)
    assert "1 filled block, 17 unfilled" in run.stdout, run.stderr
    summary = (hw / "code_analyze" / "summary.txt").read_text()
    assert "return input @ self.W + self.b" in summary.split("# References")[0]


def test_solution_flag_writes_filled_codes_and_a_pristine_template(tmp_path):
    assert main(["handout", "--out", str(tmp_path / "sol"), "--solution"]) == 0
    codes = (tmp_path / "sol" / "codes" / "layers.py").read_text()
    pristine = (tmp_path / "sol" / "code_analyze" / "_codes" / "layers.py").read_text()
    assert "'''Your codes here'''" not in codes and "'''Your codes here'''" in pristine


def test_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "notes.txt").write_text("mine")
    assert main(["handout", "--out", str(tmp_path / "hw")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "hw" / "notes.txt").read_text() == "mine"


def test_generation_fails_loudly_when_the_reference_loses_a_piece(monkeypatch):
    broken = dict(handout._CLASSES)
    broken["layers"] = [*broken["layers"], handout._Class("mnist_mlp.activations", "Gone", todo=("forward",))]
    monkeypatch.setattr(handout, "_CLASSES", broken)
    with pytest.raises(HandoutError, match="'Gone' from mnist_mlp.activations"):
        build_handout()


def test_generation_refuses_an_import_cycle_between_the_flat_files():
    # utils comes before layers, so utils cannot import from layers.
    bundle = Bundle({"mnist_mlp.activations": "layers"}, ["utils", "layers"])
    with pytest.raises(HandoutError, match="cycle"):
        bundle._require("utils", Piece("mnist_mlp.activations", "softmax"), "softmax")


def test_generated_checker_is_the_package_code_check(files, tmp_path):
    checker = tmp_path / "_codecheck.py"
    checker.write_text(handout.build_checker())
    for folder, texts in (("_codes", 0), ("codes", 1)):
        (tmp_path / folder).mkdir()
        for name, pair in files.items():
            (tmp_path / folder / name).write_text(pair[texts])
    script = ("import sys; sys.path.insert(0, '.'); import _codecheck; "
              "print(_codecheck.check_submission('_codes', 'codes').render(), end='')")
    run = subprocess.run([sys.executable, "-S", "-E", "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert run.stdout == check_submission(tmp_path / "_codes", tmp_path / "codes",
                                          template_label="_codes", submission_label="codes").render()
    assert Path(handout.__file__).exists()


def test_a_reference_linear_that_drifted_from_the_textbook_edits_is_refused(monkeypatch):
    # The handout's Linear.__init__ is the reference's with named lines replaced; a line
    # that is no longer there must stop the build, not silently leave the reference's state.
    edits = {**handout._LINEAR_INIT_EDITS, "self._gone = None": []}
    monkeypatch.setattr(handout, "_LINEAR_INIT_EDITS", edits)
    with pytest.raises(handout.HandoutError, match="self._gone = None"):
        handout.build_handout()
