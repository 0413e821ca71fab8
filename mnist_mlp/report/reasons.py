"""Reasons, measured: the diagnostics sentences of each group's discussion.

Every sentence here names a measured number (mean ± std over seeds) and the
figure panel that shows it; a mechanism ("the margin is met, so hinge stops
pushing") is stated only when the measured numbers point that way, and a
difference between two runs is called larger or smaller only when its paired
95% interval excludes zero (:func:`~mnist_mlp.report.facts.direction`).

The diagnostics themselves are defined in :mod:`mnist_mlp.train.diagnostics`
(measured once per epoch on a fixed probe of 1000 training samples, in
evaluation mode).
"""

from __future__ import annotations

from mnist_mlp.report.facts import direction, interval_text, pm
from mnist_mlp.report.stats import summarize

__all__ = ["group_kind", "reasons"]

_REGULARISERS = ("dropout", "weight_decay", "early_stopping", "augment")


def group_kind(keys):
    """What a group varies, as one word: activation, loss, depth, regularisation or none."""
    keys = set(keys)
    if "activation" in keys:
        return "activation"
    if "loss" in keys:
        return "loss"
    if "hidden" in keys:
        return "depth"
    if keys & set(_REGULARISERS):
        return "regularisation"
    return "none"


def reasons(kind, runs, figure):
    """Sentences explaining a group's results with its diagnostics.

    Parameters
    ----------
    kind : str
        From :func:`group_kind`.
    runs : list of RunSeeds
        The group's runs; the first is the reference.
    figure : str
        How the text refers to the group's diagnostics figure, e.g. ``"Figure 3b"``
        is built as ``f"{figure}b"``.
    """
    runs = [r for r in runs if r.ok]
    if not runs or not any(r.diagnostic("grad_norm") for r in runs):
        return []
    builder = {"activation": _activation, "loss": _loss, "depth": _depth,
               "regularisation": _regularisation, "none": _single}[kind]
    return builder(runs, figure)


def _listing(runs, values, kind="grad"):
    parts = [f"`{r.name}` {pm(values[r.name], kind)}" for r in runs if values.get(r.name)]
    return ", ".join(parts) or "none measured"


def _panel(figure, letter):
    return f"{figure}, panel {letter}"


def _compare(reference, other, values, what, kind="grad", unit=""):
    """"`other`'s X is smaller than `reference`'s: ..." or the not-distinguishable form."""
    word, diff = direction(values[reference.name], values[other.name])
    if diff.n < 2:
        return None, None
    if word is None:
        return None, (f"`{other.name}` and `{reference.name}` do not differ in {what} beyond "
                      f"noise ({interval_text(diff, kind)}{unit}).")
    return word, (f"`{other.name}`'s {what} is {word} than `{reference.name}`'s "
                  f"({interval_text(diff, kind)}{unit}, paired 95% interval).")


def _ratio(numerator, denominator):
    return {s: numerator[s] / denominator[s] for s in numerator if denominator.get(s)}


def _activation(runs, figure):
    # At initialisation every run of a seed has the same weights (same shapes), so the
    # gradients differ only through the activation: the clean test of vanishing gradients.
    first = {r.name: r.diagnostic("grad_norm", epoch=0, layer=0) for r in runs}
    last = {r.name: r.diagnostic("grad_norm", epoch=0, layer=-1) for r in runs}
    ratio = {r.name: _ratio(first[r.name], last[r.name]) for r in runs}
    after = {r.name: r.diagnostic("grad_norm", epoch=1, layer=0) for r in runs}
    sentences = [
        "Gradient norms of the initial weights (the same weights for every activation of a "
        f"seed): first layer {_listing(runs, first)}; first- over last-layer norm "
        f"{_listing(runs, ratio)}. After epoch 1 ({_panel(figure, 'a')}), first layer: "
        f"{_listing(runs, after)}."]
    ref = runs[0]
    for other in runs[1:]:
        word, sentence = _compare(ref, other, ratio, "first- over last-layer gradient ratio at "
                                                     "initialisation")
        if sentence is None:
            continue
        if word == "smaller" and other.config["activation"] == "sigmoid":
            sentence += (" The backward signal shrinks on its way to the first layer, because "
                         "every Sigmoid multiplies it by its derivative y(1-y) ≤ 1/4: "
                         "vanishing gradients, measured.")
        sentences.append(sentence)
    return sentences + _saturation(runs, figure)


def _saturation(runs, figure):
    sentences = []
    for r in runs:
        sat = r.diagnostic("saturated_sigmoid", epoch=1, layer=0)
        if sat:
            sentences.append(
                f"`{r.name}`: {pm(sat)} of the first hidden layer's activations are saturated "
                f"after epoch 1 and {pm(r.diagnostic('saturated_sigmoid', layer=0))} at the end "
                f"({_panel(figure, 'c')}; saturated: outside [0.05, 0.95], where the derivative "
                "y(1-y) is below 0.0475, under a fifth of its maximum).")
        dead = r.diagnostic("dead_relu", layer=0)
        if dead:
            sentences.append(f"`{r.name}`: {pm(dead)} of the first layer's ReLU units are dead "
                             f"(output 0 on every probe sample) at the end "
                             f"({_panel(figure, 'c')}).")
    return sentences


