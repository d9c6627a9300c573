"""A state database that cannot be used gets one sentence, and what is recorded stays as it was.

Real SQLite files (corrupted, truncated, read-only, full) and the real PostgreSQL server.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.cli.options import command_settings
from sweepfirst.errors import DatabaseError
from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.database import Database, redact_secret, redact_url

runner = CliRunner()
POSTGRES_URL = os.environ.get("SWEEPFIRST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def assert_one_sentence(output: str, *words: str) -> str:
    """The whole output is one `error:` line holding one sentence with these words."""
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    line = lines[0]
    assert line.startswith("error: ") and line.endswith("."), line
    assert not re.search(r"[.!?] [A-Z]", line), f"more than one sentence: {line}"
    for word in words:
        assert word in line, (word, line)
    return line


def record_state(state: Path) -> Path:
    """A state dir holding one run with three pending jobs; returns its database file."""
    ctx = Context.open(state_dir=state)
    with ctx.db.session() as session:
        run = run_store.create_run(session, name="kept", workflow_name="w", spec={"a": 1}, spec_hash="h")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.TRAIN, "mrpc", "lora", {"i": i}, 0, f"runs/kept/jobs/{i}") for i in range(3)
        ])
    ctx.db.dispose()
    return state / "sweepfirst.db"


def recorded_rows(db_file: Path) -> list[str]:
    """Everything the database records, read without writing (immutable: no -wal, no -shm)."""
    connection = sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def workflow_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "model": "bundled-minilm", "tasks": ["mrpc"],
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {"learning_rate": {"values": [1.0e-4]}}}}},
    }))
    return path


# 1. A corrupted database ------------------------------------------------------------------------

def _random_bytes(db_file: Path) -> None:
    db_file.write_bytes(os.urandom(8192))


def _truncated(db_file: Path) -> None:
    data = db_file.read_bytes()
    db_file.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", [_random_bytes, _truncated], ids=["random-bytes", "truncated"])
@pytest.mark.parametrize("args", [["status"], ["jobs", "list"], ["jobs", "cancel", "1"]], ids=" ".join)
def test_a_corrupted_database_is_named_and_left_untouched(tmp_path: Path, damage: object, args: list[str]) -> None:
    db_file = record_state(tmp_path / "state")
    damage(db_file)  # type: ignore[operator]
    before = db_file.read_bytes()
    result = runner.invoke(app, [*args, "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert_one_sentence(result.output, str(db_file), "not a readable sweepfirst database", "corrupted",
                        "restore it", "--state-dir")
    assert db_file.read_bytes() == before


def test_opening_and_migrating_a_corrupted_file_raise_our_error(tmp_path: Path) -> None:
    db_file = tmp_path / "sweepfirst.db"
    db_file.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))  # the right header, then garbage
    db = Database(f"sqlite:///{db_file}")
    with pytest.raises(DatabaseError, match="not a readable sweepfirst database"):
        db.create_schema()
    with pytest.raises(DatabaseError, match="corrupted"), db.session(readonly=True) as session:
        session.execute(text("SELECT 1 FROM runs"))
    db.dispose()


# 2. A state dir that is a file ------------------------------------------------------------------

@pytest.mark.parametrize("args", [["status"], ["jobs", "list"], ["worker"], ["run", "WORKFLOW"]], ids=" ".join)
def test_a_state_dir_that_is_a_file_is_refused(tmp_path: Path, args: list[str]) -> None:
    somefile = tmp_path / "somefile"
    somefile.write_text("notes\n")
    args = [str(workflow_file(tmp_path)) if a == "WORKFLOW" else a for a in args]
    result = runner.invoke(app, [*args, "--state-dir", str(somefile)])
    assert result.exit_code == 1
    assert_one_sentence(result.output, str(somefile), "is a file, not a folder", "--state-dir")
    assert somefile.read_text() == "notes\n"


def test_a_state_dir_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("notes\n")
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path / "somefile" / "state")])
    assert result.exit_code == 1
    assert_one_sentence(result.output, "is a file, not a folder")


# 3. A read-only state dir -----------------------------------------------------------------------

@pytest.fixture
def read_only_state(tmp_path: Path) -> Iterator[Path]:
    """A recorded state dir whose folder and database file cannot be written, even by root.

    Root ignores permission bits, so as root the folder and file are made immutable (chattr +i);
    elsewhere chmod is enough. Without either, the test is skipped with the reason.
    """
    state = tmp_path / "state"
    db_file = record_state(state)
    if os.geteuid() != 0:
        db_file.chmod(0o444)
        state.chmod(0o555)
        try:
            yield state
        finally:
            state.chmod(0o755)
            db_file.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    made = chattr is not None and subprocess.run(
        [chattr, "+i", str(db_file), str(state)], capture_output=True, check=False).returncode == 0
    if not made or os.access(state, os.W_OK):
        if chattr is not None:
            subprocess.run([chattr, "-i", str(state), str(db_file)], capture_output=True, check=False)
        pytest.skip("running as root without chattr +i (CAP_LINUX_IMMUTABLE): no way to make a folder read-only")
    try:
        yield state
    finally:
        subprocess.run([str(chattr), "-i", str(state), str(db_file)], check=True)


def test_status_reads_a_read_only_state_dir(read_only_state: Path) -> None:
    before = recorded_rows(read_only_state / "sweepfirst.db")
    result = runner.invoke(app, ["status", "--state-dir", str(read_only_state)])
    assert result.exit_code == 0, result.output
    assert "run kept" in result.output
    result = runner.invoke(app, ["jobs", "list", "--json", "--state-dir", str(read_only_state)])
    assert result.exit_code == 0, result.output
    assert recorded_rows(read_only_state / "sweepfirst.db") == before
    assert sorted(p.name for p in read_only_state.iterdir()) == ["sweepfirst.db"]  # no -wal, no -shm


@pytest.mark.parametrize("args", [["worker"], ["run", "WORKFLOW"], ["jobs", "cancel", "1"]], ids=" ".join)
def test_a_writing_command_says_the_state_dir_is_read_only(read_only_state: Path, tmp_path: Path,
                                                          args: list[str]) -> None:
    before = recorded_rows(read_only_state / "sweepfirst.db")
    args = [str(workflow_file(tmp_path)) if a == "WORKFLOW" else a for a in args]
    result = runner.invoke(app, [*args, "--state-dir", str(read_only_state)])
    assert result.exit_code == 1
    assert_one_sentence(result.output, str(read_only_state.resolve()), "read-only", "writable", "--state-dir")
    assert recorded_rows(read_only_state / "sweepfirst.db") == before


# 4. A full disk ---------------------------------------------------------------------------------

def _fill_the_disk(db: Database) -> None:
    """A real SQLITE_FULL: this connection may not grow the file by a single page."""
    with db.session() as session:
        pages = session.execute(text("PRAGMA page_count")).scalar()
        session.execute(text(f"PRAGMA max_page_count = {pages}"))
        run_store.create_run(session, name="big", workflow_name="w", spec={"blob": "x" * 200_000}, spec_hash="b")


def test_a_full_disk_is_one_sentence_and_loses_nothing(tmp_path: Path) -> None:
    db_file = record_state(tmp_path / "state")
    before = recorded_rows(db_file)
    db = Database(f"sqlite:///{db_file}")
    with pytest.raises(DatabaseError) as raised:
        _fill_the_disk(db)
    db.dispose()
    message = raised.value.message
    assert "disk" in message and "full" in message and "free some space" in message
    assert "`sweepfirst resume`" in message and str(db_file) in message
    assert recorded_rows(db_file) == before  # the failed transaction was rolled back


def _command_app(tmp_path: Path) -> typer.Typer:
    """Commands built like sweepfirst's own (SweepfirstCommand), hitting a real full disk."""
    commands = typer.Typer()

    @commands.command("fill", **command_settings())
    def fill() -> None:
        _fill_the_disk(Database(f"sqlite:///{tmp_path / 'state' / 'sweepfirst.db'}"))

    @commands.command("write", **command_settings())
    def write() -> None:
        with open("/dev/full", "w") as full:  # every write to /dev/full fails with ENOSPC
            full.write("x")
            full.flush()

    return commands


