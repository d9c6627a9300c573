"""`sweepfirst jobs list|show|retry|cancel`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from sweepfirst.cli import console
from sweepfirst.cli.options import DbUrl, JsonFlag, StateDir, command_settings, open_context
from sweepfirst.states import JobPhase, JobState

if TYPE_CHECKING:
    from sweepfirst.store.models import Job

app = typer.Typer(help="List, inspect, retry and cancel jobs.", no_args_is_help=True)


def job_to_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "run_id": job.run_id, "phase": job.phase, "task": job.task, "method": job.method,
        "seed": job.seed, "trial_index": job.trial_index, "state": job.state,
        # Claims, and what became of them: only code failures count toward max_attempts.
        "attempts": job.attempts, "failures": job.failures, "max_attempts": job.max_attempts,
        "losses": job.losses, "interrupts": job.interrupts, "losses_at_same_step": job.losses_at_point,
        "loss_step": job.loss_point, "progress_step": job.progress_step,
        "hyperparameters": job.hyperparameters, "score": job.score,
        "metrics": job.metrics, "runtime_s": job.runtime_s, "output_dir": job.output_dir,
        "error": job.error, "lease_owner": job.lease_owner, "promoted_rung": job.promoted_rung,
    }


def _enum_value(enum: Any, value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        console.fail(f"Unknown {what} {value!r}; use one of {', '.join(e.value for e in enum)}.", code=2)


@app.command("list", **command_settings())
def list_jobs(
    run_ref: Annotated[str | None, typer.Option("--run", help="Run name or id [default: the latest].")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="sweep, production, baseline or train.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="pending, running, succeeded, failed, pruned, cancelled.")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
) -> None:
    """The jobs of a run."""
    from sweepfirst.store import jobs as job_store
    from sweepfirst.store import runs as run_store

    ctx = open_context(state_dir, db_url, create=False)
    job_phase = _enum_value(JobPhase, phase, "phase")
    job_state = _enum_value(JobState, state, "state")
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session, run_ref)
        jobs = job_store.list_jobs(session, run.id, phase=job_phase, states=[job_state] if job_state else None)
    if as_json:
        console.print_json([job_to_dict(j) for j in jobs])
        return
    table = Table("id", "phase", "task", "method", "trial", "seed", "state", "failures", "lost", "score")
    for job in jobs:
        table.add_row(str(job.id), job.phase, job.task, job.method,
                      "" if job.trial_index is None else str(job.trial_index), str(job.seed), job.state,
                      f"{job.failures}/{job.max_attempts}", str(job.losses),
                      "" if job.score is None else f"{job.score:.4f}")
    console.print_table(table)


@app.command("show", **command_settings())
def show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    as_json: JsonFlag = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
) -> None:
    """One job: its configuration, metrics, error and every transition."""
    from sweepfirst.store import jobs as job_store

    ctx = open_context(state_dir, db_url, create=False)
    with ctx.db.session(readonly=True) as session:
        data = job_to_dict(job_store.get_job(session, job_id))
        data["events"] = [{"at": e.at.isoformat(), "event": e.event, "from": e.from_state, "to": e.to_state,
                           "detail": e.detail} for e in job_store.job_events(session, job_id)]
    if as_json:
        console.print_json(data)
        return
    for key, value in data.items():
        if key != "events":
            console.print_text(f"{key}: {value}")
    console.print_text("events:")
    for event in data["events"]:
        console.print_text(f"  {event['at']} {event['event']}: {event['from']} -> {event['to']}"
                           + (f" ({event['detail']})" if event["detail"] else ""))


@app.command("retry", **command_settings())
def retry(
    job_ids: Annotated[list[int], typer.Argument(help="Failed or cancelled job ids.")],
    state_dir: StateDir = None,
    db_url: DbUrl = None,
) -> None:
    """Put failed or cancelled jobs back in the queue, with fresh attempts (then `sweepfirst resume`,
    which goes back to the earliest phase with unfinished work)."""
    from sweepfirst.store import jobs as job_store

    ctx = open_context(state_dir, db_url, create=False)
    for job_id in job_ids:
        with ctx.db.session() as session:
            job_store.retry_job(session, job_id)
        console.success(f"job {job_id} is pending again")


@app.command("cancel", **command_settings())
def cancel(
    job_ids: Annotated[list[int], typer.Argument(help="Pending or running job ids.")],
    state_dir: StateDir = None,
    db_url: DbUrl = None,
) -> None:
    """Cancel jobs; a running one stops at its next step."""
    from sweepfirst.store import jobs as job_store

    ctx = open_context(state_dir, db_url, create=False)
    for job_id in job_ids:
        with ctx.db.session() as session:
            job_store.cancel_job(session, job_id)
        console.success(f"job {job_id} cancelled")
