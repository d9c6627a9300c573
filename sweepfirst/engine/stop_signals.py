"""Ctrl-C, SIGTERM and preemption as a graceful stop: the running job checkpoints and goes back to
pending (an interrupt never counts against it; see `sweepfirst.attempts`)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

#: Set by SIGINT/SIGTERM handlers (Ctrl-C, preemption, the orchestrator dying): checkpoint, stop.
STOP_REQUESTED = threading.Event()


def request_stop_on_signals() -> None:
    """Turn SIGINT and SIGTERM into a graceful stop: the job checkpoints and returns to pending."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        STOP_REQUESTED.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
