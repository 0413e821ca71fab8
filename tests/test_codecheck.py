"""The seed's code check: summary sections, breaches, awkward input, CLI and analyze.py."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_mlp.cli import main
from mnist_mlp.course.codecheck import (
    Change,
    Modification,
    check_submission,
    write_summary,
)
from mnist_mlp.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

SEED_TEMPLATE = """\
import numpy as np


class Layer(object):
    def __init__(self, name, trainable=False):
        self.name = name
        self.trainable = trainable
        self._saved_tensor = None

    def forward(self, input):
        # TODO START
        # TODO END

    def backward(self, grad_output):
        pass
"""

SEED_SUBMISSION = """\
import numpy as np


class Layer(object):
    def __init__(self, name, trainable=False):
        self.name = name
        self.trainable = trainable
        self._saved_tensor = None # add some thing

    def forward(self, input):
        # TODO START
        # Reference: https://github.com/xxxxx
        # Reference: Name: Xiao Ming Student ID: 2018xxxxxx
        your codes...
        # TODO END

    def backward(self, grad_output):
        pass
"""

# The seed's example summary, with our paths (POSIX separators, the TODO START line)
# and the Warnings section we add.
SEED_SUMMARY = """\
#####
# Filled Code
#####
# ../codes/layers.py:11
        # Reference: https://github.com/xxxxx
        # Reference: Name: Xiao Ming Student ID: 2018xxxxxx
        your codes...

#####
# References
#####
# https://github.com/xxxxx
# Name: Xiao Ming Student ID: 2018xxxxxx

#####
# Other Modifications
#####
# _codes/layers.py -> ../codes/layers.py
# 8 -         self._saved_tensor = None
# 8 +         self._saved_tensor = None # add some thing

#####
# Warnings
#####
"""

# A small file with two blocks, for the breach cases below.
TWO_BLOCKS = """\
def f(x):
    # TODO START
    pass
    # TODO END


def g(x):
    # TODO START
    pass
    # TODO END
"""


def _tree(root, files):
    """Write ``{relative path: str or bytes}`` under ``root``; return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    return root


def _check(tmp_path, template, submission):
    t = _tree(tmp_path / "_codes", template)
    s = _tree(tmp_path / "codes", submission)
    return check_submission(t, s, template_label="_codes", submission_label="codes")


def _messages(findings):
    return [str(f) for f in findings]


def _seed_layout(tmp_path):
    """The seed's homework folder: codes/, code_analyze/_codes/, code_analyze/analyze.py."""
    _tree(tmp_path / "codes", {"layers.py": SEED_SUBMISSION})
    _tree(tmp_path / "code_analyze" / "_codes", {"layers.py": SEED_TEMPLATE})
    script = tmp_path / "code_analyze" / "analyze.py"
    script.write_text((REPO / "code_analyze" / "analyze.py").read_text())
    return script


# ---------------------------------------------------------------- the seed's example


def test_seed_example_reproduced(tmp_path):
    t = _tree(tmp_path / "code_analyze" / "_codes", {"layers.py": SEED_TEMPLATE})
    s = _tree(tmp_path / "codes", {"layers.py": SEED_SUBMISSION})
    result = check_submission(t, s, template_label="_codes", submission_label="../codes")
    assert result.render() == SEED_SUMMARY
    assert result.references == [
        "https://github.com/xxxxx",
        "Name: Xiao Ming Student ID: 2018xxxxxx",
    ]
    assert result.warnings == [] and result.notes == []


def test_analyze_script_writes_seed_summary_from_any_folder(tmp_path):
    script = _seed_layout(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [sys.executable, str(script)], cwd=elsewhere, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "code_analyze" / "summary.txt").read_text() == SEED_SUMMARY
    assert (
        "1 filled block, 2 references, 1 path changed, added or deleted, 0 warnings" in run.stdout
    )


def test_analyze_script_finds_codes_template_beside_codes(tmp_path):
    script = _seed_layout(tmp_path)
    (tmp_path / "code_analyze" / "_codes").rename(tmp_path / "_codes")
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    summary = (tmp_path / "code_analyze" / "summary.txt").read_text()
    assert "# ../_codes/layers.py -> ../codes/layers.py\n" in summary


