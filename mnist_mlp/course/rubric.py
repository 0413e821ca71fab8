"""The grading rubric: points per check, the training budget and the tolerances, from TOML.

The default is ``rubric.toml`` beside this module; a course copies it, edits it,
and passes it to ``mnist-mlp grade --rubric FILE``. Every check the grader runs
must have points, and every name must be a check the grader knows, so a typo
is an error, not a check silently worth nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mnist_mlp.course.probes import COMPONENTS
from mnist_mlp.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CHECK_NAMES", "DEFAULT_RUBRIC", "Rubric", "load_rubric"]

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")
CHECK_NAMES = (*(f"{c}.{part}" for c in COMPONENTS for part in ("forward", "backward")),
               "stability", "training", "summary", "rules", "layout")
_TRAINING = {"hidden": int, "epochs": int, "train_size": int, "validation_size": int,
             "learning_rate": float, "momentum": float, "batch_size": int, "init_std": float,
             "seed": int, "threshold": float}
_TOLERANCE = ("forward_rtol", "forward_atol", "backward_rtol", "backward_atol")


@dataclass(frozen=True)
class Rubric:
    points: dict[str, float]
    bonus: frozenset[str]
    training: dict
    tolerance: dict[str, float]
    source: str

    @property
    def max_score(self) -> float:
        return sum(p for name, p in self.points.items() if name not in self.bonus)


def load_rubric(path: str | os.PathLike | None = None) -> Rubric:
    """Read and validate a rubric; the default one when ``path`` is None.

    Raises
    ------
    ConfigError
        Missing file, invalid TOML, an unknown or missing check, a bad number.
    """
    path = Path(path) if path is not None else DEFAULT_RUBRIC
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"rubric {str(path)!r} does not exist; pass --rubric FILE") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"rubric {str(path)!r} cannot be read: {exc}") from None
    points = _section(path, data, "points")
    unknown = sorted(set(points) - set(CHECK_NAMES))
    missing = [name for name in CHECK_NAMES if name not in points]
    if unknown or missing:
        raise ConfigError(f"rubric {str(path)!r}: [points] must list exactly the checks "
                          f"{', '.join(CHECK_NAMES)}; unknown: {unknown or 'none'}, missing: {missing or 'none'}")
    for name, value in points.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"rubric {str(path)!r}: points for {name!r} must be a number >= 0; got {value!r}")
    bonus = data.get("bonus", [])
    if not isinstance(bonus, list) or any(b not in CHECK_NAMES for b in bonus):
        raise ConfigError(f"rubric {str(path)!r}: 'bonus' must be a list of check names; got {bonus!r}")
    training = _typed(path, _section(path, data, "training"), _TRAINING, "training")
    if not 0 < training["threshold"] <= 1:
        raise ConfigError(f"rubric {str(path)!r}: [training] threshold must be in (0, 1]")
    if training["train_size"] + training["validation_size"] > 60000:
        raise ConfigError(f"rubric {str(path)!r}: [training] train_size + validation_size "
                          "must be at most 60000 (the MNIST training split)")
    tolerance = _typed(path, _section(path, data, "tolerance"), dict.fromkeys(_TOLERANCE, float), "tolerance")
    return Rubric({k: float(v) for k, v in points.items()}, frozenset(bonus), training, tolerance, str(path))


def _section(path: Path, data: dict, name: str) -> dict:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"rubric {str(path)!r} has no [{name}] table")
    return section


def _typed(path: Path, section: dict, types: dict, name: str) -> dict:
    missing = sorted(set(types) - set(section))
    unknown = sorted(set(section) - set(types))
    if missing or unknown:
        raise ConfigError(f"rubric {str(path)!r}: [{name}] needs {sorted(types)}; "
                          f"missing: {missing or 'none'}, unknown: {unknown or 'none'}")
    out = {}
    for key, kind in types.items():
        value = section[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) \
                or value < 0 or (kind is int and value == 0 and key not in ("seed",)):
            raise ConfigError(f"rubric {str(path)!r}: [{name}] {key} must be a positive {kind.__name__}; got {value!r}")
        out[key] = kind(value)
    return out
