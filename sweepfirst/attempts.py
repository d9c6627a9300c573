"""What the end of one attempt does to a job: the retry policy, in one place.

An attempt (one claim of a job) that does not succeed, prune or pause ends in one of four ways,
and only the first two are the job's own doing:

- ``CODE_FAILURE``: the training code raised. It counts toward the job's ``max_attempts``: the job
  goes back to pending (``errored``) while failures remain, and is ``failed`` after the last one.
- ``PERMANENT_FAILURE``: the code raised an error no retry can fix (a model or data file that is not
  there). The job fails at once, without spending its other attempts.
- ``LOST``: the infrastructure lost it -- the worker process died (SIGKILL, the OOM killer, a
  segfault), its lease expired, the machine vanished, the accelerator ran out of memory. The job
  goes back to pending with its checkpoint, without limit: a lost attempt never counts toward
  ``max_attempts``. One guard: a job whose worker dies again and again *at the same training step*
  is killing it (an out-of-memory batch, a kernel that crashes), and after
  ``max_losses_at_point`` such deaths in a row it fails as a *poison job*. Only deaths observed at a
  known step count toward that guard; a lease that simply expired (the orchestrator or the whole
  machine was killed) does not.
- ``INTERRUPTED``: it was asked to stop (Ctrl-C, SIGTERM, a Slurm preemption). It checkpointed and
  goes back to pending. Never counts at all.

The policy is a pure function of the job's counters, so it is the same whoever records the ending:
the worker process itself, the executor that watched its worker die, or a reaper on any machine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sweepfirst.states import JobEvent

#: How many deaths of its worker in a row at the same step make a job a poison job (default).
DEFAULT_MAX_LOSSES_AT_POINT = 3


class Ending(str, enum.Enum):
    """How an attempt that did not finish the job ended."""

    #: The training code raised an error that a retry may fix.
    CODE_FAILURE = "code_failure"
    #: The training code raised an error that no retry can fix.
    PERMANENT_FAILURE = "permanent_failure"
    #: The worker, its lease or its machine was lost (infrastructure, not code).
    LOST = "lost"
    #: Stopped on request (Ctrl-C, SIGTERM, preemption) after checkpointing.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class AttemptCounters:
    """What the policy reads of a job."""

    job_id: int
    #: Code failures so far (they count toward ``max_attempts``).
    failures: int
    max_attempts: int
    #: Infrastructure losses so far (they never count toward ``max_attempts``).
    losses: int
    interrupts: int
    #: The step of the latest loss observed at a known step, and how many in a row happened there.
    loss_point: int | None
    losses_at_point: int
    max_losses_at_point: int


@dataclass(frozen=True)
class Decision:
    """The transition that ends the attempt and the job columns it sets."""

    event: JobEvent
    values: dict[str, Any]
    #: One line for the job's event row and the console.
    detail: str


def _step_phrase(point: int) -> str:
    return f"at step {point}" if point > 0 else "before its first training step"


def poison_message(job_id: int, losses: int, point: int) -> str:
    """The sentence a poison job fails with."""
    return (
        f"killed its worker {losses} times {_step_phrase(point)}: likely out of memory; lower the "
        f"batch size (or --jobs-per-gpu) or retry with `sweepfirst jobs retry {job_id}`"
    )


def decide(counters: AttemptCounters, ending: Ending, *, reason: str, point: int | None = None) -> Decision:
    """The transition that records ``ending`` for a job with ``counters``.

    ``point`` is the training step the attempt had reached when its worker was seen to die (0:
    before its first step); None when nobody saw the death (an expired lease), which then does
    not count toward the poison guard.
    """
    if ending is Ending.INTERRUPTED:
        return Decision(JobEvent.INTERRUPTED, {"interrupts": counters.interrupts + 1}, reason)
    if ending is Ending.LOST:
        values: dict[str, Any] = {"losses": counters.losses + 1}
        if point is None:
            return Decision(JobEvent.CRASHED, values, reason)
        in_a_row = counters.losses_at_point + 1 if point == counters.loss_point else 1
        values.update(loss_point=point, losses_at_point=in_a_row)
        if in_a_row >= counters.max_losses_at_point:
            message = poison_message(counters.job_id, in_a_row, point)
            return Decision(JobEvent.FAILED, {**values, "error": f"poison job: {message} ({reason})"},
                            f"poison job: {message}")
        return Decision(JobEvent.CRASHED, values, reason)
    failures = counters.failures + 1
    values = {"failures": failures, "error": reason}
    if ending is Ending.PERMANENT_FAILURE:
        return Decision(JobEvent.FAILED, values, f"{_first_line(reason)} (no retry can fix this)")
    if failures < counters.max_attempts:
        return Decision(JobEvent.ERRORED, values,
                        f"{_first_line(reason)} (attempt {failures} of {counters.max_attempts}; retrying)")
    return Decision(JobEvent.FAILED, values,
                    f"{_first_line(reason)} (failed {failures} of {counters.max_attempts} attempts)")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no message"
