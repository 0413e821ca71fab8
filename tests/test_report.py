"""The report: document rendering, figures, generated text, and `mnist-mlp report --quick`."""

import base64
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from fakes import fake_mnist

from mnist_mlp.cli import main
from mnist_mlp.report import figures
from mnist_mlp.report.document import Heading, Image, Para, Table, to_html, to_markdown
from mnist_mlp.report.sections import first_epoch_reaching
from mnist_mlp.report.writer import choose_best, write_report
from mnist_mlp.study.runner import run_suite
from mnist_mlp.study.spec import load_suite, parse_suite
from mnist_mlp.train.history import History

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

SUITE = """\
seeds = 2

[variables]
loss = ["loss", "margin"]

[defaults]
hidden = [16]
epochs = 3
validation_size = 200
learning_rate = 0.05
batch_size = 50

[runs.relu]

[runs.sigmoid]
activation = "sigmoid"

[runs.hinge]
loss = "hinge"
margin = 1.0

[runs.diverges]
loss = "mse"
learning_rate = 1e12

[groups.act]
title = "Activation functions"
variable = "activation"
runs = ["relu", "sigmoid"]

[groups.loss]
title = "Loss functions"
variable = "loss"
runs = ["relu", "hinge"]

[groups.unstable]
title = "A diverging run"
variable = "none"
runs = ["diverges"]
"""


def _history(val_accs):
    records = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_acc": a, "val_loss": 1.0 - a,
                "val_acc": a, "test_loss": 1.0 - a, "test_acc": a, "lr": 0.1, "seconds": 1.0,
                "train_eval_loss": 1.0 / (i + 2), "train_eval_acc": a, "grad_norm": [0.5, 0.1],
                "dead_relu": [0.1], "saturated_sigmoid": None, "grad_correct": 0.1,
                "grad_wrong": 1.0, "zero_grad_correct": 0.0}
               for i, a in enumerate(val_accs)]
    return History(records, best_epoch=len(records), initial={"grad_norm": [1.0, 0.2]})


@pytest.fixture(scope="module")
def fake_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    suite = parse_suite(SUITE, "study.toml")
    data = fake_mnist()
    outcome = run_suite(suite, out, data=data, progress=False)
    md, html = write_report(suite, outcome, out, data=data)
    return outcome, out, md.read_text(), html.read_text()


# -- document -----------------------------------------------------------------------------------

def test_markdown_and_html_render_the_same_blocks(tmp_path):
    png = figures.plot_group({"a": [_history([0.5, 0.9])]}, tmp_path / "f.png", "T")
    blocks = [Heading(2, "Results: one"), Para("**bold** and `code` <b>"),
              Table(["run", "acc"], [["a|b", "97.00%"]], numeric={1}),
              Image(png.name, "caption")]
    md = to_markdown(blocks)
    assert "## Results: one" in md and "| a\\|b | 97.00% |" in md and "| :--- | ---: |" in md
    assert "![caption](f.png)" in md
    html = to_html(blocks, tmp_path, "title")
    assert '<h2 id="results-one">' in html
    assert "<strong>bold</strong> and <code>code</code> &lt;b&gt;" in html
    assert '<td class="num">97.00%</td>' in html
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(embedded) == png.read_bytes()


# -- figures ------------------------------------------------------------------------------------

def test_mosaic_places_each_tile_in_its_cell():
    tiles = np.arange(3 * 28 * 28, dtype=float).reshape(3, 28, 28)
    mosaic, rows = figures._mosaic(tiles, columns=2, pad=2)
    assert rows == 2 and mosaic.shape == (58, 58)
    np.testing.assert_array_equal(mosaic[:28, :28], tiles[0])
    np.testing.assert_array_equal(mosaic[:28, 30:], tiles[1])
    np.testing.assert_array_equal(mosaic[30:, :28], tiles[2])
    assert np.isnan(mosaic[28:30]).all() and np.isnan(mosaic[30:, 30:]).all()


