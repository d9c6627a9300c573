"""`sweepfirst report`: write a run's report (HTML, Markdown or LaTeX tables) from what is recorded."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DbUrl, StateDir, open_context
from sweepfirst.errors import SweepfirstError


class Format(str, Enum):
    html = "html"
    md = "md"
    latex = "latex"


def report(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="html: one self-contained page; md: Markdown with PNGs beside it; latex: the summary as LaTeX tables (summary.tex, also written beside html and md).")] = Format.html,
    output: Annotated[Path | None, typer.Option("--output", help="Folder to write the report to [default: the run's folder/report].", show_default=False)] = None,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
) -> None:
    """Statistics, method comparison, plots and provenance of a run, as one report."""
    # Heavy imports (numpy, scipy, matplotlib) wait until a report is really asked for.
    from sweepfirst.analysis.report.step2_build import build_report_data
    from sweepfirst.analysis.report.step5_write import write_run_report

    try:
        ctx = open_context(state_dir, db_url, artifacts, create=False)
        data = build_report_data(ctx, run_ref)
        folder = output or ctx.run_dir(data.run.name) / "report"
        path = write_run_report(data, folder, fmt.value)
    except SweepfirstError as error:
        # Handled here, not only in `main`, so the sentence reaches the user however the
        # command is invoked (CliRunner in tests, `python -m`).
        console.fail(error.message, code=error.exit_code)
    except OSError as error:
        console.fail(f"Could not write the report ({error.strerror}: {error.filename}); "
                     "pass a writable folder with --output.")
    if data.partial:
        console.warn(f"run {data.run.name} is in phase '{data.phase}': the report is partial.")
    for task, method, kind, run in data.flagged_runs:
        console.warn(f"degenerate {kind} run: {task}/{method} seed {run.seed} "
                     f"({run.degenerate.reason if run.degenerate else ''})")
    console.success(f"wrote {path}")
    console.print_text(str(path))
