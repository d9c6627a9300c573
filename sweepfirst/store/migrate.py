"""Schema creation and upgrades."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweepfirst.store.database import Database


def upgrade_on_open(db: Database) -> None:
    """Create the tables that do not exist yet."""
    db.create_all_tables()
