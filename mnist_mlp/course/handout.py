"""The course handout, generated from this project's reference code: ``mnist-mlp handout``.

:func:`build_handout` returns the seed's seven files (``layers.py``, ``loss.py``,
``load_data.py``, ``utils.py``, ``network.py``, ``solve_net.py``, ``run_mlp.py``),
flat, importing each other, NumPy only. The classes and functions come from the
package's own modules through :mod:`mnist_mlp.course.extract`; the bodies the seed
asks students to write (Linear, Selu, Swish, Gelu; MSELoss, SoftmaxCrossEntropyLoss,
HingeLoss; FocalLoss as the bonus) become ``# TODO START`` / ``# TODO END`` blocks
holding the course's placeholder, or, for the solution, the reference's own lines.

Three things are adapted rather than copied, each because the reference relies on
the package around it: ``Network.backward`` is the plain reverse loop (the
package's skips the first layer's input gradient through ``Linear.backward_params``,
which the seed's layer contract does not have); ``load_mnist_2d`` reads the four
IDX files directly (the package's resolves dataset names and fetch commands); and
``run_mlp.py`` does not download data. :func:`write_handout` adds ``code_analyze/``:
``analyze.py``, the checker it runs (one generated file, so no install is needed)
and ``_codes/``, the pristine copy it compares against.
"""

from __future__ import annotations

import ast
import os
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import mnist_mlp
from mnist_mlp.course import pyast
from mnist_mlp.course.extract import Bundle, HandoutError, Piece
from mnist_mlp.errors import ConfigError

__all__ = ["HANDOUT_FILES", "TODO_CLASSES", "HandoutError", "build_handout", "write_handout"]

REPO = Path(mnist_mlp.__file__).resolve().parents[1]
HANDOUT_FILES = ("utils", "layers", "loss", "network", "solve_net", "load_data", "run_mlp")
_RUN_MLP = str(REPO / "run_mlp.py")
_HOMES = {
    "mnist_mlp.utils": "utils",
    "mnist_mlp.base": "layers",
    "mnist_mlp.activations": "layers",
    "mnist_mlp.layers": "layers",
    "mnist_mlp.loss": "loss",
    "mnist_mlp.network": "network",
    "mnist_mlp.solve_net": "solve_net",
    "mnist_mlp.load_data": "load_data",
    "mnist_mlp.data.idx": "load_data",
    _RUN_MLP: "run_mlp",
}
PLACEHOLDER = ("'''Your codes here'''", "pass")
# Methods of a TODO class that stay given: construction, the update rule, bookkeeping.
_GIVEN_METHODS = frozenset({"__init__", "update", "params", "grads", "extra_repr"})


@dataclass(frozen=True)
class _Class:
    """How one class enters the handout."""

    module: str
    name: str
    todo: tuple[str, ...] = ()  # public methods whose bodies students write
    inline: tuple[str, ...] = ()  # helper methods folded into the TODO bodies that call them
    keep: tuple[str, ...] | None = None  # for a given class: the methods kept (None: all)
    drop: tuple[str, ...] = ()


_FB = ("forward", "backward")
# The docstrings of the classes students write are the seed's descriptions: the package's own
# spell out the derivatives, which are the students' to find.
_SEED_DOCS = {
    "Linear": "Fully connected layer: treats each input as a row vector x and computes u = xW + b.",
    "Selu": "SeLU: f(u) = lambda * u for u > 0, lambda * alpha * (exp(u) - 1) for u <= 0,\n"
            "    with lambda = 1.0507 and alpha = 1.67326.",
    "Swish": "Swish: f(u) = u / (1 + exp(-u)).",
    "Gelu": "GeLU: f(u) = 0.5 * u * (1 + tanh(sqrt(2 / pi) * (u + 0.044715 * u ** 3))).",
    "MSELoss": "Mean squared error: E = (1 / N) * sum_n ||t(n) - y(n)||^2, with one-hot labels t.",
    "SoftmaxCrossEntropyLoss": "Softmax of the inputs, then the cross-entropy with the one-hot labels,\n"
                               "    averaged over the batch.",
    "HingeLoss": "Multi-class hinge loss: E(n) = sum over k != t_n of max(0, margin - x_t + x_k),\n"
                 "    averaged over the batch (the seed's margin is 5).",
    "FocalLoss": "Focal loss (bonus): E(n) = -sum_k (alpha_k t_k + (1 - alpha_k)(1 - t_k))\n"
                 "    * (1 - h_k)^gamma * t_k * ln h_k, with h the softmax of the inputs.",
}
TODO_CLASSES = ("Linear", "Selu", "Swish", "Gelu", "MSELoss", "SoftmaxCrossEntropyLoss",
                "HingeLoss", "FocalLoss")
