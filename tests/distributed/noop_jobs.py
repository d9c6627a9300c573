"""Test-only no-op jobs: the store's claim/lease/finish machinery without any training.

- ``make_noop_run``: a run in production with N no-op jobs (``{"sleep": s}`` says how long each holds
  its lease);
- ``drain``: a bare worker loop (reap, ``claim_next_job``, sleep, ``finish_job``) for
  multiprocessing processes;
- ``NoopExecutor``: an `Executor` that "runs" a claimed job in a thread, so the real `Worker`
  (phases, coordination, preemption) can be tested in seconds.

Imported by module name ``noop_jobs`` (tests/distributed is on sys.path, and on PYTHONPATH for
the submitit tests), so spawned processes and submitit jobs can unpickle these functions.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from sweepfirst.attempts import Ending
from sweepfirst.engine.executors import Finished
from sweepfirst.engine.worker import WorkerOptions
from sweepfirst.errors import LeaseLost
from sweepfirst.spec import load_workflow
from sweepfirst.states import JobEvent, JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.database import Database
from sweepfirst.store.jobs import Lease
from sweepfirst.store.models import Job, JobEventRow

REPO_ROOT = Path(__file__).resolve().parents[2]


def noop_spec(lease_seconds: float = 30.0) -> dict[str, Any]:
    """A valid recorded workflow (the scheduler reads lease_seconds from it)."""
    workflow = load_workflow(REPO_ROOT / "workflows" / "smoke.yaml", [f"training.lease_seconds={lease_seconds}"])
    return workflow.model_dump(mode="json")


def make_noop_run(db: Database, n: int, *, sleep: float = 0.0, lease_seconds: float = 30.0,
                  name: str = "noop", max_attempts: int = 3) -> int:
    """A "train" run in production with ``n`` no-op jobs; returns its id."""
    with db.session() as session:
        run = run_store.create_run(session, name=name, workflow_name="smoke", spec=noop_spec(lease_seconds),
                                   spec_hash="noop", kind="train")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.TRAIN, "mrpc", "lora", {"i": i, "sleep": sleep}, 0, f"runs/{name}/jobs/{i}",
                              max_attempts=max_attempts)
            for i in range(n)
        ])
        run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="no-op jobs")
        return run.id


def make_noop_workflow_run(ctx: Context) -> int:
    """A real workflow run (smoke.yaml: 2 tasks x 2 methods, 2 trials, 2 production seeds), started
    (in its sweep) but not driven: workers take it from there."""
    from sweepfirst.engine.orchestrate import choose_run

    workflow = load_workflow(REPO_ROOT / "workflows" / "smoke.yaml")
    run, _created = choose_run(ctx, workflow, new_run=True, phase=None)
    with ctx.db.session() as session:
        run_store.transition_run(session, run.id, Phase.SWEEP, detail="started for workers")
    return run.id


def drain(url: str, run_id: int, *, lease_seconds: float = 30.0, owner: str | None = None,
          idle_seconds: float = 0.05) -> list[tuple[int, float]]:
    """Claim and finish jobs until none is pending or running; [(job id, claim latency s)]."""
    db = Database(url)
    done: list[tuple[int, float]] = []
    try:
        while True:
            started = time.perf_counter()
            with db.session() as session:
                claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=lease_seconds, owner=owner)
                sleep = float(claim[0].hyperparameters.get("sleep", 0)) if claim else 0.0
            latency = time.perf_counter() - started
            if claim is None:
                if open_jobs(db, run_id) == 0:
                    return done
                # Nothing to claim but jobs are running: one may belong to a dead worker.
                with db.session() as session:
                    job_store.reap_expired_leases(session, run_ids=[run_id])
                time.sleep(idle_seconds)
                continue
            lease = claim[1]
            if sleep:
                time.sleep(sleep)
            with db.session() as session:
                job_store.finish_job(session, lease, JobEvent.SUCCEEDED, metrics={}, score=None)
            done.append((lease.job_id, latency))
    finally:
        db.dispose()


def hold_one(url: str, run_id: int, *, lease_seconds: float, owner: str | None = None) -> None:
    """Claim one job and hold it without heartbeats until killed (the victim of SIGKILL tests)."""
    db = Database(url)
    with db.session() as session:
        claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=lease_seconds, owner=owner)
    assert claim is not None
    time.sleep(3600)


def open_jobs(db: Database, run_id: int) -> int:
    with db.session() as session:
        return int(session.scalar(
            select(func.count()).select_from(Job).where(
                Job.run_id == run_id, Job.state.in_([JobState.PENDING.value, JobState.RUNNING.value]))
        ) or 0)


def claim_counts(db: Database, run_id: int) -> dict[int, int]:
    """job id -> how many times it was claimed."""
    with db.session() as session:
        rows = session.execute(
            select(Job.id, func.count(JobEventRow.id))
            .join(JobEventRow, (JobEventRow.job_id == Job.id) & (JobEventRow.event == JobEvent.CLAIMED.value),
                  isouter=True)
            .where(Job.run_id == run_id)
            .group_by(Job.id)
        )
        return {job_id: n for job_id, n in rows}


def states(db: Database, run_id: int) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(
            select(Job.state, func.count()).where(Job.run_id == run_id).group_by(Job.state)
        )
        return {state: n for state, n in rows}


class NoopExecutor:
    """Runs each claimed no-op job in a thread: hold the lease ``sleep`` seconds, then succeed.

    ``stop()`` is a preemption: every running job is handed back as interrupted.
    """

    def __init__(self, ctx: Context, slots: int = 1, default_sleep: float = 0.0) -> None:
        self._ctx = ctx
        self._slots = slots
        self._default_sleep = default_sleep
        self._running: dict[int, threading.Thread] = {}
        self._finished: list[Finished] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def free_slots(self) -> int:
        with self._lock:
            return 0 if self._stopping.is_set() else self._slots - len(self._running)

    def busy(self) -> bool:
        """Like SubprocessExecutor: busy until every finished job has been polled."""
        with self._lock:
            return bool(self._running or self._finished)

    def submit(self, lease: Lease) -> None:
        thread = threading.Thread(target=self._run, args=(lease,), daemon=True)
        with self._lock:
            self._running[lease.job_id] = thread
        thread.start()

    def poll(self) -> list[Finished]:
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout=30)

    def _run(self, lease: Lease) -> None:
        with self._ctx.db.session() as session:
            job = job_store.get_job(session, lease.job_id)
            sleep = float(job.hyperparameters.get("sleep", self._default_sleep))
            # A made-up but deterministic score, so that analysis has something to choose by.
            score = 0.5 + int(job.config_hash[:4], 16) / 0x10000 / 2
        interrupted = self._stopping.wait(sleep)
        try:
            with self._ctx.db.session() as session:
                if interrupted:
                    job_store.end_attempt(session, lease.job_id, Ending.INTERRUPTED, token=lease.token,
                                          reason="no-op stopped")
                else:
                    job_store.finish_job(session, lease, JobEvent.SUCCEEDED, detail="no-op", score=score,
                                         metrics={"eval_accuracy": score, "eval_f1": score})
        except LeaseLost:
            pass
        with self._lock:
            self._running.pop(lease.job_id, None)
            self._finished.append(Finished(lease.job_id))


def noop_executor_factory(ctx: Context, options: WorkerOptions) -> NoopExecutor:
    return NoopExecutor(ctx, slots=options.slots)
