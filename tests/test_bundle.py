"""``mnist-mlp bundle``: the student's ID.zip in the seed's layout, and what it refuses."""

import zipfile

import pytest
from coursefakes import solution_codes, write_template

from mnist_mlp.cli import main
from mnist_mlp.course.codecheck import check_submission
from mnist_mlp.course.filechecks import layout_check
from mnist_mlp.course.submissions import read_submission


@pytest.fixture
def homework(tmp_path):
    """A student's folder as the handout leaves it, filled in, with a report."""
    hw = tmp_path / "hw"
    (hw / "codes").mkdir(parents=True)
    for name, text in solution_codes().items():
        (hw / "codes" / name).write_text(text)
    (hw / "codes" / "README.md").write_text("Run: python run_mlp.py\n")
    (hw / "codes" / "__pycache__").mkdir()
    (hw / "codes" / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\0" * 8)
    (hw / "codes" / "loss_curve.png").write_bytes(b"\x89PNG")
    (hw / "Report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    write_template(hw / "code_analyze" / "_codes")
    return hw


def test_bundle_writes_the_seeds_layout_with_a_fresh_summary(homework, tmp_path, capsys):
    out = tmp_path / "2024000001.zip"
    assert main(["bundle", "--student-id", "2024000001", "--codes", str(homework / "codes"),
                 "--report", str(homework), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out: __pycache__/layers.cpython-311.pyc, loss_curve.png" in printed
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        summary = archive.read("summary.txt").decode()
    assert names == ["Report.pdf", "codes/README.md", *sorted(f"codes/{n}" for n in solution_codes()),
                     "summary.txt"]
    expected = check_submission(homework / "code_analyze" / "_codes", homework / "codes",
                                template_label="_codes", submission_label="../codes",
                                ignore=[homework / "codes" / "__pycache__", homework / "codes" / "loss_curve.png"])
    assert summary == expected.render()
    assert len(expected.filled) == 18 and expected.warnings == []
    # What the grader's layout check says about it: full marks.
    check = layout_check(read_submission(out))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("name, kind", [("model.npz", "model weights or saved arrays"), ("train-images-idx3-ubyte", "raw data"),
                                        ("fast.so", "a compiled object"), ("weights.pkl", "model weights or saved arrays")])
def test_bundle_refuses_weights_raw_data_and_compiled_objects(homework, tmp_path, capsys, name, kind):
    (homework / "codes" / name).write_bytes(b"\0" * 16)
    out = tmp_path / "x.zip"
    assert main(["bundle", "--student-id", "2024000001", "--codes", str(homework / "codes"),
                 "--report", str(homework), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"the seed forbids submitting {name} ({kind})" in err and err.count("\n") == 1
    assert not out.exists()


def test_bundle_needs_one_report_and_a_sane_id(homework, tmp_path, capsys):
    (homework / "Report.pdf").unlink()
    assert main(["bundle", "--student-id", "2024000001", "--codes", str(homework / "codes"),
                 "--report", str(homework), "--out", str(tmp_path / "x.zip")]) == 1
    assert "has no report file" in capsys.readouterr().err
    (homework / "Report.md").write_text("# Report\n")
    assert main(["bundle", "--student-id", "../evil", "--codes", str(homework / "codes"),
                 "--report", str(homework)]) == 1
    assert "the student ID must be" in capsys.readouterr().err


def test_bundle_without_a_handout_copy_compares_with_this_projects_handout(homework, tmp_path):
    import shutil

    shutil.rmtree(homework / "code_analyze")
    from mnist_mlp.course.bundle import build_bundle

    path, _ = build_bundle("s1", homework / "codes", homework / "Report.pdf", tmp_path / "s1.zip")
    with zipfile.ZipFile(path) as archive:
        summary = archive.read("summary.txt").decode()
    assert summary.count("# ../codes/") == 18 and "# Unfilled Code" not in summary
