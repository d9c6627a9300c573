"""Which of many workers coordinates a run: plans its trials, advances its phases, analyses.

Executing jobs needs no coordination (a claim is a guarded UPDATE; two workers never run one job).
Planning and phase work do: two workers planning a bayes sweep at once could each add "the next
trial", and two analyses could both write exports. So each run has one *coordinator*: whichever
worker holds the run's lock. The lock belongs to a live process, never to a row, so a worker that
dies (even by SIGKILL, or with its machine) lets go of it at once and the next worker takes over:

- PostgreSQL: a session-level advisory lock on one dedicated connection; the server releases it
  when the connection drops.
- SQLite: an ``flock`` on a file beside the database (SQLite is one machine by design); the kernel
  releases it when the process dies.

Losing a race for the lock is not an error: that worker simply only executes jobs this round.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, make_url, text
from sqlalchemy import exc as sa_exc

from sweepfirst.store.database import Database

log = logging.getLogger(__name__)

def _namespace_key(database_and_schema: str) -> int:
    """First key of our advisory locks (the second is the run id): one per database *and schema*.

    Advisory locks belong to the whole PostgreSQL database, while sweepfirst's state may live in
    one schema of it; without the schema in the key, run 1 of one schema would lock run 1 of every
    other. A 32-bit hash, shifted into int4's signed range.
    """
    return zlib.crc32(f"sweepfirst:{database_and_schema}".encode()) - 2**31


class CoordinatorLocks:
    """The run locks one worker holds; ``try_hold`` never blocks."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._held: dict[int, IO[bytes] | None] = {}
        self._connection: Connection | None = None
        #: The advisory-lock namespace of the database and schema (set on first connection).
        self._namespace = 0
        self._lock_dir: Path | None = None
        if db.is_sqlite:
            database = make_url(db.url).database
            if database and database != ":memory:":
                self._lock_dir = Path(database).resolve().parent

    def holds(self, run_id: int) -> bool:
        return run_id in self._held

    def try_hold(self, run_id: int) -> bool:
        """Take the run's lock if nobody holds it; True when this worker holds it (now or already)."""
        if run_id in self._held:
            return self._still_held()
        if self._db.is_sqlite:
            return self._try_hold_file(run_id)
        return self._try_hold_advisory(run_id)

    def release(self, run_id: int) -> None:
        if run_id not in self._held:
            return
        handle = self._held.pop(run_id)
        if handle is not None:
            handle.close()  # closing the descriptor drops the flock
        elif self._connection is not None:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :run)"), {"ns": self._namespace, "run": run_id}
                )

    def release_all_but(self, run_ids: set[int]) -> None:
        for run_id in [r for r in self._held if r not in run_ids]:
            self.release(run_id)

    def close(self) -> None:
        for run_id in list(self._held):
            self.release(run_id)
        if self._connection is not None:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                self._connection.close()
            self._connection = None

    def _try_hold_file(self, run_id: int) -> bool:
        if self._lock_dir is None:  # an in-memory database lives in one process: nobody to race
            self._held[run_id] = None
            return True
        path = self._lock_dir / f".sweepfirst-run-{run_id}.lock"
        handle = open(path, "ab")  # noqa: SIM115 -- kept open while the lock is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._held[run_id] = handle
        return True

    def _try_hold_advisory(self, run_id: int) -> bool:
        try:
            if self._connection is None:
                # Autocommit: a session lock needs no transaction, and an idle one would hold snapshots.
                self._connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                where = self._connection.execute(text("SELECT current_database() || '.' || current_schema()"))
                self._namespace = _namespace_key(str(where.scalar()))
            got = self._connection.execute(
                text("SELECT pg_try_advisory_lock(:ns, :run)"), {"ns": self._namespace, "run": run_id}
            ).scalar()
        except sa_exc.SQLAlchemyError as error:
            log.warning("coordinator lock for run %s unavailable: %s", run_id, type(error).__name__)
            self._drop_connection()
            return False
        if got:
            self._held[run_id] = None
        return bool(got)

    def _still_held(self) -> bool:
        """PostgreSQL: a dropped lock connection means every lock is gone (someone else may hold them)."""
        if self._db.is_sqlite or self._connection is None:
            return True
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except sa_exc.SQLAlchemyError:
            self._drop_connection()
            return False

    def _drop_connection(self) -> None:
        self._held = {r: h for r, h in self._held.items() if h is not None}
        if self._connection is not None:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                self._connection.invalidate()
                self._connection.close()
            self._connection = None
