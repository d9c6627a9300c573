"""`sweepfirst drift` on a recorded run: which models it kept, and reopening its drift phase.

A run finished before drift existed (or with ``drift: false``) gets its drift phase afterwards,
as long as its models are on disk: the final models production saves, or -- from an older release
-- the last checkpoint each job kept with ``training.keep_checkpoints: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweepfirst.engine.phase_steps import workflow_of
from sweepfirst.errors import PhaseNotReady
from sweepfirst.states import JobPhase, JobState, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job, Run

#: Phases a run may get its drift measured from; earlier ones still have production to finish.
_AFTER_PRODUCTION = frozenset({Phase.DRIFT, Phase.REPORT, Phase.COMPLETED})


@dataclass(frozen=True)
class DriftPlan:
    """What `sweepfirst drift` found: the models to analyse and those that were not kept."""

    with_model: tuple[Job, ...]
    without_model: tuple[Job, ...]
    #: Drift jobs still to run (pending, failed or not planned yet) for ``with_model``.
    to_run: int


def _phase_of(run: Run) -> Phase:
    phase = Phase(run.phase)
    if phase in (Phase.FAILED, Phase.CANCELLED) and run.stopped_in_phase:
        return Phase(run.stopped_in_phase)
    return phase


def inspect_drift(ctx: Context, run: Run) -> DriftPlan:
    """Which production models of ``run`` are on disk and which drift jobs remain; refuses, in
    one sentence, a run that cannot have drift (yet)."""
    from sweepfirst.drift.models import find_saved_model
    from sweepfirst.engine.planner import drift_sources

    if run.kind != "workflow":
        raise PhaseNotReady(f"Run {run.name} is a single experiment (`sweepfirst train`); drift "
                            "analyses the production models of a workflow run.")
    if _phase_of(run) not in _AFTER_PRODUCTION:
        raise PhaseNotReady(f"Run {run.name} is in phase '{run.phase}' and has not finished production; "
                            "continue it with `sweepfirst resume` (its drift phase then runs by itself).")
    workflow = workflow_of(run)
    with ctx.db.session(readonly=True) as session:
        sources = drift_sources(session, run, workflow)
        done = {int(j.hyperparameters.get("source_job", -1)) for j in
                job_store.list_jobs(session, run.id, phase=JobPhase.DRIFT, states=[JobState.SUCCEEDED])}
    if not sources:
        raise PhaseNotReady(f"Run {run.name} has no succeeded production or baseline job of a "
                            "sequence-classification task, so there is no model to analyse.")
    kept = [j for j in sources if find_saved_model(ctx.job_dir(j.output_dir)) is not None]
    missing = [j for j in sources if j not in kept]
    if not kept:
        raise PhaseNotReady(
            f"Run {run.name} kept none of its {len(sources)} production models (no final_model/ "
            "and no last checkpoint in the job folders), so its drift cannot be measured; keep "
            "them next time with training.save_final_model: true (the default since drift "
            "analysis; older releases: training.keep_checkpoints: true).")
    return DriftPlan(with_model=tuple(kept), without_model=tuple(missing),
                     to_run=sum(1 for j in kept if j.id not in done))


def reopen_for_drift(ctx: Context, run: Run, plan: DriftPlan) -> None:
    """Plan the missing drift jobs (failed ones go back in the queue) and put the run in its
    drift phase, in one transaction; driving it then runs them and rewrites the report."""
    from sweepfirst.engine.planner import plan_drift

    workflow = workflow_of(run)
    ids = {j.id for j in plan.with_model}
    with ctx.db.session() as session:
        plan_drift(session, run, workflow, only=ids)
        for job in job_store.list_jobs(session, run.id, phase=JobPhase.DRIFT,
                                       states=[JobState.FAILED, JobState.CANCELLED]):
            if int(job.hyperparameters.get("source_job", -1)) in ids:
                job_store.retry_job(session, job.id, detail="retried by sweepfirst drift")
        if run_store.find_run(session, run.id).phase != Phase.DRIFT.value:
            run_store.transition_run(session, run.id, Phase.DRIFT, detail="drift requested with `sweepfirst drift`")
