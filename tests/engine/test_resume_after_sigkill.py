"""`kill -9` of the orchestrator, then `sweepfirst resume`: nothing finished runs again, the
interrupted job continues from its checkpoint, and the run ends with the same selections."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepfirst.engine.context import Context
from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store

WORKFLOW_CHANGES = {
    "data.max_train_samples": 120,
    "training.evaluations_per_epoch": 4,
    "methods.full_finetune.sweep.parameters.per_device_train_batch_size": {"value": 4},
    "seeds.production": [42],
}


def _sweepfirst(*args: str, state: Path, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepfirst.cli.app", *args, "--state-dir", str(state), "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _selections(state: Path) -> dict[tuple[str, str], dict]:
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        return {k: s.hyperparameters for k, s in run_store.selections(session, run.id).items()}


def _running_job_with_checkpoint(ctx: Context) -> int | None:
    with ctx.db.session() as session:
        for job in job_store.list_jobs(session, None):
            if job.phase == JobPhase.SWEEP.value and job.state == "running":
                folder = ctx.job_dir(job.output_dir)
                if folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir()):
                    succeeded = [j for j in job_store.list_jobs(session, job.run_id) if j.state == "succeeded"]
                    if succeeded:
                        return job.id
    return None


@pytest.mark.parametrize("mode", ["subprocess-workers", "in-process"])
def test_sigkill_then_resume(tmp_path: Path, tiny_workflow, tiny_glue_dir: Path, mode: str) -> None:
    workflow = tiny_workflow(**WORKFLOW_CHANGES)
    extra = ["--methods", "full_finetune"] + (["--in-process"] if mode == "in-process" else [])

    # The uninterrupted reference (its selections do not depend on where jobs ran).
    reference = _sweepfirst("run", str(workflow), "--methods", "full_finetune", "--in-process",
                            state=tmp_path / "reference", data=tiny_glue_dir)
    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0, out.decode()[-3000:]

    state = tmp_path / "killed"
    orchestrator = _sweepfirst("run", str(workflow), *extra, state=state, data=tiny_glue_dir)
    ctx = None
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and orchestrator.poll() is None:
        time.sleep(0.05)
        if ctx is None and (state / "sweepfirst.db").exists():
            ctx = Context.open(state_dir=state)
        if ctx is not None:
            victim = _running_job_with_checkpoint(ctx)
    assert victim is not None, "never saw a running job with a checkpoint after another job succeeded"
    os.kill(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait()
    assert ctx is not None
    with ctx.db.session() as session:
        finished_before = {j.id for j in job_store.list_jobs(session, None) if j.state == "succeeded"}

    resume_extra = ["--in-process"] if mode == "in-process" else []
    resumed = _sweepfirst("resume", *resume_extra, state=state, data=tiny_glue_dir)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out.decode()[-3000:]

    with ctx.db.session() as session:
        run = run_store.find_run(session)
        assert run.phase == "completed"
        for job_id in finished_before:  # a job that succeeded never runs again
            events = [e.event for e in job_store.job_events(session, job_id)]
            assert events.count("claimed") == 1, (job_id, events)
        victim_events = [e.event for e in job_store.job_events(session, victim)]
        victim_job = job_store.get_job(session, victim)
    assert victim_job.state == "succeeded"
    assert victim_events.count("claimed") == 2, victim_events
    assert victim_events[1] in ("crashed", "interrupted"), victim_events
    import json

    record = json.loads((ctx.job_dir(victim_job.output_dir) / "job.json").read_text())
    assert record["resumed_from"], "the interrupted job did not continue from its checkpoint"
    assert _selections(state) == _selections(tmp_path / "reference")