def test_a_full_disk_in_a_command_is_one_sentence(tmp_path: Path) -> None:
    db_file = record_state(tmp_path / "state")
    before = recorded_rows(db_file)
    result = runner.invoke(_command_app(tmp_path), ["fill"])
    assert result.exit_code == 1
    assert_one_sentence(result.output, "disk", "is full", "free some space", "`sweepfirst resume`")
    assert recorded_rows(db_file) == before
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system to produce a real ENOSPC")
    result = runner.invoke(_command_app(tmp_path), ["write"])
    assert result.exit_code == 1
    assert_one_sentence(result.output, "disk is full", "free some space", "`sweepfirst resume`")


# 5. and 6. Bad URLs, and passwords in them ------------------------------------------------------

def test_a_non_numeric_port_is_one_sentence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--db-url", "postgresql+psycopg://u@localhost:abc/db",
                                 "--state-dir", str(tmp_path / "state")])
    assert result.exit_code in (1, 2)
    assert_one_sentence(result.output, "port", "not a number", "postgresql+psycopg://")
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:1/test?password=secret",
    "postgresql+psycopg://postgres@127.0.0.1:1/test?sslmode=disable&password=secret",
    "postgresql+psycopg://postgres:secret@127.0.0.1:1/test?sslpassword=secret",
    "postgresql+psycopg://u:secret@localhost:abc/db?password=secret",
])
def test_a_password_in_the_url_is_never_printed(tmp_path: Path, url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPFIRST_")}
    result = subprocess.run([sys.executable, "-m", "sweepfirst.cli.app", "status", "--db-url", url],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "secret" not in result.stdout + result.stderr
    assert_one_sentence(result.stderr, "***")
    assert "secret" not in redact_url(url) and "***" in redact_url(url)
    assert "secret" not in redact_secret(f"connection to {url} failed (password secret)", url)


# 7. A mistyped --state-dir ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["jobs", "list"], ["jobs", "show", "1"],
                                  ["report"], ["analyze"]], ids=" ".join)
