"""A job process: the subprocess of a ``SubprocessExecutor`` that runs the jobs it is handed, one at
a time, until told to stop. (A *worker* is something else: a `sweepfirst worker` process serving
the runs of a shared database, `engine.worker`; it runs its jobs in job processes too.)

The orchestrator claims a job, writes ``JOB_ID LEASE_TOKEN`` on this process's stdin and reads
``done JOB_ID EVENT`` back on stdout. One process serves many jobs, so torch and transformers are
imported once per job process, not once per job; if the process dies (OOM kill, segfault, SIGKILL),
only its current job is affected, and the orchestrator returns that job to the queue and starts a
fresh job process.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import logging
import os
import signal
import sys
import threading
import time

from sweepfirst.engine.execute import execute_job
from sweepfirst.engine.stop_signals import STOP_REQUESTED, request_stop_on_signals
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease

log = logging.getLogger(__name__)


#: How long an orphaned job process may take to checkpoint and hand its job back before it exits
#: hard. A process stuck past this (a deadlock, a hung collective, a dead filesystem) would
#: otherwise keep its lease renewed by its heartbeat thread forever, and no reaper would ever take
#: the job back. Exiting costs what a SIGKILL costs: the job resumes from its last checkpoint.
ORPHAN_GRACE_SECONDS = 300.0


def _stop_when_parent_dies(grace_seconds: float = ORPHAN_GRACE_SECONDS) -> None:
    """If the orchestrator dies (even by SIGKILL), checkpoint and hand the job back; exit hard
    if that has not happened ``grace_seconds`` later."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass
    parent = os.getppid()

    def _watch() -> None:  # portable fallback: a re-parented process has a new ppid
        while os.getppid() == parent:
            time.sleep(1.0)
        STOP_REQUESTED.set()
        time.sleep(grace_seconds)
        log.error("the orchestrator is gone and the stop was not done within %.0f s: exiting, "
                  "so that the job's lease expires and it resumes from its last checkpoint", grace_seconds)
        os._exit(EXIT_ORPHAN_STUCK)

    threading.Thread(target=_watch, name="parent-watch", daemon=True).start()


#: The exit status of a job process that gave up waiting for its own graceful stop.
EXIT_ORPHAN_STUCK = 75


def _say(line: str) -> None:
    """One line to the orchestrator. If it is gone the line has no reader: the job's outcome is
    in the database already, and the parent-death watch stops this process."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        STOP_REQUESTED.set()


def _say_step(job_id: int, step: int) -> None:
    _say(f"step {job_id} {step}")


def serve(ctx: Context) -> None:
    """Run the jobs named on stdin until stdin closes or a stop is requested.

    Reports ``step JOB_ID STEP`` after every optimizer step (so the executor knows at which step
    a job process that died was: the poison-job guard) and ``done JOB_ID EVENT`` at the end.
    """
    for line in sys.stdin:
        if STOP_REQUESTED.is_set():
            return
        job_id_text, _, token = line.strip().partition(" ")
        if not job_id_text:
            continue
        job_id = int(job_id_text)
        lease = Lease(job_id=job_id, token=token, owner=job_store.this_process())
        with ctx.db.session() as session:
            lease = job_store.set_lease_owner(session, lease, job_store.this_process())
        event = execute_job(ctx, lease, report_step=functools.partial(_say_step, job_id))
        log.info("job %s ended: %s", lease.job_id, event.value)
        _say(f"done {lease.job_id} {event.value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    request_stop_on_signals()
    _stop_when_parent_dies()
    try:
        serve(Context.open())
    except BrokenPipeError:
        pass  # the orchestrator is gone; our jobs' outcomes are recorded (or their leases expire)
    finally:
        # A closed stdout would make the interpreter's own flush at exit print a traceback.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 0


if __name__ == "__main__":
    sys.exit(main())
