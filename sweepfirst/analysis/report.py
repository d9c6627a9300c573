"""Write a report folder: ``report.html`` (or ``report.md`` with its PNGs) and ``report.json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from sweepfirst.analysis.render_html import render_html
from sweepfirst.analysis.render_markdown import render_markdown
from sweepfirst.analysis.report_document import Document, build_document
from sweepfirst.analysis.report_model import ReportData

ReportFormat = Literal["html", "md"]
FORMATS: tuple[ReportFormat, ...] = ("html", "md")


def write_report(
    model: ReportData,
    output_dir: Path,
    fmt: ReportFormat = "html",
    build: Callable[[ReportData], Document] = build_document,
) -> Path:
    """Render ``model`` into ``output_dir`` and return the path of the report file.

    ``build`` lays the data out as a document: the comparison alone (``build_document``) or the
    whole run's report (``run_report.build_run_document``).

    The folder is self-contained: the HTML page embeds its figures and styles; the Markdown file
    links PNG files written beside it. ``report.json`` holds the same data, statistics included,
    for scripts. Each file is written to a temporary name and renamed, so an interrupted render
    never leaves a half-written report where a complete one was.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown report format {fmt!r}; use one of {', '.join(FORMATS)}.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if model.generated_at is None:
        model = _stamped(model)

    document = build(model)
    if fmt == "html":
        report_path = output_dir / "report.html"
        _write_atomic(report_path, render_html(document).encode("utf-8"))
    else:
        text, figures = render_markdown(document)
        for filename, png in figures.items():
            _write_atomic(output_dir / filename, png)
        report_path = output_dir / "report.md"
        _write_atomic(report_path, text.encode("utf-8"))
    data = json.dumps(model.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
    _write_atomic(output_dir / "report.json", (data + "\n").encode("utf-8"))
    return report_path


def _stamped(model: ReportData) -> ReportData:
    return dataclasses.replace(model, generated_at=dt.datetime.now(dt.timezone.utc))


def _write_atomic(path: Path, content: bytes) -> None:
    # Not tempfile.mkstemp: its 0600 mode would survive the rename, and a report is meant to
    # be read by others; open(..., "xb") honours the umask like any other file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