_CLASSES = {
    "layers": [
        _Class("mnist_mlp.base", "Layer"),
        # The reference Linear defers x^T G for SGD's fused update (mnist_mlp.deferred,
        # mnist_mlp.blas); students get the textbook layer of _LINEAR_TEXTBOOK instead.
        _Class("mnist_mlp.layers", "Linear", todo=_FB,
               drop=("backward_params", "grad_W", "diff_W", "diff_b")),
        _Class("mnist_mlp.activations", "Relu", drop=("_backward_inplace",)),
        _Class("mnist_mlp.activations", "Sigmoid"),
        _Class("mnist_mlp.activations", "Selu", todo=_FB),
        _Class("mnist_mlp.activations", "Swish", todo=_FB),
        _Class("mnist_mlp.activations", "Gelu", todo=_FB),
    ],
    "loss": [_Class("mnist_mlp.loss", name, todo=_FB) for name in TODO_CLASSES[4:]],
    "network": [
        _Class("mnist_mlp.network", "Network",
               keep=("__init__", "add", "forward", "backward", "update", "train", "eval",
                     "evaluating", "dtype", "training", "named_params", "__repr__")),
    ],
}
_FUNCTIONS = {
    "utils": [("mnist_mlp.utils", n) for n in ("onehot_encoding", "calculate_acc", "LOG_INFO",
                                                "set_seed", "get_rng")],
    "solve_net": [("mnist_mlp.solve_net", n) for n in ("data_iterator", "train_net", "test_net")],
    "run_mlp": [(_RUN_MLP, "config"), (_RUN_MLP, "build_model"), (_RUN_MLP, "main")],
}
# Statements of the reference that call these are left out: package services.
_PACKAGE_ONLY_CALLS = frozenset({"ensure_dataset"})

_NETWORK_BACKWARD = '''\
    def backward(self, grad_output):
        """Back-propagate ``grad_output`` through the layers in reverse; return d(loss)/d(input)."""
        grad = grad_output
        for layer in reversed(self.layer_list):
            grad = layer.backward(grad)
        return grad
'''
# The handout's Linear: the reference's interface and mathematics in the seed's textbook
# form. Its update is the rule of mnist_mlp.optim.SGD written out, v <- mu v + (g + lambda w),
# w <- w - eta v (weight decay on W and b, as there), without the fused BLAS product.
# __init__ is the reference's, with its lines about the deferred gradient and the owned
# SGD replaced: (reference line, stripped) -> the handout's lines in its place.
_LINEAR_INIT_EDITS = {
    "self._grad_W = np.zeros_like(self.W)": ["self.grad_W = np.zeros_like(self.W)"],
    "self._pending = None  # the last batch's weight gradient as a ProductGrad, until read": [],
    "# The optimiser behind the seed's update(config); the rate comes with every step.": [],
    "self._sgd = SGD(1.0)": ["self.diff_W = np.zeros_like(self.W)  # momentum buffers (velocities)",
                            "self.diff_b = np.zeros_like(self.b)"],
}


