"""The similarity engine and command: template and idioms removed, pairs against brute force,
past answers, bad input named and skipped, the CSV and the HTML page."""

from __future__ import annotations

import csv
import html.parser
import itertools
import re
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
from simcorpus import as_submission, disguise, honest_author
from simcorpus_impls import template_files

from mnist_mlp.cli import main
from mnist_mlp.course.similarity import (
    Settings,
    compare,
    find_similar,
    load_template,
)
from mnist_mlp.course.simreport import render_html
from mnist_mlp.errors import ConfigError


@pytest.fixture(scope="module")
def authors():
    rng = np.random.default_rng(2024)
    return [honest_author(rng) for _ in range(6)]


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("handout"), template_files())


def _template(handout):
    return load_template(handout, Settings().k)


def _pair(result, a, b):
    found = [p for p in result.pairs if {p.a, p.b} == {a, b}]
    return found[0] if found else None


# --------------------------------------------------------------------------- scoring


def test_identical_submissions_score_one_and_the_template_alone_is_nothing(handout, authors):
    subs = [
        as_submission("a", authors[0]),
        as_submission("a_copy", dict(authors[0])),
        as_submission("b", authors[1]),
        as_submission("blank", template_files()),
    ]
    result = compare(subs, _template(handout))
    assert _pair(result, "a", "a_copy").score == 1.0
    assert _pair(result, "a", "b") is None or _pair(result, "a", "b").score < 0.75
    assert [str(p) for p in result.problems] == [
        "blank: no code beyond the template to compare; skipped"
    ]
    assert result.clusters == [["a", "a_copy"]]


def test_reformatting_the_template_code_creates_no_match(handout, authors):
    """Students who reformat the handout's own lines (JPlag#222) score as if they had not."""
    rng = np.random.default_rng(0)
    plain = [as_submission(n, f) for n, f in (("a", authors[0]), ("b", authors[1]))]
    moved = {
        name: disguise(rng, files, ("reformat",)) if name == "a" else files
        for name, files in (("a", authors[0]), ("b", authors[1]))
    }
    # Reformat the template's lines too: every line, not only the student's.
    moved["a"] = {
        rel: text.replace(" = ", "=").replace(", ", ",") if rel.endswith(".py") else text
        for rel, text in moved["a"].items()
    }
    before = compare(plain, _template(handout))
    after = compare([as_submission(n, f) for n, f in moved.items()], _template(handout))
    assert [p.score for p in after.pairs] == [p.score for p in before.pairs]


def _unique_code(rng, n_statements=6):
    ops = ["+", "-", "*", "/", "%", "//", "**", "&", "|", "^", "<<", ">>", "@"]
    lines = []
    for _ in range(n_statements):
        chosen = rng.choice(ops, size=6)
        lines.append("    y = a " + " ".join(f"{op} b" for op in chosen))
    return "def mine(a, b):\n" + "\n".join(lines) + "\n    return y\n"


IDIOM = "def relu(x):\n    out = np.maximum(0, x)\n    mask = x > 0\n    return out, mask\n"


def test_idioms_shared_by_too_many_submissions_are_ignored_before_scoring():
    rng = np.random.default_rng(3)
    subs = [as_submission(f"s{i}", {"codes/a.py": IDIOM + _unique_code(rng)}) for i in range(6)]

    def idiom_pairs(max_fraction):
        result = compare(subs, settings=Settings(threshold=0.0, max_fraction=max_fraction))
        # The idiom is lines 1-4 of every file; the rest of each file is its own.
        return [p for p in result.pairs if any(f.a_lines[0] <= 4 for f in p.fragments)]

    assert idiom_pairs(0.3) == []
    assert len(idiom_pairs(1.0)) == 15  # every pair, when nothing is filtered


def test_pair_scores_equal_brute_force_dice_over_every_pair(handout, authors):
    rng = np.random.default_rng(9)
    subs = [as_submission(f"h{i}", f) for i, f in enumerate(authors)]
    subs += [as_submission("c0", disguise(rng, authors[0], ("dead", "rename")))]
    past = [as_submission("p0", authors[1]), as_submission("p1", authors[1])]
    result = compare(subs, _template(handout), past)
    got = {(p.a, p.b): (p.shared, p.score) for p in result.pairs}
    docs = result.compared
    expected = {}
    for a, b in itertools.combinations(docs, 2):
        if a.past and b.past:
            continue  # past answers are never compared with each other
        shared = len(a._fps.keys() & b._fps.keys())
        if shared:
            expected[a.name, b.name] = (shared, 2 * shared / (a.fingerprints + b.fingerprints))
    assert got == expected
    assert ("p0", "p1") not in got and got["h1", "p0"][1] == 1.0


