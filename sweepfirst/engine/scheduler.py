"""The scheduler loop: reap -> advance the phase when its jobs are done -> claim -> run -> record.

Nothing but recorded state moves a run, so the loop can be killed at any moment and started again
(`sweepfirst resume`): it recomputes what is left as "what was planned minus what finished".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sweepfirst.engine.context import Context
from sweepfirst.engine.executors import Executor
from sweepfirst.errors import IllegalTransition, PhaseNotReady
from sweepfirst.spec import Workflow
from sweepfirst.states import FINISHED_JOB_STATES, JobPhase, JobState, Phase, next_phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import Job, Run

#: The job phases whose jobs a run phase executes.
JOB_PHASES: dict[Phase, tuple[JobPhase, ...]] = {
    Phase.SWEEP: (JobPhase.SWEEP,),
    Phase.PRODUCTION: (JobPhase.PRODUCTION, JobPhase.BASELINE, JobPhase.TRAIN),
}


@dataclass
class SchedulerOptions:
    #: Stop once the run has left this phase (None: run to the end).
    only_phase: Phase | None = None
    poll_seconds: float = 1.0
    #: How many bayes trials may be in flight at once (defaults to the executor's slots).
    parallel_trials: int = 1
    should_stop: Callable[[], bool] = field(default=lambda: False)


Notify = Callable[[str], None]


def _workflow(run: Run) -> Workflow:
    return Workflow.model_validate(run.spec)


def _describe(job: Job) -> str:
    label = f"trial {job.trial_index} " if job.phase == JobPhase.SWEEP.value else ""
    return f"job {job.id} {job.phase} {job.task}/{job.method} {label}seed {job.seed}"


class Scheduler:
    """Drives one run through its phases with the given executor."""

    def __init__(self, ctx: Context, run_id: int, executor: Executor, options: SchedulerOptions,
                 notify: Notify = lambda _line: None) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.executor = executor
        self.options = options
        self.notify = notify

    def drive(self) -> Phase:
        """Work until the run completes, fails, leaves ``only_phase``, or a stop is requested."""
        entered: Phase | None = None
        while True:
            if self.options.should_stop():
                return self._current_phase()
            with self.ctx.db.session() as session:
                for job_id in job_store.reap_expired_leases(session, run_ids=[self.run_id]):
                    self.notify(f"job {job_id}: its worker is gone; back in the queue")
                run = run_store.find_run(session, self.run_id)
                phase = Phase(run.phase)
            if phase in (Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED):
                return phase
            only = self.options.only_phase
            if only is not None and entered is not None and phase != entered:
                return phase
            if phase.is_working() and entered is None:
                entered = phase
            try:
                advanced = self._step(run, phase)
            except IllegalTransition:
                advanced = True  # another orchestrator moved the run first: look again
            except PhaseNotReady as error:
                self._fail(phase, error.message)
                continue
            if not advanced:
                self._wait()

    def _current_phase(self) -> Phase:
        with self.ctx.db.session() as session:
            return Phase(run_store.find_run(session, self.run_id).phase)

    def _wait(self) -> None:
        deadline = time.monotonic() + self.options.poll_seconds
        while time.monotonic() < deadline and not self.options.should_stop():
            if self._collect():
                return
            time.sleep(0.05)

    def _collect(self) -> bool:
        finished = self.executor.poll()
        if not finished:
            return False
        with self.ctx.db.session() as session:
            for done in finished:
                job = job_store.get_job(session, done.job_id)
                detail = f" ({done.crash_reason})" if done.crash_reason else ""
                score = f", {job.score:.4f}" if job.score is not None and job.state == "succeeded" else ""
                self.notify(f"{_describe(job)}: {job.state}{score}{detail}")
            for job_id in job_store.retry_failed_with_attempts_left(session, self.run_id):
                self.notify(f"job {job_id}: failed; retrying")
        return bool(finished)

    def _step(self, run: Run, phase: Phase) -> bool:
        """Do what the phase needs next; True when something changed (no need to wait)."""
        if phase is Phase.PLANNED:
            self._advance(Phase.SWEEP, "planned")
            return True
        if phase is Phase.ANALYSIS:
            self._analyse(run)
            return True
        if phase is Phase.REPORT:
            self._report(run)
            return True
        return self._run_jobs(run, phase)

    def _advance(self, to_phase: Phase, detail: str) -> None:
        with self.ctx.db.session() as session:
            run_store.transition_run(session, self.run_id, to_phase, detail=detail)
        self.notify(f"phase: {to_phase.value}")

    def _fail(self, phase: Phase, message: str) -> None:
        with self.ctx.db.session() as session:
            run_store.transition_run(session, self.run_id, Phase.FAILED, detail=message, error=message)
        self.notify(f"run failed in {phase.value}: {message}")

    def _run_jobs(self, run: Run, phase: Phase) -> bool:
        workflow = _workflow(run) if run.kind == "workflow" else None
        with self.ctx.db.session() as session:
            # Failures recorded by any worker (here or on another machine) get their retries;
            # first, so that a sweep cell with a retry due is not taken for settled below.
            for job_id in job_store.retry_failed_with_attempts_left(session, self.run_id):
                self.notify(f"job {job_id}: failed; retrying")
        open_cells: set[tuple[str, str]] = set()
        with self.ctx.db.session() as session:
            if workflow is not None and phase is Phase.SWEEP:
                from sweepfirst.engine.planner import plan_sweep

                open_cells = plan_sweep(session, run, workflow, parallel_trials=self.options.parallel_trials)
            elif workflow is not None and phase is Phase.PRODUCTION:
                from sweepfirst.engine.planner import plan_production

                plan_production(session, run, workflow)
        promoted = workflow is not None and phase is Phase.SWEEP and self._promote(workflow, open_cells)
        claimed = self._dispatch(phase)
        changed = self._collect() or claimed or promoted
        with self.ctx.db.session(readonly=True) as session:
            jobs = [j for p in JOB_PHASES[phase] for j in job_store.list_jobs(session, self.run_id, phase=p)]
        unfinished = [j for j in jobs if JobState(j.state) not in FINISHED_JOB_STATES]
        if unfinished or open_cells or self.executor.busy():
            return changed
        # Every job has ended, so nothing can change under us: a pause recorded since the
        # promotions above may have made one due, and the sweep is not over until none is.
        if workflow is not None and phase is Phase.SWEEP and self._promote(workflow, open_cells):
            return True
        failed = [j for j in jobs if j.state == JobState.FAILED.value]
        if phase is Phase.PRODUCTION and failed:
            ids = ", ".join(str(j.id) for j in failed[:10])
            raise PhaseNotReady(
                f"{len(failed)} production job(s) failed after all attempts (ids {ids}); see "
                "`sweepfirst jobs show ID`, fix the cause, `sweepfirst jobs retry ID`, then `sweepfirst resume`."
            )
        self._advance(next_phase(phase), f"all {len(jobs)} {phase.value} jobs finished")
        return True

    def _promote(self, workflow: Workflow, open_cells: set[tuple[str, str]]) -> bool:
        """Hyperband's promotions of paused sweep jobs; True if any went back to the queue."""
        from sweepfirst.engine.pruning import promote_paused_trials

        with self.ctx.db.session() as session:
            lines = [
                f"{_describe(job)}: promoted at evaluation {rung}; resumes from its checkpoint"
                for job, rung in promote_paused_trials(session, self.run_id, workflow, open_cells=open_cells)
            ]
        for line in lines:
            self.notify(line)
        return bool(lines)

    def _dispatch(self, phase: Phase) -> bool:
        claimed = False
        while self.executor.free_slots() > 0 and not self.options.should_stop():
            with self.ctx.db.session() as session:
                workflow_lease = _lease_seconds(session, self.run_id)
                claim = job_store.claim_next_job(
                    session, run_ids=[self.run_id], lease_seconds=workflow_lease, phases=JOB_PHASES[phase]
                )
                if claim is None:
                    return claimed
                job, lease = claim
                description = _describe(job)
            self.notify(f"{description}: running")
            self.executor.submit(lease)
            claimed = True
        return claimed

    def _analyse(self, run: Run) -> None:
        from sweepfirst.analysis.exports import write_exports
        from sweepfirst.analysis.selection import choose_configurations

        workflow = _workflow(run)
        with self.ctx.db.session() as session:
            for line in choose_configurations(session, run, workflow):
                self.notify(f"chosen: {line}")
            chosen = run_store.selections(session, run.id)
        for path in write_exports(chosen, self.ctx.run_dir(run.name), run_name=run.name):
            self.notify(f"wrote {path}")
        self._advance(Phase.PRODUCTION, "configurations chosen")

    def _report(self, run: Run) -> None:
        from sweepfirst.analysis.report_builder import build_report_data
        from sweepfirst.analysis.run_report import write_run_report
        from sweepfirst.analysis.summary import write_run_summary

        for path in write_run_summary(self.ctx, run.id):
            self.notify(f"wrote {path}")
        try:
            report = write_run_report(build_report_data(self.ctx, run.id),
                                      self.ctx.run_dir(run.name) / "report", "html")
        except (OSError, ValueError) as error:
            # The run stays in its report phase (failed there), so `resume` writes it again.
            raise PhaseNotReady(
                f"The HTML report could not be written ({error}); fix the cause and run "
                f"`sweepfirst resume` or `sweepfirst report {run.name}`."
            ) from error
        self.notify(f"report: {report}")
        self._advance(Phase.COMPLETED, "report written")


def _lease_seconds(session: object, run_id: int) -> float:
    return _workflow(run_store.find_run(session, run_id)).training.lease_seconds  # type: ignore[arg-type]
