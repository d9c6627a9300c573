"""The tables of the state database (SQLAlchemy 2.x declarative models).

The same models serve SQLite and PostgreSQL. Times are stored as UTC; JSON columns hold
hyperparameters, metrics and provenance as written, so a query never needs to parse a log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use utcnow()")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: UTCDateTime}


class Run(Base):
    """One execution of a workflow: its resolved spec and the phase it is in."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    workflow_name: Mapped[str] = mapped_column(String(200))
    #: "workflow" (sweep -> analysis -> production -> report) or "train" (one `sweepfirst train`).
    kind: Mapped[str] = mapped_column(String(20), default="workflow", server_default="workflow")
    #: Hash of the resolved workflow: a run's jobs are only valid for the spec that planned them.
    spec_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]]
    phase: Mapped[str] = mapped_column(String(20))
    #: The phase a failed or cancelled run stopped in; `resume` returns to it.
    stopped_in_phase: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: How the run was started (data folder, artifact store, workers, GPUs): `resume` reuses them.
    launch: Mapped[dict[str, Any] | None] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="run", cascade="all, delete-orphan")


class RunEvent(Base):
    """One phase change of a run (time per phase is derived from these)."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    from_phase: Mapped[str] = mapped_column(String(20))
    to_phase: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One unit of work: (run, phase, task, method, configuration, seed)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("run_id", "phase", "task", "method", "config_hash", "seed", name="uq_job_key"),
        Index("ix_jobs_claim", "run_id", "state", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(50))
    method: Mapped[str] = mapped_column(String(50))
    config_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    #: The trial's position in its sweep (None outside sweeps).
    trial_index: Mapped[int | None] = mapped_column(Integer)
    hyperparameters: Mapped[dict[str, Any]]
    #: Lower runs first.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20))
    #: Claims so far, whatever became of them (history; the policy reads the counters below).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Code failures allowed before the job fails; only ``failures`` count toward it.
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    #: Attempts whose training code raised (see ``sweepfirst.attempts``).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Attempts the infrastructure lost (worker died, lease expired, out of memory).
    losses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Attempts stopped on request (Ctrl-C, SIGTERM, preemption).
    interrupts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The training step of the latest loss seen at a known step, and how many in a row died there.
    loss_point: Mapped[int | None] = mapped_column(Integer)
    losses_at_point: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Deaths in a row at one step that make the job a poison job.
    max_losses_at_point: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    #: The training step the running attempt last reported (heartbeats carry it).
    progress_step: Mapped[int | None] = mapped_column(Integer)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    #: "host:pid" of the process that holds the lease.
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    #: Seconds spent running, summed over attempts.
    runtime_s: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float | None] = mapped_column(Float)
    #: Evaluation iteration -> score, for early termination.
    intermediate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Evaluation iteration -> eval_loss, which breaks exact ties on the score at a rung.
    intermediate_loss: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The highest rung hyperband promoted this job from after pruning it there: a job that
    #: trains again through that rung (no checkpoint to resume from) is not judged there again.
    promoted_rung: Mapped[int | None] = mapped_column(Integer)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    output_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    run: Mapped[Run] = relationship(back_populates="jobs")


class JobEventRow(Base):
    """One transition of one job, written in the same transaction as the state change."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Selection(Base):
    """The configuration chosen for one (task, method) of a run."""

    __tablename__ = "selections"
    __table_args__ = (UniqueConstraint("run_id", "task", "method", name="uq_selection"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(50))
    method: Mapped[str] = mapped_column(String(50))
    hyperparameters: Mapped[dict[str, Any]]
    config_hash: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float)
    #: Mean metrics of the chosen configuration's sweep jobs ("expected performance").
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Which split the score comes from: "selection" (held out of train) or "dev".
    split: Mapped[str] = mapped_column(String(20))
    #: "sweep" (chosen by analysis) or "file" (handed in with --optimal-config).
    source: Mapped[str] = mapped_column(String(20))
    #: Trials the sweep planned for this cell, and how many of them the choice was made from.
    trials_planned: Mapped[int | None] = mapped_column(Integer)
    trials_used: Mapped[int | None] = mapped_column(Integer)
    #: The planned trials that never produced a score: [{"trial", "state", "error"}].
    lost_trials: Mapped[list[Any] | None] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
