"""Worker jobs through submitit: real job processes (LocalExecutor), preemption and requeue."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from noop_jobs import claim_counts, make_noop_run, noop_executor_factory, states

from sweepfirst.engine.slurm import (
    SlurmResources,
    SlurmWorkerSettings,
    make_submitter,
    parse_slurm_time,
    submit_workers,
)
from sweepfirst.states import JobEvent, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.database import Database

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _importable_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit's job processes unpickle `noop_jobs.noop_executor_factory` by name."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


def _settings(tmp_path: Path, **overrides: object) -> SlurmWorkerSettings:
    values: dict[str, object] = {"state_dir": str(tmp_path / "state"), "artifacts": str(tmp_path / "artifacts"),
                                 "gpus_per_worker": 0, "cpu_slots": 2, "poll_seconds": 0.1, "stop_timeout_s": 20}
    values.update(overrides)
    return SlurmWorkerSettings(**values)  # type: ignore[arg-type]


def _local_submitter(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_submitter(tmp_path / "submitit" / "%j", SlurmResources(gpus_per_worker=0, timeout_min=5,
                                                                        signal_delay_s=30), cluster="local")


def test_local_submitit_workers_drain_a_sqlite_database(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    db.create_schema()
    run_id = make_noop_run(db, 30, sleep=0.01)
    jobs = submit_workers(_local_submitter(tmp_path), _settings(tmp_path), 2, db_url=sqlite_url,
                          executor_factory=noop_executor_factory)
    results = [job.result() for job in jobs]
    assert sum(int(r["jobs_started"]) for r in results) == 30  # type: ignore[call-overload]
    assert states(db, run_id) == {JobState.SUCCEEDED.value: 30}
    assert set(claim_counts(db, run_id).values()) == {1}
    assert "SWEEPFIRST_DB_URL" not in os.environ  # exported for the submission only
    db.dispose()


def test_a_preempted_worker_hands_its_jobs_back_and_is_requeued(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    db.create_schema()
    run_id = make_noop_run(db, 6, sleep=1.0)
    (job,) = submit_workers(_local_submitter(tmp_path), _settings(tmp_path), 1, db_url=sqlite_url,
                            executor_factory=noop_executor_factory)
    deadline = time.monotonic() + 60
    running: list[job_store.Job] = []
    while len(running) < 2 and time.monotonic() < deadline:
        with db.session() as session:
            running = job_store.list_jobs(session, run_id, states=[JobState.RUNNING])
        time.sleep(0.05)
    assert len(running) == 2, "the worker never got going"
    worker_pid = int(str(running[0].lease_owner).rpartition(":")[2])
    os.kill(worker_pid, signal.SIGUSR2)  # what Slurm sends before preemption / the time limit
    result = job.result()  # the requeued worker finishes the run
    assert states(db, run_id) == {JobState.SUCCEEDED.value: 6}
    with db.session() as session:
        interrupted = [j.id for j in running
                       if JobEvent.INTERRUPTED.value in [e.event for e in job_store.job_events(session, j.id)]]
    assert sorted(interrupted) == sorted(j.id for j in running), "both running jobs were handed back"
    assert int(result["jobs_started"]) >= 1  # type: ignore[call-overload]
    log = "\n".join(p.read_text() for p in (tmp_path / "submitit").rglob("*.err"))
    assert "Requeued job" in log or "requeue" in log.lower()


@pytest.mark.parametrize(("text", "minutes"), [
    ("90", 90), ("4:00:00", 240), ("1-00:00:00", 1440), ("1-2", 1560), ("30:30", 31), ("0:00:10", 1),
])
def test_slurm_time_formats(text: str, minutes: int) -> None:
    assert parse_slurm_time(text) == minutes


def test_a_bad_slurm_time_names_the_formats() -> None:
    with pytest.raises(ValueError, match="H:M:S"):
        parse_slurm_time("four hours")


def test_launch_starts_the_workflows_run_and_submits_workers_for_it(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI up to the cluster's door: the run is started (not driven here), the Slurm request
    carries the resources, and the workers are told which run to serve -- but not the URL."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from sweepfirst.cli.app import app
    from sweepfirst.engine import slurm
    from sweepfirst.store import runs as run_store

    submitted: dict[str, object] = {}

    def fake_submit(submitter, settings, count, *, db_url, executor_factory=None):  # type: ignore[no-untyped-def]
        submitted.update(submitter=submitter, settings=settings, count=count, db_url=db_url)
        return [SimpleNamespace(job_id=str(100 + i)) for i in range(count)]

    monkeypatch.setattr(slurm, "submit_workers", fake_submit)
    bin_dir = tmp_path / "bin"  # submitit looks for srun to know it is on a cluster
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    workflow = Path(__file__).resolve().parents[2] / "workflows" / "smoke.yaml"
    result = CliRunner().invoke(app, [
        "launch", "slurm", str(workflow), "--workers", "3", "--gpus-per-worker", "2", "--partition", "gpu",
        "--account", "lab", "--time", "2:00:00", "--db-url", pg_url, "--state-dir", str(tmp_path / "state"),
        "--artifacts", str(tmp_path / "shared"),
    ])
    assert result.exit_code == 0, result.output
    assert "submitted 3 worker job(s) (100, 101, 102)" in result.output
    db = Database(pg_url)
    with db.session() as session:
        (run,) = run_store.list_runs(session)
    db.dispose()
    assert run.phase == "sweep"  # active for the workers, nothing ran here
    settings = submitted["settings"]
    assert isinstance(settings, SlurmWorkerSettings)
    assert settings.run == run.name and settings.gpus_per_worker == 2
    assert settings.artifacts == str((tmp_path / "shared").resolve())
    assert "postgresql" not in repr(settings) and submitted["db_url"] == pg_url
    parameters = submitted["submitter"]._executor.parameters  # type: ignore[attr-defined]
    assert parameters["partition"] == "gpu" and parameters["account"] == "lab"
    assert parameters["time"] == 120 and parameters["gpus_per_node"] == 2


def test_launch_off_cluster_says_so_and_starts_nothing(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sweepfirst.cli.app import main
    from sweepfirst.store import runs as run_store

    workflow = Path(__file__).resolve().parents[2] / "workflows" / "smoke.yaml"
    with pytest.raises(SystemExit) as exit_info:
        main(["launch", "slurm", str(workflow), "--db-url", pg_url, "--state-dir", str(tmp_path / "state")])
    assert exit_info.value.code == 1
    assert "login node" in capsys.readouterr().err
    db = Database(pg_url)
    with db.session() as session:
        assert run_store.list_runs(session) == []  # no run left behind without workers
    db.dispose()
