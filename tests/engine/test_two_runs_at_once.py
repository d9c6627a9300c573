"""One run per design, even when several `sweepfirst run`s start at the same instant.

Three `sweepfirst run WORKFLOW` processes start together on a fresh state (an empty SQLite state
dir, or an empty PostgreSQL schema). Exactly one run is recorded, exactly one process drives it,
and the others are refused with one sentence -- on both backends, in three races each.

Why this catches the old behaviour: `choose_run` used to look for an unfinished run in one
transaction and create one in another. Processes that start together all look before any of them
creates, so each finds nothing and each creates a run of its own: two or three run rows, each
driven by its own process (no coordinator lock refuses them: they are different runs). In the
barrier races every process has done its imports and leaves the barrier within a millisecond of
the others, well inside the window between "look" and "create" (a second transaction, provenance
collection), so the old code shows up here as a second run row and a second live driver.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import tiny_workflow_dict

from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.coordinator_locks import CoordinatorLocks

#: How many `run`s race.
RACERS = 3
#: How long a refused process may take to say so (imports on a busy 2-core machine included).
REFUSAL_SECONDS = 90
#: How long the surviving driver may take to claim its first job.
DRIVING_SECONDS = 90
#: What a refused `run` says.
REFUSAL = "already being driven"

#: Does the imports a run needs before it records anything (the lazy ones of `run` included:
#: spec validation's search spaces, the database dialects), says it is ready, waits for a file,
#: then runs the real CLI entry point: the racers leave the barrier within a millisecond of each
#: other and reach run creation within a few more.
BARRIER_LAUNCHER = """
import os, sys, time
import sweepfirst.cli.app as app
import sweepfirst.cli.run, sweepfirst.engine.orchestrate, sweepfirst.provenance, sweepfirst.spec
import sweepfirst.search.config, sweepfirst.store.migrate, sweepfirst.training.data_check
import psycopg, sqlalchemy.dialects.postgresql, sqlalchemy.dialects.sqlite
app.get_app()
ready, gate = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(gate):
    time.sleep(0.0005)
app.main(sys.argv[3:])
"""


@dataclass
class Racer:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """None: the default SQLite file in the (fresh) state dir; else an empty PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


