"""The package's checks of user-supplied values, each rule written once.

Every check returns the value normalised (``float``, ``int``, ``bool``) or raises
:class:`~mnist_mlp.errors.ConfigError` with scikit-learn's message template: the
parameter, the rule and the value, e.g. "The 'dropout' parameter must be in [0, 1);
got 1.5.". Training configs, optimisers, schedules, layers and augmentation all call
these, so a rule reads the same wherever it is enforced.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from mnist_mlp.errors import ConfigError

__all__ = [
    "ConfigError",
    "message",
    "is_int",
    "is_real",
    "real",
    "positive",
    "non_negative",
    "in_unit_interval",
    "integer",
    "boolean",
    "choice",
]


def message(key, rule, value):
    """The one wording of a failed rule."""
    return f"The '{key}' parameter must be {rule}; got {value!r}."


def is_int(value):
    """An integer that is not a bool (``True`` is an int to Python, not to a user)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _interval(low, high, low_open, high_open):
    if high == math.inf and low == -math.inf:
        return "a finite number"
    if high == math.inf:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(key, value, low=-math.inf, high=math.inf, *, low_open=False, high_open=True):
    """A finite real number in the interval from ``low`` to ``high``, as a float."""
    ok = is_real(value) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        raise ConfigError(message(key, _interval(low, high, low_open, high_open), value))
    return float(value)


def positive(key, value):
    """A finite real > 0 (learning rates, epsilons, margins)."""
    return real(key, value, 0, low_open=True)


def non_negative(key, value):
    """A finite real >= 0 (weight decay, focusing parameters)."""
    return real(key, value, 0)


def in_unit_interval(key, value):
    """A rate in [0, 1): momentum, Adam's betas, dropout (1 would keep or drop everything)."""
    return real(key, value, 0, 1)


def integer(key, value, minimum, *, optional=False):
    """An integer >= ``minimum`` (or None when ``optional``), as an int."""
    if optional and value is None:
        return None
    if not is_int(value) or value < minimum:
        rule = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ConfigError(message(key, rule, value))
    return int(value)


def boolean(key, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(message(key, "true or false", value))
    return bool(value)


def choice(key, value, table):
    """``value`` if it names an entry of ``table`` (a registry dict or a sequence)."""
    try:
        known = value in table
    except TypeError:  # an unhashable value cannot be a name
        known = False
    if not known:
        raise ConfigError(f"Unknown {key} {value!r}; choose one of: {', '.join(sorted(table))}.")
    return value
