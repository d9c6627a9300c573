"""What one round of the coordinator loop does to one run, phase by phase.

The coordinator of a run (whoever holds its lock: a `run`, a `resume` or a worker) calls
`RunSteps.coordinate` once per round: plan the phase's jobs, promote paused sweep trials, hand
jobs to the executor, and -- once every job of the phase has ended -- move the run on (analysis,
report, or the next phase). Nothing here decides what an error does to the run: that is the loop's
one error policy (`engine.loop`); this module raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sweepfirst.errors import CONTINUE_COMMAND, PhaseNotReady
from sweepfirst.spec import Workflow
from sweepfirst.states import JOB_PHASES, JobPhase, JobState, Phase, next_phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job, Run

if TYPE_CHECKING:
    from sweepfirst.search.strategies import Proposer

Notify = Callable[[str], None]
#: Claims and starts this run's pending jobs of the given job phases; True if any started.
Dispatch = Callable[[Sequence[JobPhase]], bool]

_OPEN_STATES = (JobState.PENDING.value, JobState.RUNNING.value)


def describe_job(job: Job) -> str:
    label = f"trial {job.trial_index} " if job.phase == JobPhase.SWEEP.value else ""
    return f"job {job.id} {job.phase} {job.task}/{job.method} {label}seed {job.seed}"


def first_line(text: str | None) -> str:
    """The first line of an error, without its closing period (it goes inside a sentence)."""
    stripped = (text or "").strip()
    return stripped.splitlines()[0].rstrip(".") if stripped else "no error recorded"


def describe_failures(failed: Sequence[Job], *, limit: int = 5) -> str:
    """``job 12 (mrpc/lora seed 42): ValueError: boom; job 13 ...`` for a phase's failed jobs."""
    parts = [f"job {j.id} ({j.task}/{j.method} seed {j.seed}): {first_line(j.error)}" for j in failed[:limit]]
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return "; ".join(parts) + more


def earliest_unfinished_phase(jobs: Sequence[Job]) -> Phase | None:
    """The earliest run phase that has a pending or running job (None: none has)."""
    open_phases = {j.phase for j in jobs if j.state in _OPEN_STATES}
    for phase, job_phases in JOB_PHASES.items():
        if any(p.value in open_phases for p in job_phases):
            return phase
    return None


def workflow_of(run: Run, cache: dict[str, Workflow] | None = None) -> Workflow:
    """The run's recorded design, parsed once per spec (it never changes for a run)."""
    if cache is not None and run.spec_hash in cache:
        return cache[run.spec_hash]
    workflow = Workflow.model_validate(run.spec)
    if cache is not None:
        cache[run.spec_hash] = workflow
    return workflow


