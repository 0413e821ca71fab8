"""Read and validate the study file (``experiments.toml``) before anything trains.

The file has five tables (see the repository's ``experiments.toml`` for a full
example):

``[defaults]``
    :class:`~mnist_mlp.train.config.TrainConfig` settings every run starts from.
``[runs.NAME]``
    One training run: the settings it changes, optionally ``extends = "OTHER"``
    to start from another run's settings instead of the defaults.
``[groups.NAME]``
    A comparison: ``title``, ``runs`` (names), optional ``note`` and the
    ``variable`` its runs differ in.
``[variables]``
    Named sets of keys that change together, e.g. ``loss = ["loss", "margin",
    "gamma", "alpha"]``: hinge uses margin 5 and softmax + hinge margin 0.5, yet
    both comparisons vary one thing, the loss. A variable may also be a single
    TrainConfig key (``variable = "activation"``), or ``"none"`` for a group of
    one run.
``[quick]``
    Settings that ``--quick`` applies on top of every run (a data subset, few epochs),
    and optionally ``seeds``, the number of seeds of a quick study.

A top-level ``note = "..."`` is printed in the report's set-up section. A
top-level ``seeds = N`` (before the first table) trains every run once per
seed: seeds ``s, s+1, ..., s+N-1`` where ``s`` is the run's ``seed`` setting. A
*job* is one (run, seed) pair (:class:`Job`). Without ``seeds`` a study has one
seed; ``--quick`` uses ``[quick] seeds``, else at most two.

"Controlling variables" is enforced: a group whose runs differ in any key
outside its variable is refused, naming the group and the extra keys. Errors name
the file and line. :mod:`tomllib` reports no line numbers for valid TOML with
wrong content, so :func:`line_index` finds them with a small line-aware pass
over the raw text (table headers and ``key =`` lines).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field

from mnist_mlp.activations import ACTIVATIONS
from mnist_mlp.errors import ConfigError
from mnist_mlp.fileio import read_settings_text
from mnist_mlp.loss import LOSSES
from mnist_mlp.train.config import TrainConfig

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["RunSpec", "GroupSpec", "Suite", "Job", "load_suite", "parse_suite", "parse_settings",
           "line_index", "Locator",
           "settings_key_fields", "NO_VARIABLE", "QUICK_SEEDS"]

NO_VARIABLE = "none"
QUICK_SEEDS = 2  # seeds of a --quick study when [quick] does not say
_TOP_LEVEL = ("seeds", "note", "defaults", "runs", "groups", "variables", "quick")
_QUICK_ONLY_KEYS = ("seeds",)
_GROUP_KEYS = ("title", "variable", "runs", "note")
_RUN_ONLY_KEYS = ("extends",)
# Machine-specific: set on the command line (--data-dir), never part of a run's identity.
_NOT_IN_FILE = ("data_dir",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def settings_key_fields():
    """TrainConfig fields a study file may set, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _NOT_IN_FILE)


@dataclass(frozen=True)
class RunSpec:
    """One run: its name, its settings as written (defaults and ``extends`` resolved)."""

    name: str
    settings: dict
    line: int | None = None

    def config(self, overrides=None) -> TrainConfig:
        """The run's TrainConfig, with ``overrides`` (e.g. the quick settings) on top."""
        return TrainConfig.from_dict({**self.settings, **(overrides or {})})


@dataclass(frozen=True)
class GroupSpec:
    """A comparison of runs that differ only in ``keys`` (the keys of ``variable``)."""

    name: str
    title: str
    variable: str
    keys: tuple
    runs: tuple
    note: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Job:
    """One training job: a run trained with one seed (its config carries the seed)."""

    run: str
    seed: int
    config: TrainConfig

    @property
    def id(self):
        """``(run name, seed)``: how results are keyed."""
        return (self.run, self.seed)


