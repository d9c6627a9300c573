"""One run as a worker sees it: `Scheduler.drive`'s loop, one step at a time.

A worker serves many runs with one pool of job slots, so it cannot hand its loop to one
`Scheduler.drive`. `RunDriver` exposes the two things a worker does to a run each round: step it as
its coordinator (plan, advance, analyse, report, run jobs), or only run its jobs as a helper.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from sweepfirst.engine.scheduler import JOB_PHASES, Scheduler
from sweepfirst.errors import (
    IllegalTransition,
    LeaseLost,
    NotFound,
    PhaseNotReady,
    StateError,
    SweepfirstError,
)
from sweepfirst.states import Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import Run


class RunDriver(Scheduler):
    """A `Scheduler` whose loop a worker runs one step at a time, as coordinator or as helper."""

    def coordinate(self) -> bool:
        """Plan, advance, analyse or report as needed, and run jobs; True when something changed."""
        run, phase = self._look()
        if not phase.is_working():
            return False
        try:
            return self._step(run, phase)
        except (IllegalTransition, LeaseLost, NotFound, sa_exc.IntegrityError):
            # Another orchestrator moved or planned the run first, or took a job back: look again.
            return True
        except PhaseNotReady as error:
            self._fail_quietly(phase, error.message)
            return True
        except StateError:
            raise  # the database itself (DatabaseError): the worker retries, then gives up
        except SweepfirstError as error:
            # The run's own problem (its spec, data, model): fail it visibly, not the worker.
            self._fail_quietly(phase, error.message)
            return True

    def assist(self) -> bool:
        """Only claim and run this run's jobs (another worker coordinates it)."""
        _run, phase = self._look()
        if phase not in JOB_PHASES:
            return False
        try:
            return self._dispatch(phase) | self._collect()
        except (IllegalTransition, LeaseLost):
            return True  # e.g. two workers retrying the same failed job: the other one won

    def collect(self) -> bool:
        try:
            return self._collect()
        except IllegalTransition:
            return True

    def _look(self) -> tuple[Run, Phase]:
        with self.ctx.db.session() as session:
            for job_id in job_store.reap_expired_leases(session, run_ids=[self.run_id]):
                self.notify(f"job {job_id}: its worker is gone; back in the queue")
            run = run_store.find_run(session, self.run_id)
            return run, Phase(run.phase)

    def _fail_quietly(self, phase: Phase, message: str) -> None:
        try:
            self._fail(phase, message)
        except IllegalTransition:
            pass  # someone else already moved the run on
