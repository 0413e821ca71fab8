"""The checks that read a submission without running it: ``layout``, ``rules``, ``summary``.

* ``layout``: the seed's submission guideline: a report, ``summary.txt``,
  ``codes/*.py``, and no model weights, raw data or compiled objects.
* ``rules``: the ``# TODO`` lines intact and the TODO blocks well formed, the
  ``# Reference:`` lines in the seed's format (both from the code check), and
  no deep-learning framework (nor this project, the staff's reference) imported.
* ``summary``: the ``summary.txt`` the code check writes now, against the
  template, equals the submitted one in the seed's three sections, path
  separators and trailing spaces aside; else the difference.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path

from mnist_mlp.course import pyast
from mnist_mlp.course.codecheck import check_submission
from mnist_mlp.course.probes import Check
from mnist_mlp.course.submissions import Submission

__all__ = ["FORBIDDEN_IMPORTS", "forbidden_kind", "layout_check", "rules_check", "summary_check", "write_codes"]

FORBIDDEN_IMPORTS = frozenset({
    "torch", "torchvision", "tensorflow", "keras", "jax", "flax", "mxnet", "paddle", "chainer",
    "theano", "caffe", "caffe2", "mindspore", "oneflow", "cntk", "sklearn", "lightning",
    "pytorch_lightning", "mnist_mlp",
})
_WEIGHTS = (".npz", ".npy", ".pkl", ".pickle", ".pt", ".pth", ".h5", ".hdf5", ".ckpt",
            ".safetensors", ".onnx", ".joblib", ".pb", ".params")
_COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".o", ".obj", ".dll", ".dylib", ".exe", ".class", ".a")
_RAW_DATA = re.compile(r"(idx\d-ubyte|\.idx\d?|ubyte)(\.gz)?$", re.IGNORECASE)
_SECTIONS = ("Filled Code", "References", "Other Modifications")
# Where the student ran the check changes the folder prefix (``..\\codes\\``, ``../codes/``,
# ``/home/me/hw/codes/``), not what it found: compare from the ``codes/`` or ``_codes/`` on.
_PREFIX = re.compile(r"(?<![\w.])[^\s#]*?(?<![\w])(_codes|codes)/")


def layout_check(sub: Submission | None, refused: str | None = None) -> Check:
    """Everything the guideline asks for is there, and nothing it forbids."""
    if sub is None:
        return Check("layout", False, f"refused: {refused}")
    problems = list(sub.problems)
    problems += [f"{rel}: {kind}" for rel in sub.files if (kind := forbidden_kind(rel))]
    shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
    return Check("layout", not problems, "; ".join(shown) or "report, summary.txt and codes/*.py; nothing forbidden")


def forbidden_kind(rel: str) -> str | None:
    """What the seed's guideline forbids about this path, or None: weights, raw data, compiled."""
    lower, parts = rel.lower(), rel.split("/")
    if "__pycache__" in parts or lower.endswith(_COMPILED):
        return "a compiled object"
    if lower.endswith(_WEIGHTS):
        return "model weights or saved arrays"
    if _RAW_DATA.search(lower):
        return "raw data"
    return None


def write_codes(sub: Submission, folder: Path) -> Path:
    """Write the submission's ``codes/`` files to ``folder`` (made by the grader, never run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in sub.codes.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _forbidden_imports(rel: str, text: str) -> list[str]:
    try:
        tree = pyast.parse(text)
    except SyntaxError as exc:
        return [f"{rel} does not parse: {exc.msg} (line {exc.lineno})"]
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("__import__", "import_module"):
            names = [str(node.args[0].value)]
        found += [f"{rel}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_IMPORTS]
    return found


def rules_check(sub: Submission | None, template: Path, codes: Path | None, refused=None) -> Check:
    """TODO lines and blocks intact, references well formed, no framework imported."""
    if sub is None or codes is None:
        return Check("rules", False, f"refused: {refused}")
    problems = []
    texts, failures = sub.python_sources("codes/")
    problems += failures
    for rel, text in texts.items():
        problems += _forbidden_imports(rel, text)
    result = check_submission(template, codes, template_label="_codes", submission_label="codes")
    problems += [str(w) for w in result.warnings]
    shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8 else [])
    return Check("rules", not problems, "; ".join(shown) or "TODO lines intact, references well formed, no framework")


def _seed_sections(text: str) -> dict[str, list[str]]:
    """The seed's three sections of a summary, normalised: / for \\, no trailing spaces."""
    sections, current = {}, None
    lines = [line.rstrip().replace("\\", "/") for line in text.replace("\r\n", "\n").split("\n")]
    lines = [_PREFIX.sub(r"\1/", line) if line.startswith("# ") else line for line in lines]
    i = 0
    while i < len(lines):
        if lines[i] == "#####" and i + 2 < len(lines) and lines[i + 2] == "#####" and lines[i + 1].startswith("# "):
            current = lines[i + 1][2:]
            sections[current] = []
            i += 3
            continue
        if current is not None:
            sections[current].append(lines[i])
        i += 1
    return {name: _strip_blank(sections.get(name, [])) for name in _SECTIONS}


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines = lines[:-1]
    while lines and not lines[0]:
        lines = lines[1:]
    return lines


def summary_check(sub: Submission | None, template: Path, codes: Path | None, refused=None) -> Check:
    """The regenerated summary equals the submitted one (the seed's three sections)."""
    if sub is None or codes is None:
        return Check("summary", False, f"refused: {refused}")
    if "summary.txt" not in sub.files:
        return Check("summary", False, "no summary.txt in the submission")
    try:
        submitted = sub.text("summary.txt")
    except ValueError as exc:
        return Check("summary", False, str(exc))
    regenerated = check_submission(template, codes, template_label="_codes", submission_label="../codes").render()
    want, got = _seed_sections(regenerated), _seed_sections(submitted)
    if want == got:
        return Check("summary", True, "equals the summary regenerated from codes/")
    diff = []
    for name in _SECTIONS:
        if want[name] != got[name]:
            diff += [f"[{name}]"] + list(difflib.unified_diff(got[name], want[name], "submitted", "regenerated",
                                                             lineterm="", n=1))[2:]
    shown = diff[:30] + ([f"... {len(diff) - 30} more lines"] if len(diff) > 30 else [])
    return Check("summary", False, "summary.txt differs from the regenerated one:\n" + "\n".join(shown))
