"""A report of a recorded run: `ReportData` plus what only a real run has - jobs that failed and
the phase the run is in - and the writer that renders both.

`ReportData` describes results; a run can also have jobs that produced none. Those are never
dropped silently: they get a "Failed jobs" section (before Provenance) and, when production
seeds are missing, an alert at the top. Everything else is rendered exactly as `write_report`
renders a `ReportData`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from sweepfirst.analysis import formatting as fmt
from sweepfirst.analysis.report import ReportFormat, _write_atomic, write_report
from sweepfirst.analysis.report_document import (
    Callout,
    Document,
    Paragraph,
    Section,
    Table,
    build_document,
)
from sweepfirst.analysis.report_model import ReportData, _Serializable

#: Phases after which every job of the run has finished: the report is final, not partial.
FINAL_PHASES = frozenset({"report", "completed"})


@dataclasses.dataclass(frozen=True)
class FailedJob(_Serializable):
    """A job that ended without a usable result: failed, cancelled, or succeeded without a score."""

    job_id: int
    phase: str
    task: str
    method: str
    seed: int
    trial_index: int | None
    state: str
    attempts: int
    #: The first line of the recorded error (the full text is in `sweepfirst jobs show ID`).
    error: str | None


@dataclasses.dataclass(frozen=True)
class RunReport(ReportData):
    """`ReportData` of a recorded run, with its unfinished business."""

    #: The run's phase when the report was built ("completed", "report", "failed", ...).
    phase: str = "completed"
    #: Why the run failed, when it did.
    error: str | None = None
    failed_jobs: tuple[FailedJob, ...] = ()

    @property
    def missing_results(self) -> tuple[FailedJob, ...]:
        """Failed jobs whose seeds are missing from the production statistics."""
        return tuple(j for j in self.failed_jobs if j.phase != "sweep")


def build_run_document(data: ReportData) -> Document:
    """The report's document; for a `RunReport`, with the failed jobs and the run's state."""
    document = build_document(data)
    if not isinstance(data, RunReport):
        return document
    alerts = list(document.alerts)
    if data.phase not in FINAL_PHASES:
        reason = f" ({data.error.splitlines()[0]})" if data.error else ""
        alerts.insert(0, Callout(
            f"The run is in phase '{data.phase}'{reason}, not completed: this report shows what "
            "was recorded so far, and its numbers may change when the run is resumed."))
    missing = data.missing_results
    if missing:
        alerts.append(Callout(
            f"{len(missing)} production or baseline job{'s' if len(missing) != 1 else ''} ended "
            "without a score; their seeds are missing from the statistics. See Failed jobs."))
    sections = list(document.sections)
    at = next((i for i, s in enumerate(sections) if s.anchor == "provenance"), len(sections))
    sections.insert(at, _failed_section(data))
    return dataclasses.replace(document, alerts=tuple(alerts), sections=tuple(sections))


def _failed_section(data: RunReport) -> Section:
    if not data.failed_jobs:
        return Section("Failed jobs", "failed", (Paragraph("No job failed or was cancelled."),))
    rows = tuple(
        (str(j.job_id), j.phase, j.task, j.method,
         fmt.MISSING if j.trial_index is None else str(j.trial_index), str(j.seed), j.state,
         str(j.attempts), j.error or fmt.MISSING)
        for j in data.failed_jobs
    )
    table = Table(("Job", "Phase", "Task", "Method", "Trial", "Seed", "State", "Attempts",
                   "Error"), rows)
    intro = Paragraph(
        "Jobs that ended without a usable result. Failed sweep trials only narrow the search; a "
        "failed production or baseline job removes its seed from the statistics (the paired "
        "tests list such seeds as unmatched). `sweepfirst jobs show ID` has the full error.")
    return Section("Failed jobs", "failed", (intro, table))


#: The LaTeX summary's file name, written beside every report.
LATEX_NAME = "summary.tex"


def write_run_report(data: ReportData, output_dir: Path, fmt_name: ReportFormat | Literal["latex"] = "html") -> Path:
    """`write_report` with `build_run_document`: ``report.html`` (or ``report.md`` and its PNGs)
    and ``report.json`` in ``output_dir``, each written atomically, and the summary as LaTeX
    tables (``summary.tex``) beside them; returns the report (``latex``: ``summary.tex`` alone)."""
    from sweepfirst.analysis.render_latex import summary_latex

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    latex = output_dir / LATEX_NAME
    _write_atomic(latex, summary_latex(data).encode("utf-8"))
    if fmt_name == "latex":
        return latex
    return write_report(data, output_dir, fmt_name, build=build_run_document)
