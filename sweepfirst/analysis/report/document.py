"""A report's content, independent of its format: sections of paragraphs, callouts, tables and
figures. The layout (step 3) makes one; the renderers (step 4) only turn its blocks into markup, so
what the report *says* (which numbers, which warnings, in which order) is decided once.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str


@dataclasses.dataclass(frozen=True)
class Callout:
    """A sentence the reader must not miss; ``level`` is "warning" or "note"."""

    text: str
    level: str = "warning"


@dataclasses.dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None = None


@dataclasses.dataclass(frozen=True)
class Figure:
    #: File name stem, unique within the report (Markdown writes ``<name>.png``).
    name: str
    png: bytes
    caption: str


@dataclasses.dataclass(frozen=True)
class Subheading:
    text: str


Block = Paragraph | Callout | Table | Figure | Subheading


@dataclasses.dataclass(frozen=True)
class Section:
    title: str
    #: Stable HTML id / Markdown anchor.
    anchor: str
    blocks: tuple[Block, ...]


@dataclasses.dataclass(frozen=True)
class Document:
    title: str
    #: Callouts shown above every section (selection on dev, degenerate runs).
    alerts: tuple[Callout, ...]
    sections: tuple[Section, ...]
    #: Blocks before the first section (a one-page document's own text).
    lead: tuple[Block, ...] = ()
    #: A table of contents and section anchors; off for a one-page note such as ``summary.md``.
    contents: bool = True
