"""Step 5 of the report, its one writer: a report folder (``report.html`` or ``report.md`` with
its PNGs, ``report.json``, ``summary.tex``) and the run folder's ``summary.md`` / ``summary.json``,
every file atomically (``sweepfirst.files``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sweepfirst.analysis.report.document import Document
from sweepfirst.analysis.report.model import ReportData
from sweepfirst.analysis.report.step3_layout import build_document
from sweepfirst.analysis.report.step3_layout_run import build_run_document
from sweepfirst.analysis.report.step4_html import render_html
from sweepfirst.analysis.report.step4_markdown import render_markdown
from sweepfirst.files import write_atomic, write_json_atomic
from sweepfirst.store import runs as run_store

if TYPE_CHECKING:
    from sweepfirst.store.context import Context

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
    whole run's report (``step3_layout_run.build_run_document``).

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
        write_atomic(report_path, render_html(document).encode("utf-8"))
    else:
        text, figures = render_markdown(document)
        for filename, png in figures.items():
            write_atomic(output_dir / filename, png)
        report_path = output_dir / "report.md"
        write_atomic(report_path, text.encode("utf-8"))
    write_json_atomic(output_dir / "report.json", model.to_dict())
    return report_path


def _stamped(model: ReportData) -> ReportData:
    return dataclasses.replace(model, generated_at=dt.datetime.now(dt.timezone.utc))


#: The LaTeX summary's file name, written beside every report.
LATEX_NAME = "summary.tex"


def write_run_report(data: ReportData, output_dir: Path, fmt_name: ReportFormat | Literal["latex"] = "html") -> Path:
    """`write_report` with `build_run_document`: ``report.html`` (or ``report.md`` and its PNGs)
    and ``report.json`` in ``output_dir``, each written atomically, and the summary as LaTeX
    tables (``summary.tex``) beside them; returns the report (``latex``: ``summary.tex`` alone)."""
    from sweepfirst.analysis.report.step4_latex import summary_latex

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    latex = output_dir / LATEX_NAME
    write_atomic(latex, summary_latex(data))
    if fmt_name == "latex":
        return latex
    return write_report(data, output_dir, fmt_name, build=build_run_document)


def write_run_summary(ctx: Context, run_id: int) -> list[Path]:
    """Write summary.md and summary.json (production metrics on the dev split, mean ± std) in the
    run's folder: the production table (step 2), laid out (step 3) and rendered (step 4) as the
    report is."""
    from sweepfirst.analysis.report.step2_summary import production_summaries
    from sweepfirst.analysis.report.step3_layout_summary import summary_document

    with ctx.db.session() as session:
        run = run_store.find_run(session, run_id)
        chosen = run_store.selections(session, run_id)
    summaries = production_summaries(ctx, run_id)
    out = ctx.run_dir(run.name)
    text, _figures = render_markdown(summary_document(run.name, summaries, chosen))
    write_atomic(out / "summary.md", text)
    write_json_atomic(out / "summary.json", summaries)
    return [out / "summary.md", out / "summary.json"]
