"""The real worker loop (phases, coordination, crash recovery) on no-op jobs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from noop_jobs import NoopExecutor, claim_counts, make_noop_run, make_noop_workflow_run, states

from sweepfirst.engine.worker import Worker, WorkerOptions, check_artifact_root
from sweepfirst.errors import StateError
from sweepfirst.states import JobEvent, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

SPAWN = multiprocessing.get_context("spawn")


def _context(url: str, tmp_path: Path) -> Context:
    return Context.open(state_dir=tmp_path / "state", db_url=url, artifacts=tmp_path / "artifacts")


def serve_noop(url: str, artifacts: str, slots: int, sleep: float = 0.0) -> dict[str, object]:
    """A worker process: the real Worker, with no-op jobs (``sleep``: for jobs that do not say)."""
    ctx = Context.open(state_dir=Path(artifacts), db_url=url, artifacts=Path(artifacts))
    options = WorkerOptions(workers=slots, poll_seconds=0.1)
    summary = Worker(ctx, options, executor=NoopExecutor(ctx, slots, default_sleep=sleep)).serve()
    ctx.db.dispose()
    return summary.to_dict()


def _phase(ctx: Context, run_id: int) -> str:
    with ctx.db.session() as session:
        return run_store.find_run(session, run_id).phase


def test_a_worker_drains_a_run_drives_it_to_completion_and_leaves(sqlite_url: str, tmp_path: Path) -> None:
    ctx = _context(sqlite_url, tmp_path)
    run_id = make_noop_run(ctx.db, 12, sleep=0.02)
    lines: list[str] = []
    summary = Worker(ctx, WorkerOptions(workers=3, poll_seconds=0.1), executor=NoopExecutor(ctx, 3),
                     notify=lines.append).serve()
    assert summary.jobs_started == 12 and summary.runs == {"noop"}
    assert "no active run" in summary.reason
    assert states(ctx.db, run_id) == {"succeeded": 12}
    assert _phase(ctx, run_id) == Phase.COMPLETED.value
    assert (tmp_path / "artifacts" / "runs" / "noop" / "summary.md").is_file()
    assert any("phase: completed" in line for line in lines)


def test_two_worker_processes_share_a_run_and_advance_it_once(sqlite_url: str, tmp_path: Path) -> None:
    """SQLite: the coordinator lock is a file lock (PostgreSQL's is tested with a whole workflow below)."""
    ctx = _context(sqlite_url, tmp_path)
    run_id = make_noop_run(ctx.db, 40, sleep=0.02)
    with ProcessPoolExecutor(max_workers=2, mp_context=SPAWN) as pool:
        futures = [pool.submit(serve_noop, sqlite_url, str(tmp_path / "artifacts"), 2) for _ in range(2)]
        summaries = [f.result(timeout=120) for f in futures]
    assert sum(int(s["jobs_started"]) for s in summaries) == 40  # type: ignore[call-overload]
    assert set(claim_counts(ctx.db, run_id).values()) == {1}
    assert _phase(ctx, run_id) == Phase.COMPLETED.value
    with ctx.db.session() as session:
        moves = [(e.from_phase, e.to_phase) for e in run_store.run_events(session, run_id)]
    # The guarded phase UPDATEs let exactly one worker make each move.
    assert moves.count(("production", "report")) == 1 and moves.count(("report", "completed")) == 1


def test_worker_processes_take_a_workflow_run_through_every_phase(pg_url: str, tmp_path: Path) -> None:
    """Sweep -> analysis -> production -> report with three workers and no orchestrator: each phase
    change happens once, and no worker leaves before production (they are needed there)."""
    ctx = _context(pg_url, tmp_path)
    run_id = make_noop_workflow_run(ctx)
    with ProcessPoolExecutor(max_workers=3, mp_context=SPAWN) as pool:
        futures = [pool.submit(serve_noop, pg_url, str(tmp_path / "artifacts"), 1, 0.2) for _ in range(3)]
        summaries = [f.result(timeout=120) for f in futures]
    assert _phase(ctx, run_id) == Phase.COMPLETED.value
    with ctx.db.session() as session:
        moves = [(e.from_phase, e.to_phase) for e in run_store.run_events(session, run_id)]
        jobs = job_store.list_jobs(session, run_id)
        chosen = run_store.selections(session, run_id)
    assert moves == [("", "planned"), ("planned", "sweep"), ("sweep", "analysis"), ("analysis", "production"),
                     ("production", "drift"), ("drift", "report"), ("report", "completed")]
    # No-op production jobs keep no model, so the drift phase has no job to run (it says so).
    assert len(chosen) == 4 and {j.phase for j in jobs} == {"sweep", "production", "representations"}
    assert all(j.state == "succeeded" for j in jobs) and set(claim_counts(ctx.db, run_id).values()) == {1}
    production = [j for j in jobs if j.phase == "production"]
    assert len(production) == 8
    assert all(int(s["jobs_started"]) > 0 for s in summaries), summaries  # type: ignore[call-overload]
    # The workers that did not coordinate stayed through analysis and helped in production.
    with ctx.db.session() as session:
        owners = {e.detail for j in production for e in job_store.job_events(session, j.id) if e.event == "claimed"}
    assert len(owners) >= 2, owners


def test_a_sigkilled_worker_process_loses_its_job_to_another_worker(sqlite_url: str, tmp_path: Path) -> None:
    ctx = _context(sqlite_url, tmp_path)
    run_id = make_noop_run(ctx.db, 3, sleep=1.0, lease_seconds=2.0)
    victim = SPAWN.Process(target=serve_noop, args=(sqlite_url, str(tmp_path / "artifacts"), 1))
    victim.start()
    deadline = time.monotonic() + 60
    running: list[job_store.Job] = []
    while not running and time.monotonic() < deadline:
        with ctx.db.session() as session:
            running = job_store.list_jobs(session, run_id, states=[JobState.RUNNING])
        time.sleep(0.05)
    assert running, "the victim never started a job"
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join()
    summary = Worker(ctx, WorkerOptions(poll_seconds=0.1), executor=NoopExecutor(ctx, 1)).serve()
    assert states(ctx.db, run_id) == {"succeeded": 3}
    assert _phase(ctx, run_id) == Phase.COMPLETED.value
    with ctx.db.session() as session:
        events = [e.event for e in job_store.job_events(session, running[0].id)]
    assert events[:2] == [JobEvent.CLAIMED.value, JobEvent.CRASHED.value] and events[-1] == "succeeded"
    assert summary.jobs_started >= 1


def test_run_restricts_a_worker_to_one_run(sqlite_url: str, tmp_path: Path) -> None:
    ctx = _context(sqlite_url, tmp_path)
    first = make_noop_run(ctx.db, 3, name="first")
    second = make_noop_run(ctx.db, 3, name="second")
    summary = Worker(ctx, WorkerOptions(run="second", poll_seconds=0.1), executor=NoopExecutor(ctx, 1)).serve()
    assert summary.runs == {"second"} and "run second is completed" in summary.reason
    assert states(ctx.db, first) == {"pending": 3}
    assert states(ctx.db, second) == {"succeeded": 3}


def test_a_worker_with_nothing_to_do_leaves_at_once(sqlite_url: str, tmp_path: Path) -> None:
    ctx = _context(sqlite_url, tmp_path)
    started = time.monotonic()
    summary = Worker(ctx, WorkerOptions(), executor=NoopExecutor(ctx, 1)).serve()
    assert summary.jobs_started == 0 and "no active run" in summary.reason
    assert time.monotonic() - started < 5


def test_a_stop_request_hands_running_jobs_back(sqlite_url: str, tmp_path: Path) -> None:
    ctx = _context(sqlite_url, tmp_path)
    run_id = make_noop_run(ctx.db, 2, sleep=30)
    worker = Worker(ctx, WorkerOptions(workers=2, poll_seconds=0.1), executor=NoopExecutor(ctx, 2),
                    should_stop=lambda: states(ctx.db, run_id).get("running", 0) == 2)
    summary = worker.serve()
    assert "stop requested" in summary.reason
    assert states(ctx.db, run_id) == {"pending": 2}
    with ctx.db.session() as session:
        events = [e.event for j in job_store.list_jobs(session, run_id) for e in job_store.job_events(session, j.id)]
    assert events.count(JobEvent.INTERRUPTED.value) == 2


@pytest.mark.parametrize("url", ["s3://bucket/sweeps", "gs://b/x", "file:///tmp/x"])
def test_fsspec_urls_are_refused_with_a_clear_error(url: str) -> None:
    with pytest.raises(StateError, match="fsspec URLs are not supported yet"):
        check_artifact_root(Path(url))
    with pytest.raises(StateError, match="mount the store"):
        check_artifact_root(url)
