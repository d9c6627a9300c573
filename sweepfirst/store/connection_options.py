"""Execution options sweepfirst sets on its own database connections."""

from __future__ import annotations

#: A connection (or session) that only reads: on SQLite it begins with a plain BEGIN and takes no
#: write lock, so a reader never queues behind a writer (see ``database._configure_sqlite``).
READONLY_OPTION = "sweepfirst_readonly"
