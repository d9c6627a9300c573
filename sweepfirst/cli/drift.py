"""`sweepfirst drift`: how fine-tuning changed a run's models -- measured now if it was not yet.

On a run whose drift phase ran, it shows the results. On a finished run without them (drift was
off, or the run is older than drift analysis) it runs the drift jobs, then rewrites the report;
a run that kept no models gets one sentence saying how to keep them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DataDir, DbUrl, JsonFlag, StateDir, open_context
from sweepfirst.errors import SweepfirstError

if TYPE_CHECKING:
    # The store and the workflow model (SQLAlchemy, pydantic) load when the command runs, not for --help.
    from sweepfirst.analysis.drift_comparison import DriftReport
    from sweepfirst.store.context import Context


def drift(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    as_json: JsonFlag = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Jobs at once [default: what the run was started with].", show_default=False)] = None,
    in_process: Annotated[bool, typer.Option("--in-process", help="Run the drift jobs inside this process (debugging).")] = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """CKA to the base model per layer, weight change and intruder dimensions per matrix, for
    every production model of a run, compared across seeds and between methods."""
    from sweepfirst.cli.driving import context_for_run, execution_options, stop_flag
    from sweepfirst.engine.drift_runs import inspect_drift, reopen_for_drift
    from sweepfirst.engine.orchestrate import current_run, drive
    from sweepfirst.states import Phase

    try:
        probe = open_context(state_dir, db_url, artifacts, data_dir, create=False)
        run = current_run(probe, run_ref)
        ctx = context_for_run(state_dir, db_url, artifacts, data_dir, run)
        plan = inspect_drift(ctx, run)
        for job in plan.without_model:
            console.warn(f"job {job.id} ({job.phase} {job.task}/{job.method} seed {job.seed}) kept no "
                         "model; it is left out")
        if plan.to_run:
            console.info(f"measuring the drift of {plan.to_run} model(s) of run {run.name}")
            reopen_for_drift(ctx, run, plan)
            is_set = stop_flag()
            # Progress goes to stderr: stdout is for the table (or the JSON) alone.
            phase = drive(ctx, run, execution_options(run, workers=workers, gpus=None, in_process=in_process),
                          notify=console.info, should_stop=is_set)
            if is_set():
                console.fail("Stopped; continue with `sweepfirst drift` or `sweepfirst resume`.", code=130)
            if phase is not Phase.COMPLETED:
                with ctx.db.session(readonly=True) as session:
                    from sweepfirst.store import runs as run_store

                    error = run_store.find_run(session, run.id).error
                console.fail(error or f"Run {run.name} stopped in phase '{phase.value}'; see `sweepfirst status`.")
        report = _report(ctx, run.id)
    except SweepfirstError as error:
        console.fail(error.message, code=error.exit_code)
    if report is None:
        console.fail(f"Run {run.name} has no successful drift job; `sweepfirst jobs list --phase drift` "
                     "shows why (and `sweepfirst resume --retry-failed` runs them again).")
    if as_json:
        from sweepfirst.jsonable import to_jsonable

        console.print_json(to_jsonable(report))
        return
    _show(report, ctx.run_dir(run.name) / "report")


def _report(ctx: Context, run_id: int) -> DriftReport | None:
    from sweepfirst.analysis.report.step1_drift_facts import drift_report
    from sweepfirst.store import jobs as job_store

    with ctx.db.session(readonly=True) as session:
        return drift_report(job_store.list_jobs(session, run_id))


def _cell(summary: object) -> str:
    from sweepfirst.analysis.statistics import SeedSummary

    if not isinstance(summary, SeedSummary):
        return "—"
    if summary.ci_low is None or summary.ci_high is None:
        return f"{summary.mean:.3f}"
    return f"{summary.mean:.3f} [{summary.ci_low:.3f}, {summary.ci_high:.3f}]"


def _show(report: DriftReport, report_dir: Path) -> None:
    from sweepfirst.analysis.drift_comparison import HEADLINE_CKA

    for task in report.tasks:
        names = list(dict.fromkeys(ld.name for m in task.methods for ld in m.layers))
        cka = Table(title=f"{task.task}: debiased CKA to the base (mean [95% CI] over seeds, {report.examples} dev examples)")
        for header in ("method", "seeds", *names):
            cka.add_column(header)
        for m in task.methods:
            label = m.method if m.source_phase == "production" else f"{m.method} ({m.source_phase})"
            by_name = {ld.name: ld.cka.get(HEADLINE_CKA) for ld in m.layers}
            cka.add_row(label, str(len(m.seeds)), *(_cell(by_name.get(n)) for n in names))
        console.print_table(cka)
        weights = Table(title=f"{task.task}: weight change (relative change: mean over layers and seeds)")
        for header in ("method", "intruder dimensions per model", *[f"rel. change {t}" for t in task.methods[0].relative_change_by_type]):
            weights.add_column(header)
        for m in task.methods:
            label = m.method if m.source_phase == "production" else f"{m.method} ({m.source_phase})"
            weights.add_row(label, _cell(m.intruders_total), *(f"{s.mean:.3f}" for s in m.relative_change_by_type.values()))
        console.print_table(weights)
        for m in task.methods:
            console.print_text(m.depth_sentence)
        for comparison in task.comparisons:
            for test in (*comparison.cka_by_layer, *comparison.relative_change_by_type, comparison.intruders_total):
                console.print_text(test.sentence)
    console.info(f"the report's \"How the model changed\" section: {report_dir}")
