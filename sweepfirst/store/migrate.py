"""Schema versions of the state database: check on open, upgrade on purpose.

The schema is built and changed only by the alembic revisions in ``store/migrations/versions``
(a fresh database too), so the path an old database takes is the path every test database takes.

On open:
- SQLite (one machine, one user): upgraded to the newest revision automatically.
- PostgreSQL (shared by many workers, maybe running an older sweepfirst): an empty database is
  created at the newest revision; a database behind it is refused until someone runs
  `sweepfirst db upgrade` on purpose, so no worker changes a shared schema behind the others' back.
- Either: a database made by a newer sweepfirst (a revision this program does not know) is refused.

Checking the revision is one small query; alembic itself is imported only when there is work, so
`status` and `--help` stay fast.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from sweepfirst.errors import StateError
from sweepfirst.store.connection_options import READONLY_OPTION

if TYPE_CHECKING:
    from alembic.config import Config

# These functions take the engine and the URL as a person should see it (password left out), not
# the `Database`: opening a database migrates it, so `database` imports this module, never back.

#: The newest revision in migrations/versions (a test checks that the two agree).
HEAD_REVISION = "0005"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
#: Serialises migrations of one PostgreSQL database between workers that open it together.
_PG_MIGRATION_LOCK_KEY = 0x5EE9F1257


class SchemaState(str, enum.Enum):
    """How a database's schema relates to this program's."""

    #: No tables at all: it will be created at the head revision.
    EMPTY = "empty"
    #: At the head revision.
    CURRENT = "current"
    #: At an older revision this program knows how to upgrade.
    BEHIND = "behind"
    #: Tables made before sweepfirst versioned its schema (no alembic_version table).
    UNVERSIONED = "unversioned"
    #: At a revision this program does not know: made by a newer sweepfirst.
    NEWER = "newer"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    #: The recorded revision (for UNVERSIONED: the revision its tables match).
    revision: str | None
    head: str = HEAD_REVISION


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: no alembic.ini, no URL (so no password) in it."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates '%': escape it in case the install path contains one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def script_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _recorded_revisions(connection: Connection) -> list[str]:
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return [row[0] for row in rows]


def _unversioned_revision(connection: Connection, tables: set[str]) -> str:
    """The revision that tables made by create_all (before migrations existed) correspond to."""
    job_columns = _column_names(connection, "jobs") if "jobs" in tables else set()
    if "losses_at_point" in job_columns:
        return "0005"
    if "promoted_rung" in job_columns:
        return "0004"
    if "intermediate_loss" in job_columns:
        return "0003"
    return "0002" if "kind" in _column_names(connection, "runs") else "0001"


def _column_names(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def schema_status(connection: Connection) -> SchemaStatus:
    """Where this database's schema stands, from one cheap look (alembic is not imported)."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables:
        if "runs" not in tables:
            return SchemaStatus(SchemaState.EMPTY, None)
        return SchemaStatus(SchemaState.UNVERSIONED, _unversioned_revision(connection, tables))
    revisions = _recorded_revisions(connection)
    if not revisions:
        # alembic_version exists but is empty: treat like an unversioned database.
        if "runs" not in tables:
            return SchemaStatus(SchemaState.EMPTY, None)
        return SchemaStatus(SchemaState.UNVERSIONED, _unversioned_revision(connection, tables))
    revision = revisions[0]
    if len(revisions) == 1 and revision == HEAD_REVISION:
        return SchemaStatus(SchemaState.CURRENT, revision)
    if len(revisions) > 1 or revision not in known_revisions():
        return SchemaStatus(SchemaState.NEWER, ", ".join(revisions))
    return SchemaStatus(SchemaState.BEHIND, revision)


def _refuse_newer(shown_url: str, status: SchemaStatus) -> StateError:
    return StateError(
        f"The state database {shown_url} was created by a newer sweepfirst (schema "
        f"revision {status.revision}; this program knows up to {HEAD_REVISION}); upgrade sweepfirst."
    )


def _lock_for_migration(connection: Connection) -> None:
    """Two workers opening a fresh PostgreSQL database at once: the second waits, then finds it done."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})


def _migrate(connection: Connection, status: SchemaStatus) -> None:
    from alembic import command

    config = alembic_config(connection)
    if status.state is SchemaState.UNVERSIONED:
        assert status.revision is not None
        command.stamp(config, status.revision)
    command.upgrade(config, "head")


def upgrade_on_open(engine: Engine, *, shown_url: str) -> None:
    """Make the schema usable by this program, or refuse with the command that fixes it."""
    # The common case -- already current -- is a read that takes no write lock on SQLite.
    with engine.connect().execution_options(**{READONLY_OPTION: True}) as connection:
        if schema_status(connection).state is SchemaState.CURRENT:
            return
    with engine.begin() as connection:
        _lock_for_migration(connection)
        status = schema_status(connection)  # another process may have migrated while we waited
        if status.state is SchemaState.CURRENT:
            return
        if status.state is SchemaState.NEWER:
            raise _refuse_newer(shown_url, status)
        behind = status.state in (SchemaState.BEHIND, SchemaState.UNVERSIONED)
        if behind and engine.dialect.name != "sqlite":
            raise StateError(
                f"The state database {shown_url} has schema revision {status.revision}, older "
                f"than this sweepfirst's {HEAD_REVISION}; stop its workers and run "
                "`sweepfirst db upgrade --db-url URL` once."
            )
        _migrate(connection, status)


def upgrade(engine: Engine, *, shown_url: str) -> tuple[str | None, str]:
    """`sweepfirst db upgrade`: bring any database to the head revision; (from, to) revisions."""
    with engine.begin() as connection:
        _lock_for_migration(connection)
        status = schema_status(connection)
        if status.state is SchemaState.NEWER:
            raise _refuse_newer(shown_url, status)
        if status.state is not SchemaState.CURRENT:
            _migrate(connection, status)
        return status.revision, HEAD_REVISION


def current(engine: Engine) -> SchemaStatus:
    """`sweepfirst db current`: the database's schema status, changing nothing."""
    with engine.connect().execution_options(**{READONLY_OPTION: True}) as connection:
        return schema_status(connection)
