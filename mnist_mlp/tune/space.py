"""Read and validate the search-space file (``tune.toml``) before any trial runs.

The file has four tables (the repository's ``tune.toml`` is a full example):

``[search]``
    ``trials`` (default count), ``seed`` (of the TPE sampler), ``startup_trials``
    and ``warmup_epochs`` (of the median pruner), ``final_seeds`` (retrainings of
    the best and the baseline after the search).
``[fixed]``
    :class:`~mnist_mlp.train.config.TrainConfig` settings every trial shares.
``[params.NAME]``
    One searched parameter: ``choices = [...]`` (categorical), or ``low`` and
    ``high`` (integers if both are integers, else floats) with optional
    ``log = true`` and ``step``. NAME is a TrainConfig key, or ``depth`` and
    ``width``, which together give ``hidden = [width] * depth``.
``[quick]``
    What ``--quick`` changes: ``trials``, ``final_seeds`` and TrainConfig settings
    (a data subset, two epochs) laid over ``[fixed]``.

Every mistake (an unknown parameter, an empty range, a log range that reaches zero,
a choice TrainConfig refuses) raises ConfigError naming the file and line, found
with the study file's line-aware pass (:mod:`mnist_mlp.study.spec`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field

from mnist_mlp.errors import ConfigError
from mnist_mlp.fileio import read_settings_text
from mnist_mlp.study.spec import parse_settings
from mnist_mlp.train.config import TrainConfig

__all__ = ["Param", "Space", "load_space", "parse_space", "SHAPE_PARAMS"]

SHAPE_PARAMS = ("depth", "width")            # hidden = [width] * depth
_TABLES = ("search", "fixed", "params", "quick")
_SEARCH_KEYS = {"trials": 1, "seed": 0, "startup_trials": 0, "warmup_epochs": 0, "final_seeds": 1}
_SEARCH_DEFAULTS = {"trials": 30, "seed": 0, "startup_trials": 5, "warmup_epochs": 1, "final_seeds": 3}
_PARAM_KEYS = ("choices", "low", "high", "log", "step")
# Machine-specific or owned by the tuner, never searched or fixed in the file.
_NOT_IN_FILE = ("data_dir", "test_subset")


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``kind`` is "categorical", "int" or "float"."""

    name: str
    kind: str
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None

    def suggest(self, trial):
        """Draw this parameter from an Optuna trial."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Space:
    """A validated search space; :meth:`config` turns drawn values into a TrainConfig."""

    source: str
    params: tuple
    fixed: dict
    search: dict
    quick: dict = field(default_factory=dict)

    def with_quick(self):
        """The space ``--quick`` searches: [quick] laid over [search] and [fixed]."""
        search = {**self.search, **{k: v for k, v in self.quick.items() if k in _SEARCH_KEYS}}
        fixed = {**self.fixed, **{k: v for k, v in self.quick.items() if k not in _SEARCH_KEYS}}
        return dataclasses.replace(self, fixed=fixed, search=search, quick={})

    def suggest(self, trial):
        """Draw every parameter from ``trial``; return ``{name: value}``."""
        return {param.name: param.suggest(trial) for param in self.params}

    def config(self, values, **overrides):
        """The TrainConfig of one trial: [fixed], then the drawn ``values``, then ``overrides``."""
        settings = {**self.fixed, **{k: v for k, v in values.items() if k not in SHAPE_PARAMS}}
        if "depth" in values or "width" in values:
            base = TrainConfig.from_dict(dict(self.fixed)).hidden
            depth, width = values.get("depth", len(base)), values.get("width", base[0])
            settings["hidden"] = [int(width)] * int(depth)
        return TrainConfig.from_dict({**settings, **overrides})

    def baseline(self):
        """The project's defaults (with [fixed] applied) as values of the searched parameters.

        A categorical parameter whose default is not among its choices (a search over
        ``augment = ["elastic", "affine+elastic"]`` only) takes its first choice: Optuna
        cannot enqueue a value outside the choices, while a range's default outside the
        range is used as it is.
        """
        config = TrainConfig.from_dict(dict(self.fixed)).to_dict()
        shape = {"depth": len(config["hidden"]), "width": config["hidden"][0]}
        values = {}
        for p in self.params:
            value = shape[p.name] if p.name in SHAPE_PARAMS else config[p.name]
            if p.kind == "categorical" and not any(_same_choice(value, c) for c in p.choices):
                value = p.choices[0]
            values[p.name] = value
        return values

    def fingerprint(self):
        """16 hex digits identifying what is searched and how trials are scored.

        The trial count and the final retraining are left out: a study may be resumed
        with more trials. A study file records it and refuses another space.
        """
        what = {"fixed": self.fixed, "params": [dataclasses.asdict(p) for p in self.params],
                "seed": self.search["seed"], "startup_trials": self.search["startup_trials"],
                "warmup_epochs": self.search["warmup_epochs"]}
        text = json.dumps(what, sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _same_choice(a, b):
    """Equal as a categorical choice: ``False == 0`` in Python, not as a setting."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def load_space(path) -> Space:
    """Read and validate a search-space file; ConfigError naming file, line and fix."""
    text = read_settings_text(path, "search-space file", "pass --space FILE")
    return parse_space(text, str(path))


