"""Ctrl-C, SIGTERM and preemption as a graceful stop: the running job checkpoints and goes back to
pending (an interrupt never counts against it; see `sweepfirst.attempts`)."""

from __future__ import annotations

import signal
import time
from types import FrameType


class StopRequest:
    """A flag that a signal handler may set at any moment.

    Not a `threading.Event`: ``Event.set`` takes the event's (non-reentrant) lock, and a Python
    signal handler runs on the main thread between any two bytecodes, so a SIGTERM arriving while
    the main thread was itself inside ``Event.set`` (a job process does that when it finds its
    orchestrator's pipe closed, which is exactly when the parent-death SIGTERM comes) deadlocked
    the process for good: its heartbeat thread went on renewing the lease, so no reaper ever took
    the job back. Assigning a bool takes no lock; waiters poll.
    """

    _POLL_SECONDS = 0.1

    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        self._requested = True

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float) -> bool:
        """Sleep until the stop is requested or ``timeout`` seconds pass; True if requested."""
        deadline = time.monotonic() + timeout
        while not self._requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self._POLL_SECONDS))
        return True


#: Set by SIGINT/SIGTERM handlers (Ctrl-C, preemption, the orchestrator dying): checkpoint, stop.
STOP_REQUESTED = StopRequest()


def request_stop_on_signals() -> None:
    """Turn SIGINT and SIGTERM into a graceful stop: the job checkpoints and returns to pending."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        STOP_REQUESTED.set()  # lock-free: see StopRequest

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