def test_reading_a_mistyped_state_dir_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    typo = tmp_path / "sate"
    result = runner.invoke(app, [*args, "--state-dir", str(typo)])
    assert result.exit_code == 1
    assert_one_sentence(result.output, "no sweepfirst state database", str(typo), "`sweepfirst run", "--state-dir")
    assert not typo.exists()


def test_an_existing_folder_without_a_database_stays_empty(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    result = runner.invoke(app, ["status", "--state-dir", str(folder)])
    assert_one_sentence(result.output, "no sweepfirst state database")
    assert list(folder.iterdir()) == []
    (folder / "sweepfirst.db").touch()  # an empty file: opening it would write SQLite's header
    result = runner.invoke(app, ["status", "--state-dir", str(folder)])
    assert_one_sentence(result.output, "holds no sweepfirst state", "`sweepfirst run")
    assert (folder / "sweepfirst.db").stat().st_size == 0


def test_context_open_creates_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no sweepfirst state database"):
        Context.open(state_dir=tmp_path / "state", create=False)
    assert not (tmp_path / "state").exists()
    Context.open(state_dir=tmp_path / "state").db.dispose()
    ctx = Context.open(state_dir=tmp_path / "state", create=False)  # now it exists: opened as usual
    ctx.db.dispose()


@pytest.fixture
def empty_pg_schema() -> Iterator[tuple[str, str]]:
    """(URL, schema) of an empty schema of its own on the real server, dropped afterwards."""
    try:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {str(error).splitlines()[0]}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", schema
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.mark.postgres
def test_reading_an_empty_postgres_database_creates_no_schema(empty_pg_schema: tuple[str, str], tmp_path: Path) -> None:
    url, schema = empty_pg_schema
    url = url.replace("postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:secret@") + "&password=secret"
    for args in (["status"], ["jobs", "list"]):
        result = runner.invoke(app, [*args, "--db-url", url, "--state-dir", str(tmp_path / "state")])
        assert result.exit_code == 1
        assert_one_sentence(result.output, "holds no sweepfirst state", "`sweepfirst run", "postgres:***@")
        assert "secret" not in result.output
    engine = sa.create_engine(POSTGRES_URL)
    with engine.connect() as connection:
        tables = connection.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                    {"s": schema}).scalar()
    engine.dispose()
    assert tables == 0
    assert not (tmp_path / "state").exists()
