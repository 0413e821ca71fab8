"""Facts as sentences: numbers over seeds, and verdicts that cannot overclaim.

Every number in these sentences is computed from run results, histories,
evaluations or the stability table; the templates hold words only, plus the
thresholds they compare against. The one rule of every comparison: a run is
called higher or lower than another only when the paired 95% interval of the
difference excludes zero (:mod:`mnist_mlp.report.stats`); otherwise the
sentence says the two are not distinguishable with this many seeds and how
large a difference the study could have resolved (the interval's half-width).
"""

from __future__ import annotations

import numpy as np

from mnist_mlp.loss import LOSSES
from mnist_mlp.report.stats import paired_difference, summarize

__all__ = ["DASH", "pct", "num", "secs", "pm", "architecture", "verdict", "ranking",
           "direction", "stability_summary", "confusion_facts", "interval_text"]

DASH = "—"


def pct(value):
    """A fraction as a percentage with two decimals (``0.9812`` -> ``98.12%``)."""
    return DASH if value is None else f"{100 * value:.2f}%"


def num(value):
    """A loss: four decimals, or one for large values (hinge losses early in training)."""
    if value is None:
        return DASH
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def secs(value):
    """Seconds with one decimal."""
    return DASH if value is None else f"{value:.1f}"


_KINDS = {  # kind -> (scale, format of one number, unit suffix)
    "pct": (100.0, "{:.2f}", "%"),
    "points": (100.0, "{:.2f}", ""),
    "loss": (1.0, "{:.4f}", ""),
    "secs": (1.0, "{:.1f}", ""),
    "epoch": (1.0, "{:.1f}", ""),
    "grad": (1.0, "{:#.3g}", ""),
}


def pm(values, kind="pct"):
    """``mean ± std`` of ``values`` (a mapping or a list), e.g. ``98.12 ± 0.05%``.

    One value is shown alone; no value is a dash.
    """
    values = list(values.values()) if isinstance(values, dict) else list(values)
    summary = summarize(values)
    if summary.n == 0:
        return DASH
    scale, form, unit = _KINDS[kind]
    text = form.format(scale * summary.mean)
    if summary.std is not None:
        text += " ± " + form.format(scale * summary.std)
    return text + unit


def architecture(config):
    """``784-256-10 (relu)`` plus the extras the model builder adds for this config."""
    sizes = "-".join(str(n) for n in (784, *config["hidden"], 10))
    extras = [config["activation"]]
    if config["dropout"]:
        extras.append(f"dropout {config['dropout']:g}")
    if config["loss"] in LOSSES and LOSSES[config["loss"]].softmax_output:
        extras.append("Softmax layer")
    return f"{sizes} ({', '.join(extras)})"


def _signed(value, kind):
    scale, form, unit = _KINDS[kind]
    text = form.format(scale * value)
    return ("+" + text if value >= 0 else "−" + text.lstrip("-")) + unit


def interval_text(diff, kind="points"):
    """``+0.45 (95% CI +0.30 to +0.60)``, or the mean alone without an interval."""
    if diff.mean is None:
        return DASH
    if diff.low is None:
        return f"{_signed(diff.mean, kind)} (one seed: no interval)"
    return (f"{_signed(diff.mean, kind)} (95% CI {_signed(diff.low, kind)} to "
            f"{_signed(diff.high, kind)})")


def verdict(other, reference, diff, quantity="validation accuracy", kind="points",
            unit=" points"):
    """One sentence comparing run ``other`` against run ``reference``.

    ``diff`` is the paired difference ``other - reference`` of ``quantity``. The
    sentence says "higher" or "lower" only when its 95% interval excludes zero.
    """
    if diff.n == 0:
        return f"`{other}` and `{reference}` have no seed in common that finished: no comparison."
    if diff.low is None:
        return (f"`{other}` and `{reference}` cannot be compared with one seed: the difference "
                f"in {quantity} is {_signed(diff.mean, kind)}{unit} but no interval can be "
                "computed, so it may be noise.")
    seeds = f"paired over {diff.n} seeds"
    if diff.half_width == 0 and diff.mean == 0:
        return (f"`{other}` and `{reference}` have the same {quantity} on every one of the "
                f"{diff.n} seeds: no difference.")
    if diff.excludes_zero:
        word = "higher" if diff.mean > 0 else "lower"
        return (f"`{other}` has a {word} {quantity} than `{reference}`: "
                f"{interval_text(diff, kind)}{unit}, {seeds}; the interval excludes zero.")
    return (f"`{other}` and `{reference}` are not distinguishable in {quantity} with {diff.n} "
            f"seeds: the difference is {interval_text(diff, kind)}{unit}, which includes zero; "
            f"a difference smaller than about {_KINDS[kind][1].format(_KINDS[kind][0] * diff.half_width)}"
            f"{unit} could not have been detected.")