def _textbook_linear_init(lines: list[str]) -> list[str]:
    """The reference ``Linear.__init__`` lines with :data:`_LINEAR_INIT_EDITS` applied."""
    out, seen = [], set()
    for line in lines:
        key = line.strip()
        if key not in _LINEAR_INIT_EDITS:
            out.append(line)
            continue
        seen.add(key)
        indent = line[: len(line) - len(line.lstrip())]
        out += [indent + new for new in _LINEAR_INIT_EDITS[key]]
    missing = set(_LINEAR_INIT_EDITS) - seen
    if missing:
        raise HandoutError(f"the handout edits Linear.__init__ but the reference no longer has: "
                           f"{'; '.join(sorted(missing))}")
    return out


_LINEAR_TEXTBOOK = {
    "__init__": _textbook_linear_init,
    "backward": '''\
        input = self._saved()
        grad_output = grad_output.astype(self.W.dtype, copy=False)
        self.grad_W = input.T @ grad_output
        self.grad_b = grad_output.sum(axis=0)
        return grad_output @ self.W.T
''',
    "update": '''\
    def update(self, config):
        r"""SGD with momentum and L2 weight decay, with the config's ``learning_rate``,
        ``momentum`` and ``weight_decay``: :math:`v \\leftarrow \\mu v + g + \\lambda w,\\
        w \\leftarrow w - \\eta v`."""
        mm, wd = config.get("momentum", 0.0), config.get("weight_decay", 0.0)
        lr = config["learning_rate"]
        self.diff_W = mm * self.diff_W + (self.grad_W + wd * self.W)
        self.diff_b = mm * self.diff_b + (self.grad_b + wd * self.b)
        self.W = self.W - lr * self.diff_W
        self.b = self.b - lr * self.diff_b
''',
    "grads": '''\
    def grads(self):
        return {"W": self.grad_W, "b": self.grad_b}
''',
}
_OVERRIDES = {"Network": {"backward": _NETWORK_BACKWARD}, "Linear": _LINEAR_TEXTBOOK}
_LOAD_MNIST_2D = '''\
def load_mnist_2d(data_dir="data", normalize=DEFAULT_NORMALIZE):
    """Load MNIST from the four IDX files in ``data_dir``.

    Returns ``train_data, test_data, train_label, test_label``: images as
    ``(n, 784)`` float32 arrays (``(x - 128) / 255`` by default), labels as int64
    digits 0-9.
    """
    arrays = []
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte",
                 "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        # As the course hands the files out, or as some mirrors name them; raw or gzipped.
        names = [stem, stem.replace("-idx", ".idx", 1)]
        paths = [os.path.join(data_dir, n + gz) for n in names for gz in ("", ".gz")]
        found = [p for p in paths if os.path.isfile(p)]
        if not found:
            raise FileNotFoundError(f"{os.path.join(data_dir, stem)}: file not found")
        arrays.append(read_idx(found[0]))
    train_x, test_x, train_y, test_y = arrays
    train_data = normalize_images(train_x.reshape(len(train_x), -1), normalize)
    test_data = normalize_images(test_x.reshape(len(test_x), -1), normalize)
    return train_data, test_data, train_y.astype(np.int64), test_y.astype(np.int64)
'''
_RUN_MAIN = '''\
if __name__ == "__main__":
    sys.exit(main())
'''
_DOCSTRINGS = {
    "utils": "Utility functions: one-hot encoding, accuracy, logging, seeding.",
    "layers": "Layers: Layer (the base class), Linear, and the activations Relu, Sigmoid, "
              "Selu, Swish, Gelu.\n\nImplement the blocks between # TODO START and # TODO END; "
              "Relu and Sigmoid are given for reference.",
    "loss": "Losses: MSELoss, SoftmaxCrossEntropyLoss, HingeLoss and (bonus) FocalLoss.\n\n"
            "Implement the blocks between # TODO START and # TODO END.",
    "network": "The network class: layers stacked in order, trained end to end.",
    "solve_net": "train_net and test_net: one epoch of training, one pass of testing.",
    "load_data": "Load MNIST from its IDX files: train_data, test_data, train_label, test_label.",
    "run_mlp": "Train and test an MLP on MNIST: python run_mlp.py [--epochs N] [--data-dir DIR]",
}


