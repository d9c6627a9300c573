"""Every query and state change of jobs.

A state change is one guarded UPDATE (``WHERE id = :id AND state IN (:legal_from)``) whose row
count is checked, plus an event row in the same transaction. The legal from-states come from
``sweepfirst.states.JOB_TRANSITIONS`` and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from sweepfirst.attempts import DEFAULT_MAX_LOSSES_AT_POINT, AttemptCounters, Ending, decide
from sweepfirst.errors import IllegalTransition, LeaseLost, NotFound
from sweepfirst.states import JOB_TRANSITIONS, JobEvent, JobPhase, JobState
from sweepfirst.store.liveness import owner_is_dead_here
from sweepfirst.store.models import Job, JobEventRow, utcnow


def config_hash(hyperparameters: Mapping[str, Any]) -> str:
    """A stable short hash of a configuration (key order does not matter)."""
    canonical = json.dumps(hyperparameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def this_process() -> str:
    """The lease owner name of this process: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class JobSpec:
    """What the planner wants to exist; `ensure_jobs` makes it so, idempotently."""

    phase: JobPhase
    task: str
    method: str
    hyperparameters: Mapping[str, Any]
    seed: int
    output_dir: str
    trial_index: int | None = None
    priority: int = 0
    max_attempts: int = 2
    max_losses_at_point: int = DEFAULT_MAX_LOSSES_AT_POINT

    @property
    def config_hash(self) -> str:
        return config_hash(self.hyperparameters)


@dataclass(frozen=True)
class Lease:
    """Proof that this process owns a running job."""

    job_id: int
    token: str
    owner: str


#: What makes a job unique within its run (the unique key ``uq_job_key`` is run_id plus these).
JobKey = tuple[str, str, str, str, int]


def ensure_jobs(session: Session, run_id: int, specs: Iterable[JobSpec]) -> list[Job]:
    """Create the jobs that do not exist yet, and return them in the order of ``specs`` (their
    ids ascend in that order); planning twice never makes two jobs.

    The missing jobs go in as one bulk INSERT (a DBAPI executemany: pipelined by psycopg, one
    prepared statement in SQLite) instead of one ORM object per job: a 10,000-job grid otherwise
    spends seconds on PostgreSQL having psycopg parse the ORM's batched multi-row statements
    (benchmarks/RESULTS.md, "Large sweeps"). A job that another planner creates at the same time
    still exists once: the unique key refuses the second row, this call raises IntegrityError
    and its transaction rolls back, and the coordinator loop plans again next round (a race,
    like any other), then finding the job there.
    """
    seen = session.execute(
        select(Job.id, Job.phase, Job.task, Job.method, Job.config_hash, Job.seed).where(Job.run_id == run_id)
    ).all()
    existing: set[JobKey] = {(phase, task, method, digest, seed) for _id, phase, task, method, digest, seed in seen}
    missing: dict[JobKey, JobSpec] = {}
    for spec in specs:
        key = (spec.phase.value, spec.task, spec.method, spec.config_hash, spec.seed)
        if key not in existing and key not in missing:
            missing[key] = spec
    if not missing:
        return []
    session.execute(insert(Job), [
        {"run_id": run_id, "phase": phase, "task": task, "method": method, "config_hash": digest, "seed": seed,
         "trial_index": spec.trial_index, "hyperparameters": dict(spec.hyperparameters), "priority": spec.priority,
         "state": JobState.PENDING.value, "max_attempts": spec.max_attempts,
         "max_losses_at_point": spec.max_losses_at_point, "output_dir": spec.output_dir}
        for (phase, task, method, digest, seed), spec in missing.items()
    ])
    # Read back only rows newer than any this call saw: ids only grow (SQLite's rowid under its
    # write lock, PostgreSQL's sequence), and a visible row with a missing key is ours, since
    # one that someone else committed would have failed the INSERT.
    newest_seen = max((row[0] for row in seen), default=0)
    created = session.scalars(
        select(Job).where(Job.run_id == run_id, Job.id > newest_seen).order_by(Job.id)
    )
    return [job for job in created if (job.phase, job.task, job.method, job.config_hash, job.seed) in missing]


def _current_state(session: Session, job_id: int) -> str:
    current = session.scalar(select(Job.state).where(Job.id == job_id))
    if current is None:
        raise NotFound(f"There is no job {job_id}; `sweepfirst jobs list` shows the jobs.")
    return current


