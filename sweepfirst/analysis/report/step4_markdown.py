"""A `Document` as Markdown, with each figure as a PNG file beside it."""

from __future__ import annotations

from sweepfirst.analysis.report.document import (
    Block,
    Callout,
    Document,
    Figure,
    Paragraph,
    Subheading,
    Table,
)


def render_markdown(document: Document) -> tuple[str, dict[str, bytes]]:
    """The Markdown text and the figures it links to, as file name -> PNG bytes."""
    figures: dict[str, bytes] = {}
    lines = [f"# {document.title}", ""]
    if document.contents:
        lines += [" · ".join(f"[{s.title}](#{s.anchor})" for s in document.sections), ""]
    for block in (*document.alerts, *document.lead):
        lines += [_block(block, figures), ""]
    for section in document.sections:
        if document.contents:
            # An explicit anchor keeps the table of contents working whatever slug rules apply.
            lines += [f'<a id="{section.anchor}"></a>', ""]
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [_block(block, figures), ""]
    return "\n".join(lines).rstrip() + "\n", figures


def _block(block: Block, figures: dict[str, bytes]) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Subheading):
        return f"### {block.text}"
    if isinstance(block, Callout):
        label = "Warning" if block.level == "warning" else "Note"
        return f"> **{label}:** {block.text}"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        filename = f"{block.name}.png"
        figures[filename] = block.png
        return f"![{block.caption}]({filename})\n\n*{block.caption}*"
    raise TypeError(f"Unknown report block {type(block).__name__}.")


def _table(table: Table) -> str:
    lines = [f"**{table.caption}**", ""] if table.caption else []
    if not any(table.headers):
        # A list of facts reads better as a list than as a table with an empty header row.
        return "\n".join(lines + [f"- **{_cell(k)}:** {_cell(v)}" for k, v in table.rows])
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")