# --------------------------------------------------------------------------- class editing


def _body_start(lines: list[str], fn: ast.FunctionDef) -> int:
    """0-based first line of ``fn``'s body after its docstring, comments above it included."""
    body = fn.body
    has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
        and isinstance(body[0].value.value, str)
    if has_doc:
        if len(body) == 1:
            raise HandoutError(f"{fn.name} has only a docstring: nothing to turn into a TODO block")
        start, floor = body[1].lineno - 1, body[0].end_lineno
    else:
        start, floor = body[0].lineno - 1, fn.body[0].lineno - 1
        floor = max(floor - 1, fn.lineno)
    while start > floor and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def _reindent(lines: list[str], indent: str) -> list[str]:
    return [indent + line if line.strip() else "" for line in textwrap.dedent("\n".join(lines)).split("\n")]


def _inline_calls(lines, fn, methods, inline, owner) -> list[str]:
    """``fn``'s body lines with each ``x = self.m(args)`` of an inlined ``m`` replaced by m's body."""
    out, pos = [], _body_start(lines, fn)
    for stmt in fn.body[1 if ast.get_docstring(fn) else 0 :]:
        call = getattr(stmt, "value", None)
        name = getattr(getattr(call, "func", None), "attr", None)
        if not (isinstance(call, ast.Call) and name in inline and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "self"):
            continue
        helper = methods[name]
        params = [a.arg for a in helper.args.args[1:]]
        args = [a.id if isinstance(a, ast.Name) else None for a in call.args]
        ret = helper.body[-1]
        if params != args or call.keywords or not isinstance(ret, ast.Return) or ret.value is None:
            raise HandoutError(f"{owner}.{fn.name}: cannot inline self.{name}(...): "
                               "it must pass its parameters by their own names and end in a return")
        indent = lines[stmt.lineno - 1][: len(lines[stmt.lineno - 1]) - len(lines[stmt.lineno - 1].lstrip())]
        inner = _reindent(lines[_body_start(lines, helper) : ret.lineno - 1], indent)
        value = ast.get_source_segment("\n".join(lines), ret.value)
        if isinstance(stmt, ast.Return):
            inner.append(f"{indent}return {value}")
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            if stmt.targets[0].id != value:
                inner.append(f"{indent}{stmt.targets[0].id} = {value}")
        else:
            raise HandoutError(f"{owner}.{fn.name}: cannot inline the call to self.{name}")
        out += lines[pos : stmt.lineno - 1] + inner
        pos = stmt.end_lineno
    return out + lines[pos : fn.end_lineno]


def _todo_block(indent: str, content: list[str]) -> list[str]:
    return [f"{indent}# TODO START", *content, f"{indent}# TODO END"]


