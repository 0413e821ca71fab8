"""``mnist-mlp grade``: every check's pass and fail on generated submissions, hostile ones included.

All submissions are graded in one run (two in parallel) under small limits; each
test then reads its submission's row. The submissions are the handout's
solution with one thing changed, so a correct one passes every check and each
broken one fails exactly where it is broken, for the stated reason.
"""

import csv
import hashlib
import json
import socket
import zipfile
from pathlib import Path

import pytest
from coursefakes import (
    edit,
    fast_rubric,
    hostile,
    make_submission,
    replace_block,
    solution_codes,
    zip_folder,
)

from mnist_mlp.cli import main
from mnist_mlp.course.bundle import build_bundle
from mnist_mlp.course.rubric import CHECK_NAMES, load_rubric

CODE_CHECKS = [n for n in CHECK_NAMES if n not in ("summary", "rules", "layout")]


def _snapshot(*roots):
    """Path -> (size, sha256) of every file under the roots: what must not change."""
    seen = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.is_symlink():
                seen[str(path)] = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return seen


def _submissions(root: Path, listener_port: int, mnist_dir: Path, sentinel: Path) -> dict[str, Path]:
    subs = {}

    def add(name, codes=None, **kw):
        subs[name] = make_submission(root / name, codes or solution_codes(), **kw)

    add("good")
    add("gelu_sigmoid_backward", solution_codes(**{"layers.py": lambda t: replace_block(
        t, "Gelu", "backward", ["u, t = self._saved()", "s = stable_sigmoid(1.702 * u)",
                                "return grad_output * (s + 1.702 * u * s * (1 - s))"])}))
    add("softmax_without_max", solution_codes(**{"loss.py": lambda t: replace_block(
        t, "SoftmaxCrossEntropyLoss", "forward", [
            "target = self._check(input, target)", "e = np.exp(input)",
            "return float(-np.sum(target * np.log(e / e.sum(axis=1, keepdims=True))) / input.shape[0])"])}))
    add("hinge_sign_flipped", solution_codes(**{"loss.py": lambda t: edit(
        t, "input - correct + self.margin", "input - correct - self.margin")}))
    add("linear_no_transpose", solution_codes(**{"layers.py": lambda t: edit(
        t, "return grad_output @ self.W.T", "return grad_output @ self.W")}))
    # The import is tried once, when layers.py loads; torch may even be installed.
    add("torch_import", solution_codes(**{"layers.py": hostile(
        "try:\n    import torch  # noqa: F401\nexcept Exception:\n    torch = None\n")}))
    add("todo_end_removed", solution_codes(**{"layers.py": lambda t: _drop_line(t, "Swish", "forward")}))
    good = solution_codes()
    wrong_summary = (root / "good" / "summary.txt").read_text().replace("return output", "return 2 * output", 1)
    add("summary_mismatch", good, summary=wrong_summary)
    add("weights_and_cache", extra={"codes/model.npz": b"PK\x05\x06" + b"\0" * 18,
                                    "codes/__pycache__/layers.cpython-311.pyc": b"\0" * 16,
                                    "data/t10k-labels-idx1-ubyte": b"\0\0\x08\x01"})
    add("infinite_loop", solution_codes(**{"layers.py": hostile("while True:\n    pass\n")}))
    add("memory_hog", solution_codes(**{"layers.py": hostile(
        "import numpy as _np\n_hog = _np.ones((50 * 1024**3) // 8)\n")}))
    add("fork_bomb", solution_codes(**{"layers.py": hostile("import os as _os\nwhile True:\n    _os.fork()\n")}))
    add("write_outside", solution_codes(**{"layers.py": hostile(
        f"open({str(sentinel)!r}, 'w').write('overwritten')\n")}))
    add("socket_loopback", solution_codes(**{"layers.py": hostile(
        f"import socket as _s\n_s.create_connection(('127.0.0.1', {listener_port}), timeout=2).send(b'x')\n")}))
    add("reads_test_labels", solution_codes(**{"layers.py": hostile(
        f"_labels = open({str(mnist_dir / 't10k-labels-idx1-ubyte')!r}, 'rb').read()\n")}))
    zip_folder(subs.pop("good"), root / "good.zip")
    subs["good"] = root / "good.zip"
    subs["bundled"] = _bundle(root)
    with zipfile.ZipFile(root / "zip_slip.zip", "w") as archive:
        archive.writestr("codes/layers.py", "x = 1\n")
        archive.writestr("../evil.py", "print('escaped')\n")
    subs["zip_slip"] = root / "zip_slip.zip"
    with zipfile.ZipFile(root / "zip_bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("codes/layers.py", "x = 1\n")
        archive.writestr("Report.md", b"\0" * (150 << 20))
    subs["zip_bomb"] = root / "zip_bomb.zip"
    return subs


def _drop_line(text, cls, method):
    """Remove the ``# TODO END`` of ``cls.method``'s block."""
    lines = text.split("\n")
    start = text.index(f"class {cls}(")
    end_at = text.index("# TODO END", text.index(f"def {method}(", start))
    line_no = text.count("\n", 0, end_at)
    assert lines[line_no].strip() == "# TODO END"
    return "\n".join(lines[:line_no] + lines[line_no + 1:])


def _bundle(root: Path) -> Path:
    folder = root / "student"
    (folder / "codes").mkdir(parents=True)
    for name, text in solution_codes().items():
        (folder / "codes" / name).write_text(text)
    (folder / "codes" / "README.md").write_text("How to run: python run_mlp.py\n")
    (folder / "Report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    return build_bundle("2024000001", folder / "codes", folder, root / "2024000001.zip")[0]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mnist_dir):
    root = tmp_path_factory.mktemp("grade")
    sentinel = root / "grader-notes.txt"
    sentinel.write_text("the grader's own file\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    subs = _submissions(root / "subs", listener.getsockname()[1], mnist_dir, sentinel)
    rubric = fast_rubric(root)
    before = _snapshot(root, mnist_dir)
    out = root / "out"
    code = main(["grade", *map(str, subs.values()), "--out", str(out), "--jobs", "2",
                 "--time-limit", "12", "--memory-limit", "1024", "--rubric", str(rubric),
                 "--data-dir", str(mnist_dir)])
    listener.setblocking(False)
    try:
        connection = listener.accept()
    except BlockingIOError:
        connection = None
    listener.close()
    after = _snapshot(root, mnist_dir)
    rows = json.loads((out / "grades.json").read_text())
    by_name = dict(zip(subs, rows))
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
               and not p.startswith(str(out))}
    return {"code": code, "rows": by_name, "out": out, "connection": connection, "changed": changed,
            "sentinel": sentinel, "root": root}


def _checks(graded, name):
    return {c["name"]: c for c in graded["rows"][name]["checks"]}


def _failed(graded, name):
    return set(graded["rows"][name]["failed"])


def test_a_correct_submission_passes_every_check_with_full_marks(graded):
    assert graded["code"] == 0
    rubric = load_rubric()
    for name in ("good", "bundled"):
        row = graded["rows"][name]
        assert row["failed"] == [], {c["name"]: c["detail"] for c in row["checks"] if not c["passed"]}
        assert row["score"] == sum(rubric.points.values())
        assert row["max_score"] == rubric.max_score
    assert "validation accuracy" in _checks(graded, "good")["training"]["detail"]


def test_gelu_with_the_sigmoid_approximations_gradient_fails_its_backward_only(graded):
    assert _failed(graded, "gelu_sigmoid_backward") == {"Gelu.backward"}
    assert "off by" in _checks(graded, "gelu_sigmoid_backward")["Gelu.backward"]["detail"]


def test_softmax_without_the_max_subtraction_fails_stability(graded):
    assert _failed(graded, "softmax_without_max") == {"stability"}
    detail = _checks(graded, "softmax_without_max")["stability"]["detail"]
    assert detail.startswith("SoftmaxCrossEntropyLoss: FloatingPointError") and "overflow" in detail


def test_hinge_with_the_margin_sign_flipped_fails_both_hinge_checks(graded):
    assert _failed(graded, "hinge_sign_flipped") == {"HingeLoss.forward", "HingeLoss.backward"}


def test_linear_backward_without_the_transpose_fails_backward_and_training(graded):
    failed = _failed(graded, "linear_no_transpose")
    assert failed == {"Linear.backward", "training"}
    assert "ValueError" in _checks(graded, "linear_no_transpose")["Linear.backward"]["detail"]


def test_a_torch_import_fails_the_rules(graded):
    assert _failed(graded, "torch_import") == {"rules"}
    assert "imports torch" in _checks(graded, "torch_import")["rules"]["detail"]


def test_a_removed_todo_end_fails_the_rules(graded):
    assert _failed(graded, "todo_end_removed") == {"rules"}
    assert "# TODO END" in _checks(graded, "todo_end_removed")["rules"]["detail"]


def test_a_summary_that_does_not_match_fails_with_the_difference(graded):
    assert _failed(graded, "summary_mismatch") == {"summary"}
    detail = _checks(graded, "summary_mismatch")["summary"]["detail"]
    assert "-        return 2 * output" in detail and "+        return output" in detail


def test_weights_caches_and_raw_data_fail_the_layout(graded):
    detail = _checks(graded, "weights_and_cache")["layout"]["detail"]
    assert _failed(graded, "weights_and_cache") == {"layout"}
    for part in ("codes/model.npz: model weights", "__pycache__/layers.cpython-311.pyc: a compiled object",
                 "data/t10k-labels-idx1-ubyte: raw data"):
        assert part in detail


@pytest.mark.parametrize("name, reason", [
    ("infinite_loop", "timed out after 12 s of wall-clock time"),
    ("memory_hog", "memory limit of 1024 MB exceeded"),
    ("fork_bomb", "sandbox: tried to open a new process (os.fork"),
    ("write_outside", "outside its scratch folder"),
    ("socket_loopback", "sandbox: tried to open a network socket"),
    ("reads_test_labels", "t10k-labels-idx1-ubyte, outside its scratch folder"),
])
def test_hostile_code_fails_every_code_check_with_the_reason(graded, name, reason):
    checks = _checks(graded, name)
    for check in CODE_CHECKS:
        assert not checks[check]["passed"], check
        assert reason in checks[check]["detail"], (check, checks[check]["detail"])
    # Its files were fine; only running them failed.
    assert checks["layout"]["passed"] and checks["rules"]["passed"]


def test_nothing_outside_the_scratch_folders_changed(graded):
    assert graded["changed"] == set()
    assert graded["sentinel"].read_text() == "the grader's own file\n"
    assert graded["connection"] is None  # nothing reached the listener on 127.0.0.1
    assert not (graded["root"] / "evil.py").exists() and not (graded["root"] / "subs" / "evil.py").exists()


@pytest.mark.parametrize("name, reason", [("zip_slip", "escapes"), ("zip_bomb", "")])
def test_unsafe_archives_are_refused_with_the_reason_and_the_others_still_graded(graded, name, reason):
    row = graded["rows"][name]
    assert set(row["failed"]) == set(CHECK_NAMES) and row["score"] == 0
    detail = _checks(graded, name)["layout"]["detail"]
    assert detail.startswith("refused: ") and reason in detail
    assert graded["rows"]["good"]["failed"] == []


def test_csv_json_and_html_agree(graded):
    rows = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    assert [r["submission"] for r in rows] == [row["submission"] for row in graded["rows"].values()]
    by = {r["submission"]: r for r in rows}
    assert by["hinge_sign_flipped"]["failed"] == "HingeLoss.forward;HingeLoss.backward"
    assert float(by["good"]["score"]) == graded["rows"]["good"]["score"]
    page = (graded["out"] / "grades.html").read_text()
    assert page.count("<tr><td>") == len(rows) and "addEventListener(\"click\"" in page
    assert "imports torch" in page
    for row in graded["rows"].values():
        for check in row["checks"]:
            assert set(check) == {"name", "passed", "points", "detail"}


def test_zip_bomb_reason_names_the_size_limit(graded):
    detail = _checks(graded, "zip_bomb")["layout"]["detail"].lower()
    assert "limit" in detail or "bytes" in detail, detail
