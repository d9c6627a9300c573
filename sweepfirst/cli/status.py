"""`sweepfirst status`: a query of the state database, never a log parse; never imports torch."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.table import Table

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DbUrl, JsonFlag, StateDir, open_context
from sweepfirst.engine.context import Context
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import utcnow

STATES = [s.value for s in JobState]

#: Jobs scored on dev with a fixed configuration: the ones a degenerate run would spoil.
CHECKED_PHASES = frozenset({JobPhase.PRODUCTION.value, JobPhase.BASELINE.value, JobPhase.TRAIN.value})


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def flagged_jobs(ctx: Context, jobs: list[Any]) -> list[dict[str, Any]]:
    """Succeeded production/baseline jobs whose predictions collapsed (see `detect_degenerate`).

    Only those jobs' predictions.jsonl are read (with the standard library), so this stays fast;
    a job without predictions is simply not checked.
    """
    from sweepfirst.analysis.job_outputs import check_degenerate, read_predictions

    flagged = []
    for job in jobs:
        if job.phase not in CHECKED_PHASES or job.state != JobState.SUCCEEDED.value:
            continue
        check = check_degenerate(read_predictions(ctx.job_dir(job.output_dir)))
        if check is not None and check.is_degenerate:
            flagged.append({"job": job.id, "phase": job.phase, "task": job.task,
                            "method": job.method, "seed": job.seed, "score": job.score,
                            "reason": check.reason})
    return flagged


def collect_status(session: Any, run_ref: str | None, ctx: Context | None = None) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the --json output); with ``ctx``, degenerate
    production runs are flagged from their job folders."""
    run = run_store.find_run(session, run_ref)
    jobs = job_store.list_jobs(session, run.id)
    flagged = flagged_jobs(ctx, jobs) if ctx is not None else []
    cells: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for job in jobs:
        cells[(job.phase, job.task, job.method)].append(job)
    rows = []
    remaining_total = 0.0
    for (phase, task, method), cell_jobs in sorted(cells.items()):
        counts = {s: sum(1 for j in cell_jobs if j.state == s) for s in STATES}
        scores = [j.score for j in cell_jobs if j.score is not None and j.state == JobState.SUCCEEDED.value]
        durations = [j.runtime_s for j in cell_jobs if j.state == JobState.SUCCEEDED.value and j.runtime_s]
        mean_duration = sum(durations) / len(durations) if durations else None
        left = counts["pending"] + counts["running"]
        eta = mean_duration * left if mean_duration is not None else (0.0 if left == 0 else None)
        if eta is not None:
            remaining_total += eta
        rows.append({
            "phase": phase, "task": task, "method": method, "counts": counts,
            "best_score": max(scores) if scores else None,
            "flagged": sum(1 for f in flagged if (f["phase"], f["task"], f["method"]) == (phase, task, method)),
            "mean_job_seconds": mean_duration, "estimated_seconds_left": eta,
        })
    chosen = run_store.selections(session, run.id)
    return {
        "run": run.name,
        "id": run.id,
        "workflow": run.workflow_name,
        "kind": run.kind,
        "phase": run.phase,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "elapsed_seconds": (utcnow() - run.created_at).total_seconds(),
        "estimated_seconds_left": remaining_total,
        "time_per_phase_seconds": run_store.time_per_phase(session, run.id),
        "cells": rows,
        "flagged_jobs": flagged,
        "selections": [
            {"task": t, "method": m, "hyperparameters": s.hyperparameters, "metric": s.metric,
             "score": s.score, "split": s.split, "source": s.source}
            for (t, m), s in sorted(chosen.items())
        ],
    }


def status(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
) -> None:
    """Where a run stands: jobs by state per phase x task x method, best scores, time left,
    and production runs flagged as degenerate."""
    ctx = open_context(state_dir, db_url, artifacts)
    with ctx.db.session(readonly=True) as session:
        data = collect_status(session, run_ref, ctx)
    if as_json:
        console.print_json(data)
        return
    phase_times = ", ".join(f"{p} {_format_seconds(s)}" for p, s in data["time_per_phase_seconds"].items())
    console.print_text(
        f"run {data['run']} (workflow {data['workflow']}): phase {data['phase']}, "
        f"elapsed {_format_seconds(data['elapsed_seconds'])}, "
        f"about {_format_seconds(data['estimated_seconds_left'])} left"
        + (f"; time per phase: {phase_times}" if phase_times else "")
    )
    if data["error"]:
        console.print_text(f"error: {data['error']}")
    table = Table("phase", "task", "method", *STATES, "best", "flagged", "left")
    for row in data["cells"]:
        counts = row["counts"]
        table.add_row(
            row["phase"], row["task"], row["method"],
            *[str(counts[s]) if counts[s] else "·" for s in STATES],
            f"{row['best_score']:.4f}" if row["best_score"] is not None else "-",
            f"[red]{row['flagged']}[/red]" if row["flagged"] else "·",
            _format_seconds(row["estimated_seconds_left"]),
        )
    console.print_table(table)
    for sel in data["selections"]:
        score = f"{sel['metric']} {sel['score']:.4f}" if sel["score"] is not None else "from file"
        console.print_text(f"chosen {sel['task']}/{sel['method']}: {sel['hyperparameters']} ({score})")
    for job in data["flagged_jobs"]:
        console.print_text(
            f"flagged job {job['job']} {job['phase']} {job['task']}/{job['method']} seed {job['seed']} "
            f"as degenerate: {job['reason']}"
        )