@dataclass(frozen=True)
class Suite:
    """A validated study: runs by name, groups in file order, the quick overrides, seeds.

    ``seeds`` is the number of seeds of the full study, ``quick_seeds`` that of
    ``--quick`` (None: at most :data:`QUICK_SEEDS`); ``note`` a paragraph for the
    report's set-up section (e.g. what was traded to fit a time budget).
    """

    path: str
    runs: dict
    groups: tuple
    quick: dict = field(default_factory=dict)
    seeds: int = 1
    quick_seeds: int | None = None
    note: str = ""

    def configs(self, quick=False):
        """``{run name: TrainConfig}`` in file order, quick settings applied if asked."""
        overrides = self.quick if quick else None
        return {name: run.config(overrides) for name, run in self.runs.items()}

    def seed_count(self, quick=False, seeds=None):
        """How many seeds a study trains: ``seeds`` if given, else the file's choice."""
        if seeds is not None:
            if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
                raise ConfigError(f"The 'seeds' parameter must be an integer >= 1; got {seeds!r}.")
            return seeds
        if quick:
            return self.quick_seeds if self.quick_seeds is not None else min(self.seeds,
                                                                              QUICK_SEEDS)
        return self.seeds

    def jobs(self, quick=False, seeds=None):
        """Every (run, seed) job in file order, seeds innermost.

        The seeds of a run are ``seed, seed + 1, ...`` from its own ``seed`` setting,
        so runs with the same ``seed`` setting are paired seed by seed: the same
        validation split, batch order and (where shapes agree) initial weights.
        """
        count = self.seed_count(quick, seeds)
        jobs = []
        for name, config in self.configs(quick).items():
            for offset in range(count):
                seeded = TrainConfig.from_dict({**config.to_dict(), "seed": config.seed + offset})
                jobs.append(Job(name, seeded.seed, seeded))
        return tuple(jobs)


def load_suite(path) -> Suite:
    """Read and validate a study file; a ConfigError naming file, line and fix if it is wrong."""
    text = read_settings_text(path, "study file", "pass --config FILE")
    return parse_suite(text, str(path))


def parse_suite(text, source="<string>") -> Suite:
    """Validate the TOML ``text`` of a study file; ``source`` names it in messages."""
    data, where = parse_settings(text, source)
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise ConfigError(where(unknown[0], None, f"unknown table [{unknown[0]}]; valid tables: "
                                                  f"{', '.join(_TOP_LEVEL)}"))
    defaults = _table(data, "defaults", where)
    quick = dict(_table(data, "quick", where))
    _check_settings("defaults", defaults, where)
    _check_settings("quick", quick, where, extra=_QUICK_ONLY_KEYS)
    seeds = _seed_count(data.get("seeds", 1), where, None, "seeds")
    quick_seeds = quick.pop("seeds", None)
    if quick_seeds is not None:
        quick_seeds = _seed_count(quick_seeds, where, "quick", "seeds")
    runs = _resolve_runs(_table(data, "runs", where), defaults, where)
    if not runs:
        raise ConfigError(f"{source}: the study defines no runs; add a [runs.NAME] table")
    variables = _variables(_table(data, "variables", where), where)
    groups = tuple(_group(name, spec, runs, variables, where)
                   for name, spec in _table(data, "groups", where).items())
    _check_quick(quick, runs, where)
    note = data.get("note", "")
    if not isinstance(note, str):
        raise ConfigError(where("", "note", f"'note' must be a string (a paragraph for the "
                                            f"report's set-up section); got {note!r}"))
    return Suite(source, runs, groups, quick, seeds, quick_seeds, " ".join(note.split()))


def _seed_count(value, where, table, key):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        place = f"[{table}] " if table else ""
        raise ConfigError(where(table or "", key, f"{place}'{key}' must be an integer >= 1 (the "
                                                  f"number of seeds per run); got {value!r}"))
    return value


