"""Turning a workflow (and what is recorded) into the jobs each phase needs.

Planning is idempotent: it describes the jobs that should exist, and the store creates only the
missing ones. Sweep planning asks the search strategy for new trials given the history, so grid,
random and bayes all plan the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sweepfirst.methods import canonical_hyperparameters, complete_hyperparameters, get_method
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import job_relative_dir
from sweepfirst.store.models import Job, Run
from sweepfirst.store.trials import sweep_spend, sweep_trials

if TYPE_CHECKING:
    from sweepfirst.search.strategies import Proposer


def plan_sweep(session: Session, run: Run, workflow: Workflow, *, parallel_trials: int,
               proposers: dict[tuple[str, str], Proposer] | None = None) -> set[tuple[str, str]]:
    """Top up every sweep cell with new trials; returns the (task, method) cells that may propose more.

    ``proposers``: the run coordinator's proposers, kept between rounds (a bayes proposer keeps its
    optuna study in step with the history instead of rebuilding it on every proposal); None: new
    ones, rebuilt from the history.
    """
    from sweepfirst.search.strategies import TrialObservation, make_proposer
    from sweepfirst.sweep_config import sweep_config_for

    open_cells: set[tuple[str, str]] = set()
    for task in workflow.tasks:
        for method_name, method_spec in workflow.methods.items():
            config = sweep_config_for(workflow, task, method_name)
            # The fixed block under the vocabulary's names, as the proposals are (lr -> learning_rate).
            fixed = canonical_hyperparameters(
                get_method(method_name, method_spec.peft), method_spec.fixed, workflow.parameter_names
            )
            proposer = (proposers or {}).get((task, method_name)) or make_proposer(
                config, seed=workflow.search_seed(task, method_name))
            if proposers is not None:
                proposers[(task, method_name)] = proposer
            trials = sweep_trials(session, run.id, task, method_name)
            history = [
                TrialObservation(
                    params=_search_params(t.hyperparameters, fixed),
                    score=t.score,
                    state=t.state,
                    intermediate={int(k): v for j in t.jobs for k, v in (j.intermediate or {}).items()},
                )
                for t in trials
            ]
            total = proposer.total_trials
            in_flight = sum(1 for t in trials if t.state == "running")
            # Strategies that learn from finished trials (bayes) propose only as many as can run
            # now; grid and random lose nothing by planning everything at once.
            budget = workflow.method_budget(method_name)
            # A budget of steps or hours is spent as trials finish: plan as bayes does, a few at a
            # time, and stop proposing once it is spent (trials still running finish).
            metered = budget is not None and (budget.train_steps is not None or budget.hours is not None)
            wanted = (total - len(trials)) if not proposer.learns_from_results and total is not None and not metered else max(
                parallel_trials - in_flight, 0
            )
            if total is not None:
                wanted = min(wanted, total - len(trials))
            if sweep_spend(trials).exhausted(budget):
                continue
            proposals = proposer.propose(history, wanted) if wanted > 0 else []
            specs = []
            for offset, params in enumerate(proposals):
                index = len(trials) + offset
                hyperparameters = complete_hyperparameters(
                    get_method(method_name, method_spec.peft), {**params, **fixed}
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
                spec = workflow.methods[method]
                baseline = complete_hyperparameters(get_method(method, spec.peft), spec.fixed)
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


# ---- drift (how fine-tuning changed the model) ----------------------------------------------------

#: The method name of a base-representations job (it belongs to no fine-tuning method).
BASE_METHOD = "base"


def drift_tasks(workflow: Workflow) -> list[str]:
    """The tasks drift analysis covers: sequence classification (a span extractor's dev set is
    windows of contexts, not one example per row)."""
    from sweepfirst.tasks import get_task

    return [t for t in workflow.tasks if get_task(t).kind == "sequence_classification"]


def drift_skip_reason(workflow: Workflow | None) -> str | None:
    """Why a run's drift phase has nothing to do, in words; None when it has work."""
    if workflow is None:
        return "a single experiment has no drift phase (`sweepfirst drift` analyses a workflow run)"
    if not workflow.drift.enabled:
        return "the workflow sets drift: false"
    if not workflow.training.save_final_model:
        return "training.save_final_model is false, so production kept no models"
    if not drift_tasks(workflow):
        return "drift covers sequence-classification tasks only"
    return None


def representations_spec(run: Run, workflow: Workflow, task: str) -> job_store.JobSpec:
    """The one base-representations job of a task (idempotent: keyed by what it computes)."""
    return job_store.JobSpec(
        phase=JobPhase.REPRESENTATIONS,
        task=task,
        method=BASE_METHOD,
        hyperparameters={"model": workflow.model, "examples": workflow.drift.examples,
                         "max_seq_length": workflow.data.max_seq_length},
        seed=0,
        output_dir=job_relative_dir(run.name, "representations", task, BASE_METHOD, "seed0"),
        # First in the queue: it is short, and the drift jobs after production then find it cached.
        priority=-1,
        max_attempts=workflow.training.max_attempts,
        max_losses_at_point=workflow.training.max_losses_at_same_step,
    )


def plan_representations(session: Session, run: Run, workflow: Workflow) -> None:
    """The base model's representations, once per task, planned with production (so any worker
    computes them while the production jobs train)."""
    if drift_skip_reason(workflow) is not None:
        return
    job_store.ensure_jobs(session, run.id, [representations_spec(run, workflow, t) for t in drift_tasks(workflow)])


def drift_sources(session: Session, run: Run, workflow: Workflow) -> list[Job]:
    """The jobs whose models drift analyses: succeeded production and baseline jobs of the
    covered tasks."""
    tasks = set(drift_tasks(workflow))
    return [job for phase in (JobPhase.PRODUCTION, JobPhase.BASELINE)
            for job in job_store.list_jobs(session, run.id, phase=phase, states=[JobState.SUCCEEDED])
            if job.task in tasks]


def plan_drift(session: Session, run: Run, workflow: Workflow, *, only: Collection[int] | None = None) -> list[Job]:
    """One drift job per drift source (``only``: of these job ids); returns the jobs created now.
    Planned whatever ``drift.enabled`` says: the caller decides."""
    specs = []
    for source in drift_sources(session, run, workflow):
        if only is not None and source.id not in only:
            continue
        specs.append(job_store.JobSpec(
            phase=JobPhase.DRIFT,
            task=source.task,
            method=source.method,
            hyperparameters={
                "source_job": source.id, "source_phase": source.phase,
                "examples": workflow.drift.examples,
                "intruder_top_k": workflow.drift.intruder_top_k,
                "intruder_threshold": workflow.drift.intruder_threshold,
            },
            seed=source.seed,
            output_dir=job_relative_dir(run.name, "drift", source.task, source.method,
                                        f"{source.phase}-seed{source.seed}"),
            max_attempts=workflow.training.max_attempts,
            max_losses_at_point=workflow.training.max_losses_at_same_step,
        ))
    return job_store.ensure_jobs(session, run.id, specs)
