"""Facts as sentences: the comparisons of the report, filled with measured values.

Every number in these sentences is computed from run results, histories,
evaluations or the stability table; the templates hold words only, plus the
thresholds they compare against (:data:`VAL_TARGET`).
"""

from __future__ import annotations

import numpy as np

from mnist_mlp.loss import LOSSES

__all__ = ["VAL_TARGET", "DASH", "pct", "num", "secs", "architecture", "first_epoch_reaching",
           "group_comparison", "stability_summary", "confusion_facts"]

VAL_TARGET = 0.97  # the validation accuracy whose first epoch the tables report
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
    return f"{value:.1f}"


def architecture(config):
    """``784-256-10 relu`` plus the extras the model builder adds for this config."""
    sizes = "-".join(str(n) for n in (784, *config["hidden"], 10))
    extras = [config["activation"]]
    if config["dropout"]:
        extras.append(f"dropout {config['dropout']:g}")
    if config["loss"] in LOSSES and LOSSES[config["loss"]].softmax_output:
        extras.append("Softmax layer")
    return f"{sizes} ({', '.join(extras)})"


def first_epoch_reaching(history, target=VAL_TARGET, key="val_acc"):
    """The first epoch whose ``key`` is at least ``target``, or None."""
    if history is None:
        return None
    for record in history.records:
        if record.get(key) is not None and record[key] >= target:
            return record["epoch"]
    return None


def group_comparison(results, histories):
    """Factual sentences about a group's runs: ranking, margin, convergence, time, gap.

    Parameters
    ----------
    results : list of RunResult
        The group's runs, finished or failed.
    histories : dict
        ``{run name: History or None}``.
    """
    ok = [r for r in results if r.ok]
    sentences = []
    if ok:
        sentences += _ranking(ok)
        sentences += _convergence(histories, ok)
        sentences += _timing(ok)
        sentences += _generalisation(ok)
    sentences += [f"`{r.name}` failed: {r.error}" for r in results if not r.ok]
    return sentences or ["No run of this group finished."]


def _ranking(ok):
    ranked = sorted(ok, key=lambda r: (-r.final["val_acc"], r.final["val_loss"]))
    first = ranked[0]
    if len(ranked) == 1:
        return [f"`{first.name}`: validation accuracy {pct(first.final['val_acc'])}, "
                f"test accuracy {pct(first.final['test_acc'])}."]
    second = ranked[1]
    margin = 100 * (first.final["val_acc"] - second.final["val_acc"])
    by_test = sorted(ok, key=lambda r: -r.final["test_acc"])
    return [
        f"Best by validation accuracy: **`{first.name}`** ({pct(first.final['val_acc'])}), "
        f"{margin:.2f} points ahead of `{second.name}` ({pct(second.final['val_acc'])}).",
        f"Test accuracy ranges from {pct(by_test[-1].final['test_acc'])} (`{by_test[-1].name}`) "
        f"to {pct(by_test[0].final['test_acc'])} (`{by_test[0].name}`).",
    ]


def _convergence(histories, ok):
    reached = [(first_epoch_reaching(histories.get(r.name)), r) for r in ok]
    hit = sorted([(e, r) for e, r in reached if e is not None], key=lambda p: (p[0], p[1].name))
    missed = [r for e, r in reached if e is None]
    target = f"{100 * VAL_TARGET:g}%"
    parts = []
    if hit:
        parts.append(f"Validation accuracy first reached {target} at epoch "
                     + ", ".join(f"{e} for `{r.name}`" for e, r in hit))
    if missed:
        parts.append(("it never did" if hit else f"Validation accuracy never reached {target}")
                     + " for " + ", ".join(f"`{r.name}` (best {pct(_best_val(histories, r))} in "
                                           f"{r.epochs_run} epochs)" for r in missed))
    return ["; ".join(parts) + "."]


def _best_val(histories, result):
    history = histories.get(result.name)
    values = [r["val_acc"] for r in history.records] if history else []
    return max(values) if values else result.final["val_acc"]


def _timing(ok):
    """Fastest and slowest run by CPU time (wall time when CPU time was not recorded)."""
    def cost(r):
        return r.cpu_seconds if r.cpu_seconds is not None else r.train_seconds

    label = "CPU time" if all(r.cpu_seconds is not None for r in ok) else "training time"
    if len(ok) < 2:
        return [f"{label[0].upper()}{label[1:]}: {secs(cost(ok[0]))} s."]
    by_cost = sorted(ok, key=cost)
    fast, slow = by_cost[0], by_cost[-1]
    ratio = cost(slow) / cost(fast) if cost(fast) > 0 else float("nan")
    return [f"Least {label}: `{fast.name}` ({secs(cost(fast))} s); most: `{slow.name}` "
            f"({secs(cost(slow))} s, {ratio:.1f}x as much)."]


def _generalisation(ok):
    gaps = sorted(ok, key=lambda r: r.final["train_acc"] - r.final["test_acc"])
    sentences = []
    if len(gaps) > 1:
        small, large = gaps[0], gaps[-1]
        sentences.append(
            f"Gap between training and test accuracy: largest for `{large.name}` "
            f"({100 * (large.final['train_acc'] - large.final['test_acc']):.2f} points), smallest "
            f"for `{small.name}` ({100 * (small.final['train_acc'] - small.final['test_acc']):.2f}).")
    for r in ok:
        if r.stopped_early:
            sentences.append(f"`{r.name}` stopped early after {r.epochs_run} of "
                             f"{r.config['epochs']} epochs and kept the weights of epoch "
                             f"{r.best_epoch} (lowest validation loss).")
    return sentences


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
            f"value is {r.exact_value} (relative error {r.ours_max_rel_error:.2g}): the softmax "
            "probability underflows to 0 and the loss on probabilities can only clamp it. The "
            "fused `SoftmaxCrossEntropyLoss` works on logits through log-sum-exp and is exact.")
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