# -- locating lines ---------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def parse_settings(text, source):
    """The TOML ``text`` of a settings file (a study, a search space) as a dict, and the
    :class:`Locator` that puts ``source:line:`` before messages about its tables and keys."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return data, Locator(source, line_index(text))


def line_index(text):
    """Map ``(table, key)`` and ``(table, None)`` to 1-based line numbers.

    ``table`` is the dotted header name with quotes removed (``runs.h1-relu``).
    Lines inside multi-line strings are skipped so their text is never taken
    for a key.
    """
    index, table, in_string = {}, "", False
    for number, line in enumerate(text.splitlines(), 1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        header = _HEADER.match(line)
        if header:
            table = ".".join(part.strip().strip("\"'") for part in header.group(1).split("."))
            index.setdefault((table, None), number)
        else:
            key = _KEY.match(line)
            if key:
                index.setdefault((table, key.group(1).strip("\"'")), number)
        in_string = quotes % 2 == 1
    return index


class Locator:
    """Formats ``source:line: message`` for a table (and key) of the study file."""

    def __init__(self, source, index):
        self.source, self.index = source, index

    def line(self, table, key=None):
        return self.index.get((table, key)) or self.index.get((table, None))

    def __call__(self, table, key, message):
        line = self.line(table, key)
        return f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}"


# -- tables and settings ----------------------------------------------------------

def _table(data, name, where):
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(where(name, None, f"'{name}' must be a table ([{name}] ...)"))
    return value


def _check_settings(table, settings, where, extra=()):
    """Unknown keys and unknown activation / loss names, each with its line and the choices."""
    valid = settings_key_fields() + tuple(extra)
    for key, value in settings.items():
        if key not in valid:
            hint = (" (pass --data-dir on the command line)" if key in _NOT_IN_FILE
                     else _did_you_mean(key, valid))
            raise ConfigError(where(table, key, f"unknown key {key!r} in [{table}]{hint}; valid "
                                                f"keys: {', '.join(sorted(valid))}"))
        for name, choices in (("activation", ACTIVATIONS), ("loss", LOSSES)):
            if key == name and value not in choices:
                raise ConfigError(where(table, key, f"unknown {name} {value!r} in [{table}]"
                                                    f"{_did_you_mean(value, choices)}; choose one "
                                                    f"of: {', '.join(sorted(choices))}"))


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve_runs(raw_runs, defaults, where):
    """Each run's settings: defaults, then the chain of ``extends``, then its own keys."""
    for name, settings in raw_runs.items():
        table = f"runs.{name}"
        if not isinstance(settings, dict):
            raise ConfigError(where("runs", name, f"run {name!r} must be a table ([{table}])"))
        if not _NAME.match(name):
            raise ConfigError(where(table, None, f"run name {name!r} may only contain letters, "
                                                 "digits, '-', '_' and '.' (it names a directory)"))
        _check_settings(table, settings, where, extra=_RUN_ONLY_KEYS)
    resolved = {}
    for name in raw_runs:
        settings = {**defaults, **_inherited(name, raw_runs, where, ())}
        resolved[name] = RunSpec(name, settings, where.line(f"runs.{name}"))
        _validate_config(resolved[name], where)
    return resolved


def _inherited(name, raw_runs, where, chain):
    """The keys ``name`` sets itself or inherits through ``extends`` (defaults excluded)."""
    own = dict(raw_runs[name])
    parent = own.pop("extends", None)
    if parent is None:
        return own
    table = f"runs.{name}"
    if parent not in raw_runs:
        raise ConfigError(where(table, "extends", f"run {name!r} extends {parent!r}, which is "
                                                  f"not a run; runs: {', '.join(raw_runs)}"))
    if parent in chain or parent == name:
        cycle = " -> ".join((*chain, name, parent))
        raise ConfigError(where(table, "extends", f"runs extend each other in a cycle: {cycle}"))
    return {**_inherited(parent, raw_runs, where, (*chain, name)), **own}


