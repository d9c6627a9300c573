"""Many worker processes on one database: no job runs twice, none is lost, dead workers' jobs return."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

from noop_jobs import claim_counts, drain, hold_one, make_noop_run, states

from sweepfirst.states import JobEvent, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.database import Database

SPAWN = multiprocessing.get_context("spawn")


def _drain_with(url: str, processes: int, jobs: int) -> None:
    db = Database(url)
    db.create_schema()
    run_id = make_noop_run(db, jobs)
    with ProcessPoolExecutor(max_workers=processes, mp_context=SPAWN) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(drain, url, run_id) for _ in range(processes)]]
    counts = claim_counts(db, run_id)
    assert len(counts) == jobs
    assert [job for job, n in counts.items() if n != 1] == [], "a job was claimed more than once (or never)"
    assert states(db, run_id) == {JobState.SUCCEEDED.value: jobs}, "a job was lost"
    finished = sorted(job for result in results for job, _latency in result)
    assert finished == sorted(counts), "each job was finished by exactly one process"
    assert all(result for result in results), "every process got work"
    db.dispose()


def test_four_processes_drain_1000_jobs_on_postgres(pg_url: str) -> None:
    _drain_with(pg_url, processes=4, jobs=1000)


def test_two_processes_drain_1000_jobs_on_one_sqlite_file(sqlite_url: str) -> None:
    _drain_with(sqlite_url, processes=2, jobs=1000)


def _wait_until_running(db: Database, run_id: int, timeout: float = 30) -> job_store.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as session:
            running = job_store.list_jobs(session, run_id, states=[JobState.RUNNING])
        if running:
            return running[0]
        time.sleep(0.05)
    raise AssertionError("the victim never claimed its job")


def _kill_holder_then_drain(url: str, *, owner: str | None, lease_seconds: float = 2.0) -> tuple[job_store.Job, list]:
    """A victim process claims the only job and is SIGKILLed; another process drains the run."""
    db = Database(url)
    db.create_schema()
    run_id = make_noop_run(db, 1, lease_seconds=lease_seconds)
    victim = SPAWN.Process(target=hold_one, args=(url, run_id), kwargs={"lease_seconds": lease_seconds, "owner": owner})
    victim.start()
    job = _wait_until_running(db, run_id)
    if owner is None:
        assert job.lease_owner == f"{os.uname().nodename}:{victim.pid}"
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join()
    with ProcessPoolExecutor(max_workers=1, mp_context=SPAWN) as pool:
        rescued = pool.submit(drain, url, run_id, lease_seconds=lease_seconds).result(timeout=60)
    assert [job_id for job_id, _ in rescued] == [job.id]
    with db.session() as session:
        events = job_store.job_events(session, job.id)
        final = job_store.get_job(session, job.id)
    db.dispose()
    assert [e.event for e in events] == [
        JobEvent.CLAIMED.value, JobEvent.CRASHED.value, JobEvent.CLAIMED.value, JobEvent.SUCCEEDED.value
    ]
    assert final.state == JobState.SUCCEEDED.value and final.attempts == 2
    return job, events


def test_a_sigkilled_worker_loses_its_job_once_its_lease_expires(any_url: str) -> None:
    """A worker on another machine: nothing but the lease's expiry says it is gone."""
    job, events = _kill_holder_then_drain(any_url, owner="elsewhere.example:4242")
    assert job.lease_expires_at is not None
    assert events[1].at >= job.lease_expires_at - dt.timedelta(milliseconds=1)


def test_a_dead_worker_on_this_machine_is_noticed_at_once(sqlite_url: str) -> None:
    """Same host: the reaper sees the lease owner's pid is gone and does not wait for the lease."""
    job, events = _kill_holder_then_drain(sqlite_url, owner=None, lease_seconds=60)
    assert job.lease_expires_at is not None and events[1].at < job.lease_expires_at
