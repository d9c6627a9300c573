"""`sweepfirst db upgrade|current`: the state database's schema version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import DbUrl, JsonFlag, StateDir

if TYPE_CHECKING:
    from sweepfirst.store.database import Database

app = typer.Typer(help="Schema version of the state database: show it, upgrade it.", no_args_is_help=True)


def _database(state_dir: Path | None, db_url: str | None) -> Database:
    """The database these options name, opened *without* the on-open schema check
    (which is exactly what refuses a PostgreSQL database that needs `db upgrade`)."""
    from sweepfirst.store.database import Database, default_db_url

    return Database(db_url or default_db_url(state_dir or Path("state")))


@app.command("upgrade")
def upgrade(state_dir: StateDir = None, db_url: DbUrl = None) -> None:
    """Upgrade the schema to this sweepfirst's version (stop the database's workers first)."""
    from sweepfirst.store import migrate
    from sweepfirst.store.database import redact_url

    db = _database(state_dir, db_url)
    with db.translate_errors():
        before, after = migrate.upgrade(db.engine, shown_url=redact_url(db.url))
    if before == after:
        console.success(f"{redact_url(db.url)} is already at schema revision {after}.")
    else:
        console.success(f"{redact_url(db.url)}: schema revision {before or 'none'} -> {after}.")
    db.dispose()


@app.command("current")
def current(as_json: JsonFlag = False, state_dir: StateDir = None, db_url: DbUrl = None) -> None:
    """The database's schema revision and this sweepfirst's."""
    from sweepfirst.store import migrate
    from sweepfirst.store.database import redact_url

    db = _database(state_dir, db_url)
    with db.translate_errors():
        status = migrate.current(db.engine)
    db.dispose()
    data = {"database": redact_url(db.url), "revision": status.revision, "head": status.head,
            "state": status.state.value}
    if as_json:
        console.print_json(data)
        return
    hints = {
        migrate.SchemaState.CURRENT: "up to date",
        migrate.SchemaState.EMPTY: "empty; it is created on first use",
        migrate.SchemaState.BEHIND: "behind; run `sweepfirst db upgrade`",
        migrate.SchemaState.UNVERSIONED: "made before schema versions; run `sweepfirst db upgrade`",
        migrate.SchemaState.NEWER: "made by a newer sweepfirst; upgrade sweepfirst",
    }
    console.print_text(
        f"{data['database']}: revision {status.revision or 'none'} (this sweepfirst: {status.head}) "
        f"- {hints[status.state]}"
    )
