"""Build flat, self-contained Python files from named pieces of this package's source.

The handout is generated from the reference code at run time, so the two never
drift. A :class:`Bundle` is asked for pieces (a top-level class, function or
assignment of a module, by name); it reads the module's source with :mod:`ast`,
finds the names each piece uses, and pulls in what they refer to:

* a name defined in a module that maps to one of the output files goes into
  that file, and other files import it from there (``from layers import Layer``),
  as the seed's flat files import each other;
* a name from a package module that maps to no output file (``mnist_mlp.errors``,
  ``mnist_mlp.optim``) is inlined into the first file that needs it;
* a third-party or standard-library import (``numpy``, ``math``) is kept as is.

Whatever cannot be resolved this way raises :class:`HandoutError` naming the
piece and the name, so a change in the reference code that breaks the
generation fails loudly instead of writing a broken handout.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from mnist_mlp.course import pyast

__all__ = ["Bundle", "HandoutError", "Piece", "module_source"]

_PACKAGE = "mnist_mlp"
_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__"}


class HandoutError(RuntimeError):
    """The reference code changed so that the handout can no longer be generated."""


def module_source(module: str) -> Path:
    """The source file of ``module`` (``"mnist_mlp.layers"``), or of a path given as such."""
    if module.endswith(".py"):
        return Path(module)
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise HandoutError(f"cannot find the source of module {module!r}")
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


@dataclass
class _Module:
    """One parsed source module: its lines, top-level definitions and imports."""

    name: str
    lines: list[str]
    defs: dict[str, ast.stmt] = field(default_factory=dict)
    # bound name -> (module, attribute or None for "import module as name")
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str) -> _Module:
        text = module_source(name).read_text(encoding="utf-8")
        mod = cls(name, text.splitlines())
        for node in pyast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                mod.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        mod.defs[target.id] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    mod.imports[bound] = (alias.name if alias.asname else bound, None)
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    mod.imports[alias.asname or alias.name] = (node.module, alias.name)
        return mod

    def segment(self, node: ast.stmt) -> tuple[int, list[str]]:
        """The node's first line (0-based) and source lines, decorators and comments above included."""
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and self.lines[first - 1].lstrip().startswith("#"):
            first -= 1
        return first, self.lines[first : node.end_lineno]


def used_names(node: ast.AST) -> list[str]:
    """Free-looking names a piece of code loads, in order of first use."""
    seen: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            seen.setdefault(sub.id)
    return [name for name in seen if name not in _BUILTINS]


@dataclass(frozen=True)
class Piece:
    """A top-level definition of a module: ``Piece("mnist_mlp.layers", "Linear")``."""

    module: str
    name: str


