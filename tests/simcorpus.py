"""A generated corpus for the similarity tool: honest authors and their disguised copiers.

An honest author fills every class of the template (FocalLoss, the bonus, only
sometimes) with one of the independent implementations of
:mod:`simcorpus_impls`, chosen at random, in their own words: their own variable
names, comments, blank lines, a helper at the top or the bottom of the file,
their own model in ``run_mlp.py``. Two honest authors therefore share what
honest students share: the same formula where they happened to write it the
same way, and the idioms of the assignment.

A copier takes one author's files and disguises them with any of
:data:`TRANSFORMS`, alone or combined:

* ``rename``: every name the author introduced gets a new one;
* ``comments``: comments dropped and new ones written, docstrings added to helpers;
* ``reformat``: spacing changed token by token, statements joined with ``;``,
  returns wrapped over three lines in parentheses, blank lines added;
* ``reorder``: the classes and functions of each file shuffled (``Layer`` first,
  so the file still runs);
* ``dead``: dead statements inserted in the TODO blocks.

Every random choice comes from the ``numpy.random.Generator`` passed in, and
every generated file parses (the generator checks).
"""

from __future__ import annotations

import ast
import difflib
import functools
import io
import itertools
import re
import tokenize
from dataclasses import dataclass, field

import numpy as np
from simcorpus_impls import (
    CLASSES,
    HELPER_FILE,
    HELPERS,
    IMPLS,
    MODELS,
    RUN_MLP,
    render_layers,
    render_loss,
    template_files,
)

from mnist_mlp.course.submissions import Submission

__all__ = [
    "TRANSFORMS",
    "VARIANTS",
    "Corpus",
    "as_submission",
    "disguise",
    "honest_author",
    "make_corpus",
]

TRANSFORMS = ("rename", "comments", "reformat", "reorder", "dead")
_MARKER = re.compile(r"^\s*#\s*TODO\s+(START|END)\b")
_KEEP = {"self", "np", "input", "grad_output", "target", "config", "name"}
_WORDS = ["val", "tmp", "res", "acc", "buf", "cur", "arr", "mat", "vec", "term", "part", "q", "z9"]
_COMMENTS = [
    "compute the forward pass", "vectorised over the batch", "see the formula in the handout",
    "gradient of the loss", "numerically stable version", "cache for backward", "shape (N, K)",
    "apply the chain rule", "elementwise", "TODO: check this", "average over the batch",
]  # fmt: skip
# Half are kinds the tokeniser drops (constants, pass, assert, if False), half are not.
_DEAD = [
    "_unused = 0", "debug = False", "pass", "assert True", "if False:\n    print('never')",
    "_ = len([])", "shape_seen = input.shape", "_tmp = np.zeros(1)", "for _ in range(0):\n    break",
    "flag = not True",
]  # fmt: skip


@dataclass
class Corpus:
    """Generated submissions with the truth: which are copies of which, and how."""

    submissions: list[Submission]
    groups: dict[str, str] = field(default_factory=dict)  # name -> its original's name
    kind: dict[str, str] = field(default_factory=dict)  # copy name -> "+"-joined transforms
    choices: dict[str, dict[str, int]] = field(default_factory=dict)  # author -> class -> impl

    def is_copy_pair(self, a: str, b: str) -> bool:
        return self.groups.get(a, a) == self.groups.get(b, b)


def as_submission(name: str, files: dict[str, str]) -> Submission:
    return Submission(name, name, {rel: text.encode() for rel, text in sorted(files.items())})


# --------------------------------------------------------------------------- honest authors


def _rename_in(text: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, mapping)) + r")(?!\w)")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def _defined_names(code: str) -> list[str]:
    """Names a piece of code assigns or defines (functions and their arguments too)."""
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.FunctionDef):
            names += [node.name] + [a.arg for a in node.args.args]
    return sorted(set(names) - _KEEP)


def _fresh_names(rng, names: list[str], taken: set[str]) -> dict[str, str]:
    mapping = {}
    for old in names:
        new = f"{_WORDS[rng.integers(len(_WORDS))]}_{old[:2].strip('_')}{rng.integers(100)}"
        if new not in taken:
            mapping[old] = new
            taken.add(new)
    return mapping


