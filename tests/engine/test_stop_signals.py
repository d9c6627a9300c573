"""SIGTERM during a stop already being requested: the process must go on, not deadlock.

A job process sets the stop flag itself when it finds its orchestrator's pipe closed, and the
kernel sends it SIGTERM (parent-death signal) at the same moment. With a `threading.Event` as the
flag the handler, re-entering ``Event.set`` on the thread that held its lock, hung the process for
good (or, under a stream of signals, recursed until RecursionError). This storms a real process
with real signals while its main thread sets the flag in a loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CHILD = textwrap.dedent("""
    import sys, time
    from sweepfirst.engine.stop_signals import STOP_REQUESTED, request_stop_on_signals
    request_stop_on_signals()
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        STOP_REQUESTED.set()  # what the main thread does when its orchestrator's pipe is closed
    print("survived", STOP_REQUESTED.is_set(), flush=True)
""")


def test_sigterm_storm_while_the_main_thread_sets_the_stop_flag() -> None:
    storm_seconds = 2.0
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(storm_seconds)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    signals_sent = 0
    end = time.monotonic() + storm_seconds
    while time.monotonic() < end and child.poll() is None:
        os.kill(child.pid, signal.SIGTERM)
        signals_sent += 1
        time.sleep(0.0005)
    try:
        out, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise AssertionError(f"the process hung after {signals_sent} SIGTERMs: the handler deadlocked") from None
    assert child.returncode == 0, err[-2000:]
    assert out.strip() == "survived True"
    assert signals_sent > 100


def test_wait_returns_when_requested_or_after_the_timeout() -> None:
    from sweepfirst.engine.stop_signals import StopRequest

    request = StopRequest()
    started = time.monotonic()
    assert request.wait(0.3) is False
    assert 0.3 <= time.monotonic() - started < 2.0
    request.set()
    started = time.monotonic()
    assert request.wait(30) is True
    assert time.monotonic() - started < 0.5


STUCK_JOB_PROCESS = textwrap.dedent("""
    import time
    from sweepfirst.engine import job_process
    from sweepfirst.engine.stop_signals import request_stop_on_signals
    request_stop_on_signals()                        # as job_process.main does
    job_process._stop_when_parent_dies(grace_seconds=1.0)
    print("watching", flush=True)
    while True:                                      # a job that never answers its stop request
        time.sleep(0.1)
""")

ORCHESTRATOR = textwrap.dedent("""
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)  # no pipe to outlive us
    assert child.stdout.readline().strip() == "watching"
    print(child.pid, flush=True)
    # and die without a word, as a SIGKILLed orchestrator does
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_an_orphaned_job_process_that_cannot_stop_exits_after_its_grace() -> None:
    """Its heartbeat would otherwise renew the lease forever and the job would never be resumed."""
    orchestrator = subprocess.run([sys.executable, "-c", ORCHESTRATOR, STUCK_JOB_PROCESS],
                                  capture_output=True, text=True, timeout=60, check=True)
    job_process_pid = int(orchestrator.stdout.strip())
    assert _alive(job_process_pid)  # SIGTERM from the parent's death only asked it to stop
    deadline = time.monotonic() + 20
    while _alive(job_process_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(job_process_pid):
        os.kill(job_process_pid, signal.SIGKILL)
        raise AssertionError("the orphaned job process was still running 20 s after its parent died")
