"""Job store behaviour on every backend: idempotent planning, claims, leases, reaping, retries."""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import update

from sweepfirst.states import JobEvent, JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database
from sweepfirst.store.models import Job, utcnow


def _run_with_jobs(db: Database, n: int, max_attempts: int = 2) -> int:
    with db.session() as session:
        run = run_store.create_run(session, name="r", workflow_name="w", spec={}, spec_hash="h")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"learning_rate": i}, 0, f"out{i}", trial_index=i,
                              priority=i, max_attempts=max_attempts)
            for i in range(n)
        ])
        return run.id


def test_planning_twice_never_makes_two_jobs(db: Database) -> None:
    run_id = _run_with_jobs(db, 3)
    with db.session() as session:
        again = job_store.ensure_jobs(session, run_id, [
            job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"learning_rate": 1}, 0, "elsewhere")
        ])
        assert again == []
        assert len(job_store.list_jobs(session, run_id)) == 3


def test_claims_follow_priority_and_never_repeat(db: Database) -> None:
    run_id = _run_with_jobs(db, 3)
    claimed = []
    for _ in range(4):
        with db.session() as session:
            claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)
            claimed.append(None if claim is None else claim[0].trial_index)
    assert claimed == [0, 1, 2, None]


def test_heartbeat_renews_until_the_lease_is_taken_away(db: Database) -> None:
    run_id = _run_with_jobs(db, 1)
    with db.session() as session:
        job, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
        assert job.attempts == 1 and job.lease_owner == job_store.this_process()
    with db.session() as session:
        assert job_store.renew_lease(session, lease, lease_seconds=60)
    with db.session() as session:
        job_store.cancel_job(session, lease.job_id)
    with db.session() as session:
        assert not job_store.renew_lease(session, lease, lease_seconds=60)


def test_expired_lease_is_reaped_once_as_crashed_then_failed_when_attempts_are_used(db: Database) -> None:
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    for attempt, expected in ((1, JobState.PENDING), (2, JobState.FAILED)):
        with db.session() as session:
            job, _lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60, owner="elsewhere:1")  # type: ignore[misc]
            session.execute(update(Job).where(Job.id == job.id).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
        with db.session() as session:
            assert job_store.reap_expired_leases(session, run_ids=[run_id]) == [job.id]
            assert job_store.reap_expired_leases(session, run_ids=[run_id]) == []  # idempotent
            assert job_store.get_job(session, job.id).state == expected.value
        with db.session() as session:
            events = [e.event for e in job_store.job_events(session, job.id)]
    assert events == ["claimed", "crashed", "claimed", "failed"]


def test_a_dead_local_worker_is_reaped_before_its_lease_expires(db: Database) -> None:
    run_id = _run_with_jobs(db, 1)
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    with db.session() as session:
        job, _ = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=3600,  # type: ignore[misc]
                                          owner=f"{socket.gethostname()}:{dead.pid}")
    with db.session() as session:
        assert job_store.reap_expired_leases(session) == [job.id]


def test_a_live_worker_keeps_its_job(db: Database) -> None:
    run_id = _run_with_jobs(db, 1)
    with db.session() as session:
        job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=3600)
    with db.session() as session:
        assert job_store.reap_expired_leases(session) == []
    assert os.getpid()


def test_finish_records_outcome_and_runtime_and_releases_the_lease(db: Database) -> None:
    run_id = _run_with_jobs(db, 1)
    with db.session() as session:
        _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
    with db.session() as session:
        job_store.record_intermediate(session, lease, 1, 0.5)
        job_store.finish_job(session, lease, JobEvent.SUCCEEDED, score=0.7, metrics={"eval_accuracy": 0.7})
    with db.session() as session:
        job = job_store.get_job(session, lease.job_id)
        assert (job.state, job.score, job.metrics, job.intermediate) == ("succeeded", 0.7, {"eval_accuracy": 0.7}, {"1": 0.5})
        assert job.lease_token is None and job.finished_at is not None and job.runtime_s >= 0


def test_automatic_retry_only_while_attempts_remain(db: Database) -> None:
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    for round_ in range(2):
        with db.session() as session:
            _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
        with db.session() as session:
            job_store.finish_job(session, lease, JobEvent.FAILED, error="boom")
        with db.session() as session:
            retried = job_store.retry_failed_with_attempts_left(session, run_id)
        assert retried == ([lease.job_id] if round_ == 0 else [])
    with db.session() as session:
        job_store.retry_job(session, lease.job_id)  # by hand: fresh attempts
        job = job_store.get_job(session, lease.job_id)
        assert (job.state, job.attempts) == ("pending", 0)


def test_selections_are_replaced_not_duplicated(db: Database) -> None:
    run_id = _run_with_jobs(db, 0)
    for score in (0.5, 0.6):
        with db.session() as session:
            run_store.save_selection(session, run_id, task="mrpc", method="lora", hyperparameters={"learning_rate": score},
                                     config_hash="x", metric="eval_accuracy", score=score, metrics={}, split="train_holdout",
                                     source="sweep")
    with db.session() as session:
        chosen = run_store.selections(session, run_id)
    assert list(chosen) == [("mrpc", "lora")] and chosen[("mrpc", "lora")].score == 0.6
