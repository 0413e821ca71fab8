r"""Numbers over seeds: mean ± standard deviation, and paired Student-t intervals.

Every run of the study is trained once per seed, and runs with the same seed
share the validation split, the batch order and (where shapes agree) the
initial weights. A comparison of run B against run A is therefore *paired*:
the differences :math:`d_i = B_i - A_i` over the seeds :math:`i = 1..n` cancel
what the seed does to both, and the 95% confidence interval of the mean
difference is

.. math::
    \bar d \pm t_{0.975,\,n-1}\, \frac{s_d}{\sqrt n},

with :math:`s_d` the sample standard deviation of the differences (ddof 1)
and :math:`t_{0.975,\,n-1}` Student's t quantile (:func:`t_quantile`). A
difference is called significant only when this interval excludes zero. Its
half-width is what the study could resolve: a true difference much smaller
than it cannot be told from seed noise with this many seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Summary", "PairedDifference", "summarize", "paired_difference", "t_quantile",
           "CONFIDENCE"]

CONFIDENCE = 0.95

# Student's t 0.975 quantiles for 1..30 degrees of freedom (standard tables).
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959964


def t_quantile(df):
    """Student's t 0.975 quantile with ``df`` degrees of freedom (two-sided 95%).

    A table up to 30, then the Cornish-Fisher expansion in 1/df around the
    normal quantile (error below 1e-4 for df > 30).
    """
    if df < 1:
        raise ValueError(f"t_quantile: 'df' must be >= 1; got {df!r}.")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof 1; None for one value) of ``n`` values."""

    mean: float | None
    std: float | None
    n: int


def summarize(values):
    """:class:`Summary` of the values that are not None."""
    values = [float(v) for v in values if v is not None]
    n = len(values)
    if n == 0:
        return Summary(None, None, 0)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return Summary(mean, std, n)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of paired differences ``other - reference`` with its 95% Student-t interval.

    ``low`` / ``high`` are None with fewer than two pairs (no interval exists).
    """

    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def half_width(self):
        return None if self.low is None else (self.high - self.low) / 2

    @property
    def excludes_zero(self):
        """True when the interval lies entirely above or below zero."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired_difference(reference, other):
    """Paired difference of two ``{seed: value}`` mappings over their common seeds."""
    seeds = sorted(s for s in set(reference) & set(other)
                   if reference[s] is not None and other[s] is not None)
    diffs = [float(other[s]) - float(reference[s]) for s in seeds]
    n = len(diffs)
    if n == 0:
        return PairedDifference(None, None, None, 0)
    mean = sum(diffs) / n
    if n < 2:
        return PairedDifference(mean, None, None, n)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, n)