def transition(
    session: Session,
    job_id: int,
    event: JobEvent,
    *,
    held_token: str | None = None,
    detail: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Apply one legal transition and set ``values``, or raise.

    With ``held_token`` only the holder of that lease may make the change.
    """
    legal_from, to_state = JOB_TRANSITIONS[event]
    # With one legal from-state a successful UPDATE says what the state was: skip the read (the
    # hot path of claim and finish); it is only needed for an error message.
    current = None if len(legal_from) == 1 else _current_state(session, job_id)
    statement = update(Job).where(
        Job.id == job_id, Job.state.in_([s.value for s in legal_from])
    )
    if held_token is not None:
        statement = statement.where(Job.lease_token == held_token)
    result = session.execute(
        statement.values(state=to_state.value, **(values or {})).execution_options(
            synchronize_session=False
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = current or _current_state(session, job_id)
        if held_token is not None and current == JobState.RUNNING.value:
            raise LeaseLost(f"Job {job_id} is no longer leased to this worker.")
        raise IllegalTransition(
            f"Job {job_id} is {current}; '{event.value}' is only allowed from "
            f"{', '.join(sorted(s.value for s in legal_from))}."
        )
    # The UPDATE bypassed the ORM: a loaded copy of the row is stale now, reload it on next access.
    loaded = session.identity_map.get(session.identity_key(Job, job_id))
    if loaded is not None:
        session.expire(loaded)
    session.add(
        JobEventRow(
            job_id=job_id,
            event=event.value,
            from_state=current or next(iter(legal_from)).value,
            to_state=to_state.value,
            detail=detail,
        )
    )
    session.flush()


#: PostgreSQL claims in one statement (`_claim_in_one_statement`); False only for the benchmark
#: that compares it with the generic four-round-trip claim (benchmarks/overhead.py --claim two-step).
ONE_STATEMENT_CLAIM = True


def claim_next_job(
    session: Session,
    *,
    run_ids: Sequence[int],
    lease_seconds: float,
    owner: str | None = None,
    phases: Sequence[JobPhase] | None = None,
) -> tuple[Job, Lease] | None:
    """Claim the next pending job of the given runs, or return None when there is none.

    SQLite serialises writers (BEGIN IMMEDIATE), PostgreSQL skips rows another worker has locked;
    either way the guarded UPDATE below is what makes a double claim impossible.
    """
    if not run_ids:
        return None
    query = (
        select(Job.id)
        .where(Job.run_id.in_(run_ids), Job.state == JobState.PENDING.value)
        .order_by(Job.priority, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if phases is not None:
        query = query.where(Job.phase.in_([p.value for p in phases]))
    if ONE_STATEMENT_CLAIM and session.get_bind().dialect.name == "postgresql":
        return _claim_in_one_statement(session, query, lease_seconds=lease_seconds, owner=owner)
    job_id = session.scalar(query)
    if job_id is None:
        return None
    now = utcnow()
    lease = Lease(job_id=job_id, token=uuid.uuid4().hex, owner=owner or this_process())
    transition(
        session,
        job_id,
        JobEvent.CLAIMED,
        detail=lease.owner,
        values={
            "lease_token": lease.token,
            "lease_owner": lease.owner,
            "attempts": Job.attempts + 1,
            "started_at": now,
            "heartbeat_at": now,
            "lease_expires_at": now + dt.timedelta(seconds=lease_seconds),
            "finished_at": None,
            "progress_step": None,
        },
    )
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job, lease


def _claim_in_one_statement(session: Session, pick: Select[int], *, lease_seconds: float,
                            owner: str | None) -> tuple[Job, Lease] | None:
    """PostgreSQL: pick, guard and claim in one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE
    SKIP LOCKED) RETURNING``, then the event row.

    The same transition as `transition` (legal from-states from JOB_TRANSITIONS, an event row in
    the same transaction), in two round trips instead of four: the row lock a claim takes is held
    until commit, and every worker that arrives meanwhile has to skip past it, so with many
    workers the time a claim holds the head of the queue is what limits throughput (see
    benchmarks/RESULTS.md, "Orchestrator overhead").
    """
    legal_from, to_state = JOB_TRANSITIONS[JobEvent.CLAIMED]
    now = utcnow()
    token, holder = uuid.uuid4().hex, owner or this_process()
    claimed = session.scalars(
        update(Job)
        .where(Job.id == pick.scalar_subquery(), Job.state.in_([s.value for s in legal_from]))
        .values(
            state=to_state.value, lease_token=token, lease_owner=holder, attempts=Job.attempts + 1,
            started_at=now, heartbeat_at=now, lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            finished_at=None, progress_step=None,
        )
        .returning(Job)
        .execution_options(populate_existing=True, synchronize_session=False)
    ).first()
    if claimed is None:
        return None
    session.add(JobEventRow(job_id=claimed.id, event=JobEvent.CLAIMED.value, from_state=JobState.PENDING.value,
                            to_state=to_state.value, detail=holder))
    session.flush()
    return claimed, Lease(job_id=claimed.id, token=token, owner=holder)


def renew_lease(session: Session, lease: Lease, *, lease_seconds: float, step: int | None = None) -> bool:
    """Heartbeat: extend the lease (and record the step reached). False means the lease is gone
    (reaped or cancelled)."""
    now = utcnow()
    values: dict[str, Any] = {"heartbeat_at": now, "lease_expires_at": now + dt.timedelta(seconds=lease_seconds)}
    if step is not None:
        values["progress_step"] = step
    result = session.execute(
        update(Job)
        .where(
            Job.id == lease.job_id,
            Job.lease_token == lease.token,
            Job.state == JobState.RUNNING.value,
        )
        .values(**values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def _release_values(job: Job) -> dict[str, Any]:
    now = utcnow()
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    return {
        "lease_token": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
        "runtime_s": (job.runtime_s or 0.0) + max(elapsed, 0.0),
    }


def finish_job(
    session: Session,
    lease: Lease,
    event: JobEvent,
    *,
    detail: str | None = None,
    **values: Any,
) -> None:
    """End a running job that this process holds as succeeded or pruned (the job's own outcome;
    every other ending goes through `end_attempt`, which applies the retry policy)."""
    if event not in (JobEvent.SUCCEEDED, JobEvent.PRUNED):
        raise ValueError(f"finish_job records outcomes, not {event.value}; use end_attempt")
    job = session.get(Job, lease.job_id)
    if job is None:
        raise NotFound(f"There is no job {lease.job_id}.")
    transition(
        session,
        lease.job_id,
        event,
        held_token=lease.token,
        detail=detail,
        values={**_release_values(job), **values},
    )


def _counters(job: Job) -> AttemptCounters:
    return AttemptCounters(
        job_id=job.id, failures=job.failures or 0, max_attempts=job.max_attempts, losses=job.losses or 0,
        interrupts=job.interrupts or 0, loss_point=job.loss_point, losses_at_point=job.losses_at_point or 0,
        max_losses_at_point=job.max_losses_at_point or DEFAULT_MAX_LOSSES_AT_POINT,
    )


def end_attempt(
    session: Session,
    job_id: int,
    ending: Ending,
    *,
    token: str | None,
    reason: str,
    point: int | None = None,
    values: Mapping[str, Any] | None = None,
) -> JobEvent:
    """End the running attempt held with ``token`` as the retry policy (`sweepfirst.attempts`)
    decides for ``ending``; returns the recorded event.

    Raises:
        LeaseLost / IllegalTransition: someone else ended the attempt first.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"There is no job {job_id}.")
    if job.state != JobState.RUNNING.value or (token is not None and job.lease_token != token):
        raise LeaseLost(f"Job {job_id} is no longer leased to this worker.")
    decision = decide(_counters(job), ending, reason=reason, point=point)
    release = _release_values(job)
    if decision.event is not JobEvent.FAILED:
        release["finished_at"] = None  # it will run again
    transition(
        session,
        job_id,
        decision.event,
        held_token=token,
        detail=decision.detail[:2000],
        values={**release, **(values or {}), **decision.values},
    )
    return decision.event


