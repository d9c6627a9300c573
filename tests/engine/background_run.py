"""A reference run that trains in the background while a test interrupts its own run.

The kill tests compare an interrupted run with an uninterrupted one of the same design. A tiny
run trains on one torch thread, so the second core of a 2-core machine is idle while a test kills
and resumes its own run: starting the reference run in a module fixture, and waiting for it only
where a test first compares with it, runs the two side by side instead of one after the other.
The reference is exactly what it was (the same command, to the end, exit 0); only its start moved.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


class BackgroundRun:
    """A `sweepfirst` process already started (in its own session, output in ``log``)."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, *, timeout: float = 600) -> None:
        self.process = process
        self.log = log
        self.timeout = timeout

    def wait(self) -> None:
        """Wait for the run to end; fail with its last output unless it exited 0."""
        try:
            code = self.process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the reference run did not end within {self.timeout} s:\n"
                                 f"{self.log.read_text(errors='replace')[-3000:]}") from None
        assert code == 0, self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Kill the run and its workers if it is still going (a test failed before waiting)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=60)