def test_fragments_point_at_the_copied_lines(handout, authors):
    files = dict(authors[2])
    rng = np.random.default_rng(5)
    copy = disguise(rng, files, ("rename", "comments"))
    result = compare([as_submission("a", files), as_submission("b", copy)], _template(handout))
    pair = result.pairs[0]
    assert pair.score == 1.0 and pair.fragments[0] == pair.longest
    f = pair.longest

    def code(text, lines):  # the lines without comments, every name masked
        chosen = text.split("\n")[lines[0] - 1 : lines[1]]
        return [re.sub(r"[A-Za-z_]\w*", "V", x) for x in chosen if not x.strip().startswith("#")]

    assert f.a_file == f.b_file and f.lines > 3
    assert code(files[f.a_file], f.a_lines) == code(copy[f.b_file], f.b_lines)
    assert pair.shared_lines >= f.lines


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="'k' must be an integer >= 2"):
        Settings(k=1)
    with pytest.raises(ConfigError, match=r"'threshold' must be in \[0, 1\]"):
        Settings(threshold=1.5)


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_named_in_the_report_and_skipped_never_a_crash(tmp_path, authors):
    subs = tmp_path / "subs"
    _write(subs / "good", authors[3])
    _write(subs / "good_copy", authors[3])
    _write(subs / "latin1", {"codes/layers.py": b"x = 1\ns = '\xe9t\xe9'\n"})
    _write(subs / "unclosed", {"codes/layers.py": "def f(:\n    return (1,\n"})
    broken = authors[4]["codes/layers.py"] + "def broken(x)\n    return x\n"
    _write(subs / "syntax", {"codes/layers.py": broken})
    _write(subs / "empty", {"Report.md": "nothing here\n"})
    with zipfile.ZipFile(subs / "slip.zip", "w") as archive:
        archive.writestr("../../evil.py", "x = 1\n")
    handout = _write(tmp_path / "handout", template_files())
    (handout / "codes" / "broken.py").write_text("def g(:\n    (\n")
    (handout / "codes" / "typo.py").write_text("def f(x)\n    return x\n")
    result = find_similar(sorted(subs.iterdir()), handout)
    problems = [str(p) for p in result.problems]
    assert any(p.startswith("template: codes/broken.py does not tokenise") for p in problems)
    assert (
        "template: codes/typo.py has a syntax error (line 1: expected ':'); excluded on its "
        "tokens" in problems
    )
    assert any(p.startswith("latin1: codes/layers.py is not valid UTF-8 (line 2") for p in problems)
    assert any(
        p.startswith("unclosed: codes/layers.py does not tokenise (line 3") for p in problems
    )
    assert any("syntax: codes/layers.py has a syntax error" in p for p in problems)
    assert any(p.startswith("empty: no code beyond the template") for p in problems)
    assert any("slip.zip: refused:" in p and "escapes" in p for p in problems)
    assert _pair(result, "good", "good_copy").score == 1.0
    assert {d.name for d in result.compared} == {"good", "good_copy", "syntax"}


def test_template_that_is_not_there_or_has_no_code_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="template cannot be read: no such folder"):
        load_template(tmp_path / "nowhere", 9)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "README.md").write_text("hi")
    with pytest.raises(ConfigError, match="has no .py files"):
        load_template(tmp_path / "t", 9)


def test_without_a_template_the_report_says_so(tmp_path, authors):
    _write(tmp_path / "a", authors[0])
    _write(tmp_path / "b", authors[0])
    result = find_similar([tmp_path / "a", tmp_path / "b"])
    assert str(result.problems[0]).startswith("template: none given")
    assert result.pairs[0].score == 1.0


# --------------------------------------------------------------------------- the command


def _class(tmp_path, authors, names=("ann", "bob", "cat", "dan")):
    rng = np.random.default_rng(11)
    subs = tmp_path / "subs"
    for name, files in zip(names, authors):
        _write(subs / name, files)
    _write(subs / f"{names[0]}_copy", disguise(rng, authors[0], ("rename", "dead", "reorder")))
    return subs


def test_command_writes_the_csv_by_score_the_page_and_a_summary(tmp_path, authors, handout, capsys):
    subs = _class(tmp_path, authors)
    _write(tmp_path / "past" / "2023_bob", authors[1])
    out = tmp_path / "out"
    argv = ["similarity", *map(str, sorted(subs.iterdir())), "--template", str(handout)]
    code = main([*argv, "--past", str(tmp_path / "past"), "--out", str(out)])
    assert code == 0
    rows = list(csv.reader((out / "similarity.csv").open()))
    assert rows[0] == ["a", "b", "score", "shared_lines", "longest_fragment"]
    scores = [float(r[2]) for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    assert rows[1][:3] == ["bob", "2023_bob", "1.0000"]  # a past answer handed in again
    assert rows[2][:2] == ["ann", "ann_copy"] and float(rows[2][2]) >= 0.8
    stdout = capsys.readouterr().out
    assert stdout.startswith(
        "5 submissions compared (and 1 past); 2 pairs at or above 0.8 in 2 clusters"
    )
    assert "similarity.html" in stdout
    assert "2023_bob<span class='past'>past</span>" in (out / "similarity.html").read_text()


def test_command_bad_flag_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["similarity", str(tmp_path), "--threshold", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'threshold' must be in [0, 1]" in err


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.tags = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if attrs.get("href", "").startswith("#"):
            self.hrefs.append(attrs["href"][1:])


def test_page_links_all_resolve_and_untrusted_text_is_escaped(tmp_path, authors, handout):
    hostile = dict(authors[5])
    hostile["codes/layers.py"] += "\nX = str('</pre><script>alert(1)</script>') + str(np.pi)\n"
    subs = [as_submission("<img src=x onerror=alert(1)>", hostile), as_submission("b", hostile)]
    page = render_html(compare(subs, _template(handout)))
    parser = _Links()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert "&lt;/pre&gt;&lt;script&gt;" in page and "&lt;img src=x" in page
    assert parser.hrefs and set(parser.hrefs) <= parser.ids


def test_page_renders_in_headless_chromium(tmp_path, authors, handout):
    if shutil.which("chromium") is None:  # .ci/run installs it: a missing browser is a failure
        pytest.fail("no chromium on PATH: install Debian's browser with `apt-get install -y chromium`")
    subs = _class(tmp_path, authors)
    out = tmp_path / "out"
    assert main(["similarity", *map(str, sorted(subs.iterdir())), "--template", str(handout),
                 "--out", str(out)]) == 0  # fmt: skip
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--dump-dom", (out / "similarity.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    parser = _Links()
    parser.feed(dom)
    assert "<h1>Similarity report</h1>" in dom
    assert dom.count('<details class="pair"') == 1  # ann ~ ann_copy, the one pair above
    assert set(parser.hrefs) <= parser.ids
