"""Recording how an attempt ended: an exception sorted into the retry policy's endings
(`sweepfirst.attempts`), and the one recorded transition out of RUNNING.

A job whose lease was lost before its ending could be recorded is another process's now; that is
reported as CRASHED, never raised.
"""

from __future__ import annotations

import logging
from typing import Any

from sweepfirst.attempts import Ending
from sweepfirst.errors import IllegalTransition, LeaseLost, SweepfirstError
from sweepfirst.states import JobEvent
from sweepfirst.store import jobs as job_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease

log = logging.getLogger(__name__)

#: Exception type names that mean the accelerator (or the process) ran out of memory: the
#: infrastructure's limit, not the code's fault, so the attempt is lost rather than failed.
_OUT_OF_MEMORY = frozenset({"OutOfMemoryError", "MemoryError"})


def classify_error(error: BaseException) -> Ending:
    """Which attempt ending an exception from the training code is (see `sweepfirst.attempts`)."""
    if type(error).__name__ in _OUT_OF_MEMORY:
        return Ending.LOST
    if isinstance(error, SweepfirstError) and not error.retryable:
        return Ending.PERMANENT_FAILURE
    return Ending.CODE_FAILURE


def out_of_memory_reason(message: str, step: int | None) -> str:
    """The sentence of an attempt that ran out of memory: a loss (it goes back to the queue, and
    resumes from its checkpoint), with what makes it fit -- several jobs may share the GPU."""
    where = f" at step {step}" if step else ""
    first = message.strip().splitlines()[0] if message.strip() else "out of memory"
    return (f"ran out of memory{where} ({first[:300]}); it goes back to the queue -- if it keeps "
            "happening, lower --jobs-per-gpu or the batch size")


def finish(ctx: Context, lease: Lease, event: JobEvent, *, detail: str | None = None, **values: Any) -> JobEvent:
    """Record a job that finished (succeeded or pruned) with its results."""
    try:
        with ctx.db.session() as session:
            job_store.finish_job(session, lease, event, detail=detail, **values)
    except (LeaseLost, IllegalTransition):
        log.warning("job %s: lease lost before its outcome could be recorded", lease.job_id)
        return JobEvent.CRASHED
    return event


def end_attempt(ctx: Context, lease: Lease, ending: Ending, *, reason: str, point: int | None = None) -> JobEvent:
    """Record an attempt that did not finish the job, as the retry policy decides."""
    try:
        with ctx.db.session() as session:
            return job_store.end_attempt(session, lease.job_id, ending, token=lease.token, reason=reason,
                                         point=point)
    except (LeaseLost, IllegalTransition):
        log.warning("job %s: lease lost before its ending could be recorded", lease.job_id)
        return JobEvent.CRASHED
