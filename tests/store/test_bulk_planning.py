"""Planning in bulk (`ensure_jobs`, one INSERT for all missing jobs) on every backend: the rows it
writes field by field, and planners that race over the same grid creating each job exactly once.

Planning writes job rows only: a job's first event row is its claim (as before the bulk insert).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text

from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database
from sweepfirst.store.models import Job, JobEventRow, utcnow

#: The jobs of the racing planners' grid.
GRID_JOBS = 2000
#: How long a planner may wait for the other's transaction (2 busy cores and a benchmark).
RACE_SECONDS = 120


def _new_run(db: Database, name: str = "r") -> int:
    with db.session() as session:
        return run_store.create_run(session, name=name, workflow_name="w", spec={}, spec_hash="h").id


def _grid(jobs: int) -> list[job_store.JobSpec]:
    """A learning-rate grid as the planner writes it: one sweep seed, trial i at priority i."""
    return [
        job_store.JobSpec(JobPhase.SWEEP, "mrpc", "full_finetune", {"learning_rate": 1e-5 + i * 1e-8}, 0,
                          f"runs/r/sweep/mrpc/full_finetune/trial{i:03d}-seed0", trial_index=i, priority=i)
        for i in range(jobs)
    ]


def _all_columns(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(Job.__table__).where(Job.run_id == run_id).order_by(Job.id)).mappings()
        return [dict(row) for row in rows]


def _event_rows(db: Database) -> int:
    with db.session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(JobEventRow)) or 0


def _job_keys(db: Database, run_id: int) -> list[tuple[str, str, str, str, int]]:
    with db.session(readonly=True) as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            select(Job.phase, Job.task, Job.method, Job.config_hash, Job.seed).where(Job.run_id == run_id))]


#: Every column of a job nobody has claimed yet, apart from those planning fills in.
UNCLAIMED: dict[str, Any] = {
    "state": "pending", "attempts": 0, "failures": 0, "losses": 0, "interrupts": 0, "loss_point": None,
    "losses_at_point": 0, "progress_step": None, "lease_token": None, "lease_owner": None,
    "lease_expires_at": None, "heartbeat_at": None, "started_at": None, "finished_at": None, "runtime_s": 0.0,
    "metrics": {}, "score": None, "intermediate": {}, "intermediate_loss": {}, "promoted_rung": None,
    "provenance": {}, "error": None,
}


def test_the_rows_planning_writes_field_by_field(db: Database) -> None:
    """What the ORM wrote one object at a time before the bulk insert, value for value."""
    run_id = _new_run(db)
    specs = [
        job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"learning_rate": 1e-4, "lora_r": 8}, 0,
                          "runs/r/sweep/mrpc/lora/trial000-seed0", trial_index=0),
        # The same key again (key order does not change the hash): the first one wins.
        job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"lora_r": 8, "learning_rate": 1e-4}, 0, "elsewhere"),
        job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"learning_rate": 1e-4, "lora_r": 8}, 1,
                          "runs/r/sweep/mrpc/lora/trial000-seed1", trial_index=0),
        job_store.JobSpec(JobPhase.PRODUCTION, "rte", "full_finetune", {"learning_rate": 2e-5}, 42,
                          "runs/r/production/rte/full_finetune/seed42", priority=1, max_attempts=3,
                          max_losses_at_point=5),
    ]
    before = utcnow()
    with db.session() as session:
        created = job_store.ensure_jobs(session, run_id, specs)
        assert [j.output_dir for j in created] == [specs[0].output_dir, specs[2].output_dir, specs[3].output_dir]
        ids = [j.id for j in created]
    after = utcnow()
    assert ids == sorted(ids)

    rows = _all_columns(db, run_id)
    stamps = [row.pop("created_at") for row in rows]
    assert all(s.utcoffset() == dt.timedelta(0) and before <= s <= after for s in stamps)
    assert rows == [
        {**UNCLAIMED, "id": ids[0], "run_id": run_id, "phase": "sweep", "task": "mrpc", "method": "lora",
         "config_hash": "f4378b6547f1da76", "seed": 0, "trial_index": 0,
         "hyperparameters": {"learning_rate": 0.0001, "lora_r": 8}, "priority": 0, "max_attempts": 2,
         "max_losses_at_point": 3, "output_dir": "runs/r/sweep/mrpc/lora/trial000-seed0"},
        {**UNCLAIMED, "id": ids[1], "run_id": run_id, "phase": "sweep", "task": "mrpc", "method": "lora",
         "config_hash": "f4378b6547f1da76", "seed": 1, "trial_index": 0,
         "hyperparameters": {"learning_rate": 0.0001, "lora_r": 8}, "priority": 0, "max_attempts": 2,
         "max_losses_at_point": 3, "output_dir": "runs/r/sweep/mrpc/lora/trial000-seed1"},
        {**UNCLAIMED, "id": ids[2], "run_id": run_id, "phase": "production", "task": "rte",
         "method": "full_finetune", "config_hash": "deb8db41fd2033fb", "seed": 42, "trial_index": None,
         "hyperparameters": {"learning_rate": 2e-05}, "priority": 1, "max_attempts": 3,
         "max_losses_at_point": 5, "output_dir": "runs/r/production/rte/full_finetune/seed42"},
    ]
    assert _event_rows(db) == 0
    with db.session() as session:
        assert job_store.ensure_jobs(session, run_id, specs) == []
    assert len(_all_columns(db, run_id)) == 3


def test_planning_more_returns_only_the_new_jobs_of_that_run(db: Database) -> None:
    """Jobs planned later, while another run planned in between, come back alone and in order."""
    grid = _grid(6)
    first, other = _new_run(db, "first"), _new_run(db, "other")
    with db.session() as session:
        job_store.ensure_jobs(session, first, grid[:3])
    with db.session() as session:
        job_store.ensure_jobs(session, other, grid)
    with db.session() as session:
        more = job_store.ensure_jobs(session, first, list(reversed(grid[1:])))
        assert [(j.run_id, j.trial_index) for j in more] == [(first, 5), (first, 4), (first, 3)]
    assert [row["trial_index"] for row in _all_columns(db, first)] == [0, 1, 2, 5, 4, 3]


def _plan(db: Database, run_id: int, specs: Sequence[job_store.JobSpec],
          began: threading.Event | None = None) -> list[int] | sa_exc.IntegrityError:
    """One planning transaction: the ids it created, or the unique key refusing it."""
    try:
        with db.session() as session:
            if began is not None:
                began.set()  # SQLite: its BEGIN IMMEDIATE now waits for the other writer
            return [j.id for j in job_store.ensure_jobs(session, run_id, specs)]
    except sa_exc.IntegrityError as refused:
        return refused


def _plan_until_planned(db: Database, run_id: int, specs: Sequence[job_store.JobSpec],
                        start: threading.Barrier) -> list[int]:
    """A coordinator's planning: a race lost to the unique key is looked at again next round."""
    start.wait(timeout=RACE_SECONDS)
    for _round in range(5):
        outcome = _plan(db, run_id, specs)
        if not isinstance(outcome, sa_exc.IntegrityError):
            return outcome
    raise AssertionError("planning lost the race five times in a row")