def test_figures_are_png_files(tmp_path):
    rng = np.random.default_rng(0)
    confusion = np.diag(np.full(10, 90)) + rng.integers(0, 3, (10, 10))
    paths = [
        figures.plot_group({"a": [_history([0.5, 0.9]), _history([0.6, 0.8])], "b": [None]},
                           tmp_path / "g.png", "G", log_loss=True),
        figures.plot_diagnostics({"a": [_history([0.5, 0.9])], "b": [None]}, tmp_path / "d.png",
                                 "D"),
        figures.plot_confusion(confusion, tmp_path / "c.png", "C", [str(i) for i in range(10)]),
        figures.plot_misclassified(rng.random((5, 784)), [1, 2, 3, 4, 5], [7, 7, 7, 7, 7],
                                   tmp_path / "m.png", "M"),
        figures.plot_first_layer(rng.standard_normal((784, 12)), tmp_path / "w.png", "W"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000


# -- generated text -----------------------------------------------------------------------------

def test_first_epoch_reaching_the_target():
    history = _history([0.90, 0.96, 0.97, 0.99])
    assert first_epoch_reaching(history, 0.97) == 3
    assert first_epoch_reaching(history, 0.995) is None
    assert first_epoch_reaching(None) is None


def test_best_model_is_chosen_by_validation_not_test(fake_report):
    outcome, *_ = fake_report
    results = dict(outcome.results)
    best = choose_best(results)
    mean_val = {name: np.mean([r.final["val_acc"] for r in outcome.of_run(name) if r.ok])
                for name in outcome.run_names() if any(r.ok for r in outcome.of_run(name))}
    assert mean_val[best.name] == max(mean_val.values())
    # Give another run a perfect test accuracy on every seed: the choice must not change.
    for (name, seed), r in outcome.results.items():
        if r.ok and name != best.name:
            results[name, seed] = dataclasses.replace(r, final={**r.final, "test_acc": 1.0})
    assert choose_best(results).name == best.name


def _row(md, run, group_line):
    """The table row of ``run`` in the first table after the heading ``group_line``."""
    after = md[md.index(group_line):]
    return next(line for line in after.splitlines() if line.startswith(f"| `{run}` |"))


def test_report_has_every_group_and_means_over_seeds(fake_report):
    outcome, out, md, html = fake_report
    for title in ("1. Activation functions", "2. Loss functions", "3. A diverging run",
                  "Bonus 3: numerical stability",
                  "The best model", "Every run"):
        assert f"## {title}" in md and title in html
    seeds = outcome.of_run("sigmoid")
    assert len(seeds) == 2 and all(r.ok for r in seeds)
    row = _row(md, "sigmoid", "## 1. Activation functions")
    test = [100 * r.final["test_acc"] for r in seeds]
    loss = [r.final["train_eval_loss"] for r in seeds]
    assert f"{np.mean(test):.2f} ± {np.std(test, ddof=1):.2f}%" in row
    assert f"{np.mean(loss):.4f} ± {np.std(loss, ddof=1):.4f}" in row
    assert "| `sigmoid` | sigmoid | 2 |" in row  # legend-style setting and the seed count
    # The paired table compares with the group's first run, with an interval.
    assert "val acc minus `relu` (points)" in md and "95% CI" in md


def test_failed_run_is_marked_in_the_report(fake_report):
    outcome, out, md, html = fake_report
    error = outcome.results["diverges", 0].error
    assert "diverged" in error
    assert "## Failed runs" in md and f"| `diverges` | 0 | {error} |" in md
    assert "| `diverges` | diverges | 0 of 2 (2 failed) |" in md  # its group's table
    assert f"`diverges` seed 1 failed: {outcome.results['diverges', 1].error}" in md


def test_loss_group_notes_the_scales_and_figures_label_by_setting(fake_report):
    outcome, out, md, html = fake_report
    loss_section = md[md.index("## 2. Loss functions"):md.index("## 3. A diverging run")]
    assert "Losses are on different scales" in loss_section
    assert "| `hinge` | hinge, margin 1 |" in loss_section
    assert "Figure 2b, panel d" in loss_section  # reasons point at the diagnostics figure


def test_html_is_self_contained(fake_report):
    outcome, out, md, html = fake_report
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == len(re.findall(r"!\[", md)) > 0
    assert all(src.startswith("data:image/png;base64,") for src in images)
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / link).read_bytes()[:8] == PNG_SIGNATURE


def test_second_report_reuses_figures_and_removes_stale_ones(fake_report):
    outcome, out, md, html = fake_report
    figures_dir = out / "figures"
    stale = figures_dir / "group-gone-0123456789.png"
    stale.write_bytes(PNG_SIGNATURE)
    stamps = {p: p.stat().st_mtime_ns for p in figures_dir.iterdir() if p != stale}
    assert len(stamps) >= 7  # two groups x (curves, diagnostics), three best-model figures, summary
    write_report(parse_suite(SUITE, "study.toml"), outcome, out, data=fake_mnist())
    assert not stale.exists()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


# -- end to end on the real data -----------------------------------------------------------------

_HIGHER = re.compile(r"has a (?:higher|lower) [a-z ]+ than `[^`]+`: [+−][0-9.]+ \(95% CI "
                     r"([+−][0-9.]+) to ([+−][0-9.]+)\)")


def _signed(text):
    return float(text.replace("−", "-"))


@pytest.mark.slow
def test_quick_report_end_to_end(tmp_path, capsys, mnist_dir):
    """`mnist-mlp report --quick` on the real data: two seeds, every section, a second call reuses."""
    out = tmp_path / "report"
    argv = ["report", "--quick", "--jobs", "2", "--out", str(out), "--data-dir", str(mnist_dir),
            "--config", str(REPO / "experiments.toml"), "--no-progress"]
    assert main(argv) == 0
    md, html = (out / "REPORT.md").read_text(), (out / "report.html").read_text()
    suite = load_suite(REPO / "experiments.toml")
    for group in suite.groups:
        assert group.title in md and group.title in html
    assert "Quick mode" in md and "Bonus 3: numerical stability" in md
    assert "each trained with 2 seed(s)" in md
    results = [p.read_text() for p in out.glob("runs/*/result.json")]
    assert len(results) == 2 * len(suite.runs)
    # Two worker processes, each told to use cpu_count // 2 BLAS threads.
    assert all('"blas_threads": "' in text for text in results)
    # Every group with several runs has its paired table and its diagnostics figure.
    for number, group in enumerate(suite.groups, 1):
        if len(group.runs) > 1:
            assert f"Figure {number}b." in md
    # No sentence calls a run higher or lower unless its interval excludes zero.
    claims = _HIGHER.findall(md)
    assert all(_signed(low) > 0 or _signed(high) < 0 for low, high in claims)
    assert "not distinguishable" in md or claims
    for row in ("SeLU", "Swish", "GeLU"):
        assert f"| {row} |" in md
    assert "[nan, −inf, −inf]" in html  # minus signs: no line break inside a value

    assert main(argv) == 0
    runs, jobs = len(suite.runs), 2 * len(suite.runs)
    assert f"{runs} runs x 2 seeds = {jobs} jobs: 0 trained, {jobs} reused" in capsys.readouterr().err
