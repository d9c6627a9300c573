"""Turning a workflow (and what is recorded) into the jobs each phase needs.

Planning is idempotent: it describes the jobs that should exist, and the store creates only the
missing ones. Sweep planning asks the search strategy for new trials given the history, so grid,
random and bayes all plan the same way.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sweepfirst.engine.context import job_relative_dir
from sweepfirst.methods import complete_hyperparameters, get_method
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import Job, Run

if TYPE_CHECKING:
    from sweepfirst.search.trials import TrialState


def search_seed(workflow: Workflow, task: str, method: str) -> int:
    """One reproducible seed per (task, method) sweep, derived from the workflow's search seed."""
    return (workflow.seeds.search * 1_000_003 + zlib.crc32(f"{task}/{method}".encode())) % (2**31)


@dataclass(frozen=True)
class Trial:
    """One sweep configuration and its jobs (one per sweep seed)."""

    index: int
    hyperparameters: dict[str, Any]
    jobs: list[Job]

    @property
    def state(self) -> TrialState:
        states = {j.state for j in self.jobs}
        if JobState.PENDING.value in states or JobState.RUNNING.value in states:
            return "running"
        if JobState.PRUNED.value in states:
            return "pruned"
        if JobState.SUCCEEDED.value in states:
            return "complete"
        return "failed"

    @property
    def score(self) -> float | None:
        scores = [j.score for j in self.jobs if j.state == JobState.SUCCEEDED.value and j.score is not None]
        return sum(scores) / len(scores) if scores else None


def sweep_trials(session: Session, run_id: int, task: str, method: str) -> list[Trial]:
    """The trials of one sweep cell, grouped by configuration, in trial order."""
    grouped: dict[str, list[Job]] = defaultdict(list)
    for job in job_store.list_jobs(session, run_id, phase=JobPhase.SWEEP, task=task, method=method):
        grouped[job.config_hash].append(job)
    trials = [
        Trial(index=jobs[0].trial_index or 0, hyperparameters=dict(jobs[0].hyperparameters), jobs=jobs)
        for jobs in grouped.values()
    ]
    return sorted(trials, key=lambda t: t.index)


def plan_sweep(session: Session, run: Run, workflow: Workflow, *, parallel_trials: int) -> set[tuple[str, str]]:
    """Top up every sweep cell with new trials; returns the (task, method) cells that may propose more."""
    from sweepfirst.engine.sweep_config import sweep_config_for
    from sweepfirst.search.strategies import TrialObservation, make_proposer

    open_cells: set[tuple[str, str]] = set()
    for task in workflow.tasks:
        for method_name, method_spec in workflow.methods.items():
            config = sweep_config_for(workflow, task, method_name)
            proposer = make_proposer(config, seed=search_seed(workflow, task, method_name))
            trials = sweep_trials(session, run.id, task, method_name)
            history = [
                TrialObservation(
                    params=_search_params(t.hyperparameters, method_spec.fixed),
                    score=t.score,
                    state=t.state,
                    intermediate={int(k): v for j in t.jobs for k, v in (j.intermediate or {}).items()},
                )
                for t in trials
            ]
            total = proposer.total_trials
            in_flight = sum(1 for t in trials if t.state == "running")
            # Sequential strategies (bayes) learn from finished trials, so propose only as many as
            # can run now; grid and random lose nothing by planning everything at once.
            wanted = (total - len(trials)) if config.method != "bayes" and total is not None else max(
                parallel_trials - in_flight, 0
            )
            proposals = proposer.propose(history, wanted) if wanted > 0 else []
            specs = []
            for offset, params in enumerate(proposals):
                index = len(trials) + offset
                hyperparameters = complete_hyperparameters(
                    get_method(method_name), {**params, **method_spec.fixed}
                )
                for seed in workflow.seeds.sweep:
                    specs.append(
                        job_store.JobSpec(
                            phase=JobPhase.SWEEP,
                            task=task,
                            method=method_name,
                            hyperparameters=hyperparameters,
                            seed=seed,
                            trial_index=index,
                            output_dir=job_relative_dir(
                                run.name, "sweep", task, method_name, f"trial{index:03d}-seed{seed}"
                            ),
                            priority=index,
                            max_attempts=workflow.training.max_attempts,
                            max_losses_at_point=workflow.training.max_losses_at_same_step,
                        )
                    )
            job_store.ensure_jobs(session, run.id, specs)
            planned = len(trials) + len(proposals)
            cell_done = (total is not None and planned >= total) or (wanted > 0 and not proposals)
            if not cell_done:
                open_cells.add((task, method_name))
    return open_cells


def _search_params(hyperparameters: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hyperparameters.items() if k not in fixed}


def plan_production(session: Session, run: Run, workflow: Workflow) -> list[Job]:
    """One job per (task, method, production seed) with the chosen configuration, plus baselines.

    Returns the pending production jobs it cancelled because analysis has since chosen another
    configuration for their cell (a reopened sweep changed its mind).
    """
    chosen = run_store.selections(session, run.id)
    superseded = []
    for job in job_store.list_jobs(session, run.id, phase=JobPhase.PRODUCTION, states=[JobState.PENDING]):
        selection = chosen.get((job.task, job.method))
        if selection is not None and selection.config_hash != job.config_hash:
            job_store.cancel_job(session, job.id, detail="superseded: analysis chose another configuration")
            superseded.append(job)
    specs: list[job_store.JobSpec] = []
    for (task, method), selection in chosen.items():
        for seed in workflow.seeds.production:
            specs.append(
                job_store.JobSpec(
                    phase=JobPhase.PRODUCTION,
                    task=task,
                    method=method,
                    hyperparameters=selection.hyperparameters,
                    seed=seed,
                    output_dir=job_relative_dir(run.name, "production", task, method, f"seed{seed}"),
                    max_attempts=workflow.training.max_attempts,
                    max_losses_at_point=workflow.training.max_losses_at_same_step,
                )
            )
            if workflow.baseline:
                baseline = complete_hyperparameters(get_method(method), workflow.methods[method].fixed)
                specs.append(
                    job_store.JobSpec(
                        phase=JobPhase.BASELINE,
                        task=task,
                        method=method,
                        hyperparameters=baseline,
                        seed=seed,
                        output_dir=job_relative_dir(run.name, "baseline", task, method, f"seed{seed}"),
                        priority=1,
                        max_attempts=workflow.training.max_attempts,
                        max_losses_at_point=workflow.training.max_losses_at_same_step,
                    )
                )
    job_store.ensure_jobs(session, run.id, specs)
    return superseded


def phase_jobs(session: Session, run_id: int, phases: Sequence[JobPhase]) -> list[Job]:
    return [j for p in phases for j in job_store.list_jobs(session, run_id, phase=p)]
