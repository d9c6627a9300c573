"""Step 3 for a recorded run: its document is the report's, plus what only a real run has --
jobs that failed, and the phase the run is in.

`ReportData` describes results; a run can also have jobs that produced none. Those are never
dropped silently: they get a "Failed jobs" section (before Provenance) and, when production
seeds are missing, an alert at the top. Everything else is laid out exactly as `build_document`
lays out a `ReportData`.
"""

from __future__ import annotations

import dataclasses

from sweepfirst import formatting as fmt
from sweepfirst.analysis.report.document import Callout, Document, Paragraph, Section, Table
from sweepfirst.analysis.report.model import ReportData, RunReport
from sweepfirst.analysis.report.step3_layout import build_document


def build_run_document(data: ReportData) -> Document:
    """The report's document; for a `RunReport`, with the failed jobs and the run's state."""
    document = build_document(data)
    if not isinstance(data, RunReport):
        return document
    alerts = list(document.alerts)
    if data.partial:
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
