"""Write the grades: ``grades.csv``, ``grades.json`` and ``grades.html`` (a sortable table).

* ``grades.csv``: one row per submission, ``submission,score,max_score,failed``
  (the failed checks' names joined by ``;``).
* ``grades.json``: per submission, its score and its list of checks, each
  ``{"name", "passed", "points", "detail"}``, plus the captured output (truncated).
* ``grades.html``: the same as a table that sorts by any column on a click, each
  failed check shown with its detail. Everything the submission wrote is escaped.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path

from mnist_mlp.fileio import atomic_write

__all__ = ["write_gradebook"]

_SCRIPT = """
document.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const asc = th.dataset.dir !== "asc"; th.dataset.dir = asc ? "asc" : "desc";
  const key = r => { const t = r.cells[col].dataset.key ?? r.cells[col].textContent;
                     const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (asc ? 1 : -1));
  rows.forEach(r => body.appendChild(r));
}));
"""
_STYLE = """
body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { cursor: pointer; background: #eee; } td.num { text-align: right; }
.failed { margin: 0; padding-left: 1.2em; } pre { white-space: pre-wrap; margin: 0; font-size: 90%; }
"""


def _csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "score", "max_score", "failed"])
    for row in rows:
        writer.writerow([row["submission"], f"{row['score']:g}", f"{row['max_score']:g}", ";".join(row["failed"])])
    return buffer.getvalue()


def _html(rows, title: str) -> str:
    body = []
    for row in rows:
        failed = "".join(
            f"<li><b>{html.escape(c['name'])}</b>: <pre>{html.escape(c['detail'])}</pre></li>"
            for c in row["checks"] if not c["passed"])
        body.append(
            f"<tr><td>{html.escape(row['submission'])}</td><td class=num>{row['score']:g}</td>"
            f"<td class=num>{row['max_score']:g}</td><td class=num>{len(row['failed'])}</td>"
            f"<td data-key=\"{len(row['failed'])}\"><ul class=failed>{failed}</ul></td></tr>")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            "<p>Click a column heading to sort.</p><table><thead><tr><th>submission</th><th>score</th>"
            "<th>max_score</th><th>failed</th><th>failed checks</th></tr></thead><tbody>"
            + "\n".join(body) + f"</tbody></table><script>{_SCRIPT}</script></body></html>\n")


def write_gradebook(rows: list[dict], out: str | os.PathLike, title: str = "Grades") -> list[Path]:
    """Write the three files into ``out`` (created if needed); return their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "grades.csv": _csv(rows),
        "grades.json": json.dumps(rows, indent=1, allow_nan=False) + "\n",
        "grades.html": _html(rows, title),
    }
    paths = []
    for name, text in texts.items():
        with atomic_write(folder / name, "w", newline="\n") as fh:
            fh.write(text)
        paths.append(folder / name)
    return paths
