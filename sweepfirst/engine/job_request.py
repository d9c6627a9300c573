"""A job's TrainingRequest, built from its run's recorded workflow and the job's key: what to train,
on which data, where its outputs go, and how it logs to W&B."""

from __future__ import annotations

import re
from pathlib import Path

from sweepfirst.engine.wandb_mode import resolve_wandb_mode
from sweepfirst.errors import DataError
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase
from sweepfirst.store.context import Context
from sweepfirst.store.models import Job, Run
from sweepfirst.training.request import TrainingRequest, WandbSettings


def job_display_name(job: Job) -> str:
    if job.phase == JobPhase.SWEEP.value:
        return f"{job.task}-{job.method}-trial{job.trial_index}-seed{job.seed}"
    return f"{job.task}-{job.method}-{job.phase}-seed{job.seed}"


def resolve_data_dir(ctx: Context, run: Run, workflow: Workflow) -> Path | None:
    """Where a job of ``run`` reads its data: the folder this process was given, else the one the
    run was started with, else the workflow's; None means the Hub."""
    recorded = (run.launch or {}).get("data_dir")
    data_dir = ctx.data_dir or (Path(recorded) if recorded else None)
    if workflow.data.dir is not None and data_dir is None:
        data_dir = workflow.data.dir
    if workflow.data.source == "hub":
        data_dir = None
    elif workflow.data.source == "local" and data_dir is None:
        raise DataError(
            "The workflow asks for local data but no data folder is set; pass --data-dir or set "
            "SWEEPFIRST_DATA_DIR (a folder in the glue_data layout, e.g. ../shared/data/glue)."
        )
    return data_dir


def build_request(ctx: Context, run: Run, job: Job) -> TrainingRequest:
    """The TrainingRequest of a job, from the run's recorded workflow and the job's key."""
    workflow = Workflow.model_validate(run.spec)
    evaluation = "selection" if job.phase == JobPhase.SWEEP.value and workflow.selection.split == "train_holdout" else "dev"
    data_dir = resolve_data_dir(ctx, run, workflow)
    wandb = workflow.wandb
    return TrainingRequest(
        task=job.task,
        method=job.method,
        hyperparameters=dict(job.hyperparameters),
        seed=job.seed,
        model=workflow.model,
        output_dir=ctx.job_dir(job.output_dir),
        evaluation=evaluation,
        selection_fraction=workflow.selection.fraction,
        selection_seed=workflow.selection.seed,
        data_dir=data_dir,
        max_train_samples=workflow.data.max_train_samples,
        max_eval_samples=workflow.data.max_eval_samples,
        max_seq_length=workflow.data.max_seq_length,
        evaluations_per_epoch=workflow.training.evaluations_per_epoch,
        save_checkpoints=workflow.training.save_checkpoints,
        # Production-like jobs keep their model (drift analysis reads it); sweep trials never.
        save_final_model=workflow.training.save_final_model and job.phase != JobPhase.SWEEP.value,
        save_merged_model=workflow.training.save_merged_model,
        cache_dir=ctx.artifacts / "cache",
        precision=workflow.training.precision,
        peft=workflow.methods[job.method].peft if job.method in workflow.methods else None,
        wandb=WandbSettings(
            mode=resolve_wandb_mode(wandb.mode),
            project=wandb.project,
            entity=wandb.entity,
            group=run.name,
            job_type=job.phase,
            name=job_display_name(job),
            run_id=re.sub(r"[^A-Za-z0-9_-]", "-", f"{run.name}-job{job.id}")[:120],
            tags=tuple(wandb.tags),
        ),
    )
