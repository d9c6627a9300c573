"""The one coordinator loop: `run`, `resume`, `train` and `worker` all drive runs through it.

Each round: reap the served runs' lost jobs (one reaper) -> for every served run, coordinate it
(plan, promote, advance, analyse, report: `phase_steps.RunSteps`) when this process holds the
run's lock, else only execute its jobs -> collect the jobs that ended, each reported under its own
run -> wait a little if nothing changed.

One error policy, `_work_on`, decides what an error does to a run:
- a race with another process (it moved the run, planned the same job, took a job back): not an
  error; look again next round;
- the run's own problem (its spec, data, model, a phase whose jobs failed: any `SweepfirstError`):
  the run fails with that sentence, and the process carries on with its other runs;
- the state database itself (`DatabaseError`): the loop rides out a few in a row -- leases outlive
  short outages -- then gives up.

Nothing but recorded state moves a run, so the loop can be killed at any moment and started again:
what is left is "what was planned minus what finished".
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from sweepfirst.engine.executors import Executor, Finished
from sweepfirst.engine.phase_steps import RunSteps, describe_job, workflow_of
from sweepfirst.errors import (
    DatabaseError,
    IllegalTransition,
    LeaseLost,
    NotFound,
    SweepfirstError,
)
from sweepfirst.spec import Workflow
from sweepfirst.states import JOB_PHASES, JobEvent, JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.coordinator_locks import CoordinatorLocks
from sweepfirst.store.models import Job, Run

Notify = Callable[[str], None]

#: Consecutive database failures the loop rides out before giving up.
MAX_DATABASE_FAILURES = 10

#: Another process got there first: not an error, look again next round.
_RACES = (IllegalTransition, LeaseLost, NotFound, sa_exc.IntegrityError)


@dataclass
class LoopOptions:
    poll_seconds: float = 1.0
    #: How many bayes trials may be in flight at once (the executor's slots).
    parallel_trials: int = 1
    should_stop: Callable[[], bool] = field(default=lambda: False)


def describe_ending(job: Job, last_event: str | None, detail: str | None) -> str:
    """One console line for a job whose attempt just ended."""
    what = describe_job(job)
    if job.state == JobState.SUCCEEDED.value:
        return f"{what}: succeeded" + (f", {job.score:.4f}" if job.score is not None else "")
    if job.state == JobState.PRUNED.value:
        return f"{what}: paused by early termination ({detail or 'pruned'})"
    if job.state == JobState.FAILED.value:
        return f"{what}: failed: {detail or job.error or 'no error recorded'}"
    if last_event == JobEvent.ERRORED.value:
        return f"{what}: its code raised: {detail}"
    if last_event == JobEvent.CRASHED.value:
        return f"{what}: its worker was lost ({detail}); back in the queue, resumes from its checkpoint"
    if last_event == JobEvent.INTERRUPTED.value:
        return f"{what}: interrupted ({detail}); back in the queue"
    return f"{what}: {job.state}"


class CoordinatorLoop:
    """Serves a set of runs with one executor; `serve` loops until told the work is done."""

    def __init__(self, ctx: Context, executor: Executor, options: LoopOptions,
                 notify: Notify = lambda _line: None, *, prefix_runs: bool = False) -> None:
        self.ctx = ctx
        self.executor = executor
        self.options = options
        self.notify = notify
        #: Start each line with its run's name (a worker serves several runs).
        self.prefix_runs = prefix_runs
        self._run_names: dict[int, str] = {}
        #: Jobs handed to our executor and not collected yet: it watches their workers itself.
        self._in_flight: set[int] = set()
        self.locks = CoordinatorLocks(ctx.db)
        self._steps: dict[int, RunSteps] = {}
        self._workflows: dict[str, Workflow] = {}

    def should_stop(self) -> bool:
        return self.options.should_stop()

    def serve(self, select_runs: Callable[[], list[Run]], *,
              before: Callable[[list[Run]], bool] = lambda _runs: True,
              after: Callable[[list[Run], bool], bool] = lambda _runs, _progressed: True) -> None:
        """Round after round over ``select_runs()`` until a stop is requested, ``before(runs)``
        says no (it sees the runs as they are before a round), or ``after(runs, progressed)`` says
        no (it sees whether the round changed anything: a worker leaves when nothing can)."""
        failures = 0
        while not self.should_stop():
            try:
                runs = select_runs()
                if not before(runs):
                    return
                progressed = self.round(runs)
                failures = 0
                if not after(runs, progressed):
                    return
            except DatabaseError as error:
                failures += 1
                if failures > MAX_DATABASE_FAILURES:
                    raise
                self.notify(f"warning: {error.message} (retrying)")
                progressed = False
            if not progressed:
                self.pause()

    def round(self, runs: Sequence[Run]) -> bool:
        """One round over ``runs``; True when anything changed."""
        self._reap([r.id for r in runs])
        served = {r.id for r in runs}
        self.locks.release_all_but(served)
        for run_id in [r for r in self._steps if r not in served]:
            del self._steps[run_id]
        progressed = False
        for run in runs:
            if self.should_stop():
                break
            progressed |= self._work_on(run)
        return self.collect() or progressed

    def close(self) -> None:
        """Stop the executor (running jobs checkpoint and go back to pending), release the locks."""
        try:
            self.executor.stop()
            self.collect()
        finally:
            self.locks.close()

    # ---- the one error policy ------------------------------------------------------------------

    def _work_on(self, run: Run) -> bool:
        phase = Phase(run.phase)
        if not (phase.is_working() or phase is Phase.PLANNED):
            return False
        coordinating = self.locks.try_hold(run.id)
        try:
            if coordinating:
                return self._steps_for(run).coordinate(run, lambda phases: self._dispatch(run, phases))
            return phase in JOB_PHASES and self._dispatch(run, JOB_PHASES[phase])
        except _RACES:
            return True
        except DatabaseError:
            raise
        except SweepfirstError as error:
            if not coordinating:
                raise
            self._fail_run(run, phase, error.message)
            return True

    def _fail_run(self, run: Run, phase: Phase, message: str) -> None:
        try:
            with self.ctx.db.session() as session:
                run_store.transition_run(session, run.id, Phase.FAILED, detail=message, error=message)
        except IllegalTransition:
            return  # someone else already moved the run on
        if run.kind != "train":  # a single experiment has no phases to speak of: its error says it
            self._say(run, f"run failed in {phase.value}: {message}")

    # ---- jobs ----------------------------------------------------------------------------------

    def _steps_for(self, run: Run) -> RunSteps:
        if run.id not in self._steps:
            self._steps[run.id] = RunSteps(self.ctx, run.id, parallel_trials=self.options.parallel_trials,
                                           notify=functools.partial(self._say, run))
        return self._steps[run.id]

    def _dispatch(self, run: Run, phases: Sequence[JobPhase]) -> bool:
        """Claim and start this run's pending jobs while the executor has free slots."""
        started = False
        lease_seconds = workflow_of(run, self._workflows).training.lease_seconds
        while self.executor.free_slots() > 0 and not self.should_stop():
            with self.ctx.db.session() as session:
                claim = job_store.claim_next_job(session, run_ids=[run.id], lease_seconds=lease_seconds,
                                                 phases=phases)
                if claim is None:
                    return started
                job, lease = claim
                description = describe_job(job)
            self._say(run, f"{description}: running")
            self._in_flight.add(job.id)
            self.executor.submit(lease)
            started = True
        return started

    def _reap(self, run_ids: list[int]) -> None:
        """The one reaper: running jobs whose lease expired or whose worker here is gone."""
        if not run_ids:
            return
        with self.ctx.db.session() as session:
            reaped = job_store.reap_expired_leases(session, run_ids=run_ids, watched=self._in_flight)
            lines = [(job.run_id, self._ending_line(session, job)) for job in
                     (job_store.get_job(session, job_id) for job_id in reaped)]
        for run_id, line in lines:
            self.notify(self._prefix(run_id) + line)

    def collect(self) -> bool:
        """Report the jobs the executor is done with, each under its own run (the job's row says
        which: a worker serving several runs never reports one under another's name)."""
        finished: list[Finished] = self.executor.poll()
        if not finished:
            return False
        with self.ctx.db.session(readonly=True) as session:
            for done in finished:
                self._in_flight.discard(done.job_id)
                job = job_store.get_job(session, done.job_id)
                self.notify(self._prefix(job.run_id) + self._ending_line(session, job))
        return True

    @staticmethod
    def _ending_line(session: Session, job: Job) -> str:
        events = job_store.job_events(session, job.id)
        last = events[-1] if events else None
        return describe_ending(job, last.event if last else None, last.detail if last else None)

    def pause(self) -> None:
        """Wait up to poll_seconds, but come back as soon as a job of ours ends."""
        deadline = time.monotonic() + self.options.poll_seconds
        while time.monotonic() < deadline and not self.should_stop():
            if self.executor.busy() and self.collect():
                return
            time.sleep(0.05)

    # ---- output --------------------------------------------------------------------------------

    def _prefix(self, run_id: int) -> str:
        name = self._run_names.get(run_id)
        return f"{name}: " if self.prefix_runs and name else ""

    def _say(self, run: Run, line: str) -> None:
        self._run_names[run.id] = run.name
        self.notify(self._prefix(run.id) + line)
