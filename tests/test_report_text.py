"""Statistics over seeds and the text generated from them, on synthetic results.

The t quantiles are checked against a numerical integration of Student's t
density; the paired interval against a hand computation; the text generator
against two synthetic groups: one with a clear winner, one whose runs are within
noise. The sentences must name the winner in the first case and refuse to in
the second.
"""

import math

import numpy as np
import pytest

from mnist_mlp.report.facts import pm, ranking, verdict
from mnist_mlp.report.groups import group_section
from mnist_mlp.report.seeds import RunSeeds
from mnist_mlp.report.stats import paired_difference, summarize, t_quantile
from mnist_mlp.study.spec import GroupSpec
from mnist_mlp.study.store import RunResult


def _t_cdf(x, df, steps=200_001):
    """P(T <= x) by Simpson's rule on the density, from 0 (the density is symmetric)."""
    t = np.linspace(0.0, x, steps)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(t * t / df))
    h = x / (steps - 1)
    integral = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum()
                        + 2 * density[2:-1:2].sum())
    return 0.5 + integral


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 30, 31, 45, 100, 1000])
def test_t_quantile_puts_97_5_percent_below_it(df):
    assert _t_cdf(t_quantile(df), df) == pytest.approx(0.975, abs=2e-5)


def test_paired_interval_by_hand():
    reference = {0: 0.90, 1: 0.91, 2: 0.92}
    other = {0: 0.95, 1: 0.97, 2: 0.96, 7: 0.5}     # seed 7 has no partner: ignored
    diff = paired_difference(reference, other)
    # Differences 0.05, 0.07, 0.04: mean 0.0533, sd 0.01528, t(0.975, 2) = 4.3027.
    half = 4.3027 * np.std([0.05, 0.06, 0.04], ddof=1) / math.sqrt(3)
    sd = np.std([0.05, 0.06, 0.04], ddof=1)
    assert diff.n == 3 and diff.mean == pytest.approx(0.05)
    assert diff.half_width == pytest.approx(4.3027 * sd / math.sqrt(3))
    assert diff.low == pytest.approx(0.05 - half) and diff.excludes_zero
    assert paired_difference({0: 1.0}, {0: 2.0}).low is None      # one pair: no interval
    assert summarize([1.0, 2.0, 3.0]).std == pytest.approx(1.0)
    assert pm({0: 0.9812, 1: 0.9818}) == "98.15 ± 0.04%"


# Three seeds each. WINNER beats BASE on every seed by about 5 points; NOISE is within a
# tenth of a point of BASE, in both directions.
BASE = {0: 0.9500, 1: 0.9550, 2: 0.9600}
WINNER = {0: 0.9990, 1: 1.0000, 2: 0.9995}
NOISE = {0: 0.9510, 1: 0.9540, 2: 0.9605}


def test_clear_winner_is_named_with_its_interval():
    diff = paired_difference(BASE, WINNER)
    text = verdict("winner", "base", diff)
    low, high = diff.low * 100, diff.high * 100
    assert text == (f"`winner` has a higher validation accuracy than `base`: +4.45 (95% CI "
                    f"+{low:.2f} to +{high:.2f}) points, paired over 3 seeds; the interval "
                    "excludes zero.")
    assert ranking({"base": BASE, "winner": WINNER}) == [
        "**`winner`** has the highest validation accuracy (99.95 ± 0.05%), and its lead over "
        "every other run of the group has a paired 95% interval that excludes zero."]


def test_runs_within_noise_are_not_distinguishable():
    diff = paired_difference(BASE, NOISE)
    assert not diff.excludes_zero
    text = verdict("noise", "base", diff)
    half = diff.half_width * 100
    assert text == (f"`noise` and `base` are not distinguishable in validation accuracy with 3 "
                    f"seeds: the difference is +0.02 (95% CI −{half - 0.0167:.2f} to "
                    f"+{half + 0.0167:.2f}) points, which includes zero; a difference smaller "
                    f"than about {half:.2f} points could not have been detected.")
    [sentence] = ranking({"base": BASE, "noise": NOISE})
    assert sentence.startswith("`noise` has the highest mean validation accuracy (95.52 ± ")
    assert "its lead over `base` is within noise" in sentence
    assert "no run is ahead of all others" in sentence and "**" not in sentence


def _run(name, activation, accuracies):
    results = {}
    for seed, acc in accuracies.items():
        config = {"hidden": [16], "activation": activation, "loss": "softmax_ce",
                  "dropout": 0.0, "seed": seed, "margin": 5.0}
        final = {"val_acc": acc, "test_acc": acc - 0.01, "val_loss": 1 - acc,
                 "train_eval_acc": acc, "train_eval_loss": 1 - acc, "test_loss": 1 - acc}
        results[seed] = RunResult(name, f"k{seed}", "ok", config, final=final,
                                  cpu_seconds=10.0 + seed, wall_seconds=11.0 + seed)
    return RunSeeds(name, results, {seed: None for seed in accuracies})


def test_group_section_verdicts_follow_the_intervals():
    runs = [_run("base", "relu", BASE), _run("winner", "selu", WINNER),
            _run("noise", "gelu", NOISE)]
    group = GroupSpec("act", "Activations", "activation", ("activation",),
                      ("base", "winner", "noise"))
    blocks = group_section(group, 1, runs, {}, lambda config: "")
    paired = next(b for b in blocks if getattr(b, "headers", [""])[-1] == "verdict (validation)")
    verdicts = {row[0]: row[-1] for row in paired.rows}
    assert verdicts == {"`winner`": "higher", "`noise`": "not distinguishable"}
    table = next(b for b in blocks if getattr(b, "headers", [""])[-1].startswith("epoch"))
    assert table.rows[0][5] == pm(BASE) == "95.50 ± 0.50%"