def record_intermediate(
    session: Session, lease: Lease, iteration: int, score: float, loss: float | None = None
) -> None:
    """Store one evaluation's score and eval_loss (for early termination), if the lease is still ours."""
    job = session.get(Job, lease.job_id)
    if job is None or job.lease_token != lease.token:
        raise LeaseLost(f"Job {lease.job_id} is no longer leased to this worker.")
    job.intermediate = {**(job.intermediate or {}), str(iteration): score}
    if loss is not None:
        job.intermediate_loss = {**(job.intermediate_loss or {}), str(iteration): loss}
    session.flush()


def lose_job(session: Session, job: Job, reason: str, *, point: int | None = None) -> JobEvent | None:
    """The infrastructure lost a running job (its worker died, its lease expired): back to pending,
    or failed as a poison job. None when someone else already moved it (not an error)."""
    try:
        return end_attempt(session, job.id, Ending.LOST, token=job.lease_token, reason=reason, point=point)
    except (IllegalTransition, LeaseLost):
        return None


def reap_expired_leases(session: Session, *, run_ids: Sequence[int] | None = None,
                        watched: Collection[int] = ()) -> list[int]:
    """Take back running jobs whose lease expired or whose worker process (on this host) is gone.
    A race with another reaper is not an error.

    ``watched`` jobs run in this process's own worker children: their executor sees such a death
    itself, with the step it happened at (the poison guard needs it), so a dead owner alone does
    not make the reaper take them; an expired lease still does.
    """
    now = utcnow()
    query = select(Job).where(Job.state == JobState.RUNNING.value)
    if run_ids is not None:
        query = query.where(Job.run_id.in_(run_ids))
    reaped: list[int] = []
    for job in session.scalars(query).all():
        expired = job.lease_expires_at is not None and job.lease_expires_at < now
        if not (expired or (job.id not in watched and owner_is_dead_here(job.lease_owner))):
            continue
        reason = "lease expired" if expired else f"worker {job.lease_owner} is gone"
        if job.progress_step is not None:
            reason += f" (last heard at step {job.progress_step})"
        # Nobody saw this death happen at a step, so it never counts toward the poison guard.
        if lose_job(session, job, reason) is not None:
            reaped.append(job.id)
    return reaped


