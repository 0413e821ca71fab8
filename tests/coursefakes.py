"""Generated submissions for the grading tests: the handout's solution, edited one block at a time."""

from __future__ import annotations

import ast
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from mnist_mlp.course.codecheck import check_submission
from mnist_mlp.course.handout import build_handout

# The default rubric with a training budget small enough for tests (seconds, not minutes).
FAST_TRAINING = {"hidden": 64, "epochs": 1, "train_size": 10000, "learning_rate": 0.1,
                 "threshold": 0.85}


@lru_cache(maxsize=1)
def handout_files() -> dict[str, tuple[str, str]]:
    return build_handout()


def fast_rubric(folder: Path) -> Path:
    from mnist_mlp.course.rubric import DEFAULT_RUBRIC

    text = DEFAULT_RUBRIC.read_text()
    for key, value in FAST_TRAINING.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    path = folder / "fast.toml"
    path.write_text(text)
    return path


def write_template(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (template, _) in handout_files().items():
        (folder / name).write_text(template)
    return folder


def replace_block(text: str, cls: str, method: str, body: list[str]) -> str:
    """``text`` with the TODO block of ``cls.method`` holding ``body`` (indented like the block)."""
    lines = text.split("\n")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == method:
                    span = range(fn.lineno, fn.end_lineno)
                    start = next(i for i in span if lines[i].strip() == "# TODO START")
                    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "# TODO END")
                    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
                    return "\n".join(lines[: start + 1] + [indent + b for b in body] + lines[end:])
    raise AssertionError(f"no TODO block in {cls}.{method}")


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"the solution no longer contains {old!r}"
    return text.replace(old, new, 1)


def solution_codes(**changes) -> dict[str, str]:
    """The solution's files, with ``changes`` = {"layers.py": function(text) -> text, ...}."""
    codes = {name: solution for name, (_, solution) in handout_files().items()}
    for name, change in changes.items():
        codes[name] = change(codes[name])
    return codes


def make_submission(folder: Path, codes: dict[str, str], summary: str | None = None,
                    extra: dict[str, bytes] | None = None) -> Path:
    """A submission folder: Report.md, codes/, and a summary.txt regenerated from codes/."""
    (folder / "codes").mkdir(parents=True)
    (folder / "Report.md").write_text("# Report\n")
    for name, text in codes.items():
        (folder / "codes" / name).write_text(text)
    for rel, data in (extra or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    if summary is None:
        template = write_template(folder.parent / f".{folder.name}-template")
        summary = check_submission(template, folder / "codes", template_label="_codes",
                                   submission_label="../codes").render()
    (folder / "summary.txt").write_text(summary)
    return folder


def hostile(code: str):
    """A change to layers.py that runs ``code`` when the module is imported."""
    return lambda text: edit(text, "from utils import get_rng\n", "from utils import get_rng\n" + code)


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def twenty(folder: Path, n: int = 20) -> list[Path]:
    """``n`` generated submissions for timing ``mnist-mlp grade``: correct ones and broken ones.

    Usage: ``python tests/coursefakes.py OUT [N]``. One in four is correct; the others
    have one bug each (a wrong gradient, an unstable softmax, a flipped hinge, a bad summary).
    """
    kinds = [
        {},
        {"layers.py": lambda t: edit(t, "return grad_output @ self.W.T", "return grad_output @ self.W.T * 0.5")},
        {"loss.py": lambda t: edit(t, "input - correct + self.margin", "input - correct - self.margin")},
        {"layers.py": lambda t: edit(t, "return grad_output * (s * (1 + u * (1 - s)))", "return grad_output * s")},
    ]
    paths = []
    for i in range(n):
        paths.append(make_submission(folder / f"student{i:02d}", solution_codes(**kinds[i % len(kinds)])))
    return paths


if __name__ == "__main__":
    import sys

    for path in twenty(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20):
        print(path)
