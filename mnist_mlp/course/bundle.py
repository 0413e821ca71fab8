"""The student's side: ``mnist-mlp bundle`` builds ``ID.zip`` as the seed's submission guideline lays it out.

::

    ID.zip
        Report.pdf (or .md, .doc, .docx)
        summary.txt        generated now by the code check, against the pristine template
        codes/*.py
        codes/README.md    (or README.txt, optional)

Model weights, raw data and compiled objects in ``codes/`` are refused with
their names (the seed: "DO NOT include model weights/raw data/compiled
objects/unrelated stuff"); ``__pycache__`` folders and other files are left
out and named. ``mnist-mlp grade`` gives what this writes full marks on its
``layout`` check.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path

from mnist_mlp.course.codecheck import check_submission
from mnist_mlp.course.filechecks import forbidden_kind
from mnist_mlp.course.handout import build_handout
from mnist_mlp.errors import ConfigError
from mnist_mlp.fileio import atomic_write

__all__ = ["build_bundle"]

_REPORT = re.compile(r"^report\.(pdf|md|doc|docx)$", re.IGNORECASE)
_README = re.compile(r"^readme(\.(md|txt))?$", re.IGNORECASE)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _find_report(report: Path) -> Path:
    if report.is_file():
        if not _REPORT.match(report.name):
            raise ConfigError(f"the report {str(report)!r} must be named Report.pdf, .md, .doc or .docx")
        return report
    if not report.is_dir():
        raise ConfigError(f"the report folder {str(report)!r} does not exist; pass --report DIR")
    found = sorted(p for p in report.iterdir() if p.is_file() and _REPORT.match(p.name))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(p.name for p in found)})"
        raise ConfigError(f"{str(report)!r} has {what} report file; the seed asks for one "
                          "Report.pdf, .md, .doc or .docx; pass --report FILE")
    return found[0]


def _code_files(codes: Path) -> tuple[dict[str, Path], list[str]]:
    """The files to bundle (``*.py`` and the README) and the ones left out; refuses forbidden ones."""
    if not codes.is_dir():
        raise ConfigError(f"the code folder {str(codes)!r} does not exist; pass --codes DIR")
    keep, skipped, forbidden = {}, [], []
    for path in sorted(codes.rglob("*")):
        rel = path.relative_to(codes).as_posix()
        if path.is_symlink():
            raise ConfigError(f"{rel} in {str(codes)!r} is a symbolic link; copy the file in instead")
        if not path.is_file() or "__pycache__" in rel.split("/"):
            skipped += [rel] if path.is_file() else []
            continue
        kind = forbidden_kind(rel)
        if kind:
            forbidden.append(f"{rel} ({kind})")
        elif rel.endswith(".py") or ("/" not in rel and _README.match(rel)):
            keep[rel] = path
        else:
            skipped.append(rel)
    if forbidden:
        raise ConfigError(f"the seed forbids submitting {', '.join(forbidden)}; move them out of "
                          f"{str(codes)!r} and run bundle again")
    if not any(rel.endswith(".py") for rel in keep):
        raise ConfigError(f"{str(codes)!r} holds no .py files; pass --codes DIR")
    return keep, skipped


def _template_for(codes: Path, template: str | os.PathLike | None, scratch: Path) -> Path:
    if template is not None:
        return Path(template)
    for candidate in (codes.parent / "code_analyze" / "_codes", codes.parent / "_codes"):
        if candidate.is_dir():
            return candidate
    for name, (text, _) in build_handout().items():
        (scratch / name).write_text(text, encoding="utf-8")
    return scratch


def build_bundle(student_id: str, codes="codes", report=".", out=None, template=None) -> tuple[Path, list[str]]:
    """Write ``ID.zip``; return its path and the files left out.

    Raises
    ------
    ConfigError
        A bad student ID, a missing report or code folder, forbidden files.
    """
    if not _ID.match(student_id or ""):
        raise ConfigError(f"the student ID must be letters, digits, '.', '_' or '-'; got {student_id!r}")
    codes, report_path = Path(codes), _find_report(Path(report))
    files, skipped = _code_files(codes)
    target = Path(out) if out is not None else Path(f"{student_id}.zip")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    with tempfile.TemporaryDirectory() as scratch:
        result = check_submission(_template_for(codes, template, Path(scratch)), codes,
                                  template_label="_codes", submission_label="../codes",
                                  ignore=[codes / rel for rel in skipped])
        summary = result.render()
    with atomic_write(target, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(report_path, "Report" + report_path.suffix.lower())
        archive.writestr("summary.txt", summary)
        for rel, path in files.items():
            archive.write(path, f"codes/{rel}")
    return target, skipped
