"""The run-level parts of a report: when each phase ran, how configurations were selected, and the
provenance a reviewer needs (versions, code, model and data identity, hardware, compute).

Model and data identity come from what the jobs recorded (``Job.provenance``); a job from before
that was recorded gets them recomputed from the files as they are now, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sweepfirst import formatting as fmt
from sweepfirst.analysis.report.model import PhaseCost, PhaseTiming, Provenance, RunInfo
from sweepfirst.provenance import HUB_ID_ONLY, glue_data_fingerprint, model_identity
from sweepfirst.states import JOB_PHASES, WORKING_PHASES, Phase
from sweepfirst.store.models import Job, Run, RunEvent, Selection

#: The job phases whose jobs each run phase executes (analysis and report run no jobs).
JOBS_OF_PHASE: dict[str, tuple[str, ...]] = {
    phase.value: tuple(p.value for p in job_phases) for phase, job_phases in JOB_PHASES.items()
}

RECOMPUTED = "recomputed when the report was written"


def run_info(run: Run, events: Sequence[RunEvent], selections: Iterable[Selection]) -> RunInfo:
    """Who the run is, when each phase ran, and on which split the sweep selected."""
    selection = (run.spec or {}).get("selection") or {}
    on_dev = selection.get("split") == "dev" or any(s.split == "dev" for s in selections)
    completed = [e.at for e in events if e.to_phase == Phase.COMPLETED.value]
    return RunInfo(
        name=run.name,
        workflow_name=run.workflow_name,
        created_at=run.created_at,
        finished_at=completed[-1] if completed else None,
        phase_times=phase_timings(events),
        selection_split=_selection_label(selection, on_dev),
        selection_on_dev=on_dev,
    )


def _selection_label(selection: Mapping[str, Any], on_dev: bool) -> str:
    if on_dev:
        return "dev (the split production is scored on)"
    fraction = float(selection.get("fraction", 0.1))
    return (f"{fraction:.0%} of train held out, stratified by label "
            f"(selection seed {selection.get('seed', 0)}); dev untouched until production")


def phase_timings(events: Sequence[RunEvent]) -> tuple[PhaseTiming, ...]:
    """Each working phase the run reached: first entered, and last left (None while in it).

    A phase entered twice (failed, then resumed) spans both visits; the compute table's wall
    time counts only the time actually spent in it.
    """
    timings = []
    for phase in WORKING_PHASES:
        visits = [i for i, e in enumerate(events) if e.to_phase == phase.value]
        if not visits:
            continue
        last = visits[-1]
        left = events[last + 1].at if last + 1 < len(events) else None
        timings.append(PhaseTiming(phase.value, events[visits[0]].at, left))
    return tuple(timings)


def provenance(run: Run, jobs: Sequence[Job], phase_seconds: Mapping[str, float],
               data_dir: Path | None) -> Provenance:
    """Versions, commit, model and data identity, hardware and compute of the run."""
    recorded = run.provenance or {}
    commit = recorded.get("git_commit")
    dirty = None
    if isinstance(commit, str):
        dirty = commit.endswith("+dirty")
        commit = commit.removesuffix("+dirty")
    model = str((run.spec or {}).get("model", "unknown"))
    return Provenance(
        package_versions=dict(recorded.get("packages") or {}),
        git_commit=commit,
        git_dirty=dirty,
        model_name=_model_name(model, jobs),
        model_hash=_model_hash(model, jobs),
        data_fingerprints=_data_fingerprints(run, jobs, data_dir),
        hardware=_hardware(recorded.get("hardware") or {}, jobs),
        phase_costs=phase_costs(jobs, phase_seconds),
    )


def _distinct(jobs: Iterable[Job], key: str) -> list[str]:
    return sorted({str(j.provenance[key]) for j in jobs if (j.provenance or {}).get(key)})


def _model_name(model: str, jobs: Sequence[Job]) -> str:
    sources = _distinct(jobs, "model_source")
    if not sources or sources == [model]:
        return model
    return f"{model} (loaded from {', '.join(sources)})"


def _model_hash(model: str, jobs: Sequence[Job]) -> str:
    hashes = _distinct(jobs, "model_hash")
    if len(hashes) == 1:
        return f"sha256 {hashes[0]}"
    if hashes:
        return f"jobs disagree: {', '.join(hashes)} (they loaded different weights)"
    identity = model_identity(model)
    if identity["hash"] is None:
        return identity["note"] or HUB_ID_ONLY
    return f"sha256 {identity['hash']} ({RECOMPUTED})"


def _data_fingerprints(run: Run, jobs: Sequence[Job], data_dir: Path | None) -> dict[str, str]:
    spec = run.spec or {}
    tasks = list(dict.fromkeys([*spec.get("tasks", []), *(j.task for j in jobs)]))
    folder = data_dir or ((spec.get("data") or {}).get("dir"))
    fingerprints = {}
    for task in tasks:
        task_jobs = [j for j in jobs if j.task == task]
        recorded = _distinct(task_jobs, "data_fingerprint")
        sources = _distinct(task_jobs, "data_source")
        where = f" ({', '.join(sources)} files)" if sources else ""
        if recorded:
            fingerprints[task] = ", ".join(recorded) + where
            continue
        computed = glue_data_fingerprint(task, Path(folder)) if folder else None
        fingerprints[task] = (f"{computed} (local files, {RECOMPUTED})" if computed
                              else "not recorded")
    return fingerprints


def _hardware(recorded: Mapping[str, Any], jobs: Sequence[Job]) -> str:
    parts = []
    if recorded:
        parts.append(f"{recorded.get('platform', '?')}, {recorded.get('cpus', '?')} CPUs, "
                     f"Python {recorded.get('python', '?')}")
        if recorded.get("gpus"):
            parts.append("GPUs: " + ", ".join(recorded["gpus"]))
    ran = [j for j in jobs if (j.provenance or {}).get("device")]
    devices: dict[str, int] = {}
    for job in ran:
        label = f"{job.provenance['device']} ({job.provenance.get('precision', '?')})"
        devices[label] = devices.get(label, 0) + 1
    if devices:
        parts.append("jobs ran on " + ", ".join(f"{d} × {n}" for d, n in sorted(devices.items())))
    if ran and not any(_on_accelerator(j) for j in ran):
        total = sum(j.runtime_s or 0.0 for j in ran)
        # Wall time summed over jobs, not CPU time: a job waiting on I/O or sharing cores counts whole.
        parts.append(f"no accelerator: jobs ran on CPU, {fmt.duration(total)} of job wall time in all")
    return "; ".join(parts) or "not recorded"


def _on_accelerator(job: Job) -> bool:
    device = str((job.provenance or {}).get("device", "cpu"))
    return not device.startswith("cpu")


def phase_costs(jobs: Sequence[Job], phase_seconds: Mapping[str, float]) -> tuple[PhaseCost, ...]:
    """Wall time per phase (from phase changes) and accelerator time summed over its jobs.

    Accelerator time is the runtime of jobs that ran on a GPU (or other non-CPU device); it is
    None for a phase whose jobs all ran on CPU, so CPU time is never passed off as GPU time.
    """
    costs = []
    for phase in WORKING_PHASES:
        if phase.value not in phase_seconds:
            continue
        job_phases = JOBS_OF_PHASE.get(phase.value)
        phase_jobs = [j for j in jobs if job_phases and j.phase in job_phases]
        on_accelerator = [j for j in phase_jobs if _on_accelerator(j)]
        costs.append(PhaseCost(
            phase=phase.value,
            wall_seconds=phase_seconds[phase.value],
            accelerator_seconds=sum(j.runtime_s or 0.0 for j in on_accelerator)
            if on_accelerator else None,
            jobs=len(phase_jobs) if job_phases else None,
        ))
    return tuple(costs)
