"""The drift part of a report, read from a recorded run: its drift jobs' results, and the models
production kept (from each job's provenance, or from its folder for a job that did not record it).
"""

from __future__ import annotations

from collections.abc import Sequence

from sweepfirst.analysis.drift_comparison import DriftReport, DriftRun, build_drift_report
from sweepfirst.analysis.report.model import SavedModel
from sweepfirst.states import DEV_JOB_PHASES, JobPhase, JobState
from sweepfirst.store.models import Job

#: Job phases whose models are kept (and analysed).
MODEL_PHASES = tuple(p.value for p in DEV_JOB_PHASES)
#: Job phases of the drift analysis: no score, no fine-tuning method of their own.
DRIFT_JOB_PHASES = (JobPhase.REPRESENTATIONS.value, JobPhase.DRIFT.value)


def drift_report(jobs: Sequence[Job]) -> DriftReport | None:
    """Summaries and comparisons of the run's succeeded drift jobs; None when there are none."""
    runs = [DriftRun.from_metrics(f"job {j.id}", j.metrics) for j in jobs
            if j.phase == JobPhase.DRIFT.value and j.state == JobState.SUCCEEDED.value
            and (j.metrics or {}).get("layers")]
    return build_drift_report(runs)


def saved_models(jobs: Sequence[Job]) -> tuple[SavedModel, ...]:
    """Every kept model: the final models production recorded, and the models drift jobs found
    (a run from before final models were saved may have kept its last checkpoints)."""
    found: dict[int, SavedModel] = {}
    by_id = {j.id: j for j in jobs}
    for job in jobs:
        final = (job.provenance or {}).get("final_model")
        if job.phase in MODEL_PHASES and isinstance(final, dict):
            found[job.id] = SavedModel(
                job_name=f"job {job.id}", phase=job.phase, task=job.task, method=job.method,
                seed=job.seed, path=f"{job.output_dir}/{final.get('path', 'final_model')}",
                kind=str(final.get("kind", "")), sha256=final.get("sha256"))
    for job in jobs:
        model = (job.metrics or {}).get("model")
        source = by_id.get(int((job.metrics or {}).get("source_job", -1)))
        if job.phase == JobPhase.DRIFT.value and isinstance(model, dict) and source is not None:
            found.setdefault(source.id, SavedModel(
                job_name=f"job {source.id}", phase=source.phase, task=source.task,
                method=source.method, seed=source.seed, path=str(model.get("path", "")),
                kind=str(model.get("kind", "")), sha256=model.get("sha256")))
    return tuple(found[k] for k in sorted(found))
