"""What `status` shows, computed from a :class:`RunSnapshot` and rendered with rich.

No typer, no SQLAlchemy, no torch: `sweepfirst status` on a SQLite state file runs through
:func:`fast_status` (called by ``app.main`` before the command line is built) and answers in a
fraction of a second; the typer command (``cli/status.py``) uses the same functions for every
other case (PostgreSQL, `--watch`, errors).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweepfirst.engine.estimates import RunEstimate, elapsed_seconds, estimate
from sweepfirst.errors import NoState
from sweepfirst.formatting import clock as format_seconds
from sweepfirst.job_progress import JobProgress, read_progress
from sweepfirst.states import DEV_JOB_PHASES, JobState, Phase
from sweepfirst.store.liveness import owner_is_dead_here
from sweepfirst.store.snapshot import JobRow, PhaseChange, RunSnapshot, read_sqlite_snapshot

STATES = [s.value for s in JobState]
_SUCCEEDED, _RUNNING = JobState.SUCCEEDED.value, JobState.RUNNING.value

#: Jobs scored on dev with a fixed configuration: the ones a degenerate run would spoil.
CHECKED_PHASES = frozenset(p.value for p in DEV_JOB_PHASES)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def worker_gone(job: JobRow, now: dt.datetime) -> bool:
    """A running job nobody works on: its lease expired, or its "host:pid" owner is a dead process
    on this host. It stays running in the database until a worker or `resume` takes it back, so
    status says so rather than count down a time nobody is spending."""
    if job.state != JobState.RUNNING.value:
        return False
    if job.lease_expires_at is not None and job.lease_expires_at < now:
        return True
    return owner_is_dead_here(job.lease_owner)  # the reaper's own rule


class ProgressFiles:
    """Reads job folders' progress.json once per job (the estimate and the view share them)."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        self._cache: dict[int, JobProgress | None] = {}

    def __call__(self, job: JobRow) -> JobProgress | None:
        if job.id not in self._cache:
            self._cache[job.id] = read_progress(self.artifacts / job.output_dir)
        return self._cache[job.id]


def flagged_jobs(artifacts: Path, jobs: Sequence[JobRow]) -> list[dict[str, Any]]:
    """Succeeded production/baseline jobs whose predictions collapsed (see `detect_degenerate`).

    Only those jobs' predictions.jsonl are read (with the standard library), so this stays fast;
    a job without predictions is simply not checked.
    """
    from sweepfirst.analysis.job_outputs import check_degenerate, read_predictions

    flagged = []
    for job in jobs:
        if job.phase not in CHECKED_PHASES or job.state != JobState.SUCCEEDED.value:
            continue
        check = check_degenerate(read_predictions(artifacts / job.output_dir))
        if check is not None and check.is_degenerate:
            flagged.append({"job": job.id, "phase": job.phase, "task": job.task,
                            "method": job.method, "seed": job.seed, "score": job.score,
                            "reason": check.reason})
    return flagged


def time_per_phase(changes: Sequence[PhaseChange], now: dt.datetime) -> dict[str, float]:
    """Seconds spent in each working phase, from the run's phase changes (the current one runs on)."""
    working = {p.value for p in Phase if p.is_working()}
    spent: dict[str, float] = {}
    for this, following in zip(changes, [*changes[1:], None]):
        end = following.at if following is not None else now
        if this.to_phase in working:
            spent[this.to_phase] = spent.get(this.to_phase, 0.0) + (end - this.at).total_seconds()
    return spent


def running_jobs(snapshot: RunSnapshot, progress: ProgressFiles, run_estimate: RunEstimate,
                 now: dt.datetime) -> list[dict[str, Any]]:
    """One entry per running job: how far it is (its progress.json, else the heartbeat's step)."""
    rows = []
    for job in snapshot.jobs:
        if job.state != JobState.RUNNING.value:
            continue
        note = progress(job)
        gone = worker_gone(job, now)
        step = note.step if note is not None else job.progress_step
        max_steps = note.max_steps if note is not None else None
        eta = None
        speed = note.examples_per_second if note is not None else None
        if note is not None and not gone and speed and note.max_steps > 0 and note.step > 0:
            # This job's own pace: the steps left at the rate its steps have come so far.
            per_step = note.num_train_examples * max(note.epoch, 1e-9) / note.step
            eta = (note.max_steps - note.step) * per_step / speed if per_step > 0 else None
        score = None
        if note is not None and note.latest_eval:
            metric = next((k for k in note.latest_eval if k not in ("eval_loss",) and not k.endswith(
                ("_runtime", "_per_second", "epoch"))), None)
            if metric is not None:
                score = {"metric": metric, "value": note.latest_eval[metric], "step": note.latest_eval_step}
        rows.append({
            "job": job.id, "phase": job.phase, "task": job.task, "method": job.method, "seed": job.seed,
            "trial": job.trial_index, "step": step, "max_steps": max_steps,
            "epoch": note.epoch if note is not None else None,
            "examples_per_second": speed, "latest_eval": score, "eta_seconds": eta,
            "worker": job.lease_owner, "worker_gone": gone,
            "running_seconds": (now - job.started_at).total_seconds() if job.started_at else None,
        })
    return rows