def _wait_until_blocked_on_a_row_lock(db: Database, backend_pid: int) -> None:
    deadline = time.monotonic() + RACE_SECONDS
    while time.monotonic() < deadline:
        with db.engine.connect() as connection:
            waiting = connection.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend_pid}
            ).scalar()
        if waiting == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError("the second planner never reached the INSERT")


def test_a_planner_that_inserts_the_same_jobs_meanwhile_is_refused_then_finds_them(db: Database) -> None:
    """The second planner reads before the first commits, so it inserts the same 2,000 jobs: the
    unique key holds it until the first commits and then refuses it (PostgreSQL); SQLite queues
    the second writer before it reads. Either way the jobs exist once, created by the first."""
    run_id, grid = _new_run(db), _grid(GRID_JOBS)
    began = threading.Event()
    pids: list[int] = []

    def second_planner() -> list[int] | sa_exc.IntegrityError:
        if db.is_sqlite:
            return _plan(db, run_id, grid, began)
        with db.session() as session:  # learn which backend to watch, then plan on it
            pids.append(int(session.scalar(text("SELECT pg_backend_pid()")) or 0))
            began.set()
            try:
                return [j.id for j in job_store.ensure_jobs(session, run_id, grid)]
            except sa_exc.IntegrityError as refused:
                session.rollback()
                return refused

    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.session() as session:
            first = [j.id for j in job_store.ensure_jobs(session, run_id, grid)]
            second = pool.submit(second_planner)
            assert began.wait(timeout=RACE_SECONDS)
            if db.is_sqlite:
                time.sleep(0.5)  # its BEGIN IMMEDIATE waits on our write lock (not observable)
            else:
                _wait_until_blocked_on_a_row_lock(db, pids[0])
        outcome = second.result(timeout=RACE_SECONDS)

    assert len(first) == GRID_JOBS
    if db.is_sqlite:
        assert outcome == []
    else:
        assert isinstance(outcome, sa_exc.IntegrityError) and "uq_job_key" in str(outcome)
    assert _plan(db, run_id, grid) == []
    keys = _job_keys(db, run_id)
    assert len(keys) == len(set(keys)) == GRID_JOBS
    assert _event_rows(db) == 0


def test_two_planners_racing_over_one_grid_create_each_job_once(db: Database) -> None:
    run_id, grid = _new_run(db), _grid(GRID_JOBS)
    start = threading.Barrier(2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        planners = [pool.submit(_plan_until_planned, db, run_id, grid, start) for _ in range(2)]
        created = [p.result(timeout=2 * RACE_SECONDS) for p in planners]

    # Each job was created by exactly one of them; the winner's ids ascend in the grid's order.
    assert sorted(len(c) for c in created) == [0, GRID_JOBS]
    rows = _all_columns(db, run_id)
    assert [row["id"] for row in rows] == max(created, key=len)
    assert [row["trial_index"] for row in rows] == list(range(GRID_JOBS))
    keys = _job_keys(db, run_id)
    assert len(keys) == len(set(keys)) == GRID_JOBS
    assert _event_rows(db) == 0


def test_claiming_a_planned_job_writes_its_first_event(db: Database) -> None:
    """Bulk-created rows are ordinary jobs: claimed in priority order, one event row per claim."""
    run_id = _new_run(db)
    with db.session() as session:
        job_store.ensure_jobs(session, run_id, list(reversed(_grid(3))))
    with db.session() as session:
        claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)
        assert claim is not None and claim[0].trial_index == 0
    assert _event_rows(db) == 1
