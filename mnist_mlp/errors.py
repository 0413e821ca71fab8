"""Exceptions that mean "the user asked for something wrong", not "the code is broken".

The command line prints these in one line and exits non-zero, without a traceback.
Library callers can catch them as the built-in type they also derive from.
"""

__all__ = ["MnistMlpError", "DataError", "ConfigError", "DivergenceError"]


class MnistMlpError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(MnistMlpError, ValueError):
    """A data file is missing, malformed, truncated or fails its checksum."""


class ConfigError(MnistMlpError, ValueError):
    """A hyperparameter, name or configuration file entry is invalid."""


class DivergenceError(MnistMlpError, FloatingPointError):
    """Training produced a NaN or infinite loss."""
