"""Two BLAS kernels NumPy does not expose: ``C = alpha AᵀB + beta C`` and ``y += alpha x``.

``np.matmul`` always overwrites its output (BLAS ``beta = 0``) and NumPy has no fused
multiply-add ufunc, so the momentum update ``v <- mu v + xᵀG; w <- w - lr v`` costs
NumPy one product and four elementwise passes over every weight. The same BLAS call
with ``beta = mu`` computes the first half in the product itself (OpenBLAS scales
``C`` by ``beta`` in the pass it needs anyway to zero it for ``beta = 0``), and
``axpy`` does the second half in one pass, on BLAS's threads.

The kernels are the ones NumPy already uses: the OpenBLAS library NumPy's wheels
bundle, found among the libraries this process has loaded and called through
:mod:`ctypes` (no new dependency, no second BLAS thread pool). Where it cannot be
found (another BLAS, another platform), or when the environment variable
``MNIST_MLP_BLAS=numpy`` is set, the same functions fall back to NumPy calls with
the same mathematics (a temporary and an extra pass or two). Which one runs is
:data:`BACKEND`; both are checked against each other in ``tests/test_blas.py``.
Results are deterministic either way; the two backends may differ in the last bit.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

__all__ = ["BACKEND", "gemm_tn", "axpy"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (symbol suffix, integer type): NumPy >= 2 wheels (scipy-openblas64), NumPy 1.x wheels
# (openblas64_), then a plain OpenBLAS whose integer width its config string tells.
_SUFFIXES = (("scipy_cblas_{}64_", ctypes.c_int64), ("cblas_{}64_", ctypes.c_int64),
             ("cblas_{}", None))


def _candidate_libraries():
    """Paths of OpenBLAS libraries that NumPy ships or that this process has mapped."""
    here = os.path.dirname(np.__file__)
    paths = sorted(glob.glob(os.path.join(here + ".libs", "*openblas*")))
    paths += sorted(glob.glob(os.path.join(here, ".dylibs", "*openblas*")))
    try:
        with open("/proc/self/maps") as maps:
            paths += [line.split(None, 5)[-1].strip() for line in maps if "openblas" in line]
    except OSError:
        pass
    return list(dict.fromkeys(p for p in paths if os.path.isfile(p)))


def _int_type(lib, template, int_type):
    if int_type is not None:
        return int_type
    try:
        config = ctypes.CFUNCTYPE(ctypes.c_char_p)(("openblas_get_config", lib))()
    except AttributeError:
        return None
    return ctypes.c_int64 if b"USE64BITINT" in (config or b"") else ctypes.c_int32


def _bind(lib, template, int_type):
    """The four cblas functions of one naming scheme, with their argument types, or None."""
    try:
        funcs = {name: getattr(lib, template.format(name))
                 for name in ("sgemm", "dgemm", "saxpy", "daxpy")}
    except AttributeError:
        return None
    int_type = _int_type(lib, template, int_type)
    if int_type is None:
        return None
    for prefix, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
        gemm = funcs[prefix + "gemm"]
        gemm.argtypes = [ctypes.c_int] * 3 + [int_type] * 3 + [
            real, ctypes.c_void_p, int_type, ctypes.c_void_p, int_type, real, ctypes.c_void_p,
            int_type]
        gemm.restype = None
        funcs[prefix + "axpy"].argtypes = [int_type, real, ctypes.c_void_p, int_type,
                                           ctypes.c_void_p, int_type]
        funcs[prefix + "axpy"].restype = None
    return funcs


def _load():
    if os.environ.get("MNIST_MLP_BLAS", "").strip().lower() == "numpy":
        return None, "numpy"
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for template, int_type in _SUFFIXES:
            funcs = _bind(lib, template, int_type)
            if funcs is not None and _works(funcs):
                return funcs, f"openblas ({os.path.basename(path)}, {template.format('sgemm')})"
    return None, "numpy"


def _works(funcs):
    """A small product and axpy with known answers: a wrong binding never goes live."""
    for dtype in (np.float32, np.float64):
        a = np.arange(6, dtype=dtype).reshape(3, 2)
        b = np.arange(12, dtype=dtype).reshape(3, 4)
        c = np.ones((2, 4), dtype)
        _blas_gemm_tn(funcs, a, b, c, 2.0, 0.5)
        y = np.ones(5, dtype)
        _blas_axpy(funcs, 3.0, np.arange(5, dtype=dtype), y)
        if not (np.array_equal(c, 2.0 * a.T @ b + 0.5) and np.array_equal(y, 3.0 * np.arange(5) + 1)):
            return False
    return True


def _prefix(dtype):
    return "s" if dtype == np.float32 else "d"


def _blas_gemm_tn(funcs, a, b, c, alpha, beta):
    # Row-major C (k, m) = alpha * A^T (k, n) B (n, m) + beta * C, A (n, k) and B (n, m).
    n, k = a.shape
    m = b.shape[1]
    funcs[_prefix(c.dtype) + "gemm"](_ROW_MAJOR, _TRANS, _NO_TRANS, k, m, n, alpha,
                                     a.ctypes.data, k, b.ctypes.data, m, beta, c.ctypes.data, m)


def _blas_axpy(funcs, alpha, x, y):
    funcs[_prefix(y.dtype) + "axpy"](y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)


_FUNCS, BACKEND = _load()


def _blas_ok(*arrays):
    """BLAS takes these arrays as they are: one float dtype, C-contiguous, aligned, writable
    output (the last). Anything else goes the NumPy way, with the same result."""
    dtype = arrays[-1].dtype
    return (_FUNCS is not None and dtype in (np.float32, np.float64)
            and all(x.dtype == dtype and x.flags.c_contiguous and x.flags.aligned for x in arrays)
            and arrays[-1].flags.writeable)


def gemm_tn(a, b, c, alpha=1.0, beta=0.0):
    r"""In place: :math:`C \leftarrow \alpha A^T B + \beta C`.

    Parameters
    ----------
    a : (n, k) array
    b : (n, m) array
    c : (k, m) array, written in place
    alpha, beta : float
        ``beta = 0`` ignores what ``c`` held (as BLAS does, NaN included).
    """
    if a.shape[0] != b.shape[0] or c.shape != (a.shape[1], b.shape[1]):
        raise ValueError(f"gemm_tn: shapes {a.shape}, {b.shape} and {c.shape} do not fit "
                         "C = A^T B (A (n, k), B (n, m), C (k, m)).")
    if _blas_ok(a, b, c):
        _blas_gemm_tn(_FUNCS, a, b, c, alpha, beta)
        return c
    product = np.matmul(a.T, b)
    if alpha != 1.0:
        product *= alpha
    if beta == 0.0:
        np.copyto(c, product, casting="same_kind")
    else:
        c *= beta
        c += product
    return c


def axpy(alpha, x, y, work=None):
    r"""In place: :math:`y \leftarrow y + \alpha x` (one pass with BLAS).

    ``work``, an array like ``y``, saves the NumPy fallback its temporary.
    """
    if x.shape != y.shape:
        raise ValueError(f"axpy: x has shape {x.shape} but y has shape {y.shape}.")
    if _blas_ok(x, y):
        _blas_axpy(_FUNCS, alpha, x, y)
        return y
    if work is None:
        work = np.empty_like(y)
    np.multiply(x, alpha, out=work, casting="same_kind")
    y += work
    return y
