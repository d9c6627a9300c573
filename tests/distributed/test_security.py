"""Credentials stay out of every output and file; workflow files cannot run code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from noop_jobs import make_noop_run
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.errors import SpecError
from sweepfirst.spec import load_workflow
from sweepfirst.store.database import Database

SECRET = "SECRET"
runner = CliRunner()


def _with_password(url: str) -> str:
    return url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{SECRET}@")


def _sweepfirst(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
    return subprocess.run([sys.executable, "-m", "sweepfirst.cli.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_password_in_the_url_appears_in_no_output_and_no_file(pg_url: str, tmp_path: Path) -> None:
    url = _with_password(pg_url)  # trust auth: the server ignores it, but it must never be shown
    db = Database(url)
    db.create_schema()
    make_noop_run(db, 0)  # a run with nothing left but its report: the worker finishes it
    common = ["--db-url", url, "--state-dir", str(tmp_path / "state")]
    worker = _sweepfirst("worker", "--poll-seconds", "0.2", *common, cwd=tmp_path)
    assert worker.returncode == 0, worker.stderr
    outputs = [worker.stdout + worker.stderr]
    for args in (["status"], ["status", "--json"], ["jobs", "list"], ["db", "current"], ["db", "upgrade"]):
        result = runner.invoke(app, [*args, *common])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    text = "\n".join(outputs)
    assert "postgres:***@" in text and "completed" in text
    assert SECRET not in text
    assert _files_containing(tmp_path, SECRET.encode()) == []
    with db.engine.connect() as connection:
        for table in ("runs", "run_events", "jobs", "job_events"):
            rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()
            assert SECRET not in repr(rows), table
    db.dispose()


def test_an_unreachable_database_error_hides_the_password(tmp_path: Path) -> None:
    result = _sweepfirst("status", "--db-url", f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test",
                         cwd=tmp_path)
    assert result.returncode != 0
    assert "postgres:***@127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_launched_workers_get_the_url_from_the_environment_never_from_a_file(pg_url: str, tmp_path: Path) -> None:
    url = _with_password(pg_url)
    Database(url).create_schema()
    log_dir = tmp_path / "submitit"
    result = _sweepfirst("launch", "slurm", "--cluster", "local", "--workers", "1", "--gpus-per-worker", "0",
                         "--log-dir", str(log_dir), "--db-url", url, "--state-dir", str(tmp_path / "state"),
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "submitted 1 worker job" in result.stderr and SECRET not in result.stdout + result.stderr
    deadline = time.monotonic() + 60
    while not list(log_dir.rglob("*_result.pkl")) and time.monotonic() < deadline:
        time.sleep(0.2)
    logs = "".join(p.read_text() for p in log_dir.rglob("*.err"))
    assert "worker done" in logs, logs
    assert _files_containing(tmp_path, SECRET.encode()) == []


def test_slurm_refuses_a_sqlite_database(tmp_path: Path) -> None:
    result = _sweepfirst("launch", "slurm", "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert result.returncode != 0 and "PostgreSQL" in result.stderr and "Traceback" not in result.stderr


def test_a_workflow_file_cannot_construct_python_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    workflow = tmp_path / "evil.yaml"
    workflow.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\nmodel: x\n')
    with pytest.raises(SpecError, match="not valid YAML"):
        load_workflow(workflow)
    assert not marker.exists()