def collect(snapshot: RunSnapshot, artifacts: Path, now: dt.datetime | None = None, *,
            check_degenerate: bool = True) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the --json output)."""
    now = now or utcnow()
    run = snapshot.run
    progress = ProgressFiles(artifacts)
    run_estimate = estimate(snapshot, progress, now, worker_gone=lambda job: worker_gone(job, now))
    flagged = flagged_jobs(artifacts, snapshot.jobs) if check_degenerate else []
    by_cell: dict[tuple[str, str, str], list[JobRow]] = defaultdict(list)
    for job in snapshot.jobs:
        by_cell[(job.phase, job.task, job.method)].append(job)
    rows = []
    for key in sorted(set(by_cell) | set(run_estimate.cells)):
        phase, task, method = key
        cell_jobs = by_cell.get(key, [])
        cell_estimate = run_estimate.cells.get(key)
        tally = Counter(j.state for j in cell_jobs)
        counts = {s: tally.get(s, 0) for s in STATES}
        succeeded = [j for j in cell_jobs if j.state == _SUCCEEDED]
        scores = [j.score for j in succeeded if j.score is not None]
        durations = [j.runtime_s for j in succeeded if j.runtime_s]
        left = cell_estimate.jobs_left if cell_estimate is not None else 0
        seconds = cell_estimate.seconds if cell_estimate is not None else 0.0
        rows.append({
            "phase": phase, "task": task, "method": method, "counts": counts,
            "unplanned": cell_estimate.unplanned if cell_estimate is not None else 0,
            "best_score": max(scores) if scores else None,
            "flagged": sum(1 for f in flagged if (f["phase"], f["task"], f["method"]) == key),
            "mean_job_seconds": sum(durations) / len(durations) if durations else None,
            # Seconds of work left in this cell (one job slot); the run's ETA divides by the slots.
            "estimated_seconds_left": (seconds if left else 0.0),
            "throughput_examples_per_second": cell_estimate.throughput if cell_estimate is not None else None,
            "throughput_source": cell_estimate.source if cell_estimate is not None else None,
            "workers_gone": sum(1 for j in cell_jobs if j.state == _RUNNING and worker_gone(j, now)),
            # Code failures (they count toward max_attempts) apart from lost and interrupted attempts.
            "attempts": {"failures": sum(j.failures for j in cell_jobs),
                         "losses": sum(j.losses for j in cell_jobs),
                         "interrupts": sum(j.interrupts for j in cell_jobs)},
        })
    return {
        "run": run.name,
        "id": run.id,
        "workflow": run.workflow_name,
        "kind": run.kind,
        "phase": run.phase,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "elapsed_seconds": elapsed_seconds(run, now),
        "eta_seconds": run_estimate.eta_seconds,
        "estimated_seconds_left": run_estimate.eta_seconds,  # the older name of eta_seconds
        "job_slots": run_estimate.slots,
        "phases": run_estimate.phases,
        "workers_gone": sum(row["workers_gone"] for row in rows),
        "time_per_phase_seconds": time_per_phase(snapshot.phase_changes, now),
        "cells": rows,
        "running_jobs": running_jobs(snapshot, progress, run_estimate, now),
        "flagged_jobs": flagged,
        "selections": [
            {"task": s.task, "method": s.method, "hyperparameters": s.hyperparameters, "metric": s.metric,
             "score": s.score, "split": s.split, "source": s.source, "trials_planned": s.trials_planned,
             "trials_used": s.trials_used, "lost_trials": s.lost_trials}
            for s in sorted(snapshot.selections, key=lambda s: (s.task, s.method))
        ],
    }


def time_left(data: dict[str, Any]) -> str:
    if data["workers_gone"]:
        return "time left unknown (worker gone)"
    seconds = data["eta_seconds"]
    if seconds is None:
        if data["phase"] in ("failed", "cancelled"):
            return "time left unknown (stopped)"
        measured = any(row["throughput_source"] or row["mean_job_seconds"] for row in data["cells"])
        return "time left unknown" + ("" if measured else " (no finished job to measure yet)")
    return "nothing left" if seconds == 0 else f"about {format_seconds(seconds)} left"


def _cell_left(row: dict[str, Any]) -> str:
    if row["workers_gone"]:
        return "worker gone"
    seconds = row["estimated_seconds_left"]
    return "·" if seconds == 0 else format_seconds(seconds)


def render(data: dict[str, Any]) -> None:
    """`status`'s text: a headline, the table of cells, choices and flags."""
    from rich.table import Table

    from sweepfirst.cli import console

    phase_times = ", ".join(f"{p} {format_seconds(s)}" for p, s in data["time_per_phase_seconds"].items())
    console.print_text(
        f"run {data['run']} (workflow {data['workflow']}): phase {data['phase']}, "
        f"elapsed {format_seconds(data['elapsed_seconds'])}, {time_left(data)}"
        + (f"; time per phase: {phase_times}" if phase_times else "")
    )
    if data["error"]:
        console.print_text(f"error: {data['error']}")
    if data["workers_gone"]:
        console.print_text(
            f"{data['workers_gone']} running job(s) have no live worker (worker gone); "
            "continue them with `sweepfirst resume` (or a running `sweepfirst worker` takes them back)."
        )
    table = Table("phase", "task", "method", *STATES, "planned later", "best", "flagged", "left")
    for row in data["cells"]:
        counts = row["counts"]
        table.add_row(
            row["phase"], row["task"], row["method"],
            *[str(counts[s]) if counts[s] else "·" for s in STATES],
            str(row["unplanned"]) if row["unplanned"] else "·",
            f"{row['best_score']:.4f}" if row["best_score"] is not None else "-",
            f"[red]{row['flagged']}[/red]" if row["flagged"] else "·",
            _cell_left(row),
        )
    console.print_table(table)
    for job in data["running_jobs"]:
        console.print_text("  " + running_line(job))
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