def parse_space(text, source="<string>") -> Space:
    """Validate the TOML ``text`` of a search space; ``source`` names it in messages."""
    data, where = parse_settings(text, source)
    for name in data:
        if name not in _TABLES or not isinstance(data[name], dict):
            raise ConfigError(where(name, None, f"unknown or malformed table [{name}]; the tables are: "
                                                f"{', '.join(_TABLES)}"))
    search = _search(data.get("search", {}), "search", where)
    fixed = _settings(data.get("fixed", {}), "fixed", where)
    params = tuple(_param(name, spec, where) for name, spec in data.get("params", {}).items())
    if not params:
        raise ConfigError(f"{source}: the space searches nothing; add a [params.NAME] table")
    quick_table = data.get("quick", {})
    quick = {**_search({k: v for k, v in quick_table.items() if k in _SEARCH_KEYS}, "quick", where, False),
             **_settings({k: v for k, v in quick_table.items() if k not in _SEARCH_KEYS}, "quick", where)}
    for name in (p.name for p in params):
        for table, settings in (("fixed", fixed), ("quick", quick)):
            if name in settings or (name in SHAPE_PARAMS and "hidden" in settings):
                raise ConfigError(where(table, name if name in settings else "hidden",
                                        f"'{name}' is both searched ([params.{name}]) and set in "
                                        f"[{table}]; remove one"))
    space = Space(source, params, fixed, search, quick)
    _check_choices(space, where)
    return space


def _search(table, name, where, defaults=True):
    out = dict(_SEARCH_DEFAULTS) if defaults else {}
    for key, value in table.items():
        if key not in _SEARCH_KEYS:
            raise ConfigError(where(name, key, f"unknown key '{key}' in [{name}]; valid: "
                                               f"{', '.join(_SEARCH_KEYS)}"))
        minimum = _SEARCH_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(where(name, key, f"'{key}' must be an integer >= {minimum}; got {value!r}"))
        out[key] = value
    return out


def _settings(table, name, where):
    """TrainConfig keys of [fixed] or [quick], each checked by TrainConfig itself."""
    valid = tuple(k for k in TrainConfig.keys() if k not in _NOT_IN_FILE)
    for key in table:
        if key not in valid:
            raise ConfigError(where(name, key, _unknown(key, valid, f"[{name}]")))
    try:
        TrainConfig.from_dict(dict(table))
    except ConfigError as exc:
        key = next((k for k in table if f"'{k}'" in str(exc) or str(table[k]) in str(exc)), None)
        raise ConfigError(where(name, key, str(exc))) from None
    return dict(table)


def _unknown(key, valid, place):
    close = difflib.get_close_matches(str(key), valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown parameter '{key}' in {place}{hint}; valid: {', '.join(valid)}"


def _param(name, spec, where):
    table = f"params.{name}"
    valid = tuple(k for k in TrainConfig.keys() if k not in _NOT_IN_FILE + ("hidden",)) + SHAPE_PARAMS
    if name not in valid:
        raise ConfigError(where(table, None, _unknown(name, valid, "[params]")))
    if not isinstance(spec, dict):
        raise ConfigError(where(table, None, f"[params.{name}] must be a table with choices or low/high"))
    for key in spec:
        if key not in _PARAM_KEYS:
            raise ConfigError(where(table, key, f"unknown key '{key}' in [params.{name}]; valid: "
                                                f"{', '.join(_PARAM_KEYS)}"))
    if "choices" in spec:
        return _categorical(name, spec, table, where)
    return _range(name, spec, table, where)


def _categorical(name, spec, table, where):
    choices = spec["choices"]
    extra = [k for k in spec if k != "choices"]
    if extra:
        raise ConfigError(where(table, extra[0], f"[params.{name}] has choices, so '{extra[0]}' "
                                                 "makes no sense; remove it"))
    if not isinstance(choices, list) or not choices:
        raise ConfigError(where(table, "choices", f"'choices' of {name} must be a non-empty list; "
                                                  f"got {choices!r}"))
    if any(not isinstance(c, (bool, int, float, str)) for c in choices) or len(set(map(repr, choices))) < len(choices):
        raise ConfigError(where(table, "choices", f"'choices' of {name} must be distinct numbers, "
                                                  f"strings or booleans; got {choices!r}"))
    return Param(name, "categorical", choices=tuple(choices))


def _range(name, spec, table, where):
    for key in ("low", "high"):
        if key not in spec:
            raise ConfigError(where(table, None, f"[params.{name}] needs 'low' and 'high' (or 'choices')"))
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(where(table, key, f"'{key}' of {name} must be a finite number; got {value!r}"))
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    kind = "int" if all(isinstance(spec[k], int) for k in ("low", "high")) else "float"
    if not isinstance(log, bool):
        raise ConfigError(where(table, "log", f"'log' of {name} must be true or false; got {log!r}"))
    if not low < high:
        raise ConfigError(where(table, "high", f"the range of {name} is empty: low = {low!r} must be "
                                               f"below high = {high!r}; fix the bounds or fix the value "
                                               "in [fixed]"))
    if log and low <= 0:
        raise ConfigError(where(table, "low", f"a log range must be positive, but {name} has low = "
                                              f"{low!r}; use a small positive low (e.g. 1e-5) or log = false"))
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or not step > 0 or log:
            raise ConfigError(where(table, "step", f"'step' of {name} must be a number > 0, and not "
                                                   f"with log = true; got {step!r}"))
    return Param(name, kind, low=low, high=high, log=log, step=step)


def _check_choices(space, where):
    """Every categorical choice and both ends of every range must be a valid TrainConfig."""
    for param in space.params:
        values = param.choices if param.kind == "categorical" else (param.low, param.high)
        for value in values:
            try:
                space.config({param.name: value})
            except ConfigError as exc:
                key = "choices" if param.kind == "categorical" else "low"
                raise ConfigError(where(f"params.{param.name}", key,
                                        f"{param.name} = {value!r} is not a valid setting: {exc}")) from None
