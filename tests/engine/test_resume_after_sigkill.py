"""`kill -9` of the orchestrator (or Ctrl-C), then `sweepfirst resume`: nothing finished runs
again, the interrupted job continues from its checkpoint, and the run ends with the selections
an uninterrupted run makes."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from background_run import BackgroundRun
from conftest import tiny_workflow_dict

from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

WORKFLOW_CHANGES = {
    "data.max_train_samples": 120,
    "training.evaluations_per_epoch": 4,
    "methods.full_finetune.sweep.parameters.per_device_train_batch_size": {"value": 4},
    "seeds.production": [42],
}


def _sweepfirst(*args: str, state: Path, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_command(*args, state=state, data=data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _command(*args: str, state: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "sweepfirst.cli.app", *args, "--state-dir", str(state), "--data-dir", str(data)]


def _selections(state: Path) -> dict[tuple[str, str], dict]:
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.find_run(session)
        return {k: s.hyperparameters for k, s in run_store.selections(session, run.id).items()}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("wf") / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **WORKFLOW_CHANGES)))
    return path


#: The uninterrupted run's selections, waited for on the first call.
ReferenceSelections = Callable[[], dict[tuple[str, str], dict]]


@pytest.fixture(scope="module")
def reference(workflow: Path, tiny_glue_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceSelections]:
    """The selections of the same run, uninterrupted (they do not depend on where jobs ran):
    started here and left training in the background while the first test stops its own run
    (see background_run); awaited where a test compares with it."""
    folder = tmp_path_factory.mktemp("reference")
    state, log = folder / "state", folder / "log"
    with log.open("wb") as sink:
        process = subprocess.Popen(_command("run", str(workflow), "--methods", "full_finetune", "--in-process",
                                            state=state, data=tiny_glue_dir),
                                   stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    run = BackgroundRun(process, log)

    @functools.cache
    def selections() -> dict[tuple[str, str], dict]:
        run.wait()
        return _selections(state)

    yield selections
    run.stop()


def _running_job_with_checkpoint(ctx: Context) -> int | None:
    with ctx.db.session(readonly=True) as session:
        jobs = job_store.list_jobs(session, None)
        if not any(j.state == "succeeded" for j in jobs):
            return None
        for job in jobs:
            if job.phase == JobPhase.SWEEP.value and job.state == "running":
                folder = ctx.job_dir(job.output_dir)
                if folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir()):
                    return job.id
    return None


@pytest.mark.parametrize(("mode", "stop_signal"), [
    ("subprocess-workers", signal.SIGKILL),
    ("in-process", signal.SIGKILL),
    ("subprocess-workers", signal.SIGINT),
])
def test_stop_then_resume(tmp_path: Path, workflow: Path, reference: ReferenceSelections, tiny_glue_dir: Path,
                          mode: str, stop_signal: signal.Signals) -> None:
    in_process = ["--in-process"] if mode == "in-process" else []
    state = tmp_path / "killed"
    orchestrator = _sweepfirst("run", str(workflow), "--methods", "full_finetune", *in_process, state=state, data=tiny_glue_dir)
    ctx = None
    victim = None
    deadline = time.monotonic() + 900
    while victim is None and time.monotonic() < deadline and orchestrator.poll() is None:
        time.sleep(0.05)
        if ctx is None and (state / "sweepfirst.db").exists():
            ctx = Context.open(state_dir=state)
        if ctx is not None:
            victim = _running_job_with_checkpoint(ctx)
    assert victim is not None, "never saw a running job with a checkpoint after another job succeeded"
    os.kill(orchestrator.pid, stop_signal)
    out, _ = orchestrator.communicate(timeout=300)
    assert ctx is not None
    if stop_signal is signal.SIGINT:  # Ctrl-C: a clean stop, the job checkpointed and handed back
        assert orchestrator.returncode == 130, out.decode()[-2000:]
        assert b"sweepfirst resume" in out
        with ctx.db.session() as session:
            assert job_store.get_job(session, victim).state == "pending"
    with ctx.db.session() as session:
        finished_before = {j.id for j in job_store.list_jobs(session, None) if j.state == "succeeded"}

    resumed = _sweepfirst("resume", *in_process, state=state, data=tiny_glue_dir)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out.decode()[-3000:]

    with ctx.db.session() as session:
        assert run_store.find_run(session).phase == "completed"
        for job_id in finished_before:  # a job that succeeded never runs again
            events = [e.event for e in job_store.job_events(session, job_id)]
            assert events.count("claimed") == 1, (job_id, events)
        victim_events = [e.event for e in job_store.job_events(session, victim)]
        victim_job = job_store.get_job(session, victim)
    assert victim_job.state == "succeeded"
    assert victim_events.count("claimed") == 2, victim_events
    expected = "interrupted" if stop_signal is signal.SIGINT or mode != "in-process" else "crashed"
    assert victim_events[1] == expected, victim_events
    record = json.loads((ctx.job_dir(victim_job.output_dir) / "job.json").read_text())
    assert record["resumed_from"], "the interrupted job did not continue from its checkpoint"
    assert _selections(state) == reference()


def test_a_killed_worker_process_costs_only_its_job(tmp_path: Path, workflow: Path, reference: ReferenceSelections, tiny_glue_dir: Path) -> None:
    """SIGKILL of one worker process (as the OOM killer would): its job crashes and runs again,
    the orchestrator and the other worker carry on, and the run completes unchanged."""
    state = tmp_path / "state"
    orchestrator = _sweepfirst("run", str(workflow), "--methods", "full_finetune", "--workers", "2",
                               state=state, data=tiny_glue_dir)
    ctx = None
    killed_job = None
    deadline = time.monotonic() + 900
    while killed_job is None and time.monotonic() < deadline and orchestrator.poll() is None:
        time.sleep(0.05)
        if ctx is None and (state / "sweepfirst.db").exists():
            ctx = Context.open(state_dir=state)
        if ctx is None:
            continue
        with ctx.db.session(readonly=True) as session:
            for job in job_store.list_jobs(session, None):
                folder = ctx.job_dir(job.output_dir)
                owner = job.lease_owner or ""
                has_checkpoint = folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())
                if job.state == "running" and has_checkpoint and owner.rpartition(":")[2] != str(orchestrator.pid):
                    os.kill(int(owner.rpartition(":")[2]), signal.SIGKILL)
                    killed_job = job.id
                    break
    assert killed_job is not None, "never saw a worker process running a job"
    out, _ = orchestrator.communicate(timeout=600)
    assert orchestrator.returncode == 0, out.decode()[-3000:]
    assert ctx is not None
    with ctx.db.session() as session:
        events = job_store.job_events(session, killed_job)
        assert run_store.find_run(session).phase == "completed"
    assert [e.event for e in events][:3] == ["claimed", "crashed", "claimed"]
    assert "SIGKILL" in (events[1].detail or "")
    assert _selections(state) == reference()
