"""Running one claimed job: build the training request, train, record the outcome.

The same function runs in-process (tests, debugging) and inside a worker subprocess. The pieces
it puts together: ``job_request`` (what to train), ``job_hooks`` (what training hears back),
``job_endings`` (recording how the attempt ended), ``job_folder`` (``job.json``, checkpoint
cleanup); ``stop_signals`` turns Ctrl-C and SIGTERM into a graceful stop. Whatever
happens, the job leaves RUNNING through exactly one recorded transition -- unless the process
itself dies, and then the lease expires and a reaper returns the job to the queue.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from sweepfirst.attempts import Ending
from sweepfirst.engine.job_endings import classify_error, end_attempt, finish, out_of_memory_reason
from sweepfirst.engine.job_folder import remove_checkpoints, write_job_record
from sweepfirst.engine.job_hooks import JobHooks
from sweepfirst.engine.job_request import build_request
from sweepfirst.errors import LeaseLost, SweepfirstError
from sweepfirst.spec import Workflow
from sweepfirst.states import JobEvent, JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context
from sweepfirst.store.jobs import Lease

log = logging.getLogger(__name__)


def execute_job(ctx: Context, lease: Lease, *, report_step: Callable[[int], None] | None = None) -> JobEvent:
    """Train the leased job and record how it ended; returns the recorded event.

    ``report_step`` hears every optimizer step (a worker process sends it to its executor, which
    then knows at which step a worker that died was).
    """
    from sweepfirst.engine.heartbeat import Heartbeat
    from sweepfirst.engine.pruning import make_pruner
    from sweepfirst.provenance import job_provenance
    from sweepfirst.sweep_config import sweep_metric

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
            return end_attempt(ctx, lease, Ending.INTERRUPTED, reason="interrupted")
        message = error.message if isinstance(error, SweepfirstError) else f"{type(error).__name__}: {error}"
        ending = classify_error(error)
        log.error("job %s: %s (%s)", lease.job_id, message, ending.value)
        tail = "".join(traceback.format_exception(error)[-8:])
        write_job_record(ctx.job_dir(job.output_dir), job, {"status": ending.value, "error": message, "traceback": tail})
        if ending is Ending.LOST:
            return end_attempt(ctx, lease, ending, reason=out_of_memory_reason(message, step), point=step or 0)
        return end_attempt(ctx, lease, ending, reason=message + "\n" + tail)
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
    write_job_record(ctx.job_dir(job.output_dir), job, outcome)
    if result.status == "interrupted":
        return end_attempt(ctx, lease, Ending.INTERRUPTED, reason="stopped at a checkpoint; will resume")
    provenance = job_provenance(request, result)
    # The sweep may optimise another metric than the task's headline one (e.g. MRPC's F1).
    score = result.metrics.get(metric, result.score)
    if result.status == "pruned":
        return finish(ctx, lease, JobEvent.PRUNED, detail=f"pruned at evaluation {hooks.evaluations}",
                       metrics=result.metrics, score=score, provenance=provenance)
    event = finish(ctx, lease, JobEvent.SUCCEEDED, metrics=result.metrics, score=score, provenance=provenance)
    if event is JobEvent.SUCCEEDED and not workflow.training.keep_checkpoints:
        remove_checkpoints(ctx.job_dir(job.output_dir))
    return event
