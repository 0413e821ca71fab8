"""Write a similarity result: ``similarity.csv``, a standalone ``similarity.html``, a summary.

The HTML page needs nothing but itself (inline CSS, no script, no network), so it
can be mailed to a committee: the settings and any problems, the clusters of
submissions linked above the threshold, the ranked pairs, and for each pair above
the threshold a side-by-side view of the two submissions' files with every shared
fragment highlighted in its own colour and linked to its counterpart. Lines far
from any fragment are folded away. Every name and line of code is HTML-escaped:
submissions are untrusted and so are their file names.
"""

from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path

from mnist_mlp.course.similarity import Compared, Pair, SimilarityResult
from mnist_mlp.fileio import atomic_write

__all__ = ["render_html", "summary", "write_csv", "write_report"]

_MAX_TABLE = 300  # ranked pairs listed in the page; the CSV has them all
_MAX_VIEWS = 200  # side-by-side views
_CONTEXT = 3  # lines shown around a fragment
_COLOURS = 8

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1500px;padding:0 1.2em;color:#1d1d1f}
h1{font-size:1.6em;margin:.8em 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555}table{border-collapse:collapse;margin:.4em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f7;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.7em;background:#c0392b;margin-right:.4em;vertical-align:middle}
.low .bar{background:#95a5a6}tr.low{color:#666}.problems li{color:#8a4b00}
.past{font-size:.8em;color:#fff;background:#7f8c8d;border-radius:3px;padding:0 .3em;margin-left:.3em}
.cluster{margin:.3em 0}.pair{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.2em .8em}
.pair>summary{font-weight:600;cursor:pointer;padding:.4em 0}
.sides{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.8em}
.side h4{margin:.6em 0 .2em;font:600 13px monospace}
pre{margin:0;background:#fafafa;border:1px solid #eee;overflow-x:auto;font:12px/1.4 monospace}
pre span{display:block;white-space:pre;padding-right:.5em}pre i{display:inline-block;width:3.2em;
color:#999;font-style:normal;text-align:right;margin-right:.6em;user-select:none}
pre .fold{color:#888;background:#f0f0f0;font-style:italic}pre a{color:inherit;text-decoration:none}
.f0{background:#ffd6d6}.f1{background:#d6ecff}.f2{background:#dff5d6}.f3{background:#fff1c2}
.f4{background:#ecdcff}.f5{background:#d2f4f0}.f6{background:#ffe1f0}.f7{background:#e8e8d0}
.frag a{text-decoration:none}.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;
vertical-align:middle;margin-right:.3em}
"""


def write_csv(result: SimilarityResult, path: str | os.PathLike) -> None:
    """Every pair sharing a fingerprint, by score: ``a,b,score,shared_lines,longest_fragment``."""
    with atomic_write(path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "score", "shared_lines", "longest_fragment"])
        for p in result.pairs:
            longest = p.longest.lines if p.longest else 0
            writer.writerow([p.a, p.b, f"{p.score:.4f}", p.shared_lines, longest])


def summary(result: SimilarityResult, top: int = 10) -> str:
    """What the terminal shows: counts, the top pairs, the problems."""
    s, docs = result.settings, result.compared
    past = sum(d.past for d in docs)
    above = result.above
    lines = [
        f"{len(docs) - past} submissions compared"
        + (f" (and {past} past)" if past else "")
        + f"; {len(above)} pairs at or above {s.threshold:g}"
        + f" in {len(result.clusters)} cluster{'s' * (len(result.clusters) != 1)}"
    ]
    for p in result.pairs[:top]:
        frag = f", longest fragment {p.longest.lines} lines" if p.longest else ""
        lines.append(f"  {p.score:.3f}  {p.a} ~ {p.b}  ({p.shared_lines} shared lines{frag})")
    if result.problems:
        lines.append(f"{len(result.problems)} problem(s):")
        lines += [f"  {problem}" for problem in result.problems]
    return "\n".join(lines)


def write_report(result: SimilarityResult, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``similarity.csv`` and ``similarity.html`` into ``out`` (created if needed)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = folder / "similarity.csv", folder / "similarity.html"
    write_csv(result, csv_path)
    with atomic_write(html_path) as fh:
        fh.write(render_html(result))
    return csv_path, html_path


# --------------------------------------------------------------------------- HTML


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def render_html(result: SimilarityResult) -> str:
    """The whole page as one string (see the module docstring)."""
    docs = {d.name: d for d in result.compared}
    views = result.above[:_MAX_VIEWS]
    anchor = {(p.a, p.b): f"pair{i}" for i, p in enumerate(views)}
    out = io.StringIO()
    out.write(f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
              f"<title>Similarity report</title><style>{_CSS}</style></head><body>\n")  # fmt: skip
    out.write("<h1>Similarity report</h1>\n")
    out.write(
        f"<p class='meta'>{_e(summary(result, top=0).splitlines()[0])}. {_settings(result)}</p>\n"
    )
    _problems(out, result)
    _clusters(out, result, docs, anchor)
    _ranked(out, result, docs, anchor)
    out.write(f"<h2 id='views'>Side by side ({len(views)} pairs at or above the threshold)</h2>\n")
    if len(result.above) > len(views):
        out.write(f"<p>The first {len(views)} are shown; similarity.csv lists all.</p>\n")
    for p in views:
        _view(out, p, docs[p.a], docs[p.b], anchor[p.a, p.b])
    out.write("</body></html>\n")
    return out.getvalue()


def _settings(result: SimilarityResult) -> str:
    s = result.settings
    tmpl = (
        f"template: {result.template_files} file(s), its code excluded"
        if result.template_files
        else "no template"
    )
    return _e(
        f"Score: 2·shared / (fingerprints of a + of b), after removing the template's "
        f"fingerprints and those in more than {s.max_fraction:.0%} of submissions; {tmpl}; "
        f"k = {s.k} tokens, window w = {s.w}, threshold {s.threshold:g}."
    )


def _problems(out, result: SimilarityResult) -> None:
    if not result.problems:
        return
    out.write(f"<h2 id='problems'>Skipped or handled ({len(result.problems)})</h2>\n")
    out.write("<ul class='problems'>")
    out.writelines(f"<li><b>{_e(p.who)}</b>: {_e(p.what)}</li>" for p in result.problems)
    out.write("</ul>\n")


def _name(doc: Compared | None, name: str) -> str:
    return _e(name) + ("<span class='past'>past</span>" if doc is not None and doc.past else "")


def _clusters(out, result, docs, anchor) -> None:
    out.write(f"<h2 id='clusters'>Clusters ({len(result.clusters)})</h2>\n")
    if not result.clusters:
        out.write("<p>No two submissions score at or above the threshold.</p>\n")
    members_of = {}
    for i, group in enumerate(result.clusters):
        for name in group:
            members_of[name] = i
    inside = [[] for _ in result.clusters]
    for p in result.above:
        inside[members_of[p.a]].append(p)
    for group, pairs in zip(result.clusters, inside):
        links = ", ".join(
            f"<a href='#{anchor[p.a, p.b]}'>{p.score:.2f}</a>"
            for p in pairs[:12]
            if (p.a, p.b) in anchor
        )
        names = ", ".join(_name(docs.get(n), n) for n in group)
        out.write(
            f"<div class='cluster'><b>{len(group)} submissions</b>: {names}. "
            f"{len(pairs)} pair(s) above the threshold, highest {pairs[0].score:.3f}"
            f"{': ' + links if links else ''}</div>\n"
        )


def _ranked(out, result, docs, anchor) -> None:
    shown = result.pairs[: max(_MAX_TABLE, len(result.above[:_MAX_VIEWS]))]
    out.write(f"<h2 id='pairs'>Pairs by score ({len(result.pairs)} share any code)</h2>\n")
    if len(result.pairs) > len(shown):
        out.write(f"<p>The top {len(shown)}; similarity.csv lists all.</p>\n")
    out.write(
        "<table><tr><th>#</th><th>a</th><th>b</th><th>score</th><th>shared lines</th>"
        "<th>longest fragment</th><th></th></tr>\n"
    )
    threshold = result.settings.threshold
    for i, p in enumerate(shown, 1):
        cls = "" if p.score >= threshold else " class='low'"
        view = f"<a href='#{anchor[p.a, p.b]}'>view</a>" if (p.a, p.b) in anchor else ""
        longest = f"{p.longest.lines} lines" if p.longest else ""
        out.write(
            f"<tr{cls}><td class='n'>{i}</td><td>{_name(docs.get(p.a), p.a)}</td>"
            f"<td>{_name(docs.get(p.b), p.b)}</td><td class='n'>"
            f"<span class='bar' style='width:{p.score * 6:.2f}em'></span>{p.score:.3f}</td>"
            f"<td class='n'>{p.shared_lines}</td><td class='n'>{longest}</td><td>{view}</td></tr>\n"
        )
    out.write("</table>\n")


def _view(out, p: Pair, a: Compared, b: Compared, anchor: str) -> None:
    out.write(
        f"<details class='pair' id='{anchor}' open><summary>{_name(a, p.a)} ~ {_name(b, p.b)}: "
        f"score {p.score:.3f}, {p.shared_lines} shared lines, {len(p.fragments)} fragment(s)"
        f"</summary>\n<table class='frag'><tr><th>fragment</th><th>{_e(p.a)}</th>"
        f"<th>{_e(p.b)}</th><th>tokens</th></tr>\n"
    )
    for i, f in enumerate(p.fragments):
        sw = f"<span class='swatch f{i % _COLOURS}'></span>"
        out.write(
            f"<tr><td>{sw}{i + 1}</td>"
            f"<td><a href='#{anchor}-a{i}'>{_e(f.a_file)}:{f.a_lines[0]}-{f.a_lines[1]}</a></td>"
            f"<td><a href='#{anchor}-b{i}'>{_e(f.b_file)}:{f.b_lines[0]}-{f.b_lines[1]}</a></td>"
            f"<td class='n'>{f.tokens}</td></tr>\n"
        )
    out.write("</table>\n<div class='sides'>")
    for side, doc, other in (("a", a, "b"), ("b", b, "a")):
        spans = [
            (getattr(f, f"{side}_file"), getattr(f, f"{side}_lines"), i)
            for i, f in enumerate(p.fragments)
        ]
        out.write(f"<div class='side'><h3>{_name(doc, doc.name)}</h3>")
        for rel in sorted({s[0] for s in spans}):
            mine = [(lines, i) for f, lines, i in spans if f == rel]
            out.write(f"<h4>{_e(rel)}</h4>")
            _code(out, doc.sources[rel], mine, f"{anchor}-{side}", f"{anchor}-{other}")
        out.write("</div>")
    out.write("</div></details>\n")


def _code(out, lines: list[str], spans, own: str, other: str) -> None:
    """One file with its fragments highlighted; each fragment's first line links across."""
    colour, starts = {}, {}
    for (lo, hi), i in sorted(spans, key=lambda s: s[0][1] - s[0][0], reverse=True):
        for n in range(lo, hi + 1):
            colour[n] = i  # shorter fragments drawn last, so they stay visible
        starts.setdefault(lo, []).append(i)
    show = {n for n in colour for n in range(n - _CONTEXT, n + _CONTEXT + 1)}
    out.write("<pre>")
    folded = 0
    for n, text in enumerate(lines, 1):
        if n not in show:
            folded += 1
            continue
        if folded:
            out.write(f"<span class='fold'>  … {folded} line(s) not shared …</span>")
            folded = 0
        code = _e(text) or " "
        for i in starts.get(n, ()):
            code = f"<a id='{own}{i}' href='#{other}{i}' title='fragment {i + 1}'>{code}</a>"
        cls = f" class='f{colour[n] % _COLOURS}'" if n in colour else ""
        out.write(f"<span{cls}><i>{n}</i>{code}</span>")
    if folded:
        out.write(f"<span class='fold'>  … {folded} line(s) not shared …</span>")
    out.write("</pre>")