def _validate_config(run, where):
    """Let TrainConfig check values and ranges; point at the offending key's line."""
    try:
        run.config()
    except ConfigError as exc:
        key = next((k for k in run.settings if f"'{k}'" in str(exc) or f'"{k}"' in str(exc)), None)
        raise ConfigError(where(f"runs.{run.name}", key, f"run {run.name!r}: {exc}")) from None


def _check_quick(quick, runs, where):
    """The quick overrides must give valid configurations too."""
    for run in runs.values():
        try:
            run.config(quick)
        except ConfigError as exc:
            raise ConfigError(where("quick", None, f"[quick] makes run {run.name!r} invalid: {exc}"))


# -- variables and groups ---------------------------------------------------------

def _variables(raw, where):
    """``{variable name: tuple of keys}`` from [variables], every key a TrainConfig field."""
    fields = settings_key_fields()
    variables = {}
    for name, keys in raw.items():
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigError(where("variables", name, f"variable {name!r} must be a list of keys"))
        unknown = [k for k in keys if k not in fields]
        if unknown:
            raise ConfigError(where("variables", name, f"variable {name!r} names unknown keys "
                                                       f"{unknown}; valid keys: {', '.join(fields)}"))
        variables[name] = tuple(keys)
    return variables


def _group(name, spec, runs, variables, where):
    table = f"groups.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(where("groups", name, f"group {name!r} must be a table ([{table}])"))
    for key in spec:
        if key not in _GROUP_KEYS:
            raise ConfigError(where(table, key, f"unknown key {key!r} in [{table}]; valid keys: "
                                                f"{', '.join(_GROUP_KEYS)}"))
    members = spec.get("runs")
    if not isinstance(members, list) or not members or not all(isinstance(r, str) for r in members):
        raise ConfigError(where(table, "runs", f"group {name!r} needs 'runs', a non-empty list of "
                                               "run names"))
    missing = [r for r in members if r not in runs]
    if missing:
        raise ConfigError(where(table, "runs", f"group {name!r} names unknown runs {missing}; "
                                               f"runs: {', '.join(runs)}"))
    if len(set(members)) != len(members):
        raise ConfigError(where(table, "runs", f"group {name!r} lists a run twice"))
    keys = _variable_keys(name, spec.get("variable"), variables, where)
    _check_controlled(name, spec["variable"], keys, [runs[r] for r in members], where)
    return GroupSpec(name, str(spec.get("title", name)), spec["variable"], keys, tuple(members),
                     str(spec.get("note", "")), where.line(table))


def _variable_keys(group, variable, variables, where):
    table = f"groups.{group}"
    if variable == NO_VARIABLE:
        return ()
    if variable in variables:
        return variables[variable]
    if variable in settings_key_fields():
        return (variable,)
    choices = [NO_VARIABLE, *variables, *settings_key_fields()]
    raise ConfigError(where(table, "variable", f"group {group!r}: unknown variable {variable!r}; "
                                               f"choose a [variables] name or a key: "
                                               f"{', '.join(choices)}"))


def _check_controlled(group, variable, keys, members, where):
    """Refuse a group whose runs differ in a key outside its variable, or not at all."""
    configs = [run.config().to_dict() for run in members]
    differing = [k for k in configs[0] if k not in _NOT_IN_FILE
                 and any(c[k] != configs[0][k] for c in configs[1:])]
    extra = [k for k in differing if k not in keys]
    table = f"groups.{group}"
    if extra:
        raise ConfigError(where(table, "runs", f"group {group!r} varies {variable!r} "
                                               f"({', '.join(keys) or 'nothing'}) but its runs "
                                               f"also differ in {', '.join(extra)}; control every "
                                               "other variable"))
    seen = {}
    for run, config in zip(members, configs):
        frozen = repr(sorted(config.items()))
        if frozen in seen:
            raise ConfigError(where(table, "runs", f"group {group!r}: runs {seen[frozen]!r} and "
                                                   f"{run.name!r} have identical settings"))
        seen[frozen] = run.name
