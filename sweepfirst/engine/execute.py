"""Running one claimed job: build the training request, train, record the outcome.

The same function runs in-process (tests, debugging) and inside a worker subprocess. Whatever
happens, the job leaves RUNNING through exactly one recorded transition -- unless the process
itself dies, and then the lease expires and a reaper returns the job to the queue.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sweepfirst.attempts import Ending
from sweepfirst.engine.context import Context
from sweepfirst.engine.pruning import TIE_BREAK_METRIC, Pruner
from sweepfirst.errors import DataError, IllegalTransition, LeaseLost, SweepfirstError
from sweepfirst.spec import Workflow
from sweepfirst.states import JobEvent, JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.jobs import Lease
from sweepfirst.store.models import Job, Run

if TYPE_CHECKING:
    from sweepfirst.training.request import WandbMode

#: The W&B modes a job can run in (``auto`` is resolved to one of them before the job starts).
WANDB_MODES = ("online", "offline", "disabled")

log = logging.getLogger(__name__)

#: Set by SIGINT/SIGTERM handlers (Ctrl-C, preemption, the orchestrator dying): checkpoint, stop.
STOP_REQUESTED = threading.Event()


def request_stop_on_signals() -> None:
    """Turn SIGINT and SIGTERM into a graceful stop: the job checkpoints and returns to pending."""

    def _handler(signum: int, _frame: Any) -> None:
        STOP_REQUESTED.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


def resolve_wandb_mode(configured: str) -> WandbMode:
    """auto -> online when W&B credentials exist, offline otherwise (never a silent upload)."""
    import os

    if configured in WANDB_MODES:
        return cast("WandbMode", configured)
    from_env = os.environ.get("WANDB_MODE", "")
    if from_env in WANDB_MODES:
        return cast("WandbMode", from_env)
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").is_file() and "api.wandb.ai" in (
        Path.home() / ".netrc"
    ).read_text(errors="ignore")
    return "online" if has_key else "offline"


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


def build_request(ctx: Context, run: Run, job: Job) -> Any:
    """The TrainingRequest of a job, from the run's recorded workflow and the job's key."""
    from sweepfirst.training.request import TrainingRequest, WandbSettings

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


class JobHooks:
    """Bridges the training loop to the state database: intermediate scores, stop requests."""

    def __init__(self, ctx: Context, lease: Lease, lease_lost: threading.Event, *, metric: str,
                 pruner: Pruner | None = None, report_step: Callable[[int], None] | None = None) -> None:
        self._ctx = ctx
        self._lease = lease
        self._lease_lost = lease_lost
        self._metric = metric
        self._pruner = pruner
        self._report_step = report_step
        #: The number of the job's latest evaluation (counted across resumes).
        self.evaluations = 0
        #: The job's latest global step (None before its first step).
        self.step: int | None = None

    def on_evaluation(self, step: int, epoch: float, metrics: Mapping[str, float], evaluation: int) -> bool:
        self.evaluations = evaluation
        score = metrics.get(self._metric)
        if score is None:
            return True
        loss = metrics.get(TIE_BREAK_METRIC)
        loss = None if loss is None else float(loss)
        with self._ctx.db.session() as session:
            job_store.record_intermediate(session, self._lease, self.evaluations, float(score), loss)
            if self._pruner is None:
                return True
            return bool(self._pruner(session, self._lease.job_id, self.evaluations, float(score), loss))

    def should_stop(self) -> bool:
        return STOP_REQUESTED.is_set() or self._lease_lost.is_set()

    def on_step(self, step: int) -> None:
        self.step = step
        if self._report_step is not None:
            self._report_step(step)


def _write_job_record(output_dir: Path, job: Job, outcome: Mapping[str, Any]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"job_id": job.id, "phase": job.phase, "task": job.task, "method": job.method,
              "seed": job.seed, "hyperparameters": job.hyperparameters, **outcome}
    tmp = output_dir / "job.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(output_dir / "job.json")


#: Exception type names that mean the accelerator (or the process) ran out of memory: the
#: infrastructure's limit, not the code's fault, so the attempt is lost rather than failed.
_OUT_OF_MEMORY = frozenset({"OutOfMemoryError", "MemoryError"})


def classify_error(error: BaseException) -> Ending:
    """Which attempt ending an exception from the training code is (see `sweepfirst.attempts`)."""
    if type(error).__name__ in _OUT_OF_MEMORY:
        return Ending.LOST
    if isinstance(error, SweepfirstError) and not error.retryable:
        return Ending.PERMANENT_FAILURE
    return Ending.CODE_FAILURE


def out_of_memory_reason(message: str, step: int | None) -> str:
    """The sentence of an attempt that ran out of memory: a loss (it goes back to the queue, and
    resumes from its checkpoint), with what makes it fit -- several jobs may share the GPU."""
    where = f" at step {step}" if step else ""
    first = message.strip().splitlines()[0] if message.strip() else "out of memory"
    return (f"ran out of memory{where} ({first[:300]}); it goes back to the queue -- if it keeps "
            "happening, lower --jobs-per-gpu or the batch size")


def execute_job(ctx: Context, lease: Lease, *, report_step: Callable[[int], None] | None = None) -> JobEvent:
    """Train the leased job and record how it ended; returns the recorded event.

    ``report_step`` hears every optimizer step (a worker process sends it to its executor, which
    then knows at which step a worker that died was).
    """
    from sweepfirst.engine.heartbeat import Heartbeat
    from sweepfirst.engine.pruning import make_pruner
    from sweepfirst.engine.sweep_config import sweep_metric
    from sweepfirst.provenance import job_provenance

    with ctx.db.session() as session:
        job = job_store.get_job(session, lease.job_id)
        run = run_store.find_run(session, job.run_id)
    workflow = Workflow.model_validate(run.spec)
    if job.phase in (JobPhase.REPRESENTATIONS.value, JobPhase.DRIFT.value):
        from sweepfirst.engine.drift_jobs import execute_drift_job

        return execute_drift_job(ctx, lease, job, run, workflow)
    metric = sweep_metric(workflow, job.task, job.method).name
    pruner = make_pruner(workflow, job) if job.phase == JobPhase.SWEEP.value else None
    # The heartbeat carries the step the hooks last heard, and tells the hooks when the lease is gone.
    heartbeat = Heartbeat(ctx.db, lease, lease_seconds=workflow.training.lease_seconds,
                          progress=lambda: hooks.step)
    hooks = JobHooks(ctx, lease, heartbeat.lost, metric=metric, pruner=pruner, report_step=report_step)
    try:
        with heartbeat:
            from sweepfirst.training.runner import run_training

            request = build_request(ctx, run, job)
            result = run_training(request, hooks)
    except LeaseLost:
        return JobEvent.CRASHED
    except BaseException as error:  # noqa: BLE001 -- any failure of the training code is recorded
        step = hooks.step
        if isinstance(error, KeyboardInterrupt):
            return _end(ctx, lease, Ending.INTERRUPTED, reason="interrupted")
        message = error.message if isinstance(error, SweepfirstError) else f"{type(error).__name__}: {error}"
        ending = classify_error(error)
        log.error("job %s: %s (%s)", lease.job_id, message, ending.value)
        tail = "".join(traceback.format_exception(error)[-8:])
        _write_job_record(ctx.job_dir(job.output_dir), job, {"status": ending.value, "error": message, "traceback": tail})
        if ending is Ending.LOST:
            return _end(ctx, lease, ending, reason=out_of_memory_reason(message, step), point=step or 0)
        return _end(ctx, lease, ending, reason=message + "\n" + tail)
    outcome = {
        "status": result.status,
        "metrics": result.metrics,
        "score": result.score,
        "history": result.history,
        "global_step": result.global_step,
        "train_runtime_s": result.train_runtime_s,
        "train_samples_per_second": result.train_samples_per_second,
        "num_train_examples": result.num_train_examples,
        "num_eval_examples": result.num_eval_examples,
        "resumed_from": result.resumed_from,
    }
    _write_job_record(ctx.job_dir(job.output_dir), job, outcome)
    if result.status == "interrupted":
        return _end(ctx, lease, Ending.INTERRUPTED, reason="stopped at a checkpoint; will resume")
    provenance = job_provenance(request, result)
    # The sweep may optimise another metric than the task's headline one (e.g. MRPC's F1).
    score = result.metrics.get(metric, result.score)
    if result.status == "pruned":
        return _finish(ctx, lease, JobEvent.PRUNED, detail=f"pruned at evaluation {hooks.evaluations}",
                       metrics=result.metrics, score=score, provenance=provenance)
    event = _finish(ctx, lease, JobEvent.SUCCEEDED, metrics=result.metrics, score=score, provenance=provenance)
    if event is JobEvent.SUCCEEDED and not workflow.training.keep_checkpoints:
        remove_checkpoints(ctx.job_dir(job.output_dir))
    return event


def remove_checkpoints(output_dir: Path) -> None:
    """Free the disk a finished job's resume points take; metrics and predictions stay."""
    import shutil

    for path in output_dir.glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(output_dir / ".staging", ignore_errors=True)


def _finish(ctx: Context, lease: Lease, event: JobEvent, *, detail: str | None = None, **values: Any) -> JobEvent:
    try:
        with ctx.db.session() as session:
            job_store.finish_job(session, lease, event, detail=detail, **values)
    except (LeaseLost, IllegalTransition):
        log.warning("job %s: lease lost before its outcome could be recorded", lease.job_id)
        return JobEvent.CRASHED
    return event


def _end(ctx: Context, lease: Lease, ending: Ending, *, reason: str, point: int | None = None) -> JobEvent:
    """Record an attempt that did not finish the job, as the retry policy decides."""
    try:
        with ctx.db.session() as session:
            return job_store.end_attempt(session, lease.job_id, ending, token=lease.token, reason=reason,
                                         point=point)
    except (LeaseLost, IllegalTransition):
        log.warning("job %s: lease lost before its ending could be recorded", lease.job_id)
        return JobEvent.CRASHED
