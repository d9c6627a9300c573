"""Several jobs per GPU: the real `sweepfirst worker` and its real worker processes, on CPU.

The GPUs are bookkeeping here (CUDA_VISIBLE_DEVICES is what a job's process sees; this machine has
no GPU): what is checked is which process got which device, in the processes themselves, and
what an out-of-memory error does to a job. Training is replaced by ``probe/sitecustomize.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from noop_jobs import REPO_ROOT, noop_spec
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.cli.driving import execution_options
from sweepfirst.engine.executors import gpu_slots
from sweepfirst.engine.orchestrate import ExecutionOptions, launch_record
from sweepfirst.errors import NotFound
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.states import JobEvent, JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context

PROBE = Path(__file__).parent / "probe"


def _probe_run(ctx: Context, n: int, *, launch: dict[str, object] | None = None) -> int:
    """A single-experiment run in production with ``n`` lora jobs of distinct learning rates."""
    with ctx.db.session() as session:
        run = run_store.create_run(session, name="gpus", workflow_name="smoke", spec=noop_spec(),
                                   spec_hash="gpus", kind="train", launch=launch)
        lora = get_method("lora")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.TRAIN, "mrpc", "lora",
                              complete_hyperparameters(lora, {"learning_rate": 1e-4 * (i + 1)}), 0,
                              f"runs/gpus/jobs/{i}", max_attempts=2)
            for i in range(n)
        ])
        run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="probe jobs")
        return run.id


def _worker(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPFIRST_", "CUDA_"))}
    environment.update(PYTHONPATH=os.pathsep.join([str(PROBE), str(REPO_ROOT)]), SWEEPFIRST_PROBE="1",
                       HF_HUB_OFFLINE="1", WANDB_MODE="disabled", **env)
    return subprocess.run(
        [sys.executable, "-m", "sweepfirst.cli.app", "worker", "--poll-seconds", "0.2",
         "--state-dir", str(tmp_path / "state"), "--artifacts", str(tmp_path / "artifacts"), *args],
        env=environment, capture_output=True, text=True, timeout=180, check=False,
    )


def _context(tmp_path: Path) -> Context:
    return Context.open(state_dir=tmp_path / "state", artifacts=tmp_path / "artifacts")


def test_gpu_slots_spread_the_jobs_over_the_gpus() -> None:
    assert gpu_slots(["0", "1"], 1) == ["0", "1"]
    assert gpu_slots(["0", "1"], 3) == ["0", "1", "0", "1", "0", "1"]
    assert ExecutionOptions(gpus=("0", "1", "2"), jobs_per_gpu=4).slots == 12
    assert ExecutionOptions(workers=3).slots == 3


def test_two_gpus_with_two_jobs_each_run_four_processes_each_pinned_to_one_gpu(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run_id = _probe_run(ctx, 8)
    done = _worker(tmp_path, "--gpus", "0,1", "--jobs-per-gpu", "2", SWEEPFIRST_PROBE_SLEEP="1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GPUs 0,1, 2 jobs per GPU" in " ".join((done.stdout + done.stderr).split())
    with ctx.db.session() as session:
        jobs = job_store.list_jobs(session, run_id)
    assert {j.state for j in jobs} == {JobState.SUCCEEDED.value}
    probes = [json.loads((ctx.job_dir(j.output_dir) / "probe.json").read_text()) for j in jobs]
    devices_of: dict[int, set[str]] = defaultdict(set)
    for probe in probes:
        devices_of[probe["pid"]].add(probe["cuda_visible_devices"])
    # Four worker processes, each always on the one GPU it was given, two on each GPU.
    assert len(devices_of) == 4, devices_of
    assert all(len(devices) == 1 for devices in devices_of.values()), devices_of
    assert Counter(next(iter(d)) for d in devices_of.values()) == {"0": 2, "1": 2}
    # Never more jobs at once than slots: 2 GPUs x 2.
    moments = sorted([(p["started"], 1) for p in probes] + [(p["ended"], -1) for p in probes])
    running, most = 0, 0
    for _at, change in moments:
        running += change
        most = max(most, running)
    assert 2 <= most <= 4


def test_out_of_memory_is_an_infrastructure_loss_that_names_jobs_per_gpu(tmp_path: Path) -> None:
    """A job whose GPU ran out of memory goes back to the queue without spending an attempt and
    then succeeds; one that runs out every time at the same step fails as a poison job, with the
    sentence that says what to lower."""
    ctx = _context(tmp_path)
    run_id = _probe_run(ctx, 2)
    with ctx.db.session() as session:
        once, always = job_store.list_jobs(session, run_id)
    done = _worker(tmp_path, "--gpus", "0", SWEEPFIRST_PROBE_OOM=f"{once.id}:3:1,{always.id}:2:0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lower --jobs-per-gpu or the batch size" in " ".join((done.stdout + done.stderr).split())
    with ctx.db.session() as session:
        job = job_store.get_job(session, once.id)
        events = job_store.job_events(session, once.id)
        poisoned = job_store.get_job(session, always.id)
    assert job.state == JobState.SUCCEEDED.value
    assert (job.failures, job.losses, job.loss_point) == (0, 1, 3)
    assert [e.event for e in events] == [JobEvent.CLAIMED.value, JobEvent.CRASHED.value,
                                         JobEvent.CLAIMED.value, JobEvent.SUCCEEDED.value]
    crashed = events[1].detail or ""
    assert crashed.startswith("ran out of memory at step 3 (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.")
    assert crashed.endswith("lower --jobs-per-gpu or the batch size")
    # Three losses at step 2 and no code failure: the poison guard ended it, not max_attempts (2).
    assert poisoned.state == JobState.FAILED.value
    assert (poisoned.failures, poisoned.losses, poisoned.losses_at_point) == (0, 3, 3)
    assert ("poison job: killed its worker 3 times at step 2: likely out of memory; lower the batch size "
            "(or --jobs-per-gpu)") in (poisoned.error or "")


def test_the_run_records_jobs_per_gpu_and_resume_reuses_it(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    launch = launch_record(ctx, ExecutionOptions(gpus=("0", "1"), jobs_per_gpu=3))
    assert launch["jobs_per_gpu"] == 3 and launch["gpus"] == ["0", "1"]
    run_id = _probe_run(ctx, 1, launch=launch)
    with ctx.db.session() as session:
        run = run_store.find_run(session, run_id)
    reused = execution_options(run, workers=None, gpus=None, in_process=False, jobs_per_gpu=None)
    assert (tuple(reused.gpus or ()), reused.jobs_per_gpu, reused.slots) == (("0", "1"), 3, 6)
    given = execution_options(run, workers=None, gpus=None, in_process=False, jobs_per_gpu=1)
    assert given.jobs_per_gpu == 1 and given.slots == 2
    # Other GPUs given now, without --jobs-per-gpu: the recorded sharing still applies.
    moved = execution_options(run, workers=None, gpus="2", in_process=False, jobs_per_gpu=None)
    assert (tuple(moved.gpus or ()), moved.slots) == (("2",), 3)


@pytest.mark.parametrize("command", [["worker"], ["run", str(REPO_ROOT / "workflows" / "smoke.yaml")]])
def test_jobs_per_gpu_without_gpus_is_refused_before_anything_is_recorded(tmp_path: Path,
                                                                         command: list[str]) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(app, [*command, "--jobs-per-gpu", "2", "--state-dir", str(state)])
    assert result.exit_code == 2, result.output
    assert "--jobs-per-gpu 2 shares GPUs, but no --gpus were given" in " ".join(result.output.split())
    assert not state.exists()


def test_launch_slurm_refuses_jobs_per_gpu_without_gpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["launch", "slurm", "--gpus-per-worker", "0", "--jobs-per-gpu", "2",
                                      "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 2
    assert "--gpus-per-worker" in result.output


def test_launch_slurm_passes_jobs_per_gpu_to_its_workers(pg_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The run records it, the submitted settings carry it, and a worker job given 2 GPUs by Slurm
    runs 2 x 4 slots."""
    from types import SimpleNamespace

    from noop_jobs import NoopExecutor

    from sweepfirst.engine import slurm
    from sweepfirst.engine.worker import WorkerOptions
    from sweepfirst.store.database import Database

    submitted: dict[str, object] = {}

    def fake_submit(executor, settings, count, *, db_url, executor_factory=None):  # type: ignore[no-untyped-def]
        submitted.update(settings=settings)
        return [SimpleNamespace(job_id="7")]

    monkeypatch.setattr(slurm, "submit_workers", fake_submit)
    bin_dir = tmp_path / "bin"  # submitit looks for srun to know it is on a cluster
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(app, [
        "launch", "slurm", str(REPO_ROOT / "workflows" / "smoke.yaml"), "--gpus-per-worker", "2",
        "--jobs-per-gpu", "4", "--db-url", pg_url, "--state-dir", str(tmp_path / "state"),
        "--artifacts", str(tmp_path / "shared"),
    ])
    assert result.exit_code == 0, result.output
    settings = submitted["settings"]
    assert isinstance(settings, slurm.SlurmWorkerSettings) and settings.jobs_per_gpu == 4
    db = Database(pg_url)
    with db.session() as session:
        (run,) = run_store.list_runs(session)
    db.dispose()
    assert run.launch is not None and run.launch["jobs_per_gpu"] == 4

    seen: list[WorkerOptions] = []

    def factory(ctx: Context, options: WorkerOptions) -> NoopExecutor:
        seen.append(options)
        return NoopExecutor(ctx, slots=options.slots)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # what Slurm gives the job
    monkeypatch.setenv("SWEEPFIRST_DB_URL", pg_url)
    other = slurm.SlurmWorkerSettings(state_dir=str(tmp_path / "state"), artifacts=str(tmp_path / "shared"),
                                      run="no-such-run-yet", gpus_per_worker=2, jobs_per_gpu=4)
    with pytest.raises(NotFound, match="no-such-run-yet"):
        slurm.SlurmWorker(other, factory)()
    assert seen and seen[0].gpus == ("3", "5") and seen[0].slots == 8


def test_resume_refuses_jobs_per_gpu_for_a_run_without_gpus_and_leaves_it_alone(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run_id = _probe_run(ctx, 1, launch=launch_record(ctx, ExecutionOptions(workers=2)))
    with ctx.db.session() as session:
        run_store.transition_run(session, run_id, Phase.FAILED, detail="test", error="test")
    result = CliRunner().invoke(app, ["resume", "--jobs-per-gpu", "2", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 2, result.output
    assert "no --gpus were given" in " ".join(result.output.split())
    with ctx.db.session() as session:
        assert run_store.find_run(session, run_id).phase == Phase.FAILED.value  # not reopened
