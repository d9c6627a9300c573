"""`sweepfirst status`: a query of the state database, never a log parse; never imports torch."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.table import Table

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DbUrl, JsonFlag, StateDir, open_context
from sweepfirst.engine.context import Context
from sweepfirst.states import JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import utcnow

STATES = [s.value for s in JobState]

#: Jobs scored on dev with a fixed configuration: the ones a degenerate run would spoil.
CHECKED_PHASES = frozenset({JobPhase.PRODUCTION.value, JobPhase.BASELINE.value, JobPhase.TRAIN.value})


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def worker_gone(job: Any, now: dt.datetime) -> bool:
    """A running job nobody works on: its lease expired, or its "host:pid" owner is a dead process
    on this host. It stays running in the database until a worker or `resume` takes it back, so
    status says so rather than count down a time nobody is spending."""
    if job.state != JobState.RUNNING.value:
        return False
    if job.lease_expires_at is not None and job.lease_expires_at < now:
        return True
    return job_store.owner_is_dead_here(job.lease_owner)  # the reaper's own rule


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
    now = utcnow()
    # None as soon as one cell with work left has no estimate: a partial sum would read as a
    # promise ("about 0m00s left" before any job finished).
    remaining_total: float | None = 0.0
    for (phase, task, method), cell_jobs in sorted(cells.items()):
        counts = {s: sum(1 for j in cell_jobs if j.state == s) for s in STATES}
        scores = [j.score for j in cell_jobs if j.score is not None and j.state == JobState.SUCCEEDED.value]
        durations = [j.runtime_s for j in cell_jobs if j.state == JobState.SUCCEEDED.value and j.runtime_s]
        mean_duration = sum(durations) / len(durations) if durations else None
        gone = sum(1 for j in cell_jobs if worker_gone(j, now))
        left = counts["pending"] + counts["running"]
        eta = mean_duration * left if mean_duration is not None else (0.0 if left == 0 else None)
        if eta is None or remaining_total is None:
            remaining_total = None
        else:
            remaining_total += eta
        rows.append({
            "phase": phase, "task": task, "method": method, "counts": counts,
            "best_score": max(scores) if scores else None,
            "flagged": sum(1 for f in flagged if (f["phase"], f["task"], f["method"]) == (phase, task, method)),
            "mean_job_seconds": mean_duration, "estimated_seconds_left": eta,
            "workers_gone": gone,
            # Code failures (they count toward max_attempts) apart from lost and interrupted attempts.
            "attempts": {"failures": sum(j.failures or 0 for j in cell_jobs),
                         "losses": sum(j.losses or 0 for j in cell_jobs),
                         "interrupts": sum(j.interrupts or 0 for j in cell_jobs)},
        })
    if remaining_total == 0 and (Phase(run.phase).is_working() or run.phase == Phase.PLANNED.value):
        remaining_total = None  # no job left, but later phases have not planned theirs yet
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
        "workers_gone": sum(row["workers_gone"] for row in rows),
        "time_per_phase_seconds": run_store.time_per_phase(session, run.id),
        "cells": rows,
        "flagged_jobs": flagged,
        "selections": [
            {"task": t, "method": m, "hyperparameters": s.hyperparameters, "metric": s.metric,
             "score": s.score, "split": s.split, "source": s.source,
             "trials_planned": s.trials_planned, "trials_used": s.trials_used, "lost_trials": s.lost_trials or []}
            for (t, m), s in sorted(chosen.items())
        ],
    }


def _time_left(data: dict[str, Any]) -> str:
    if data["workers_gone"]:
        return "time left unknown (worker gone)"
    seconds = data["estimated_seconds_left"]
    if seconds is None:
        return "time left unknown"
    return "nothing left" if seconds == 0 else f"about {_format_seconds(seconds)} left"


def _cell_left(row: dict[str, Any]) -> str:
    if row["workers_gone"]:
        return "worker gone"
    seconds = row["estimated_seconds_left"]
    return "·" if seconds == 0 else _format_seconds(seconds)


def status(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
) -> None:
    """Where a run stands: jobs by state per phase x task x method, best scores, time left,
    and production runs flagged as degenerate."""
    ctx = open_context(state_dir, db_url, artifacts, create=False)
    with ctx.db.session(readonly=True) as session:
        data = collect_status(session, run_ref, ctx)
    if as_json:
        console.print_json(data)
        return
    phase_times = ", ".join(f"{p} {_format_seconds(s)}" for p, s in data["time_per_phase_seconds"].items())
    console.print_text(
        f"run {data['run']} (workflow {data['workflow']}): phase {data['phase']}, "
        f"elapsed {_format_seconds(data['elapsed_seconds'])}, {_time_left(data)}"
        + (f"; time per phase: {phase_times}" if phase_times else "")
    )
    if data["error"]:
        console.print_text(f"error: {data['error']}")
    if data["workers_gone"]:
        console.print_text(
            f"{data['workers_gone']} running job(s) have no live worker (worker gone); "
            "continue them with `sweepfirst resume` (or a running `sweepfirst worker` takes them back)."
        )
    table = Table("phase", "task", "method", *STATES, "best", "flagged", "left")
    for row in data["cells"]:
        counts = row["counts"]
        table.add_row(
            row["phase"], row["task"], row["method"],
            *[str(counts[s]) if counts[s] else "·" for s in STATES],
            f"{row['best_score']:.4f}" if row["best_score"] is not None else "-",
            f"[red]{row['flagged']}[/red]" if row["flagged"] else "·",
            _cell_left(row),
        )
    console.print_table(table)
    for sel in data["selections"]:
        score = f"{sel['metric']} {sel['score']:.4f}" if sel["score"] is not None else "from file"
        console.print_text(f"chosen {sel['task']}/{sel['method']}: {sel['hyperparameters']} ({score})")
        if sel["lost_trials"]:
            from sweepfirst.analysis.selection import describe_lost

            console.print_text(f"  from {sel['trials_used']} of {sel['trials_planned']} planned trials; "
                               f"lost: {describe_lost(sel['lost_trials'])}")
    for job in data["flagged_jobs"]:
        console.print_text(
            f"flagged job {job['job']} {job['phase']} {job['task']}/{job['method']} seed {job['seed']} "
            f"as degenerate: {job['reason']}"
        )