def job_label(job: dict[str, Any]) -> str:
    label = f"trial {job['trial']} seed {job['seed']}" if job["trial"] is not None else f"seed {job['seed']}"
    return f"job {job['job']} {job['phase']} {job['task']}/{job['method']} {label}"


def running_line(job: dict[str, Any]) -> str:
    """One running job in one line: step, epoch, latest score, speed, ETA (the plain view too)."""
    parts = [job_label(job)]
    if job["step"] is not None:
        parts.append(f"step {job['step']}/{job['max_steps']}" if job["max_steps"] else f"step {job['step']}")
    else:
        parts.append("starting")
    if job["epoch"] is not None:
        parts.append(f"epoch {job['epoch']:.2f}")
    if job["latest_eval"] is not None:
        name = job["latest_eval"]["metric"].removeprefix("eval_")
        parts.append(f"{name} {job['latest_eval']['value']:.4f}")
    if job["examples_per_second"]:
        parts.append(f"{job['examples_per_second']:.1f} ex/s")
    if job["worker_gone"]:
        parts.append("worker gone")
    else:
        parts.append(f"ETA {format_seconds(job['eta_seconds'])}")
    return ", ".join(parts)


# -- the fast path --------------------------------------------------------------------------------

_VALUE_OPTIONS = {"--state-dir": "SWEEPFIRST_STATE_DIR", "--db-url": "SWEEPFIRST_DB_URL",
                  "--artifacts": "SWEEPFIRST_ARTIFACTS"}


def _parse(argv: Sequence[str]) -> tuple[dict[str, str], str | None, bool] | None:
    """`status [RUN] [--json] [--state-dir D] [--db-url U] [--artifacts A]`, or None for anything
    else (`--help`, `--watch`, a typo): the full command line handles those."""
    values: dict[str, str] = {}
    run_ref: str | None = None
    as_json = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif name in _VALUE_OPTIONS and name not in values:
            if eq:
                values[name] = inline
            elif args and not args[0].startswith("-"):
                values[name] = args.pop(0)
            else:
                return None
        elif not arg.startswith("-") and run_ref is None:
            run_ref = arg
        else:
            return None
    for name, env in _VALUE_OPTIONS.items():
        if name not in values and os.environ.get(env):
            values[name] = os.environ[env]
    return values, run_ref, as_json


def _sqlite_path(values: dict[str, str]) -> Path | None:
    state = Path(values.get("--state-dir") or "state")
    url = values.get("--db-url")
    if url is None:
        return state / "sweepfirst.db"
    if url.startswith("sqlite:///") and "?" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def fast_status(argv: Sequence[str]) -> bool:
    """Answer `sweepfirst status ...` (``argv`` without "status") straight from a SQLite state file;
    False when the full command line must answer instead (then nothing was printed). Raises
    `NoState` where there is no state file at all, as the command would."""
    parsed = _parse(argv)
    if parsed is None:
        return False
    values, run_ref, as_json = parsed
    path = _sqlite_path(values)
    if path is None:
        return False
    state = Path(values.get("--state-dir") or "state")
    if state.exists() and not state.is_dir():
        return False
    if not path.exists() and path.parent.is_dir():
        # Nothing recorded here: the sentence the database gives, without loading the command line.
        raise NoState.no_database_file(path)
    snapshot = read_sqlite_snapshot(path, run_ref)
    if snapshot is None:
        return False
    artifacts = Path(values["--artifacts"]) if values.get("--artifacts") else state
    data = collect(snapshot, artifacts)
    if as_json:
        from sweepfirst.cli import console

        console.print_json(data)
    else:
        render(data)
    return True