def _loss(runs, figure):
    correct = {r.name: r.diagnostic("grad_correct") for r in runs}
    wrong = {r.name: r.diagnostic("grad_wrong") for r in runs}
    zero = {r.name: r.diagnostic("zero_grad_correct") for r in runs}
    share = {r.name: _ratio(correct[r.name], wrong[r.name]) for r in runs}
    sentences = [
        f"Gradient each correctly classified probe sample sends to the logits at the last epoch "
        f"({_panel(figure, 'd')}): {_listing(runs, correct)}; each misclassified one "
        f"({_panel(figure, 'e')}): "
        f"{_listing(runs, wrong)}. Losses are on different scales, so compare these within a "
        "run: a correct sample gets this share of a wrong one's gradient: "
        f"{_listing(runs, share)}."]
    for r in runs:
        zeros = summarize(zero[r.name].values())
        if zeros.mean is not None and zeros.mean >= 0.5:
            sentences.append(
                f"`{r.name}` sends exactly zero gradient for {pm(zero[r.name])} of the correctly "
                "classified probe samples at the last epoch: once every wrong class is beaten by "
                "the margin, a hinge loss stops pushing, and those samples no longer train the "
                "network.")
    ref = runs[0]
    for other in runs[1:]:
        word, sentence = _compare(ref, other, share, "share of gradient on correct samples "
                                                     "(correct / wrong)")
        if sentence:
            focal_smaller = ((other.config["loss"] == "focal" and word == "smaller")
                             or (ref.config["loss"] == "focal" and word == "larger"))
            if focal_smaller:
                sentence += (" Focal loss's factor (1-p)^gamma is at work: it down-weights the "
                             "samples the network already classifies with confidence.")
            sentences.append(sentence)
    return sentences


def _depth(runs, figure):
    sentences = []
    for r in runs:
        norms = [r.diagnostic("grad_norm", epoch=1, layer=i)
                 for i in range(len(r.config["hidden"]) + 1)]
        sentences.append(f"`{r.name}`: gradient norm per layer at epoch 1, first to last "
                         f"({_panel(figure, 'a')}-b): " + ", ".join(pm(n, "grad") for n in norms)
                         + ".")
    cpu = {r.name: r.attribute("cpu_seconds") for r in runs}
    sentence = f"CPU time per seed: {_listing(runs, cpu, 'secs')} s."
    deeper = max(runs, key=lambda r: len(r.config["hidden"]))
    shallow = min(runs, key=lambda r: len(r.config["hidden"]))
    word, _ = direction(cpu[shallow.name], cpu[deeper.name])
    if deeper is not shallow and word == "larger":
        sentence += (f" `{deeper.name}` costs more (paired interval excludes zero): its extra "
                     "layer adds two matrix products to every step.")
    sentences.append(sentence)
    return sentences + _gaps(runs, figure)


def _gaps(runs, figure):
    gap = {r.name: {s: r.final("train_eval_acc")[s] - r.final("val_acc")[s]
                    for s in r.final("train_eval_acc") if s in r.final("val_acc")} for r in runs}
    sentences = [f"Gap between training accuracy (evaluation mode, probe) and validation "
                 f"accuracy at the end ({_panel(figure, 'f')}), in points: "
                 f"{_listing(runs, gap, 'points')}."]
    ref = runs[0]
    for other in runs[1:]:
        _, sentence = _compare(ref, other, gap, "train-validation gap", "points", " points")
        if sentence:
            sentences.append(sentence)
    return sentences


def _regularisation(runs, figure):
    sentences = _gaps(runs, figure)
    train = {r.name: r.final("train_eval_acc") for r in runs}
    sentence = (f"Training accuracy (evaluation mode, probe) at the end: "
                f"{_listing(runs, train, 'pct')}.")
    base = summarize(train[runs[0].name].values()).mean
    if base is not None and base >= 0.99:
        sentence += (f" `{runs[0].name}` fits its training samples almost perfectly: what it "
                     "memorises beyond the general pattern shows as the gap.")
    sentences.append(sentence)
    return sentences


def _single(runs, figure):
    sentences = _gaps(runs, figure)
    for r in runs:
        if not (r.config.get("dropout") or r.config.get("augment")):
            continue
        running = r.final("train_acc")
        evaluated = r.final("train_eval_acc")
        word, _ = direction(evaluated, running)
        if word != "smaller":
            continue
        sentences.append(
            f"`{r.name}`: training accuracy as the running mean over the last epoch's batches "
            f"(dropout and augmentation on, weights moving) is {pm(running)}; measured in "
            f"evaluation mode on the probe it is {pm(evaluated)}, higher (paired interval "
            "excludes zero). Only the second compares with validation and test accuracy: a "
            "training accuracy below test accuracy from the first comes from dropout and "
            "augmentation, not from generalisation.")
    return sentences
