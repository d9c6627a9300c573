"""Job store behaviour on every backend: idempotent planning, claims, leases, reaping, retries."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import update

from sweepfirst.attempts import Ending
from sweepfirst.states import JobEvent, JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database
from sweepfirst.store.liveness import pid_alive
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


def test_an_expired_lease_is_reaped_once_as_crashed_however_often_it_happens(db: Database) -> None:
    """A lost lease is the infrastructure's doing: it never uses up the job's attempts."""
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    for _attempt in range(4):
        with db.session() as session:
            job, _lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60, owner="elsewhere:1")  # type: ignore[misc]
            session.execute(update(Job).where(Job.id == job.id).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
        with db.session() as session:
            assert job_store.reap_expired_leases(session, run_ids=[run_id]) == [job.id]
            assert job_store.reap_expired_leases(session, run_ids=[run_id]) == []  # idempotent
            assert job_store.get_job(session, job.id).state == JobState.PENDING.value
    with db.session() as session:
        events = [e.event for e in job_store.job_events(session, job.id)]
        reaped = job_store.get_job(session, job.id)
    assert events == ["claimed", "crashed"] * 4
    assert (reaped.failures, reaped.losses, reaped.attempts) == (0, 4, 4)


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


def test_a_code_failure_is_retried_only_while_attempts_remain(db: Database) -> None:
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    events = []
    for _round in range(2):
        with db.session() as session:
            _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
        with db.session() as session:
            events.append(job_store.end_attempt(session, lease.job_id, Ending.CODE_FAILURE, token=lease.token,
                                                reason="ValueError: boom"))
    assert events == [JobEvent.ERRORED, JobEvent.FAILED]
    with db.session() as session:
        job = job_store.get_job(session, lease.job_id)
        assert (job.state, job.failures, job.attempts) == ("failed", 2, 2)
        assert job.error == "ValueError: boom"
        job_store.retry_job(session, lease.job_id)  # by hand: fresh attempts
        job = job_store.get_job(session, lease.job_id)
        assert (job.state, job.failures) == ("pending", 0)


def test_lost_attempts_never_count_toward_max_attempts(db: Database) -> None:
    """Five deaths at different steps and five interrupts: still pending, no failure charged."""
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    for step in range(5):
        for ending, point in ((Ending.LOST, step * 10), (Ending.INTERRUPTED, None)):
            with db.session() as session:
                _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
            with db.session() as session:
                job_store.end_attempt(session, lease.job_id, ending, token=lease.token, reason="x", point=point)
    with db.session() as session:
        job = job_store.get_job(session, lease.job_id)
        assert (job.state, job.failures, job.losses, job.interrupts, job.attempts) == ("pending", 0, 5, 5, 10)


def test_three_deaths_at_the_same_step_make_a_poison_job(db: Database) -> None:
    run_id = _run_with_jobs(db, 1, max_attempts=2)
    events = []
    for point in (7, 12, 12, 12):  # the first death is elsewhere: it does not count toward the three
        with db.session() as session:
            _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
        with db.session() as session:
            events.append(job_store.end_attempt(session, lease.job_id, Ending.LOST, token=lease.token,
                                                reason="worker process killed by SIGKILL", point=point))
    assert events == [JobEvent.CRASHED] * 3 + [JobEvent.FAILED]
    with db.session() as session:
        job = job_store.get_job(session, lease.job_id)
    assert job.state == "failed" and job.failures == 0 and job.losses == 4
    assert "killed its worker 3 times at step 12: likely out of memory; lower the batch size" in job.error
    assert f"sweepfirst jobs retry {job.id}" in job.error


def test_an_unobserved_loss_never_counts_toward_the_poison_guard(db: Database) -> None:
    run_id = _run_with_jobs(db, 1)
    for _ in range(4):
        with db.session() as session:
            _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
        with db.session() as session:
            job_store.end_attempt(session, lease.job_id, Ending.LOST, token=lease.token, reason="lease expired")
    with db.session() as session:
        job = job_store.get_job(session, lease.job_id)
    assert (job.state, job.losses, job.losses_at_point) == ("pending", 4, 0)


def test_an_error_no_retry_can_fix_fails_at_once(db: Database) -> None:
    run_id = _run_with_jobs(db, 1, max_attempts=4)
    with db.session() as session:
        _, lease = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)  # type: ignore[misc]
    with db.session() as session:
        event = job_store.end_attempt(session, lease.job_id, Ending.PERMANENT_FAILURE, token=lease.token,
                                      reason="GLUE file /x/MRPC/train.tsv not found")
    assert event is JobEvent.FAILED


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


def test_a_zombie_worker_counts_as_dead() -> None:
    """A worker that exited but was not reaped yet still answers kill(pid, 0); it is gone all the same."""
    import subprocess
    import time

    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for it to exit, without reaping it
        state = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0]
        if state == "Z":
            break
        time.sleep(0.01)
    try:
        os.kill(child.pid, 0)  # the old liveness check: the zombie passes it
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert pid_alive(os.getpid())
