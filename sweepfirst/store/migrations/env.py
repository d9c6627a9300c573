"""Alembic environment of the state database.

sweepfirst runs its migrations in code (``sweepfirst.store.migrate``): the caller opens a
connection, begins a transaction and hands the connection over in ``config.attributes``. There is
no alembic.ini and no URL here, so a password never lands in a config file or a log.
"""

from __future__ import annotations

from alembic import context

from sweepfirst.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "sweepfirst's migrations run through `sweepfirst db upgrade` (sweepfirst.store.migrate), "
        "not through the alembic command line."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table when it must.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
