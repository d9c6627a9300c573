"""The per-run coordinator lock: one holder at a time, released when its holder dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from sweepfirst.store.coordinator_locks import CoordinatorLocks
from sweepfirst.store.database import Database

SPAWN = multiprocessing.get_context("spawn")


def _hold_forever(url: str, run_id: int, ready: object) -> None:
    locks = CoordinatorLocks(Database(url))
    assert locks.try_hold(run_id)
    ready.set()  # type: ignore[attr-defined]
    time.sleep(3600)


def test_one_holder_per_run_until_it_lets_go(any_url: str) -> None:
    db = Database(any_url)
    db.create_schema()
    first, second = CoordinatorLocks(db), CoordinatorLocks(db)
    assert first.try_hold(1) and first.try_hold(1)  # holding again is a no-op
    assert not second.try_hold(1)
    assert second.try_hold(2)
    first.release(1)
    assert second.try_hold(1) and not first.try_hold(1)
    second.close()
    assert first.try_hold(1) and first.try_hold(2)
    first.close()
    db.dispose()


def test_a_killed_holder_lets_go_at_once(any_url: str) -> None:
    db = Database(any_url)
    db.create_schema()
    ready = SPAWN.Event()
    holder = SPAWN.Process(target=_hold_forever, args=(any_url, 7, ready))
    holder.start()
    assert ready.wait(30)
    locks = CoordinatorLocks(db)
    assert not locks.try_hold(7)
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
    holder.join()
    deadline = time.monotonic() + 10
    while not locks.try_hold(7):
        assert time.monotonic() < deadline, "the dead holder's lock was never released"
        time.sleep(0.05)
    locks.close()
    db.dispose()
