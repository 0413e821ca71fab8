r"""Bonus 3: naive against stable formulas on extreme inputs, as a table.

Each row evaluates one quantity three ways on one input:

* the *naive* formula, written the way a textbook states it
  (:math:`1/(1+e^{-x})`, :math:`e^{x_k}/\sum_j e^{x_j}`, ``log(softmax(x))``, ...);
* *ours*, the function or loss that :mod:`mnist_mlp.activations` and
  :mod:`mnist_mlp.loss` actually train with;
* the *exact* value, from :mod:`decimal` arithmetic with 60 significant digits,
  where :math:`e^{1000}` is an ordinary number. It is the independent truth both
  are judged against.

NumPy floating-point warnings (overflow, invalid, divide-by-zero) are counted for
each evaluation. Underflow is ignored: flushing :math:`e^{-1000}` to 0 is what any
float does and harms nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from mnist_mlp.activations import Gelu, Selu, Softmax, Swish, softmax, stable_sigmoid
from mnist_mlp.loss import (
    CrossEntropyLoss,
    FocalLoss,
    SoftmaxCrossEntropyLoss,
    log_softmax,
)

__all__ = ["StabilityRow", "stability_table", "naive_sigmoid", "naive_sigmoid_ratio",
           "naive_selu", "naive_swish", "naive_gelu",
           "naive_softmax", "naive_log_softmax", "naive_cross_entropy",
           "naive_log_of_stable_softmax", "naive_focal"]

_GAMMA = 2.0  # focal loss focusing parameter used in the table (the usual choice)
_DIGITS = 60


# -- the naive formulas ------------------------------------------------------------

def naive_sigmoid(x):
    r"""Textbook :math:`1/(1+e^{-x})`: ``exp`` overflows for :math:`x \lesssim -710` (float64)."""
    return 1.0 / (1.0 + np.exp(-x))


def naive_sigmoid_ratio(x):
    r"""The equal :math:`e^{x}/(1+e^{x})`: :math:`\infty/\infty` = NaN for large :math:`x`."""
    e = np.exp(x)
    return e / (1.0 + e)


def naive_selu(x):
    r"""SeLU as the seed writes it, through ``np.where``: :math:`e^x` is evaluated for every
    :math:`x`, so large positive inputs overflow in the branch that is then discarded."""
    return np.where(x > 0, Selu.LAMBDA * x, Selu.LAMBDA * Selu.ALPHA * (np.exp(x) - 1))


def naive_swish(x):
    r"""Textbook :math:`x/(1+e^{-x})`: ``exp`` overflows for very negative :math:`x`."""
    return x / (1.0 + np.exp(-x))


def naive_gelu(x):
    r"""The seed's tanh GeLU with its hint :math:`	anh z = (e^z-e^{-z})/(e^z+e^{-z})`:
    :math:`\infty/\infty` = NaN once :math:`|z|` passes about 710."""
    z = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    tanh = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    return 0.5 * x * (1 + tanh)


def naive_softmax(x):
    r"""Row-wise :math:`e^{x_k}/\sum_j e^{x_j}` without subtracting the maximum."""
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def naive_log_softmax(x):
    """``log(softmax(x))`` with the naive softmax."""
    return np.log(naive_softmax(x))


def naive_cross_entropy(x, label):
    """Cross-entropy :math:`-\\log h_t` of one row of logits, through the naive softmax."""
    return -np.log(naive_softmax(x)[..., label])


def naive_log_of_stable_softmax(x, label):
    """``-log(softmax(x)[t])`` with the max-shifted softmax: exact until a probability is 0."""
    return -np.log(softmax(x[None, :])[0, label])


def naive_focal(x, label, gamma=_GAMMA):
    r"""Focal loss :math:`-(1-p)^\gamma \log p` with :math:`p` from the naive softmax."""
    p = naive_softmax(x)[..., label]
    return -((1.0 - p) ** gamma) * np.log(p)


# -- ours, as the training code computes them ----------------------------------------

def _ours_cross_entropy(x, label):
    target = np.zeros((1, x.size), dtype=x.dtype)
    target[0, label] = 1
    return np.float64(SoftmaxCrossEntropyLoss().forward(x[None, :], target))


def _ours_unfused_cross_entropy(x, label):
    # Softmax layer + CrossEntropyLoss on probabilities: the "ce" loss of the study.
    target = np.zeros((1, x.size), dtype=x.dtype)
    target[0, label] = 1
    return np.float64(CrossEntropyLoss().forward(Softmax().forward(x[None, :]), target))


def _ours_focal(x, label):
    target = np.zeros((1, x.size), dtype=x.dtype)
    target[0, label] = 1
    return np.float64(FocalLoss(gamma=_GAMMA).forward(x[None, :], target))


# -- exact values -------------------------------------------------------------------

def _exact_log_softmax(values):
    """log-softmax of a sequence of floats in Decimal arithmetic."""
    xs = [Decimal(float(v)) for v in values]
    log_sum = sum(x.exp() for x in xs).ln()
    return [x - log_sum for x in xs]


def _exact_tanh(z):
    # |z| > 200: tanh is +-1 to far more than 60 digits, and e^(2z) would overflow Decimal.
    if abs(z) > 200:
        return Decimal(1 if z > 0 else -1)
    return 1 - 2 / ((2 * z).exp() + 1)


def _exact_activation(kind, x):
    if kind == "selu":
        lam, alpha = Decimal(Selu.LAMBDA), Decimal(Selu.ALPHA)
        return lam * x if x > 0 else lam * alpha * (x.exp() - 1)
    if kind == "swish":
        return x / (1 + (-x).exp())
    # gelu, the seed's tanh form
    z = (2 / Decimal(np.pi)).sqrt() * (x + Decimal(0.044715) * x ** 3)
    return Decimal("0.5") * x * (1 + _exact_tanh(z))


def _exact(kind, values, label):
    """The exact quantity, rounded to a Python float (which may underflow to 0.0)."""
    with localcontext() as ctx:
        ctx.prec = _DIGITS
        if kind == "sigmoid":
            return [float(1 / (1 + (-Decimal(float(v))).exp())) for v in values]
        if kind in _ELEMENTWISE_KINDS:
            return [float(_exact_activation(kind, Decimal(float(v)))) for v in values]
        log_h = _exact_log_softmax(values)
        if kind == "softmax":
            return [float(v.exp()) for v in log_h]
        if kind == "log_softmax":
            return [float(v) for v in log_h]
        log_p = log_h[label]
        if kind == "cross_entropy":
            return [float(-log_p)]
        return [float(-((1 - log_p.exp()) ** int(_GAMMA)) * log_p)]  # focal


@dataclass(frozen=True)
class StabilityRow:
    """One quantity on one input, evaluated naively, our way and exactly.

    ``*_finite`` says whether every element of the result is finite,
    ``*_warnings`` how many floating-point warnings the evaluation raised and
    ``ours_max_rel_error`` the largest relative error of ours against the exact
    value (absolute error where the exact value is 0).
    """

    quantity: str
    input: str
    dtype: str
    naive_formula: str
    naive_value: str
    naive_finite: bool
    naive_warnings: int
    ours_function: str
    ours_value: str
    ours_finite: bool
    ours_warnings: int
    exact_value: str
    ours_max_rel_error: float


def _evaluate(func, *args):
    """Call ``func`` counting NumPy floating-point warnings; return ``(array, count)``."""
    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
        warnings.simplefilter("always")
        result = np.atleast_1d(np.asarray(func(*args), dtype=np.float64))
    count = sum(issubclass(w.category, RuntimeWarning) for w in caught)
    return result, count


def _fmt(values):
    values = [float(v) + 0.0 for v in np.ravel(values)]  # + 0.0 shows -0.0 as 0
    text = ", ".join(f"{v:.6g}" for v in values)
    return f"[{text}]" if len(values) > 1 else text


def _rel_error(got, exact):
    got, exact = np.asarray(got, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    with np.errstate(all="ignore"):
        scale = np.where(exact == 0, 1.0, np.abs(exact))
        err = np.abs(got - exact) / scale
    return float(np.max(np.where(np.isfinite(err), err, np.inf)))


# (quantity, naive formula text, naive, ours text, ours, exact kind, takes a label)
_CASES = (
    ("sigmoid", "1/(1+exp(-x))", naive_sigmoid, "stable_sigmoid", stable_sigmoid, "sigmoid", False),
    ("sigmoid", "exp(x)/(1+exp(x))", naive_sigmoid_ratio, "stable_sigmoid", stable_sigmoid,
     "sigmoid", False),
    ("SeLU", "where(x>0, λx, λα(exp(x)-1))", naive_selu, "Selu.forward",
     lambda x: Selu().forward(x), "selu", False),
    ("Swish", "x/(1+exp(-x))", naive_swish, "Swish.forward", lambda x: Swish().forward(x),
     "swish", False),
    ("GeLU", "0.5x(1+tanh(z)), tanh by exp", naive_gelu, "Gelu.forward",
     lambda x: Gelu().forward(x), "gelu", False),
    ("softmax", "exp(x)/sum(exp(x))", naive_softmax, "softmax", softmax, "softmax", False),
    ("log-softmax", "log(exp(x)/sum(exp(x)))", naive_log_softmax, "log_softmax", log_softmax,
     "log_softmax", False),
    ("cross-entropy", "-log(softmax(x)[t])", naive_cross_entropy, "SoftmaxCrossEntropyLoss",
     _ours_cross_entropy, "cross_entropy", True),
    ("cross-entropy", "-log(max-shifted softmax(x)[t])", naive_log_of_stable_softmax,
     "Softmax + CrossEntropyLoss", _ours_unfused_cross_entropy, "cross_entropy", True),
    ("focal (gamma=2)", "-(1-p)^2 log p, p=softmax(x)[t]", naive_focal, "FocalLoss",
     _ours_focal, "focal", True),
)

# Inputs per kind of quantity: elementwise ones get a vector, row-wise ones logits.
_ELEMENTWISE_INPUTS = ((-1000.0, 0.0, 1000.0),)
_ROW_INPUTS = ((1000.0, 0.0, -1000.0), (-1000.0, -1000.0, -1000.0))
_LOSS_INPUTS = (((1000.0, 0.0, -1000.0), 2), ((1000.0, 0.0, -1000.0), 0))


_ELEMENTWISE_KINDS = ("sigmoid", "selu", "swish", "gelu")


def _inputs(kind, takes_label):
    if takes_label:
        return _LOSS_INPUTS
    if kind in _ELEMENTWISE_KINDS:
        return tuple((x, None) for x in _ELEMENTWISE_INPUTS)
    return tuple((x, None) for x in _ROW_INPUTS)


def _row(case, values, label, dtype):
    quantity, naive_text, naive, ours_text, ours, kind, takes_label = case
    x = np.array(values, dtype=dtype)
    args = (x, label) if takes_label else (x if kind in _ELEMENTWISE_KINDS else x[None, :],)
    naive_out, naive_warn = _evaluate(naive, *args)
    ours_out, ours_warn = _evaluate(ours, *args)
    exact = _exact(kind, values, label)
    shown = _fmt(values) + (f", t={label}" if takes_label else "")
    return StabilityRow(
        quantity, shown, np.dtype(dtype).name, naive_text, _fmt(naive_out),
        bool(np.all(np.isfinite(naive_out))), naive_warn, ours_text, _fmt(ours_out),
        bool(np.all(np.isfinite(ours_out))), ours_warn, _fmt(exact),
        _rel_error(ours_out.ravel(), exact),
    )


def stability_table(dtypes=("float64", "float32")):
    """Evaluate every case on every input in every dtype.

    Returns
    -------
    list of StabilityRow
        In a fixed order: quantity, then input, then dtype.
    """
    rows = []
    for case in _CASES:
        for values, label in _inputs(case[5], case[6]):
            for dtype in dtypes:
                rows.append(_row(case, values, label, dtype))
    return rows