_NAME = r"[A-Za-z_][\w.]*"
# An honest author's habits: equivalent ways to write the same thing. Each author
# has each habit or not, and applies it everywhere; a copier copies the result.
_HABITS = [  # (pattern, replacement, share of authors with the habit)
    (rf"\b({_NAME})\.shape\[0\]", r"len(\1)", 0.4),
    (rf"\bnp\.(sum|max|mean)\(({_NAME}), axis=(\d)", r"\2.\1(axis=\3", 0.5),
    (rf"\bnp\.dot\(({_NAME}), ({_NAME})\)", r"\1 @ \2", 0.5),
    (rf"\b({_NAME}) \*\* 2\b", r"np.square(\1)", 0.3),
    (r"^return grad_output \* (.+)$", r"return (\1) * grad_output", 0.4),
    (r"self\._saved_for_backward\((.+)\)$", r"self._saved_tensor = \1", 0.3),
    (r"\(1 \+ np\.exp\(([^()]+)\)\)", r"(np.exp(\1) + 1)", 0.3),
    (rf"\bnp\.zeros_like\(({_NAME})\)", r"np.zeros(\1.shape)", 0.4),
    (r"\brange\(([^(),]+)\)", r"range(0, \1)", 0.2),
    (r"^(\s*)([\w.]+(?:\[[\w, ]+\])?) \+= (.+)$", r"\1\2 = \2 + (\3)", 0.3),
    (r"^return (?!\()(.+)$", "result = \\1\nreturn result", 0.4),
    (r"\baxis=(\d)", r"\1", 0.3),
    (r", keepdims=True\)", r")[:, np.newaxis]", 0.4),
    (rf"\b0\.5 \* ({_NAME})\b(?!\()", r"\1 / 2", 0.3),
    (r"\.astype\(float\)", r".astype(np.float64)", 0.5),
    (r"\bnp\.zeros\(\(([^()]+)\)\)", r"np.zeros([\1])", 0.3),
    (rf"\b({_NAME})\.T\b", r"np.transpose(\1)", 0.3),
    (rf"\b({_NAME}) > 0\b", r"0 < \1", 0.2),
    (r"\bnp\.maximum\(0(?:\.0)?, ([^()]+)\)", r"np.maximum(\1, 0)", 0.4),
]


def _habits(rng) -> list[tuple[str, str]]:
    return [(pattern, repl) for pattern, repl, share in _HABITS if rng.random() < share]


def _personal(rng, body: str, habits=()) -> str:
    """One author's wording of an implementation: habits, names, comments and blank lines."""
    for pattern, repl in habits:
        body = "\n".join(re.sub(pattern, repl, line) for line in body.split("\n"))
    if rng.random() < 0.5:
        body = _rename_in(body, _fresh_names(rng, _defined_names(body), set()))
    lines = body.split("\n")
    for _ in range(rng.integers(0, 3)):
        at = int(rng.integers(len(lines) + 1))
        indent = re.match(r"\s*", lines[min(at, len(lines) - 1)]).group()
        lines.insert(at, f"{indent}# {_COMMENTS[rng.integers(len(_COMMENTS))]}")
    if rng.random() < 0.3:
        lines.insert(0, "'''Your codes here'''")
    return "\n".join(lines)


def _place_helpers(text: str, helpers: list[str], at_top: bool) -> str:
    if not helpers:
        return text
    code = "\n\n\n".join(HELPERS[h] for h in helpers)
    if at_top:
        head, rest = text.split("\n\n\n", 1)
        return f"{head}\n\n\n{code}\n\n\n{rest}"
    return f"{text.rstrip()}\n\n\n{code}\n"


def honest_author(
    rng: np.random.Generator, bonus: float = 0.6, choices: dict | None = None
) -> dict[str, str]:
    """One honest student's ``codes/`` files (see the module docstring).

    ``choices``, when given, receives the implementation index chosen per class.
    """
    bodies, helpers, habits = {}, [], _habits(rng)
    for cls in CLASSES:
        if cls == "FocalLoss" and rng.random() >= bonus:
            continue
        pick = int(rng.integers(len(IMPLS[cls])))
        if choices is not None:
            choices[cls] = pick
        fwd, bwd, needs = IMPLS[cls][pick]
        bodies[cls] = (_personal(rng, fwd, habits), _personal(rng, bwd, habits))
        helpers += [h for h in needs if h not in helpers]
    at_top = bool(rng.random() < 0.5)
    files = template_files()
    for module, render in (("layers", render_layers), ("loss", render_loss)):
        mine = [h for h in helpers if HELPER_FILE[h] == module]
        files[f"codes/{module}.py"] = _place_helpers(render(bodies), mine, at_top)
    model = MODELS[rng.integers(len(MODELS))].format(
        h=int(rng.choice([128, 256, 512])),
        h2=int(rng.choice([64, 128])),
        act=str(rng.choice(["Selu", "Swish", "Gelu"])),
        loss=str(rng.choice(["SoftmaxCrossEntropyLoss", "HingeLoss", "MSELoss"])),
    )
    lr, mm = rng.choice(["0.1", "0.05", "0.01"]), rng.choice(["0.9", "0.0", "0.5"])
    files["codes/run_mlp.py"] = RUN_MLP.format(
        model=model, lr=lr, mm=mm, epochs=rng.integers(5, 50)
    )
    _check_parses(files)
    return files


