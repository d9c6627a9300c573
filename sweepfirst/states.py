"""The two state machines of sweepfirst: a run's phase and a job's state.

The transition tables below are the single source of truth: the store's guarded UPDATEs read them,
and a test walks every entry (and every pair that is *not* an entry).
"""

from __future__ import annotations

import enum


class Phase(str, enum.Enum):
    """Where a run is in sweep -> analysis -> production -> drift -> report."""

    #: Jobs may not exist yet; nothing has run.
    PLANNED = "planned"
    #: Hyperparameter trials train on train-minus-selection and score on the selection split.
    SWEEP = "sweep"
    #: One configuration per (task, method) is chosen from finished sweep jobs.
    ANALYSIS = "analysis"
    #: The chosen configurations train on the full train split over the production seeds.
    PRODUCTION = "production"
    #: How fine-tuning changed each production model, against the base model (skipped with
    #: ``drift: false``).
    DRIFT = "drift"
    #: Statistics, comparisons and plots are written.
    REPORT = "report"
    #: Everything is done.
    COMPLETED = "completed"
    #: A phase could not finish (for example every job of a cell failed); `resume` retries it.
    FAILED = "failed"
    #: Stopped on request; `resume` picks it up again.
    CANCELLED = "cancelled"

    def is_working(self) -> bool:
        """A phase whose work the coordinator loop performs."""
        return self in WORKING_PHASES

    def is_terminal(self) -> bool:
        """A phase the loop drives no run out of: done, or stopped (only `resume`, a retry or
        `sweepfirst drift` moves it on)."""
        return self in TERMINAL_PHASES


#: The order a run goes through its phases (`resume` goes back to the earliest with unfinished
#: work; `run --phase X` refuses to skip ahead).
PHASE_ORDER: tuple[Phase, ...] = (Phase.PLANNED, Phase.SWEEP, Phase.ANALYSIS, Phase.PRODUCTION,
                                  Phase.DRIFT, Phase.REPORT, Phase.COMPLETED)
#: The phases with work to do, in order.
WORKING_PHASES: tuple[Phase, ...] = PHASE_ORDER[1:-1]
#: Stopped before the end (a phase failed, or a cancel): `resume` continues where it stopped.
STOPPED_PHASES = frozenset({Phase.FAILED, Phase.CANCELLED})
#: Where the loop stops driving a run: it completed, or it stopped.
TERMINAL_PHASES = frozenset({Phase.COMPLETED, *STOPPED_PHASES})
#: Every result is in: the report is being written, or was. A report of an earlier phase is partial.
REPORTED_PHASES = frozenset({Phase.REPORT, Phase.COMPLETED})


def next_phase(phase: Phase) -> Phase:
    """The phase that follows a working phase when its work is done."""
    return PHASE_ORDER[PHASE_ORDER.index(phase) + 1]


#: to-phase -> the phases it may be entered from. A later phase may go back to an earlier one:
#: `jobs retry` of an earlier phase's job reopens that phase (`resume` goes back to the earliest
#: phase with unfinished work), and everything after it runs again.
PHASE_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    # A run is created planned and never goes back there.
    Phase.PLANNED: frozenset(),
    Phase.SWEEP: frozenset({Phase.PLANNED, Phase.ANALYSIS, Phase.PRODUCTION, Phase.DRIFT,
                            Phase.REPORT, Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED}),
    Phase.ANALYSIS: frozenset({Phase.SWEEP, Phase.PRODUCTION, Phase.DRIFT, Phase.REPORT,
                               Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED}),
    # PLANNED -> PRODUCTION: `run --phase production --optimal-config FILE` skips the sweep.
    Phase.PRODUCTION: frozenset({Phase.ANALYSIS, Phase.PLANNED, Phase.DRIFT, Phase.REPORT,
                                 Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED}),
    # REPORT/COMPLETED -> DRIFT: `sweepfirst drift` on a finished run (or a retried drift job).
    Phase.DRIFT: frozenset({Phase.PRODUCTION, Phase.REPORT, Phase.COMPLETED, Phase.FAILED,
                            Phase.CANCELLED}),
    Phase.REPORT: frozenset({Phase.PRODUCTION, Phase.DRIFT, Phase.COMPLETED, Phase.FAILED,
                             Phase.CANCELLED}),
    Phase.COMPLETED: frozenset({Phase.REPORT}),
    Phase.FAILED: frozenset({Phase.PLANNED, *WORKING_PHASES}),
    Phase.CANCELLED: frozenset({Phase.PLANNED, *WORKING_PHASES}),
}


