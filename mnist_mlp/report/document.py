"""A tiny document model rendered twice: to Markdown and to self-contained HTML.

The report is built once as a list of blocks (:class:`Heading`, :class:`Para`,
:class:`Table`, :class:`Image`, :class:`Bullets`, :class:`Note`), then written by
:func:`to_markdown` (images linked by relative path) and :func:`to_html` (images
embedded as base64 ``data:`` URIs, so the file can be mailed or opened anywhere).
Inline text understands two Markdown marks, ``**bold**`` and ```code```, in both
renderers.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Heading", "Para", "Table", "Image", "Bullets", "Note", "to_markdown", "to_html",
           "anchor"]


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Note:
    """A highlighted paragraph (a warning the reader must not miss)."""

    text: str


@dataclass
class Bullets:
    items: list


@dataclass
class Table:
    """``rows`` of cells (strings); ``numeric`` marks right-aligned columns by index,
    ``nowrap`` columns whose cells must not break across lines (e.g. ``[nan, -inf]``)."""

    headers: list
    rows: list
    numeric: set = field(default_factory=set)
    nowrap: set = field(default_factory=set)


@dataclass
class Image:
    """A PNG under the output directory; ``path`` is relative to it."""

    path: str
    caption: str
    width: int | None = None  # display width in pixels in HTML; natural size when None


def anchor(text):
    """The id a heading gets: lower case, runs of other characters become '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# -- Markdown -------------------------------------------------------------------------------

def to_markdown(blocks):
    """Render ``blocks`` as GitHub-flavoured Markdown."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Para):
            parts.append(block.text)
        elif isinstance(block, Note):
            parts.append(f"> **Note.** {block.text}")
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            parts.append(_markdown_table(block))
        elif isinstance(block, Image):
            parts.append(f"![{block.caption}]({block.path})\n\n*{block.caption}*")
        else:
            raise TypeError(f"unknown block {block!r}")
    return "\n\n".join(parts) + "\n"


def _markdown_table(table):
    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    align = ["---:" if i in table.numeric else ":---" for i in range(len(table.headers))]
    lines = ["| " + " | ".join(cell(h) for h in table.headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5;
       color: #1d1d1f; max-width: 1240px; margin: 2em auto; padding: 0 1.5em; }
.table-wrap { overflow-x: auto; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #e5e5e5; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.86em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .45em; vertical-align: top; }
th { background: #f0f2f5; text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { background: #f3f3f3; padding: .05em .3em; border-radius: 3px; font-size: 0.92em; }
td code { white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td { font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e5e5; }
figcaption { color: #555; font-size: 0.9em; margin-top: .3em; }
.note { background: #fff6dd; border-left: 4px solid #e0a800; padding: .6em 1em; }
nav ul { columns: 2; }
"""


def to_html(blocks, base_dir, title):
    """Render ``blocks`` as one HTML page; images under ``base_dir`` are embedded."""
    body = [_html_block(block, Path(base_dir)) for block in blocks]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _html_block(block, base_dir):
    if isinstance(block, Heading):
        return (f"<h{block.level} id=\"{anchor(block.text)}\">{_inline(block.text)}"
                f"</h{block.level}>")
    if isinstance(block, Para):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Note):
        return f"<p class=\"note\"><strong>Note.</strong> {_inline(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Image):
        data = base64.b64encode((base_dir / block.path).read_bytes()).decode("ascii")
        width = f" width=\"{block.width}\"" if block.width else ""
        return (f"<figure><img src=\"data:image/png;base64,{data}\" "
                f"alt=\"{html.escape(block.caption)}\"{width}>"
                f"<figcaption>{_inline(block.caption)}</figcaption></figure>")
    raise TypeError(f"unknown block {block!r}")


def _html_table(table):
    head = "".join(f"<th>{_inline(str(h))}</th>" for h in table.headers)
    rows = []
    for row in table.rows:
        cells = "".join(f"<td{_cell_class(table, i)}>{_inline(str(c))}</td>"
                        for i, c in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    # Wide tables scroll inside their own box instead of widening the page.
    return (f"<div class=\"table-wrap\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _cell_class(table, index):
    classes = [name for name, columns in (("num", table.numeric), ("nowrap", table.nowrap))
               if index in columns]
    return f" class=\"{' '.join(classes)}\"" if classes else ""


_LINK = re.compile(r"\[([^\]]+)\]\(#([a-z0-9-]+)\)")


def _inline(text):
    """Escape ``text`` and turn ``**bold**``, ```code``` and ``[text](#anchor)`` into HTML."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return _LINK.sub(r'<a href="#\2">\1</a>', escaped)
