"""A thread that renews a job's lease, and tells the job to stop when the lease is gone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sweepfirst.errors import DatabaseError
from sweepfirst.store import jobs as job_store
from sweepfirst.store.database import Database
from sweepfirst.store.jobs import Lease

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews ``lease`` every third of its duration; sets ``lost`` when renewal is refused.

    Each renewal also records the training step ``progress()`` reports, so `status` and a reaper
    know how far a job got. A database hiccup is not a lost lease: the lease only expires after
    ``lease_seconds``, so a few failed renewals in a row are tolerated.
    """

    def __init__(self, db: Database, lease: Lease, *, lease_seconds: float,
                 progress: Callable[[], int | None] = lambda: None) -> None:
        self._db = db
        self._lease = lease
        self._lease_seconds = lease_seconds
        self._progress = progress
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{lease.job_id}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        interval = max(self._lease_seconds / 3, 0.5)
        while not self._stop.wait(interval):
            try:
                with self._db.session() as session:
                    alive = job_store.renew_lease(session, self._lease, lease_seconds=self._lease_seconds,
                                                  step=self._progress())
            except DatabaseError as error:
                log.warning("heartbeat for job %s failed: %s", self._lease.job_id, error)
                continue
            if not alive:
                self.lost.set()
                return