class JobState(str, enum.Enum):
    """Where one unit of work (task, method, trial or seed) is."""

    #: Waiting to be claimed by a worker.
    PENDING = "pending"
    #: Claimed; a worker holds its lease and renews it with heartbeats.
    RUNNING = "running"
    #: Trained and scored; its metrics are recorded.
    SUCCEEDED = "succeeded"
    #: Given up on: its code raised on every attempt, raised an error no retry can fix, or it
    #: killed its worker again and again at the same point (a poison job). `jobs retry` reopens it.
    FAILED = "failed"
    #: Stopped early by the sweep's early termination: neither failed nor succeeded. Its
    #: checkpoint stays: hyperband promotes it back to pending if its rung's ranking lets it on.
    PRUNED = "pruned"
    #: Stopped on request; never picked up again unless retried.
    CANCELLED = "cancelled"

    def is_finished(self) -> bool:
        """The job ended (until a retry or a promotion reopens it): it needs no worker."""
        return self in FINISHED_JOB_STATES


FINISHED_JOB_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.PRUNED, JobState.CANCELLED}
)


class JobEvent(str, enum.Enum):
    """Why a job changed state; one event row per transition."""

    #: A worker took the job.
    CLAIMED = "claimed"
    #: Training finished and its metrics were recorded.
    SUCCEEDED = "succeeded"
    #: The training code raised, and the job is given up on (see ``sweepfirst.attempts``).
    FAILED = "failed"
    #: The training code raised, and attempts remain: back to pending, to run again.
    ERRORED = "errored"
    #: Early termination stopped it below its rung's cutoff.
    PRUNED = "pruned"
    #: Later scores at its rung put a pruned job in the top: back to pending, to resume.
    PROMOTED = "promoted"
    #: The worker died or lost its lease (infrastructure, not code): back to pending, its
    #: checkpoint kept. Never counts toward ``max_attempts``.
    CRASHED = "crashed"
    #: The worker was asked to stop (Ctrl-C, preemption): checkpointed and back to pending.
    INTERRUPTED = "interrupted"
    #: A failed or cancelled job was put back in the queue.
    RETRIED = "retried"
    #: Cancelled on request.
    CANCELLED = "cancelled"


#: event -> (legal from-states, to-state). Every job transition is exactly one of these.
JOB_TRANSITIONS: dict[JobEvent, tuple[frozenset[JobState], JobState]] = {
    JobEvent.CLAIMED: (frozenset({JobState.PENDING}), JobState.RUNNING),
    JobEvent.SUCCEEDED: (frozenset({JobState.RUNNING}), JobState.SUCCEEDED),
    JobEvent.FAILED: (frozenset({JobState.RUNNING}), JobState.FAILED),
    JobEvent.ERRORED: (frozenset({JobState.RUNNING}), JobState.PENDING),
    JobEvent.PRUNED: (frozenset({JobState.RUNNING}), JobState.PRUNED),
    JobEvent.PROMOTED: (frozenset({JobState.PRUNED}), JobState.PENDING),
    JobEvent.CRASHED: (frozenset({JobState.RUNNING}), JobState.PENDING),
    JobEvent.INTERRUPTED: (frozenset({JobState.RUNNING}), JobState.PENDING),
    JobEvent.RETRIED: (frozenset({JobState.FAILED, JobState.CANCELLED}), JobState.PENDING),
    JobEvent.CANCELLED: (frozenset({JobState.PENDING, JobState.RUNNING}), JobState.CANCELLED),
}


class JobPhase(str, enum.Enum):
    """The phase a job belongs to."""

    #: A hyperparameter trial scored on the selection split.
    SWEEP = "sweep"
    #: A chosen configuration trained with a production seed, scored on dev.
    PRODUCTION = "production"
    #: Default hyperparameters on the production seeds: what the sweep bought.
    BASELINE = "baseline"
    #: A single experiment from `sweepfirst train`.
    TRAIN = "train"
    #: The base model's per-layer representations of a task's dev sample (one per task; runs
    #: alongside production).
    REPRESENTATIONS = "representations"
    #: How one production or baseline model differs from the base model (the drift phase).
    DRIFT = "drift"


#: The job phases whose jobs a run phase executes.
JOB_PHASES: dict[Phase, tuple[JobPhase, ...]] = {
    Phase.SWEEP: (JobPhase.SWEEP,),
    # The base model's representations are computed once per task, alongside production.
    Phase.PRODUCTION: (JobPhase.PRODUCTION, JobPhase.BASELINE, JobPhase.TRAIN,
                       JobPhase.REPRESENTATIONS),
    Phase.DRIFT: (JobPhase.DRIFT,),
}
#: Jobs that train a fixed configuration on the full train split and score it on dev over the
#: production seeds: the results tables, and the models drift compares and a degenerate run spoils.
DEV_JOB_PHASES: tuple[JobPhase, ...] = (JobPhase.PRODUCTION, JobPhase.BASELINE, JobPhase.TRAIN)
#: Jobs that train a model (the others measure one): what time-left estimates count.
TRAINING_JOB_PHASES: tuple[JobPhase, ...] = (JobPhase.SWEEP, *DEV_JOB_PHASES)