def ranking(runs, key="val_acc", quantity="validation accuracy"):
    """Who leads a group, stated only as far as the paired intervals allow.

    Parameters
    ----------
    runs : dict
        ``{run name: {seed: value}}`` of ``quantity`` (fractions).
    """
    means = {name: summarize(v.values()).mean for name, v in runs.items() if v}
    if len(means) < 2:
        return []
    top = max(means, key=lambda name: means[name])
    diffs = {name: paired_difference(runs[name], runs[top]) for name in means if name != top}
    unclear = [name for name, d in diffs.items() if not d.excludes_zero]
    if not unclear:
        return [f"**`{top}`** has the highest {quantity} ({pm(runs[top])}), and its lead over "
                f"every other run of the group has a paired 95% interval that excludes zero."]
    closest = min(unclear, key=lambda name: diffs[name].mean)
    ties = _and([f"`{n}`" for n in unclear])
    return [f"`{top}` has the highest mean {quantity} ({pm(runs[top])}), but its lead over "
            f"{ties} is within noise (over `{closest}`: {interval_text(diffs[closest])} points), "
            "so with these seeds no run is ahead of all others."]


def _and(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def direction(reference, other, kind="grad"):
    """``(word, diff)``: "larger" / "smaller" when the paired interval excludes zero, else None."""
    diff = paired_difference(reference, other)
    if not diff.excludes_zero:
        return None, diff
    return ("larger" if diff.mean > 0 else "smaller"), diff


def stability_summary(rows, dtype):
    if not rows:
        return []
    naive_bad = sum(not r.naive_finite for r in rows)
    ours_bad = sum(not r.ours_finite for r in rows)
    sentences = [
        f"{dtype}: the naive formulas give a non-finite result (inf or NaN) in {naive_bad} of "
        f"{len(rows)} cases and raise {sum(r.naive_warnings for r in rows)} warnings; ours are "
        f"non-finite in {ours_bad} and raise {sum(r.ours_warnings for r in rows)} warnings."]
    inexact = [r for r in rows if r.ours_max_rel_error > 1e-6]
    for r in inexact:
        sentences.append(
            f"{dtype}: `{r.ours_function}` on {r.input} gives {r.ours_value} where the exact "
            f"value is {r.exact_value} (relative error {r.ours_max_rel_error:.2g})"
            + (": the softmax probability underflows to 0 and the loss on probabilities can "
               "only clamp it. The fused `SoftmaxCrossEntropyLoss` works on logits through "
               "log-sum-exp and is exact." if "CrossEntropyLoss" in r.ours_function else "."))
    exact = len(rows) - len(inexact)
    sentences.append(f"{dtype}: ours agree with the exact value to a relative error below 1e-6 "
                     f"in {exact} of {len(rows)} cases.")
    return sentences


def confusion_facts(evaluation, class_names):
    confusion = np.asarray(evaluation["confusion"])
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    true, pred = np.unravel_index(np.argmax(off), off.shape)
    per_class = np.asarray(evaluation["per_class_accuracy"], dtype=float)
    worst, best = int(np.nanargmin(per_class)), int(np.nanargmax(per_class))
    return [f"Errors: {int(off.sum())} of {int(confusion.sum())} test images.",
            f"Most frequent confusion: true {class_names[true]} predicted as "
            f"{class_names[pred]} ({int(off[true, pred])} times).",
            f"Per-class accuracy from {pct(per_class[worst])} (class {class_names[worst]}) to "
            f"{pct(per_class[best])} (class {class_names[best]})."]
