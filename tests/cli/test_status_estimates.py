"""`status` never promises a time it cannot know: a running job whose worker is gone says so, and a
missing estimate reads "unknown" (null in --json), never "about 0m00s left"."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.states import JobEvent, JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job

runner = CliRunner()


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _record(state: Path, *, cells: dict[str, int]) -> Context:
    """A run in its sweep with ``cells[task]`` pending jobs per task (method lora)."""
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.create_run(session, name="r", workflow_name="w", spec={"a": 1}, spec_hash="h")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.SWEEP, task, "lora", {"i": i}, 0, f"runs/r/jobs/{task}/{i}", trial_index=i)
            for task, n in cells.items() for i in range(n)
        ])
        run_store.transition_run(session, run.id, Phase.SWEEP, detail="test")
    return ctx


def _claim(ctx: Context, *, owner: str, lease_seconds: float = 600.0) -> job_store.Lease:
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        claimed = job_store.claim_next_job(session, run_ids=[run.id], lease_seconds=lease_seconds, owner=owner)
    assert claimed is not None
    return claimed[1]


def _succeed(ctx: Context, lease: job_store.Lease, runtime_s: float) -> None:
    with ctx.db.session() as session:
        job_store.finish_job(session, lease, JobEvent.SUCCEEDED, score=0.8)
        session.execute(update(Job).where(Job.id == lease.job_id).values(runtime_s=runtime_s))


def _status(state: Path, *extra: str) -> str:
    result = runner.invoke(app, ["status", *extra, "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_a_running_job_whose_worker_died_shows_worker_gone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = _record(state, cells={"mrpc": 3})
    _succeed(ctx, _claim(ctx, owner=job_store.this_process()), runtime_s=60.0)
    _claim(ctx, owner=f"{socket.gethostname()}:{_dead_pid()}")  # its lease has not expired yet
    ctx.db.dispose()
    text = _status(state)
    assert "worker gone" in text and "0m00s left" not in text
    assert "time left unknown (worker gone)" in text and "`sweepfirst resume`" in text
    data = json.loads(_status(state, "--json"))
    assert data["workers_gone"] == 1
    (cell,) = data["cells"]
    assert cell["counts"]["running"] == 1 and cell["workers_gone"] == 1
    assert cell["estimated_seconds_left"] == 120.0  # the running and the pending job, 60 s each


def test_an_expired_lease_shows_worker_gone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = _record(state, cells={"mrpc": 1})
    _claim(ctx, owner="another-host:123", lease_seconds=-5.0)  # a worker elsewhere stopped renewing
    ctx.db.dispose()
    text = _status(state)
    assert "worker gone" in text and "0m00s left" not in text
    assert json.loads(_status(state, "--json"))["cells"][0]["workers_gone"] == 1


def test_a_live_worker_is_not_gone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = _record(state, cells={"mrpc": 1})
    _claim(ctx, owner=job_store.this_process())
    ctx.db.dispose()
    assert "worker gone" not in _status(state)
    assert json.loads(_status(state, "--json"))["workers_gone"] == 0


def test_no_estimate_reads_unknown_never_zero(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = _record(state, cells={"mrpc": 2, "sst2": 2})
    _succeed(ctx, _claim(ctx, owner=job_store.this_process()), runtime_s=30.0)  # only mrpc has a mean
    ctx.db.dispose()
    text = _status(state)
    assert "time left unknown" in text and "about 0m00s" not in text
    assert "unknown" in text.splitlines()[-2]  # the sst2 row's "left" column
    data = json.loads(_status(state, "--json"))
    assert data["estimated_seconds_left"] is None
    by_task = {cell["task"]: cell for cell in data["cells"]}
    assert by_task["mrpc"]["estimated_seconds_left"] == 30.0
    assert by_task["sst2"]["estimated_seconds_left"] is None and by_task["sst2"]["mean_job_seconds"] is None


def test_status_of_a_recorded_run_imports_no_torch(tmp_path: Path) -> None:
    # Status on an empty folder now stops before any query: this one reads a real run.
    state = tmp_path / "state"
    ctx = _record(state, cells={"mrpc": 2})
    _claim(ctx, owner=f"{socket.gethostname()}:{_dead_pid()}")
    ctx.db.dispose()
    code = (
        "import sys\n"
        "from sweepfirst.cli.app import main\n"
        "for argv in (['status'], ['status', '--json'], ['jobs', 'list']):\n"
        "    try:\n"
        "        main([*argv, '--state-dir', sys.argv[1]])\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code in (0, None), stop.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft', 'optuna') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(state)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "worker gone" in result.stdout
