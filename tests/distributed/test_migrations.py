"""Schema migrations: models and migrations agree; old databases open; newer ones are refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from sweepfirst.cli.app import app
from sweepfirst.errors import StateError
from sweepfirst.store import migrate
from sweepfirst.store.database import Database
from sweepfirst.store.models import Base

runner = CliRunner()


def _engine(url: str) -> sa.Engine:
    """A plain engine: unlike Database, it does not migrate on open."""
    if url.startswith("sqlite"):
        from pathlib import Path

        Path(sa.make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


def _build_at_0001_with_a_run(url: str) -> None:
    engine = _engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
        connection.execute(sa.text(
            "INSERT INTO runs (name, workflow_name, spec_hash, spec, phase, provenance, created_at, updated_at) "
            "VALUES ('old-run', 'smoke', 'h', '{}', 'sweep', '{}', :at, :at)"
        ), {"at": "2024-01-01 00:00:00+00:00"})
        connection.execute(sa.text(
            "INSERT INTO jobs (run_id, phase, task, method, config_hash, seed, trial_index, hyperparameters, "
            "priority, state, attempts, max_attempts, runtime_s, metrics, intermediate, provenance, output_dir, "
            "created_at) SELECT id, 'sweep', 'mrpc', 'lora', 'c', 0, 0, '{}', 0, 'pruned', 1, 2, 1.0, '{}', "
            "'{\"1\": 0.68}', '{}', 'out', :at FROM runs"
        ), {"at": "2024-01-01 00:00:00+00:00"})
    engine.dispose()


def _old_job_after_upgrade(connection: sa.Connection) -> tuple[object, ...]:
    """An old job keeps its scores, gains no eval_loss values (its ties at a rung continue) and was
    never promoted."""
    import json

    intermediate, intermediate_loss, promoted_rung = connection.execute(
        sa.text("SELECT intermediate, intermediate_loss, promoted_rung FROM jobs")
    ).one()
    as_dict = [json.loads(v) if isinstance(v, str) else v for v in (intermediate, intermediate_loss)]
    return (*as_dict, promoted_rung)


def _stamp(url: str, revision: str) -> None:
    engine = _engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_the_head_constant_is_the_newest_migration() -> None:
    assert migrate.HEAD_REVISION == migrate.script_head()
    assert migrate.known_revisions() == {"0001", "0002", "0003", "0004", "0005"}


def test_a_migrated_database_matches_the_models(any_url: str) -> None:
    db = Database(any_url)
    db.create_schema()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert migrate.schema_status(connection).state is migrate.SchemaState.CURRENT
    db.dispose()


def test_sqlite_at_0001_is_upgraded_on_open_and_keeps_its_runs(sqlite_url: str) -> None:
    _build_at_0001_with_a_run(sqlite_url)
    db = Database(sqlite_url)
    db.create_schema()
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name, kind FROM runs")).all() == [("old-run", "workflow")]
        assert migrate.schema_status(connection).revision == migrate.HEAD_REVISION
        assert _old_job_after_upgrade(connection) == ({"1": 0.68}, {}, None)
    db.dispose()


def test_postgres_behind_head_is_refused_until_db_upgrade(pg_url: str) -> None:
    _build_at_0001_with_a_run(pg_url)
    db = Database(pg_url)
    with pytest.raises(StateError, match="sweepfirst db upgrade"):
        db.create_schema()
    result = runner.invoke(app, ["db", "current", "--db-url", pg_url])
    assert result.exit_code == 0, result.output
    assert "revision 0001" in result.output and "behind" in result.output
    result = runner.invoke(app, ["db", "upgrade", "--db-url", pg_url])
    assert result.exit_code == 0, result.output
    assert f"0001 -> {migrate.HEAD_REVISION}" in result.output
    db.create_schema()  # now opens
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name, kind FROM runs")).all() == [("old-run", "workflow")]
        assert _old_job_after_upgrade(connection) == ({"1": 0.68}, {}, None)
    db.dispose()
    result = runner.invoke(app, ["db", "upgrade", "--db-url", pg_url])
    assert result.exit_code == 0 and f"already at schema revision {migrate.HEAD_REVISION}" in result.output


def test_a_fresh_postgres_database_is_created_at_head(pg_url: str) -> None:
    db = Database(pg_url)
    db.create_schema()
    assert migrate.current(db.engine).revision == migrate.HEAD_REVISION
    db.dispose()


def test_a_database_from_a_newer_sweepfirst_is_refused(any_url: str) -> None:
    Database(any_url).create_schema()
    _stamp(any_url, "9999")
    db = Database(any_url)
    with pytest.raises(StateError, match="newer sweepfirst.*upgrade sweepfirst"):
        db.create_schema()
    result = runner.invoke(app, ["db", "upgrade", "--db-url", any_url])
    assert result.exit_code != 0
    db.dispose()


def test_tables_made_before_migrations_existed_are_adopted(sqlite_url: str) -> None:
    engine = _engine(sqlite_url)
    Base.metadata.create_all(engine)  # what older sweepfirst versions did on open
    engine.dispose()
    db = Database(sqlite_url)
    db.create_schema()
    assert migrate.current(db.engine).state is migrate.SchemaState.CURRENT
    db.dispose()