# --------------------------------------------------------------------------- disguises


def _student_lines(text: str, template: str) -> set[int]:
    """0-based lines the student wrote: TODO block contents, and lines not in the template."""
    lines, mine, inside = text.split("\n"), set(), False
    for i, line in enumerate(lines):
        match = _MARKER.match(line)
        if match:
            inside = match.group(1) == "START"
        elif inside:
            mine.add(i)
    matcher = difflib.SequenceMatcher(None, template.split("\n"), lines, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("insert", "replace"):
            mine.update(range(j1, j2))
    return mine


@functools.cache
def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _is_simple(line: str) -> bool:
    """A whole simple statement on one line (not a header, a comment or part of a bracket)."""
    s = line.strip()
    return bool(s) and not s.startswith("#") and not s.endswith(":") and _parses(s)


def _rename(rng, text: str, template: str) -> str:
    lines, mine = text.split("\n"), _student_lines(text, template)
    code = "\n".join(lines[i].strip() for i in sorted(mine) if _is_simple(lines[i]))
    names = _defined_names(code) if code else []
    for i in sorted(mine):  # also "def f(x):" and "for v in ...:" headers
        m = re.match(r"\s*(?:def\s+(\w+)\((.*)\)|for\s+(.+?)\s+in\b)", lines[i])
        if m:
            found = re.findall(r"\w+", " ".join(g for g in m.groups() if g))
            names += [n for n in found if n not in _KEEP]
    # Names the template's own lines use (``model``, ``loss``) stay, so the code still runs.
    fixed = set(re.findall(r"\w+", "\n".join(l for i, l in enumerate(lines) if i not in mine)))
    mapping = _fresh_names(rng, sorted(set(names) - fixed), set(re.findall(r"\w+", text)))
    return "\n".join(
        _rename_in(line, mapping) if i in mine else line for i, line in enumerate(lines)
    )


def _comments(rng, text: str, template: str) -> str:
    lines, mine, out = text.split("\n"), _student_lines(text, template), []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i in mine and stripped.startswith("#") and not stripped.startswith("# Reference"):
            continue  # the author's own comments go
        if i in mine and rng.random() < 0.3 and stripped:
            indent = re.match(r"\s*", line).group()
            out.append(f"{indent}# {_COMMENTS[rng.integers(len(_COMMENTS))]} (my note)")
        out.append(line)
        if i in mine and re.match(r"def \w+\(", line):
            out.append(f'    """Helper: {_COMMENTS[rng.integers(len(_COMMENTS))]}."""')
    return "\n".join(out)


def _respace(rng, line: str) -> str:
    indent = re.match(r"\s*", line).group()
    try:
        toks = [
            t.string
            for t in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
            if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)
        ]
    except (tokenize.TokenError, SyntaxError):
        return line
    out = toks[0] if toks else ""
    for prev, tok in itertools.pairwise(toks):
        glued = (prev[-1].isalnum() or prev[-1] in "_'\"") and (
            tok[0].isalnum() or tok[0] in "_'\""
        )
        out += (" " if glued or rng.random() < 0.5 else "") + tok
    return indent + out


def _reformat(rng, text: str, template: str) -> str:
    lines, mine, out = text.split("\n"), _student_lines(text, template), []
    i = 0
    while i < len(lines):
        line = lines[i]
        if i not in mine or not _is_simple(line):
            out.append(line)
            i += 1
            continue
        line = _respace(rng, line)
        indent = re.match(r"\s*", line).group()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            i + 1 in mine
            and _is_simple(nxt)
            and re.match(r"\s*", nxt).group() == indent
            and rng.random() < 0.4
        ):
            out.append(f"{line}; {nxt.strip()}")
            i += 2
            continue
        m = re.match(r"(\s*)return\s+(.+)$", line)
        if m and "#" not in line and rng.random() < 0.6:
            out += [f"{indent}return (", f"{indent}    {m.group(2)}", f"{indent})"]
        else:
            out.append(line)
        if rng.random() < 0.15:
            out.append("")
        i += 1
    return "\n".join(out)


