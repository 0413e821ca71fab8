"""Unpickle NumPy arrays from untrusted bytes: a restricted unpickler that runs no other code.

This module imports NumPy and the standard library only.
"""

from __future__ import annotations

import pickle

import numpy as np

from mnist_mlp.errors import DataError

__all__ = ["load_numpy_pickle"]


def _numpy_reconstruct():
    # NumPy 2 moved numpy.core to numpy._core; old pickles still name numpy.core.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 1.26 has no numpy._core
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The only globals a pickle may name: what an ndarray pickled with protocol 2 needs.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    # The same function under its NumPy 2 name, as pickles written by NumPy 2 spell it.
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves NumPy's array-rebuilding globals and refuses any other.

    ``find_class`` is the only way a pickle reaches a callable, so refusing
    names there stops a pickle from running code such as ``os.system``.
    """

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # Python 2 era pickle: str holds raw bytes
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise DataError(
                f"{self._source}: refusing to load {module}.{name}; only NumPy arrays are allowed"
            )
        return _PICKLE_ALLOWED[(module, name)]()


def load_numpy_pickle(file, source: str = "<pickle>"):
    """Unpickle ``file`` (a binary file object) allowing NumPy arrays and nothing else.

    Only ``numpy.core.multiarray._reconstruct`` (or its NumPy 2 name under
    ``numpy._core``), ``numpy.ndarray`` and ``numpy.dtype`` may be named; any
    other global raises DataError before it is called. Strings are decoded as
    latin-1, as Python 2 pickles need. ``source`` names the data in messages.
    """
    try:
        return _NumpyOnlyUnpickler(file, source).load()
    except DataError:
        raise
    except Exception as exc:  # untrusted bytes: any failure means "bad data", not a bug here
        raise DataError(
            f"{source}: not a readable pickle of NumPy arrays ({type(exc).__name__}: {exc})"
        ) from exc