def _edit_class(lines: list[str], node: ast.ClassDef, spec: _Class, override: dict[str, str]):
    """The class's solution lines and template lines (equal for a class without TODO blocks)."""
    methods = {n.name: n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [m for m in (*spec.todo, *spec.inline, *(spec.keep or ())) if m not in methods]
    if missing:
        raise HandoutError(f"the handout needs {spec.name}.{', '.join(missing)} from {spec.module}")
    todo = set(spec.todo) | {m for m in methods if spec.todo and m.startswith("_") and not m.startswith("__")
                             and m not in spec.inline}
    solution, template, pos = [], [], node.lineno - 1
    doc = node.body[0] if ast.get_docstring(node) is not None else None
    if spec.todo and spec.name in _SEED_DOCS:
        head = lines[pos : node.body[0].lineno - 1]
        text = [*f'    """{_SEED_DOCS[spec.name]}"""'.split("\n"), *([""] if doc is None else [])]
        solution, template = head + text, head + text
        pos = doc.end_lineno if doc is not None else node.body[0].lineno - 1
    for name, fn in methods.items():
        first = min([fn.lineno] + [d.lineno for d in fn.decorator_list]) - 1
        dropped = name in spec.drop or name in spec.inline or (spec.keep is not None and name not in spec.keep)
        if not dropped or pos == node.lineno - 1:
            # A dropped method takes the blank and comment lines above it along.
            shared = lines[pos:first]
            solution, template = solution + shared, template + shared
        pos = fn.end_lineno
        if dropped:
            continue
        if name in override and name in todo and name not in _GIVEN_METHODS:
            # The override is the body of the solution; the signature stays the reference's.
            start = _body_start(lines, fn)
            head = lines[first:start]
            indent = " " * (fn.col_offset + 4)
            body = _reindent(override[name].rstrip("\n").split("\n"), indent)
            solution += head + _todo_block(indent, body)
            template += head + _todo_block(indent, [indent + p for p in PLACEHOLDER])
        elif name in override:
            edit = override[name]  # the method's new text, or a function of its lines
            text = edit(lines[first:pos]) if callable(edit) else edit.rstrip("\n").split("\n")
            solution, template = solution + text, template + text
        elif name in todo and not (spec.todo and name in _GIVEN_METHODS):
            start = _body_start(lines, fn)
            head = lines[first:start]
            indent = " " * (fn.col_offset + 4)
            body = _inline_calls(lines, fn, methods, spec.inline, spec.name)
            solution += head + _todo_block(indent, body)
            template += head + _todo_block(indent, [indent + p for p in PLACEHOLDER])
        else:
            solution += lines[first:pos]
            template += lines[first:pos]
    tail = lines[pos : node.end_lineno]
    return solution + tail, template + tail


# --------------------------------------------------------------------------- the files


def _drop_package_calls(lines: list[str], node: ast.FunctionDef) -> tuple[list[str], ast.AST]:
    """A function's lines without the statements that call package-only services."""
    cut = set()
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                and getattr(stmt.value.func, "id", None) in _PACKAGE_ONLY_CALLS:
            cut.update(range(stmt.lineno - 1, stmt.end_lineno))
    base = node.lineno - 1
    kept = [line for i, line in enumerate(lines[base : node.end_lineno], base) if i not in cut]
    return kept, pyast.parse(textwrap.dedent("\n".join(kept)))


# Where the names the glue code uses come from (the glue is ours, so it says so itself,
# instead of relying on what the reference module happens to import).
_GLUE_NAMES = {
    "read_idx": "mnist_mlp.data.idx", "normalize_images": "mnist_mlp.load_data",
    "DEFAULT_NORMALIZE": "mnist_mlp.load_data", "main": _RUN_MLP,
}
_GLUE_IMPORTS = {"os": "import os", "np": "import numpy as np", "sys": "import sys"}


def _glue(bundle: Bundle, file: str, module: str, name: str, text: str) -> None:
    bundle.add_glue(file, Piece(module, name), text.rstrip("\n").split("\n"), _GLUE_NAMES, _GLUE_IMPORTS)


def build_handout() -> dict[str, tuple[str, str]]:
    """The handout's files: ``{"layers.py": (template_text, solution_text), ...}``.

    Raises
    ------
    HandoutError
        When the reference code no longer has a piece the handout is made of.
    """
    bundle, swap = Bundle(_HOMES, list(HANDOUT_FILES)), {}
    for file in HANDOUT_FILES:
        if file == "load_data":  # in its turn: what it inlines may already sit in an earlier file
            _glue(bundle, "load_data", "mnist_mlp.load_data", "load_mnist_2d", _LOAD_MNIST_2D)
        for spec in _CLASSES.get(file, []):
            piece = Piece(spec.module, spec.name)
            lines = bundle.module(spec.module).lines
            override = _OVERRIDES.get(spec.name, {})
            solution, template = _edit_class(lines, bundle.node(piece), spec, override)
            bundle.add(file, piece, solution, pyast.parse("\n".join(solution)))
            if template != solution:
                swap[piece] = bundle.flatten(piece, template)
        for module, name in _FUNCTIONS.get(file, []):
            if module == _RUN_MLP and not Path(_RUN_MLP).is_file():
                raise HandoutError(f"the handout's run_mlp.py is made from {_RUN_MLP}, which is missing "
                                   "(run mnist-mlp handout from a source checkout)")
            node = bundle.node(Piece(module, name))
            if isinstance(node, ast.FunctionDef) and name == "main":
                lines, parsed = _drop_package_calls(bundle.module(module).lines, node)
                bundle.add(file, Piece(module, name), lines, parsed)
            else:
                bundle.add(file, Piece(module, name))
    _glue(bundle, "run_mlp", _RUN_MLP, "__main__", _RUN_MAIN)
    return {
        f"{file}.py": (bundle.render(file, _DOCSTRINGS[file], swap), bundle.render(file, _DOCSTRINGS[file]))
        for file in HANDOUT_FILES
    }


def build_checker() -> str:
    """``code_analyze/_codecheck.py``: this package's code check as one stand-alone file."""
    bundle = Bundle({}, ["_codecheck"])
    for name in ("check_and_write", "check_submission", "write_summary"):
        bundle.add("_codecheck", Piece("mnist_mlp.course.codecheck", name))
    doc = ("The code check of mnist-mlp (mnist_mlp.course.codecheck), generated as one file so\n"
           "that code_analyze/analyze.py runs without installing anything. Do not edit.")
    return bundle.render("_codecheck", doc)


def fill_blocks(template: str, solution: str) -> str:
    """``template`` with each TODO block's contents taken from the same block of ``solution``.

    The two must have the same TODO blocks in the same order (as the handout's
    template and solution do); this is how a student's filled handout looks.
    """
    t_lines, s_lines = template.split("\n"), solution.split("\n")
    t_blocks, s_blocks = _marker_pairs(t_lines), _marker_pairs(s_lines)
    if len(t_blocks) != len(s_blocks):
        raise ValueError(f"{len(t_blocks)} TODO blocks in the template, {len(s_blocks)} in the solution")
    out, pos = [], 0
    for (t0, t1), (s0, s1) in zip(t_blocks, s_blocks):
        out += t_lines[pos : t0 + 1] + s_lines[s0 + 1 : s1]
        pos = t1
    return "\n".join(out + t_lines[pos:])


def _marker_pairs(lines: list[str]) -> list[tuple[int, int]]:
    starts = [i for i, line in enumerate(lines) if line.strip() == "# TODO START"]
    ends = [i for i, line in enumerate(lines) if line.strip() == "# TODO END"]
    return list(zip(starts, ends))


def write_handout(out: str | os.PathLike, *, solution: bool = False) -> Path:
    """Write the handout to ``out``: ``codes/`` and ``code_analyze/`` (see the module docstring).

    ``solution=True`` writes ``codes/`` filled in (the staff's reference); the
    ``_codes/`` copy in ``code_analyze/`` is the pristine template either way.
    Refuses a folder that exists and is not empty, so nothing is overwritten.
    """
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"the handout folder {str(root)!r} exists and is not empty; "
                          "choose a new folder with --out DIR")
    files = build_handout()
    checker = build_checker()
    analyze = REPO / "code_analyze" / "analyze.py"
    if not analyze.is_file():
        raise HandoutError(f"{analyze} is missing: run mnist-mlp handout from a source checkout")
    for folder in ("codes", "code_analyze/_codes"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, (template, filled) in files.items():
        (root / "codes" / name).write_text(filled if solution else template, encoding="utf-8")
        (root / "code_analyze" / "_codes" / name).write_text(template, encoding="utf-8")
    (root / "code_analyze" / "_codecheck.py").write_text(checker, encoding="utf-8")
    shutil.copyfile(analyze, root / "code_analyze" / "analyze.py")
    return root