def _reorder(rng, text: str, template: str) -> str:
    chunks = re.split(r"\n(?=(?:class|def) )", text)
    head, body = chunks[0], chunks[1:]
    first = [c for c in body if c.startswith("class Layer(")]
    rest = [c for c in body if not c.startswith("class Layer(")]
    order = rng.permutation(len(rest))
    return (
        "\n".join([head] + first + [rest[k].rstrip("\n") + "\n\n" for k in order]).rstrip() + "\n"
    )


def _dead(rng, text: str, template: str) -> str:
    lines, out, base = text.split("\n"), [], None
    for line in lines:
        match = _MARKER.match(line)
        if match:
            base = None if match.group(1) == "END" else -1
        elif base is not None and line.strip() and not line.strip().startswith("#"):
            indent = len(line) - len(line.lstrip())
            base = indent if base == -1 else base
            opens = re.match(r"\s*(else|elif|except|finally\b|\))", line)
            if indent == base and not opens and rng.random() < 0.35:
                stmt = _DEAD[rng.integers(len(_DEAD))]
                out += [" " * indent + s for s in stmt.split("\n")]
        out.append(line)
    return "\n".join(out)


_APPLY = {  # in the order a combined disguise applies them
    "rename": _rename,
    "comments": _comments,
    "dead": _dead,
    "reformat": _reformat,
    "reorder": _reorder,
}


def disguise(rng: np.random.Generator, files: dict[str, str], transforms) -> dict[str, str]:
    """A copier's version of ``files``: the transforms applied in a fixed, sensible order."""
    template = template_files()
    out = dict(files)
    for name in [t for t in _APPLY if t in transforms]:
        for rel, text in out.items():
            if rel.endswith(".py"):
                out[rel] = _APPLY[name](rng, text, template.get(rel, ""))
    _check_parses(out)
    return out


def _check_parses(files: dict[str, str]) -> None:
    for rel, text in files.items():
        try:
            ast.parse(text)
        except SyntaxError as exc:  # a bug in this generator, not in the tool under test
            raise AssertionError(f"generated {rel} does not parse: {exc}\n{text}") from None


# --------------------------------------------------------------------------- corpus


VARIANTS = tuple((t,) for t in TRANSFORMS) + (TRANSFORMS,)


def _blocks(text: str) -> list[tuple[int, int]]:
    """(first, end) line ranges of the TODO blocks' contents, in order."""
    lines, out, start = text.split("\n"), [], None
    for i, line in enumerate(lines):
        match = _MARKER.match(line)
        if match and match.group(1) == "START":
            start = i + 1
        elif match and start is not None:
            out.append((start, i))
            start = None
    return out


def partial_copy(rng: np.random.Generator, files: dict[str, str], share: float = 0.5):
    """A copier who copies ``share`` of the classes (both blocks) and writes the rest."""
    own = honest_author(rng)
    copied = set(rng.choice(len(CLASSES), size=round(share * len(CLASSES)), replace=False))
    offset = 0
    for rel in ("codes/layers.py", "codes/loss.py"):
        mine, theirs = own[rel].split("\n"), files[rel].split("\n")
        pairs = list(zip(_blocks(own[rel]), _blocks(files[rel])))
        for n, ((a0, a1), (b0, b1)) in reversed(list(enumerate(pairs))):
            if (offset + n // 2) in copied:  # two blocks per class, classes in CLASSES order
                mine[a0:a1] = theirs[b0:b1]
        own[rel] = "\n".join(mine)
        offset += len(pairs) // 2
    _check_parses(own)
    return own


def make_corpus(seed: int, n_honest: int, copies=VARIANTS) -> Corpus:
    """``n_honest`` authors, and one copier per entry of ``copies`` (a tuple of transforms).

    Copier ``i`` copies author ``i % n_honest``, so with fewer copies than authors
    every copied author has one copier: pairs, as copying mostly is. The entry
    ``("partial",)`` makes a :func:`partial_copy` instead.
    """
    rng = np.random.default_rng(seed)
    corpus, originals = Corpus([]), []
    for i in range(n_honest):
        name = f"s{i:03d}"
        corpus.choices[name] = {}
        originals.append((name, honest_author(rng, choices=corpus.choices[name])))
        corpus.submissions.append(as_submission(name, originals[-1][1]))
    for i, transforms in enumerate(copies):
        name, files = originals[i % n_honest]
        kind = "+".join(transforms) if set(transforms) != set(TRANSFORMS) else "all"
        copy = f"{name}_{kind}" + (f"_{i // n_honest}" if i >= n_honest else "")
        if transforms == ("partial",):
            made = partial_copy(rng, files)
        else:
            made = disguise(rng, files, transforms)
        corpus.submissions.append(as_submission(copy, made))
        corpus.groups[copy] = name
        corpus.kind[copy] = kind
    return corpus
