"""Entry point of a worker subprocess: run one job whose lease the orchestrator handed over."""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading

from sweepfirst.engine.context import Context
from sweepfirst.engine.execute import STOP_REQUESTED, execute_job, request_stop_on_signals
from sweepfirst.store import jobs as job_store
from sweepfirst.store.jobs import Lease


def _stop_when_parent_dies() -> None:
    """If the orchestrator dies (even by SIGKILL), checkpoint and hand the job back."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    parent = os.getppid()

    def _watch() -> None:  # portable fallback: a re-parented process has a new ppid
        while not STOP_REQUESTED.wait(2.0):
            if os.getppid() != parent:
                STOP_REQUESTED.set()

    threading.Thread(target=_watch, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job-id", type=int, required=True)
    parser.add_argument("--lease-token", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    request_stop_on_signals()
    _stop_when_parent_dies()
    ctx = Context.open()
    lease = Lease(job_id=args.job_id, token=args.lease_token, owner=job_store.this_process())
    with ctx.db.session() as session:
        lease = job_store.set_lease_owner(session, lease, job_store.this_process())
    event = execute_job(ctx, lease)
    logging.getLogger(__name__).info("job %s ended: %s", args.job_id, event.value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