def _environment() -> dict[str, str]:
    """This environment without SWEEPFIRST_* settings that would point the racers elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_") or k == "SWEEPFIRST_SHARED_DATA"}


def _start_racers(tmp_path: Path, args: list[str], *, barrier: bool) -> list[Racer]:
    """Popen the racers back to back; with ``barrier``, release them together once all are ready."""
    env = _environment()
    gate = tmp_path / "go"
    racers = []
    for i in range(RACERS):
        log = tmp_path / f"racer{i}.log"
        ready = tmp_path / f"ready{i}"
        prefix = ([sys.executable, "-c", BARRIER_LAUNCHER, str(ready), str(gate)] if barrier
                  else [sys.executable, "-m", "sweepfirst.cli.app"])
        with log.open("wb") as sink:
            process = subprocess.Popen([*prefix, *args], stdout=sink, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        racers.append(Racer(process, log))
    if barrier:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all((tmp_path / f"ready{i}").exists() for i in range(RACERS)):
            if any(r.process.poll() is not None for r in racers):
                break  # a racer died before the barrier; the assertions below show its output
            time.sleep(0.02)
        gate.touch()
    return racers


def _kill(racer: Racer) -> None:
    if racer.process.poll() is None:
        try:
            os.killpg(racer.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        racer.process.wait(timeout=30)


def _open(state: Path, db_url: str | None) -> Context:
    return Context.open(state_dir=state, db_url=db_url, create=False)


def _run_count(ctx: Context) -> int:
    with ctx.db.session(readonly=True) as session:
        return len(run_store.list_runs(session))


@pytest.mark.parametrize(("start", "schema"), [
    ("back-to-back", "fresh"),
    ("barrier", "fresh"),
    ("barrier", "ready-1"),
    ("barrier", "ready-2"),
])
def test_simultaneous_runs_make_one_run_with_one_driver(
    tmp_path: Path, tiny_bert_dir: Path, tiny_glue_dir: Path, db_url: str | None, start: str, schema: str
) -> None:
    """Three `run`s of one workflow started together: one run row, one live driver (it holds the
    run's coordinator lock and claims jobs), and the other two exit non-zero within seconds with
    one sentence saying the run is already being driven -- no traceback, no second run, even
    after the driver is killed.

    On a fresh state the racers first queue to create the schema, which spreads them out; with
    the schema already made (``ready``, by `sweepfirst db upgrade`: still no run) nothing stands
    between them and run creation, the tightest race."""
    workflow = tmp_path / "tiny.yaml"
    workflow.write_text(yaml.safe_dump(tiny_workflow_dict(tiny_bert_dir, **{"data.max_train_samples": 48})))
    state = tmp_path / "state"
    where = ["--state-dir", str(state), *(["--db-url", db_url] if db_url is not None else [])]
    if schema.startswith("ready"):
        made = subprocess.run([sys.executable, "-m", "sweepfirst.cli.app", "db", "upgrade", *where],
                              env=_environment(), capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stdout + made.stderr
    args = ["run", str(workflow), "--data-dir", str(tiny_glue_dir), *where]
    racers = _start_racers(tmp_path, args, barrier=start == "barrier")
    try:
        deadline = time.monotonic() + REFUSAL_SECONDS
        while time.monotonic() < deadline and sum(r.process.poll() is not None for r in racers) < RACERS - 1:
            time.sleep(0.1)
        refused = [r for r in racers if r.process.poll() is not None]
        alive = [r for r in racers if r.process.poll() is None]
        outputs = "\n---\n".join(r.output()[-3000:] for r in racers)
        assert len(refused) == RACERS - 1 and len(alive) == 1, (
            f"expected {RACERS - 1} refused racers and one driver; exit codes "
            f"{[r.process.returncode for r in racers]}:\n{outputs}")
        for racer in refused:
            said = racer.output()
            assert racer.process.returncode not in (0, None), said
            assert REFUSAL in said, said
            assert "Traceback" not in said, said
            assert said.count("error:") == 1, said
            error_line = next(line for line in said.splitlines() if line.startswith("error:"))
            assert REFUSAL in error_line, said  # the reason is in the one sentence, not elsewhere

        driver = alive[0]
        ctx = _open(state, db_url)
        claimed = False
        deadline = time.monotonic() + DRIVING_SECONDS
        while time.monotonic() < deadline and driver.process.poll() is None and not claimed:
            with ctx.db.session(readonly=True) as session:
                claimed = any(j.state != "pending" for j in job_store.list_jobs(session, None))
            time.sleep(0.1)
        assert claimed, f"the surviving `run` never claimed a job:\n{driver.output()[-3000:]}"
        with ctx.db.session(readonly=True) as session:
            runs = run_store.list_runs(session)
            job_runs = {j.run_id for j in job_store.list_jobs(session, None)}
        assert len(runs) == 1, [(r.name, r.phase) for r in runs]
        assert job_runs == {runs[0].id}
        probe = CoordinatorLocks(ctx.db)
        try:
            assert not probe.try_hold(runs[0].id), "nobody holds the run's coordinator lock"
        finally:
            probe.close()

        _kill(driver)
        assert _run_count(ctx) == 1
        # The killed process was the one holding the lock: it is free once the kernel (SQLite's
        # flock) or the server (PostgreSQL notices the dropped connection) lets go.
        probe = CoordinatorLocks(ctx.db)
        try:
            deadline = time.monotonic() + 10
            while not probe.try_hold(runs[0].id) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert probe.holds(runs[0].id), "the run's lock outlived the process that was driving it"
        finally:
            probe.close()
        ctx.db.dispose()
    finally:
        for racer in racers:
            _kill(racer)