def set_lease_owner(session: Session, lease: Lease, owner: str) -> Lease:
    """Hand a lease to the process that will run the job (so a reaper watches the right pid)."""
    result = session.execute(
        update(Job)
        .where(Job.id == lease.job_id, Job.lease_token == lease.token, Job.state == JobState.RUNNING.value)
        .values(lease_owner=owner)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"Job {lease.job_id} is no longer leased to this worker.")
    return Lease(job_id=lease.job_id, token=lease.token, owner=owner)


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"There is no job {job_id}; `sweepfirst jobs list` shows the jobs.")
    return job


def list_jobs(
    session: Session,
    run_id: int | None = None,
    *,
    phase: JobPhase | None = None,
    states: Iterable[JobState] | None = None,
    task: str | None = None,
    method: str | None = None,
) -> list[Job]:
    query = select(Job).order_by(Job.id)
    if run_id is not None:
        query = query.where(Job.run_id == run_id)
    if phase is not None:
        query = query.where(Job.phase == phase.value)
    if states is not None:
        query = query.where(Job.state.in_([s.value for s in states]))
    if task is not None:
        query = query.where(Job.task == task)
    if method is not None:
        query = query.where(Job.method == method)
    return list(session.scalars(query))


def count_by_state(session: Session, run_id: int) -> dict[tuple[str, str, str, str], int]:
    """(phase, task, method, state) -> number of jobs."""
    rows = session.execute(
        select(Job.phase, Job.task, Job.method, Job.state, func.count())
        .where(Job.run_id == run_id)
        .group_by(Job.phase, Job.task, Job.method, Job.state)
    )
    return {(p, t, m, s): n for p, t, m, s, n in rows}


def job_events(session: Session, job_id: int) -> list[JobEventRow]:
    return list(
        session.scalars(select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(JobEventRow.id))
    )


def cancel_job(session: Session, job_id: int, *, detail: str = "cancelled on request") -> None:
    """Cancel a pending or running job; a running job's worker sees its lease gone and stops."""
    transition(
        session,
        job_id,
        JobEvent.CANCELLED,
        detail=detail,
        values={"lease_token": None, "lease_owner": None, "lease_expires_at": None, "finished_at": utcnow()},
    )


def retry_job(session: Session, job_id: int, *, detail: str = "retried on request") -> None:
    """Put a failed or cancelled job back in the queue, with a fresh set of attempts and a clean
    poison record (someone decided the cause is fixed)."""
    values: dict[str, Any] = {"finished_at": None, "failures": 0, "loss_point": None, "losses_at_point": 0}
    transition(session, job_id, JobEvent.RETRIED, detail=detail, values=values)


def promote_job(session: Session, job_id: int, *, rung: int, detail: str) -> None:
    """Put a pruned job back in the queue: hyperband promoted it past ``rung``.

    It resumes from the checkpoint it was pruned at, with a fresh set of attempts (the earlier
    claims trained a different stretch of it).
    """
    transition(session, job_id, JobEvent.PROMOTED, detail=detail,
               values={"promoted_rung": rung, "failures": 0, "finished_at": None})


def retry_failed_jobs(session: Session, run_id: int) -> list[int]:
    """`resume --retry-failed`: every failed job of the run back in the queue."""
    retried = []
    for job in list_jobs(session, run_id, states=[JobState.FAILED]):
        retry_job(session, job.id, detail="retried with resume --retry-failed")
        retried.append(job.id)
    return retried
