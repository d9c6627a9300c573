"""A `Document` as one self-contained HTML page: inline CSS, figures as base64 data URIs.

Nothing is fetched from anywhere, so the file opens the same offline, attached to an e-mail, or
years later. Built with plain strings and ``html.escape``: the page is simple enough that a
template engine would be a dependency for nothing.
"""

from __future__ import annotations

import base64
from html import escape

from sweepfirst.analysis.report.document import (
    Block,
    Callout,
    Document,
    Figure,
    Paragraph,
    Section,
    Subheading,
    Table,
)

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1d2330;
  font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; background: #fff;
  min-height: 100vh; }
h1 { font-size: 26px; margin: 0 0 12px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6eb; }
h3 { font-size: 16px; margin: 22px 0 8px; }
nav { font-size: 13px; margin: 0 0 16px; }
nav a { color: #2858b8; text-decoration: none; margin-right: 14px; white-space: nowrap; }
p { margin: 8px 0 12px; max-width: 920px; color: #3a4252; }
.callout { border-left: 4px solid #d9822b; background: #fff6ea; padding: 8px 12px;
  margin: 10px 0; border-radius: 3px; }
.callout.note { border-left-color: #5b7fc7; background: #eef3fc; }
.callout strong { margin-right: 6px; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; color: #4a5263;
  padding: 0 0 4px; }
th, td { border: 1px solid #dde1e7; padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
tbody tr:nth-child(even) td { background: #fafbfc; }
table.facts td:first-child { font-weight: 600; background: #f3f5f8; white-space: nowrap; }
/* Small figures (per-seed plots) sit side by side; wide ones still take a row each. */
figure { display: inline-block; vertical-align: top; margin: 12px 18px 22px 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6eb; border-radius: 3px; }
figcaption { font-size: 13px; color: #5a6273; margin-top: 4px; }
"""


def render_html(document: Document) -> str:
    """The whole page as a string."""
    nav = " ".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>'
                   for s in document.sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(document.title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(document.title)}</h1>",
        *([f"<nav>{nav}</nav>"] if document.contents else []),
        *(_block(block) for block in (*document.alerts, *document.lead)),
        *(_section(section) for section in document.sections),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _section(section: Section) -> str:
    body = "\n".join(_block(block) for block in section.blocks)
    return (f'<section id="{escape(section.anchor)}">\n<h2>{escape(section.title)}</h2>\n'
            f"{body}\n</section>")


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Subheading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, Callout):
        label = "Warning:" if block.level == "warning" else "Note:"
        return (f'<div class="callout {escape(block.level)}"><strong>{label}</strong>'
                f"{escape(block.text)}</div>")
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>")
    raise TypeError(f"Unknown report block {type(block).__name__}.")


def _table(table: Table) -> str:
    # A table whose headers are all empty is a list of facts: label column, no header row.
    facts = not any(table.headers)
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    head = "" if facts else (
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr></thead>"
    )
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    css_class = ' class="facts"' if facts else ""
    return (f'<div class="table-wrap"><table{css_class}>{caption}{head}'
            f"<tbody>{rows}</tbody></table></div>")