def test_analyze_script_says_clearly_when_package_is_missing(tmp_path):
    script = _seed_layout(tmp_path)
    # -S skips site-packages, where the installed package lives; -E ignores PYTHONPATH.
    run = subprocess.run(
        [sys.executable, "-S", "-E", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("analyze.py: cannot import mnist_mlp.course.codecheck")
    assert "pip install -e ." in run.stderr
    assert not (tmp_path / "code_analyze" / "summary.txt").exists()


def test_analyze_script_reports_missing_codes_in_one_line(tmp_path):
    script = _seed_layout(tmp_path)
    (tmp_path / "codes" / "layers.py").unlink()
    (tmp_path / "codes").rmdir()
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("analyze.py: error: the submission folder")


# ---------------------------------------------------------------- sections


def test_blocks_references_deduplicated_in_order(tmp_path):
    template = {"a.py": TWO_BLOCKS, "b.py": "def h():\n    # TODO START\n    # TODO END\n"}
    submission = {
        "a.py": TWO_BLOCKS.replace(
            "    pass\n", "    # Reference: https://b.example\n    return 1\n", 1
        ).replace(
            "    pass\n",
            "    # Reference: https://a.example\n    # Reference: https://b.example\n"
            "    return 2\n",
        ),
        "b.py": "def h():\n    # TODO START\n    # Reference: https://a.example\n    # TODO END\n",
    }
    result = _check(tmp_path, template, submission)
    assert result.references == ["https://b.example", "https://a.example"]
    assert [(b.path, b.line, b.lines) for b in result.filled] == [
        ("codes/a.py", 2, ("    # Reference: https://b.example", "    return 1")),
        (
            "codes/a.py",
            9,
            (
                "    # Reference: https://a.example",
                "    # Reference: https://b.example",
                "    return 2",
            ),
        ),
        ("codes/b.py", 2, ("    # Reference: https://a.example",)),
    ]
    # The placeholder "pass" replaced by code is filled code, not another modification.
    assert result.modifications == [] and result.warnings == []


def test_changes_outside_blocks_keep_their_own_line_numbers(tmp_path):
    submission = "import os\n" + TWO_BLOCKS.replace(
        "    pass\n", "    x = 1\n    y = 2\n    return x + y\n"
    ).replace("def g(x):", "def g(x, y):")
    result = _check(tmp_path, {"a.py": TWO_BLOCKS}, {"a.py": submission})
    assert result.modifications == [
        Modification(
            "_codes/a.py",
            "codes/a.py",
            (
                Change(1, "+", "import os"),
                Change(7, "-", "def g(x):"),
                Change(10, "+", "def g(x, y):"),
            ),
        )
    ]
    assert result.render().split("# Other Modifications\n#####\n")[1].split("\n\n")[0] == (
        "# _codes/a.py -> codes/a.py\n# 1 + import os\n# 7 - def g(x):\n# 10 + def g(x, y):"
    )


def test_removed_blank_line_prints_without_trailing_space(tmp_path):
    result = _check(tmp_path, {"a.py": "x = 1\n\ny = 2\n"}, {"a.py": "x = 1\ny = 2\n"})
    assert "\n# 2 -\n" in result.render()


def test_added_deleted_renamed_files_and_folders(tmp_path):
    template = {
        "layers.py": TWO_BLOCKS,
        "utils.py": "def u():\n    return 0\n",
        "old/keep.py": "k = 1\n",
    }
    renamed = TWO_BLOCKS.replace("    pass\n", "    return x\n").replace(
        "def f(x):", "def f(x):  # mine"
    )
    submission = {
        "my_layers.py": renamed,
        "plot.py": "import matplotlib\n",
        "data/a.bin": b"\0\1",
        "data/deep/b.bin": b"\0\2",
        "data/deep/c.txt": "c\n",
        "old/keep.py": "k = 1\n",
    }
    result = _check(tmp_path, template, submission)
    headers = [m.header() for m in result.modifications]
    assert headers == [
        "_codes/layers.py -> codes/my_layers.py (renamed)",
        f"added: codes/data{os.sep} (folder, 3 files)",
        "added: codes/plot.py",
        "deleted: _codes/utils.py",
    ]
    assert result.modifications[0].changes == (
        Change(1, "-", "def f(x):"),
        Change(1, "+", "def f(x):  # mine"),
    )
    assert [b.lines for b in result.filled] == [("    return x",), ("    return x",)]
    assert result.warnings == []


def test_deleted_file_with_todo_lines_is_a_breach(tmp_path):
    result = _check(tmp_path, {"a.py": TWO_BLOCKS, "b.py": "x = 1\n"}, {"b.py": "x = 1\n"})
    assert _messages(result.warnings) == [
        f"_codes/a.py: this file has 4 # TODO lines and is missing from codes{os.sep}"
    ]


# ---------------------------------------------------------------- breaches


def test_todo_line_changed_is_flagged_and_listed(tmp_path):
    submission = TWO_BLOCKS.replace("    # TODO END\n", "    # TODO END (done)\n", 1).replace(
        "pass", "return x"
    )
    result = _check(tmp_path, {"a.py": TWO_BLOCKS}, {"a.py": submission})
    assert _messages(result.warnings) == [
        "_codes/a.py:4: this # TODO line was changed or removed in codes/a.py: # TODO END"
    ]
    assert result.modifications[0].changes == (
        Change(4, "-", "    # TODO END"),
        Change(4, "+", "    # TODO END (done)"),
    )
    # The block still pairs with the template's, so its code is filled code.
    assert [b.lines for b in result.filled] == [("    return x",), ("    return x",)]


def test_other_todo_comment_removed_is_flagged(tmp_path):
    template = "# TODO: do not edit below\nx = 1\n"
    result = _check(tmp_path, {"a.py": template}, {"a.py": "x = 1\n"})
    assert _messages(result.warnings) == [
        (
            "_codes/a.py:1: this # TODO line was changed or removed in codes/a.py: "
            "# TODO: do not edit below"
        )
    ]


def test_unclosed_block_is_flagged(tmp_path):
    submission = TWO_BLOCKS.replace("    # TODO END\n", "    return 1\n", 1)
    result = _check(tmp_path, {"a.py": TWO_BLOCKS}, {"a.py": submission})
    assert _messages(result.warnings) == [
        (
            "codes/a.py:2: this TODO block is not closed before the TODO START at line 8 "
            "(nested, or a TODO END is missing)"
        ),
        "_codes/a.py:4: this # TODO line was changed or removed in codes/a.py: # TODO END",
    ]
    # The second block is intact, exactly as the template has it: reported as unfilled.
    assert result.filled == []
    assert [(b.line, b.lines) for b in result.unfilled] == [(8, ("    pass",))]


def test_block_never_closed_at_end_of_file(tmp_path):
    template = "def f():\n    # TODO START\n    # TODO END\n"
    result = _check(
        tmp_path, {"a.py": template}, {"a.py": "def f():\n    # TODO START\n    return 1\n"}
    )
    assert "codes/a.py:2: TODO START is never closed by a TODO END" in _messages(result.warnings)
    assert result.filled == []


def test_nested_block_is_flagged(tmp_path):
    template = "def f():\n    # TODO START\n    # TODO END\n"
    submission = (
        "def f():\n    # TODO START\n    a = 1\n    # TODO START\n    b = 2\n"
        "    # TODO END\n    # TODO END\n"
    )
    result = _check(tmp_path, {"a.py": template}, {"a.py": submission})
    assert _messages(result.warnings) == [
        (
            "codes/a.py:2: this TODO block is not closed before the TODO START at line 4 "
            "(nested, or a TODO END is missing)"
        ),
        "codes/a.py:7: TODO END without a TODO START",
    ]


def test_block_added_by_student_is_flagged_and_listed(tmp_path):
    template = "x = 1\n"
    submission = "x = 1\n# TODO START\ny = 2\n# TODO END\n"
    result = _check(tmp_path, {"a.py": template}, {"a.py": submission})
    assert _messages(result.warnings) == [
        (
            "codes/a.py:2: this TODO block is not in the template; "
            "its lines are listed as other modifications too"
        )
    ]
    assert result.modifications[0].changes == (
        Change(2, "+", "# TODO START"),
        Change(3, "+", "y = 2"),
        Change(4, "+", "# TODO END"),
    )


@pytest.mark.parametrize(
    "line, problem",
    [
        ("# Reference: stackoverflow", "format"),
        ("# Reference https://github.com/x", "format"),
        ("# reference: https://github.com/x", "format"),
        ("# Reference: Name: Xiao Ming", "format"),
        ("# Reference: https://github.com/x", None),
        ("# Reference: Name: Xiao Ming Student ID: 2018011234", None),
    ],
)
def test_reference_format(tmp_path, line, problem):
    template = "def f():\n    # TODO START\n    # TODO END\n"
    submission = f"def f():\n    # TODO START\n    {line}\n    return 1\n    # TODO END\n"
    result = _check(tmp_path, {"a.py": template}, {"a.py": submission})
    expected = (
        []
        if problem is None
        else [
            (
                'codes/a.py:3: a reference must read "# Reference: https://..." or '
                f'"# Reference: Name: X Student ID: Y": {line}'
            )
        ]
    )
    assert _messages(result.warnings) == expected
    assert len(result.references) == 1  # collected either way, so the teacher sees it


def test_reference_not_just_after_todo_start(tmp_path):
    template = "def f():\n    # TODO START\n    # TODO END\n\nx = 1\n"
    submission = (
        "def f():\n    # TODO START\n    return 1\n    # Reference: https://a.example\n"
        "    # TODO END\n\n# Reference: https://b.example\nx = 1\n"
    )
    result = _check(tmp_path, {"a.py": template}, {"a.py": submission})
    assert _messages(result.warnings) == [
        "codes/a.py:4: a reference must be a comment line just after # TODO START: # Reference: https://a.example",
        "codes/a.py:7: a reference must be a comment line just after # TODO START: # Reference: https://b.example",
    ]
    assert result.references == []


def test_reference_comment_in_template_code_is_not_flagged(tmp_path):
    template = "# Reference: the course notes\nx = 1\n"
    result = _check(tmp_path, {"a.py": template}, {"a.py": template})
    assert result.warnings == [] and result.modifications == []


# ---------------------------------------------------------------- awkward input


def test_crlf_submission_against_lf_template(tmp_path):
    submission = SEED_SUBMISSION.replace("\n", "\r\n")
    result = _check(tmp_path, {"layers.py": SEED_TEMPLATE}, {"layers.py": submission})
    assert [b.lines[-1] for b in result.filled] == ["        your codes..."]
    assert result.modifications[0].changes == (
        Change(8, "-", "        self._saved_tensor = None"),
        Change(8, "+", "        self._saved_tensor = None # add some thing"),
    )
    assert _messages(result.notes) == [
        (
            "codes/layers.py: line endings are CRLF, the template's are LF; "
            "lines were compared without them"
        )
    ]


def test_non_utf8_file_is_decoded_as_latin1_and_noted(tmp_path):
    template = "def f():\n    # TODO START\n    # TODO END\n"
    submission = "def f():\n    # TODO START\n    return 'caf\xe9'\n    # TODO END\n".encode(
        "latin-1"
    )
    result = _check(tmp_path, {"a.py": template}, {"a.py": submission})
    assert result.filled[0].lines == ("    return 'caf\xe9'",)
    assert _messages(result.notes) == [
        (
            "codes/a.py:3: is not valid UTF-8 from here; decoded as latin-1, "
            "so non-ASCII characters may show wrongly"
        )
    ]
    assert result.modifications == []


def test_utf8_bom_is_ignored_and_noted(tmp_path):
    result = _check(tmp_path, {"a.py": "x = 1\n"}, {"a.py": b"\xef\xbb\xbfx = 1\n"})
    assert result.modifications == []
    assert _messages(result.notes) == [
        "codes/a.py: starts with a UTF-8 byte-order mark, which is ignored"
    ]


def test_binary_files_are_compared_by_bytes(tmp_path):
    template = {"w.npy": b"\x93NUMPY\0\1", "same.bin": b"\0\0"}
    submission = {"w.npy": b"\x93NUMPY\0\2", "same.bin": b"\0\0"}
    result = _check(tmp_path, template, submission)
    assert result.modifications == [
        Modification("_codes/w.npy", "codes/w.npy", detail="not text, contents differ")
    ]
    assert "# _codes/w.npy -> codes/w.npy (not text, contents differ)\n" in result.render()
    assert _messages(result.notes) == [
        "codes/same.bin: binary file, compared byte for byte, not line by line",
        "codes/w.npy: binary file, compared byte for byte, not line by line",
    ]


def test_empty_files(tmp_path):
    template = {"empty.py": "", "filled.py": "", "emptied.py": "a = 1\n# TODO START\n# TODO END\n"}
    submission = {"empty.py": "", "filled.py": "a = 1\n", "emptied.py": ""}
    result = _check(tmp_path, template, submission)
    assert result.modifications == [
        Modification(
            "_codes/emptied.py",
            "codes/emptied.py",
            (Change(1, "-", "a = 1"), Change(2, "-", "# TODO START"), Change(3, "-", "# TODO END")),
        ),
        Modification("_codes/filled.py", "codes/filled.py", (Change(1, "+", "a = 1"),)),
    ]
    assert len(result.warnings) == 2  # both TODO lines of emptied.py are gone


def test_deep_folders(tmp_path):
    deep = "/".join(f"level{i}" for i in range(40)) + "/mod.py"
    template = {deep: "def f():\n    # TODO START\n    # TODO END\n"}
    submission = {deep: "def f():\n    # TODO START\n    return 42\n    # TODO END\n"}
    result = _check(tmp_path, template, submission)
    assert [(b.path, b.line, b.lines) for b in result.filled] == [
        (os.path.join("codes", *deep.split("/")), 2, ("    return 42",))
    ]


def test_missing_or_file_folders_raise_config_error(tmp_path):
    (tmp_path / "codes").mkdir()
    (tmp_path / "file.py").write_text("x = 1\n")
    with pytest.raises(
        ConfigError, match="the template folder .*nope.* does not exist; pass --template DIR"
    ):
        check_submission(tmp_path / "nope", tmp_path / "codes")
    with pytest.raises(
        ConfigError, match="the submission path .*file.py.* is a file, not a folder"
    ):
        check_submission(tmp_path / "codes", tmp_path / "file.py")


def test_template_inside_submission_and_summary_are_left_out(tmp_path):
    s = _tree(
        tmp_path / "codes", {"a.py": "x = 2\n", "_codes/a.py": "x = 1\n", "summary.txt": "old\n"}
    )
    result = check_submission(
        s / "_codes",
        s,
        template_label="_codes",
        submission_label="codes",
        ignore=[s / "summary.txt"],
    )
    assert [m.header() for m in result.modifications] == ["_codes/a.py -> codes/a.py"]


# ---------------------------------------------------------------- writing and the CLI


def test_write_summary_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "summary.txt"
    out.write_text("previous\n")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_summary("new\n", out)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.txt"]  # no temp file left
    monkeypatch.undo()
    write_summary("new\n", out)
    assert out.read_text() == "new\n"


def test_cli_writes_summary_and_strict_exit_code(tmp_path, capsys):
    t = _tree(tmp_path / "_codes", {"a.py": TWO_BLOCKS})
    s = _tree(tmp_path / "codes", {"a.py": TWO_BLOCKS.replace("    # TODO END\n", "", 1)})
    out = tmp_path / "summary.txt"
    argv = ["check", "--template", str(t), "--submission", str(s), "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # The intact second block holds the template's "pass": unfilled, not filled code.
    counts = "0 filled blocks, 1 unfilled, 0 references, 1 path changed, added or deleted, 2 warnings"
    assert captured.out == f"wrote {out}: {counts}\n"
    assert captured.err.count("warning: ") == 2
    assert "\n#####\n# Warnings\n#####\n# " in out.read_text()
    assert main(argv + ["--strict"]) == 1


def test_cli_prints_summary_with_dash(tmp_path, capsys):
    t = _tree(tmp_path / "_codes", {"layers.py": SEED_TEMPLATE})
    s = _tree(tmp_path / "codes", {"layers.py": SEED_SUBMISSION})
    assert main(["check", "--template", str(t), "--submission", str(s), "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert out == SEED_SUMMARY.replace("../codes", str(s)).replace("_codes/", f"{t}/")


def test_cli_missing_folder_is_one_line_error(tmp_path, capsys):
    assert main(["check", "--template", str(tmp_path / "nope"), "--submission", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    missing = tmp_path / "nope"
    assert err == (
        f"mnist-mlp check: error: the template folder '{missing}' does not exist; "
        "pass --template DIR\n"
    )


# ---------------------------------------------------------------- the project's own code


def _cut_functions(lines):
    """Two functions with multi-line bodies, as (first body line, end line, indent), 0-based."""
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body and body[-1].end_lineno - body[0].lineno >= 1:
                start = body[0].lineno - 1
                indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
                found.append((start, body[-1].end_lineno, indent))
    found.sort()
    return [found[0], found[-1]]  # the first and the last: blocks far apart


def _template_and_submission(lines):
    """Cut two bodies into empty TODO blocks; fill them back with a reference; change one import.

    Returns the template, the submission, the filled blocks as (1-based START line in
    the submission, indent, body) and the 0-based index of the changed import line.
    """
    template, submission = list(lines), list(lines)
    cuts = _cut_functions(lines)
    for start, end, ind in reversed(cuts):  # bottom up, so earlier indices stay valid
        template[start:end] = [f"{ind}# TODO START", f"{ind}# TODO END"]
        submission[start:end] = [
            f"{ind}# TODO START",
            f"{ind}# Reference: https://example.org/notes",
            *lines[start:end],
            f"{ind}# TODO END",
        ]
    # Each filled block is three lines longer than the body it wraps.
    filled = [
        (start + 1 + 3 * k, ind, lines[start:end]) for k, (start, end, ind) in enumerate(cuts)
    ]
    changed = next(i for i, line in enumerate(lines) if line.startswith("import "))
    if changed >= cuts[0][0]:
        raise RuntimeError("the test expects the imports above the cut functions")
    submission[changed] = lines[changed] + "  # used below"
    return template, submission, filled, changed


@pytest.mark.parametrize("source", ["mnist_mlp/layers.py", "mnist_mlp/course/codecheck.py"])
def test_project_source_cut_into_todo_blocks(tmp_path, source, capsys):
    path = REPO / source
    # A moved module must fail this test, not skip it: the check would silently stop covering it.
    assert path.exists(), f"{source} is not in this checkout; update the test's path"
    lines = path.read_text(encoding="utf-8").splitlines()
    template, submission, filled, changed = _template_and_submission(lines)
    name = path.name
    _tree(tmp_path / "_codes", {name: "\n".join(template) + "\n"})
    _tree(tmp_path / "codes", {name: "\n".join(submission) + "\n"})
    out = tmp_path / "summary.txt"
    assert (
        main(
            [
                "check",
                "--template",
                str(tmp_path / "_codes"),
                "--submission",
                str(tmp_path / "codes"),
                "--out",
                str(out),
                "--strict",
            ]
        )
        == 0
    )
    ref = "# Reference: https://example.org/notes"
    blocks = [
        "\n".join([f"# {tmp_path / 'codes' / name}:{line}", f"{ind}{ref}", *body])
        for line, ind, body in filled
    ]
    assert (
        out.read_text()
        == "\n\n".join(
            [
                "#####\n# Filled Code\n#####\n" + "\n\n".join(blocks),
                "#####\n# References\n#####\n# https://example.org/notes",
                (
                    "#####\n# Other Modifications\n#####\n"
                    f"# {tmp_path / '_codes' / name} -> {tmp_path / 'codes' / name}\n"
                    f"# {changed + 1} - {lines[changed]}\n"
                    f"# {changed + 1} + {lines[changed]}  # used below"
                ),
                "#####\n# Warnings\n#####",
            ]
        )
        + "\n"
    )
    assert (
        "2 filled blocks, 1 reference, 1 path changed, added or deleted, 0 warnings"
        in capsys.readouterr().out
    )


def test_blocks_pair_by_their_function_when_one_is_deleted(tmp_path):
    submission = "def g(x):\n    # TODO START\n    return x\n    # TODO END\n"
    result = _check(tmp_path, {"a.py": TWO_BLOCKS}, {"a.py": submission})
    assert [(b.line, b.lines) for b in result.filled] == [(2, ("    return x",))]
    assert result.modifications[0].changes == tuple(
        Change(n, "-", text) for n, text in enumerate(TWO_BLOCKS.splitlines()[:6], start=1)
    )
    assert _messages(result.warnings) == [
        "_codes/a.py:2: this # TODO line was changed or removed in codes/a.py: # TODO START",
        "_codes/a.py:4: this # TODO line was changed or removed in codes/a.py: # TODO END",
    ]


def test_moved_file_is_paired_and_unrelated_files_are_not(tmp_path):
    template = {"layers.py": SEED_TEMPLATE, "utils.py": "def u():\n    return 0\n"}
    submission = {"src/layers.py": SEED_SUBMISSION, "helpers.py": "import math\n\nprint(math.pi)\n"}
    result = _check(tmp_path, template, submission)
    assert [m.header() for m in result.modifications] == [
        f"_codes/layers.py -> codes{os.sep}src{os.sep}layers.py (renamed)",
        "added: codes/helpers.py",
        "deleted: _codes/utils.py",
    ]
    assert [b.path for b in result.filled] == [os.path.join("codes", "src", "layers.py")]


# ---------------------------------------------------------------- unfilled blocks (issue 18, item 10)

# A real student's layers.py of this assignment, as public repositories have it: Chinese comments,
# one block filled, the others still holding the course's placeholder.
COURSE_TEMPLATE = '''\
import numpy as np


class Selu(Layer):
    def forward(self, input):
        # TODO START
        """Your codes here"""
        pass
        # TODO END

    def backward(self, grad_output):
        # TODO START
        """Your codes here"""
        pass
        # TODO END


class Swish(Layer):
    def forward(self, input):
        # TODO START
        """Your codes here"""
        pass
        # TODO END

    def backward(self, grad_output):
        # TODO START
        """Your codes here"""
        pass
        # TODO END
'''.replace('"""', "'''")
PLACEHOLDER_BLOCK = "        # TODO START\n        '''Your codes here'''\n        pass\n        # TODO END"
FILLED_SELU = (
    "        # TODO START\n        # 前向传播：缓存输入\n        self._saved_for_backward(input)\n"
    "        return np.where(input > 0, 1.0507 * input, 1.0507 * 1.67326 * np.expm1(input))\n"
    "        # TODO END"
)


def test_blocks_left_as_the_template_has_them_are_listed_as_unfilled(tmp_path):
    assert COURSE_TEMPLATE.count(PLACEHOLDER_BLOCK) == 4
    submission = COURSE_TEMPLATE.replace(PLACEHOLDER_BLOCK, FILLED_SELU, 1)
    result = _check(tmp_path, {"layers.py": COURSE_TEMPLATE}, {"layers.py": submission})
    assert [b.line for b in result.filled] == [6]
    assert [b.line for b in result.unfilled] == [13, 21, 27]
    assert result.modifications == [] and result.warnings == []
    text = result.render()
    # The seed's three sections as they were; the untouched blocks in a section of their own.
    assert text.startswith("#####\n# Filled Code\n#####\n# codes/layers.py:6\n        # 前向传播")
    assert "Your codes here" not in text
    lines = [f"# codes/layers.py:{b.line}" for b in result.unfilled]
    assert ("#####\n# Other Modifications\n#####\n\n#####\n# Unfilled Code\n#####\n"
            + "\n".join(lines) + "\n\n#####\n# Warnings") in text
    assert result.summary_line().startswith("1 filled block, 3 unfilled, ")


def test_a_block_changed_only_in_trailing_spaces_or_blank_lines_is_still_unfilled(tmp_path):
    submission = COURSE_TEMPLATE.replace("        pass\n", "        pass   \n\n", 1)
    result = _check(tmp_path, {"layers.py": COURSE_TEMPLATE}, {"layers.py": submission})
    assert result.filled == [] and len(result.unfilled) == 4


def test_no_unfilled_section_when_every_block_is_filled(tmp_path):
    result = _check(tmp_path, {"a.py": SEED_TEMPLATE}, {"a.py": SEED_SUBMISSION})
    assert result.unfilled == [] and "Unfilled" not in result.render()


# ---------------------------------------------------------------- analyze.py in the source tree (item 8)


def test_analyze_in_a_fresh_clone_says_in_one_line_what_is_missing_and_how_to_get_it():
    run = subprocess.run([sys.executable, str(REPO / "code_analyze" / "analyze.py")], cwd=REPO,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("analyze.py: error: the submission folder")
    assert "mnist-mlp handout --out hw" in run.stderr and "--submission DIR" in run.stderr
    assert not (REPO / "code_analyze" / "summary.txt").exists()


def test_analyze_in_the_source_tree_compares_with_the_handouts_pristine_copy(tmp_path):
    # The source tree's layout (the package beside code_analyze/, no _codes anywhere) with a
    # student's codes/ added: the template is this project's handout, generated on the fly.
    from mnist_mlp.course.handout import build_handout

    (tmp_path / "code_analyze").mkdir()
    (tmp_path / "code_analyze" / "analyze.py").write_text((REPO / "code_analyze" / "analyze.py").read_text())
    os.symlink(REPO / "mnist_mlp", tmp_path / "mnist_mlp")
    (tmp_path / "codes").mkdir()
    for name, (template, _) in build_handout().items():
        (tmp_path / "codes" / name).write_text(template)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))  # this tree's package, not an installed one
    run = subprocess.run([sys.executable, "code_analyze/analyze.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "0 filled blocks, 18 unfilled, 0 references, 0 paths changed" in run.stdout
    assert "# Unfilled Code" in (tmp_path / "code_analyze" / "summary.txt").read_text()