class RunSteps:
    """Moves one run forward by one round, as its coordinator."""

    def __init__(self, ctx: Context, run_id: int, *, parallel_trials: int, notify: Notify) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.parallel_trials = parallel_trials
        self.notify = notify
        self._workflows: dict[str, Workflow] = {}
        #: The sweep's proposers, kept while this process coordinates the run (see plan_sweep).
        self._proposers: dict[tuple[str, str], Proposer] = {}

    def coordinate(self, run: Run, dispatch: Dispatch) -> bool:
        """Do what the run's phase needs next; True when something changed (no need to wait)."""
        phase = Phase(run.phase)
        if phase is Phase.PLANNED:
            self._advance(Phase.SWEEP, "planned")
            return True
        if phase is Phase.ANALYSIS:
            self._analyse(run)
            return True
        if phase is Phase.REPORT:
            self._report(run)
            return True
        if phase in JOB_PHASES:
            return self._run_jobs(run, phase, dispatch)
        return False

    # ---- phases with jobs ----------------------------------------------------------------------

    def _run_jobs(self, run: Run, phase: Phase, dispatch: Dispatch) -> bool:
        workflow = workflow_of(run, self._workflows) if run.kind == "workflow" else None
        open_cells: set[tuple[str, str]] = set()
        with self.ctx.db.session() as session:
            if workflow is not None and phase is Phase.SWEEP:
                from sweepfirst.engine.planner import plan_sweep

                open_cells = plan_sweep(session, run, workflow, parallel_trials=self.parallel_trials,
                                        proposers=self._proposers)
            elif workflow is not None and phase is Phase.PRODUCTION:
                from sweepfirst.engine.planner import plan_production

                for job in plan_production(session, run, workflow):
                    self.notify(f"{describe_job(job)}: superseded (analysis chose another configuration)")
                from sweepfirst.engine.planner import plan_representations

                plan_representations(session, run, workflow)
            # Drift jobs are planned when the phase is entered (`_enter_drift`, `sweepfirst drift`).
        promoted = workflow is not None and phase is Phase.SWEEP and self._promote(workflow, open_cells)
        started = dispatch(JOB_PHASES[phase])
        with self.ctx.db.session(readonly=True) as session:
            jobs = [j for p in JOB_PHASES[phase] for j in job_store.list_jobs(session, self.run_id, phase=p)]
        unfinished = [j for j in jobs if not JobState(j.state).is_finished()]
        if unfinished or open_cells:
            return started or promoted
        # Every job has ended, so nothing can change under us: a pause recorded since the
        # promotions above may have made one due, and the sweep is not over until none is.
        if workflow is not None and phase is Phase.SWEEP and self._promote(workflow, open_cells):
            return True
        failed = [j for j in jobs if j.state == JobState.FAILED.value]
        # Drift is analysis of models that exist: its failures (and a failed base-representations
        # job, which drift jobs redo themselves) never hold back the report, which lists them.
        analysis_only = (JobPhase.REPRESENTATIONS.value, JobPhase.DRIFT.value)
        for job in (j for j in failed if j.phase in analysis_only):
            self.notify(f"{describe_job(job)}: failed ({first_line(job.error)}); the report lists "
                        f"it, and {CONTINUE_COMMAND} runs it again")
        failed = [j for j in failed if j.phase not in analysis_only]
        if phase is Phase.PRODUCTION and failed:
            raise PhaseNotReady(self._production_failure(run, failed))
        if next_phase(phase) is Phase.DRIFT:
            self._enter_drift(run, workflow, f"all {len(jobs)} {phase.value} jobs finished")
            return True
        self._advance(next_phase(phase), f"all {len(jobs)} {phase.value} jobs finished")
        return True

    def _enter_drift(self, run: Run, workflow: Workflow | None, detail: str) -> None:
        """Production is done: plan the drift jobs and enter the drift phase in one transaction
        (no worker ever sees the phase without its jobs), or go straight to the report."""
        from sweepfirst.drift.models import has_saved_model
        from sweepfirst.engine.planner import drift_skip_reason, drift_sources, plan_drift

        skip = drift_skip_reason(workflow)
        with self.ctx.db.session() as session:
            if skip is None and workflow is not None:
                # A job trained before models were kept (a run resumed across the upgrade) has
                # nothing to analyse: said once here, instead of a drift job failing for it.
                sources = drift_sources(session, run, workflow)
                kept = {j.id for j in sources if has_saved_model(self.ctx.job_dir(j.output_dir))}
                for job in (j for j in sources if j.id not in kept):
                    self.notify(f"{describe_job(job)}: kept no model; its drift is not measured")
                plan_drift(session, run, workflow, only=kept)
                run_store.transition_run(session, self.run_id, Phase.DRIFT, detail=detail)
            else:
                run_store.transition_run(session, self.run_id, Phase.REPORT,
                                         detail=f"{detail}; drift skipped: {skip}")
        if skip is not None and run.kind == "workflow":
            self.notify(f"drift skipped: {skip}")
        self.notify(f"phase: {Phase.REPORT.value if skip is not None else Phase.DRIFT.value}")

    @staticmethod
    def _production_failure(run: Run, failed: Sequence[Job]) -> str:
        if run.kind == "train":
            job = failed[0]
            return (f"The training job {job.id} ({job.task}/{job.method} seed {job.seed}) failed: "
                    f"{first_line(job.error)}; fix the cause, then run {CONTINUE_COMMAND} (or "
                    "`sweepfirst train` again with corrected options).")
        return (f"{len(failed)} production job(s) failed: {describe_failures(failed)}; fix the cause "
                f"(`sweepfirst jobs show ID` has the traceback), then run {CONTINUE_COMMAND}.")

    def _promote(self, workflow: Workflow, open_cells: set[tuple[str, str]]) -> bool:
        """Hyperband's promotions of paused sweep jobs; True if any went back to the queue."""
        from sweepfirst.engine.pruning import promote_paused_trials

        with self.ctx.db.session() as session:
            lines = [
                f"{describe_job(job)}: promoted at evaluation {rung}; resumes from its checkpoint"
                for job, rung in promote_paused_trials(session, self.run_id, workflow, open_cells=open_cells)
            ]
        for line in lines:
            self.notify(line)
        return bool(lines)

    # ---- phases without jobs -------------------------------------------------------------------

    def _advance(self, to_phase: Phase, detail: str) -> None:
        with self.ctx.db.session() as session:
            run_store.transition_run(session, self.run_id, to_phase, detail=detail)
        self.notify(f"phase: {to_phase.value}")

    def _analyse(self, run: Run) -> None:
        from sweepfirst.analysis.exports import write_exports
        from sweepfirst.analysis.selection import choose_configurations

        workflow = workflow_of(run, self._workflows)
        with self.ctx.db.session() as session:
            for line in choose_configurations(session, run, workflow, job_dir=self.ctx.job_dir):
                self.notify(f"chosen: {line}")
            chosen = run_store.selections(session, run.id)
        for path in write_exports(chosen, self.ctx.run_dir(run.name), run_name=run.name):
            self.notify(f"wrote {path}")
        self._advance(Phase.PRODUCTION, "configurations chosen")

    def _report(self, run: Run) -> None:
        from sweepfirst.analysis.report.step2_build import build_report_data
        from sweepfirst.analysis.report.step5_write import write_run_report, write_run_summary

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