class Bundle:
    """Collects pieces into output files, resolving each piece's dependencies.

    Parameters
    ----------
    homes : dict
        Package module -> output file it belongs to (``{"mnist_mlp.layers": "layers"}``).
    order : sequence of str
        The output files; a file may import only from files before it.
    """

    def __init__(self, homes: dict[str, str], order: list[str]):
        self.homes, self.order = homes, list(order)
        self._modules: dict[str, _Module] = {}
        self.pieces: dict[str, list[tuple[Piece, list[str]]]] = {f: [] for f in order}
        self.imports: dict[str, dict[str, str]] = {f: {} for f in order}
        self.local: dict[str, dict[str, dict[str, None]]] = {f: {} for f in order}
        self._placed: dict[Piece, str] = {}

    def module(self, name: str) -> _Module:
        if name not in self._modules:
            self._modules[name] = _Module.parse(name)
        return self._modules[name]

    def resolve(self, piece: Piece) -> Piece:
        """The piece where it is defined, following re-exports (``layers`` re-exports ``Relu``)."""
        for _ in range(10):
            mod = self.module(piece.module)
            if piece.name in mod.defs or piece.name not in mod.imports:
                return piece
            source, attr = mod.imports[piece.name]
            if source.split(".")[0] != _PACKAGE or attr is None:
                return piece
            piece = Piece(source, attr)
        raise HandoutError(f"{piece.name} is re-exported in a loop")

    def node(self, piece: Piece) -> ast.stmt:
        mod = self.module(piece.module)
        if piece.name not in mod.defs:
            raise HandoutError(
                f"the handout needs {piece.name!r} from {piece.module}, which no longer defines it"
            )
        return mod.defs[piece.name]

    def add(self, file: str, piece: Piece, lines: list[str] | None = None, node=None) -> None:
        """Put ``piece`` in ``file`` (its lines, or edited ``lines``), after what it needs.

        ``node`` is the parsed piece; its line numbers count in ``lines`` when those
        are given, else in the module's source.
        """
        if piece in self._placed:
            return
        offset = 0
        if lines is None:
            node = self.node(piece)
            offset, lines = self.module(piece.module).segment(node)
        self._placed[piece] = file
        lines, inlined = self._flatten_module_refs(piece, node, lines, offset)
        for name in used_names(node):
            if name not in inlined:
                self.need(file, piece, name)
        for module, attr in inlined.values():
            for name in attr:
                self._require(file, Piece(module, name), name)
        self.pieces[file].append((piece, lines))

    def add_glue(self, file: str, piece: Piece, lines: list[str], names: dict[str, str],
                 imports: dict[str, str]) -> None:
        """Put code written for the handout into ``file``; ``names`` says where its names live."""
        self._placed[piece] = file
        tree = pyast.parse("\n".join(lines))
        local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        for name in used_names(tree):
            if name in local:
                continue
            if name in imports:
                self.imports[file][name] = imports[name]
            elif name in names:
                self._require(file, Piece(names[name], name), name)
            elif name != piece.name:
                raise HandoutError(f"the handout's own {piece.name} uses {name!r}, which it does not place")
        self.pieces[file].append((piece, lines))

    def flatten(self, piece: Piece, lines: list[str]) -> list[str]:
        """``lines`` (another version of ``piece``) rewritten as :meth:`add` rewrites the piece."""
        return self._flatten_module_refs(piece, pyast.parse("\n".join(lines)), lines, 0)[0]

    def _flatten_module_refs(self, piece, node, lines, offset):
        """Rewrite ``checks.positive(...)`` as ``positive(...)`` for a package module no file holds.

        Such a module (``from mnist_mlp import checks``) has no flat file to import,
        so the attributes used are inlined like any other piece. Returns the lines
        and ``{alias: (module, {attribute, ...})}``.
        """
        mod, found = self.module(piece.module), {}
        for name in used_names(node):
            source, attr = mod.imports.get(name, (None, None))
            if source is None or source.split(".")[0] != _PACKAGE:
                continue
            target = source if attr is None else f"{source}.{attr}"
            if (attr is None or _is_module(target)) and self.homes.get(target) is None:
                found[name] = (target, {})
        if not found:
            return lines, {}
        lines, edits = list(lines), []
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in found:
                if sub.lineno != sub.end_lineno:
                    raise HandoutError(f"{piece.name}: {sub.value.id}.{sub.attr} spans lines")
                edits.append((sub.lineno - 1 - offset, sub.col_offset, sub.end_col_offset, sub.attr))
                found[sub.value.id][1][sub.attr] = None
        bare = sum(isinstance(n, ast.Name) and n.id in found for n in ast.walk(node))
        if bare != len(edits):
            raise HandoutError(f"{piece.name} in {piece.module} uses a package module other than "
                               f"by its attributes ({', '.join(found)}); the handout cannot flatten it")
        for row, start, end, attr in sorted(edits, reverse=True):
            lines[row] = lines[row][:start] + attr + lines[row][end:]
        return lines, found

    def need(self, file: str, user: Piece, name: str) -> None:
        """Make ``name``, as ``user``'s module binds it, available in ``file``."""
        mod = self.module(user.module)
        if name in mod.defs:
            self._require(file, Piece(mod.name, name), name)
        elif name in mod.imports:
            source, attr = mod.imports[name]
            if source.split(".")[0] != _PACKAGE:
                line = f"import {source}" + (f" as {name}" if name != source else "")
                if attr is not None:
                    line = f"from {source} import {attr}" + (f" as {name}" if name != attr else "")
                self.imports[file][name] = line
            elif attr is None or _is_module(f"{source}.{attr}"):
                target = source if attr is None else f"{source}.{attr}"
                if self.homes.get(target) is None:
                    raise HandoutError(f"{user.name} in {user.module} uses module {target}, which no handout file holds")
                self._import(file, self.homes[target], None, name, user)
            else:
                if attr != name:
                    raise HandoutError(f"{user.module} imports {attr} as {name}; the handout cannot rename it")
                self._require(file, Piece(source, attr), name)
        else:
            # A name bound only inside the piece (a local variable) or nowhere: leave it.
            return

    def _require(self, file: str, piece: Piece, name: str) -> None:
        piece = self.resolve(piece)
        home = self.homes.get(piece.module, self._placed.get(piece, file))
        if home == file:
            self.add(file, piece)
        else:
            self.add(home, piece)
            self._import(file, home, name, name, piece)

    def _import(self, file: str, home: str, attr: str | None, name: str, user: Piece) -> None:
        if self.order.index(home) >= self.order.index(file):
            raise HandoutError(
                f"{file}.py would import {name!r} from {home}.py, which comes later "
                f"(needed by {user.name} in {user.module}); the flat files would import in a cycle"
            )
        if attr is None:
            self.imports[file][name] = f"import {home}" + (f" as {name}" if name != home else "")
        else:
            self.local[file].setdefault(home, {})[name] = None

    def render(self, file: str, docstring: str, swap: dict[Piece, list[str]] | None = None) -> str:
        """The text of ``file``: docstring, imports, then its pieces (``swap`` replaces some)."""
        swap = swap or {}
        external = sorted(set(self.imports[file].values()), key=lambda l: (l.startswith("from"), l))
        local = [f"from {home} import {', '.join(names)}" for home, names in self.local[file].items()]
        head = ['"""' + docstring.strip() + '\n"""', "", "from __future__ import annotations", ""]
        head += external + ([""] if external and local else []) + local
        body = ["\n".join(swap.get(piece, lines)) for piece, lines in self.pieces[file]]
        return "\n".join(head) + "\n\n\n" + "\n\n\n".join(body) + "\n"
