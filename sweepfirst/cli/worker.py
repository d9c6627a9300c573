"""`sweepfirst worker`: run jobs of the active runs of a (shared) state database, on any machine."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import (
    Artifacts,
    DataDir,
    DbUrl,
    JobsPerGpu,
    StateDir,
    check_jobs_per_gpu,
    open_context,
    parse_gpus,
)


def worker(
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU ids (e.g. 0,1): one job per GPU, or --jobs-per-gpu N.")] = None,
    jobs_per_gpu: JobsPerGpu = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs at once when no --gpus are given.")] = 1,
    run_ref: Annotated[str | None, typer.Option("--run", help="Only this run (name or id); default: every active run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Keep waiting for new work instead of leaving when none is left.")] = False,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", min=0.1, help="How often to look for work.")] = 2.0,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Run jobs of the active runs from any machine that reaches the database and the artifacts.

    Workers also advance runs (one coordinator per run). Ctrl-C/SIGTERM: jobs checkpoint, go back.
    """
    from sweepfirst.store.database import redact_url

    gpu_ids = parse_gpus(gpus)  # before anything is opened: a typo here changes nothing
    per_gpu = check_jobs_per_gpu(jobs_per_gpu, gpu_ids)
    from sweepfirst.engine.stop_signals import STOP_REQUESTED, request_stop_on_signals
    from sweepfirst.engine.worker import Worker, WorkerOptions, check_artifact_root

    if artifacts is not None:
        check_artifact_root(artifacts)
    ctx = open_context(state_dir, db_url, artifacts, data_dir)
    options = WorkerOptions(workers=workers, gpus=gpu_ids, jobs_per_gpu=per_gpu, run=run_ref, wait=wait,
                            poll_seconds=poll_seconds)
    request_stop_on_signals()
    slots = f"GPUs {','.join(options.gpus)}" if options.gpus else f"{options.slots} slot(s)"
    if options.gpus and per_gpu > 1:
        slots += f", {per_gpu} jobs per GPU"
    console.info(
        f"worker {socket.gethostname()}:{os.getpid()} on {redact_url(ctx.db.url)}, artifacts in "
        f"{ctx.artifacts}, {slots}" + (f", run {run_ref}" if run_ref else "")
    )
    from sweepfirst.cli.progress import active_runs_fetcher, live_progress

    with live_progress(active_runs_fetcher(ctx, run_ref)):  # the run it serves, jobs of every worker
        summary = Worker(ctx, options, notify=console.info, should_stop=STOP_REQUESTED.is_set).serve()
    ctx.db.dispose()
    message = f"worker done: {summary.jobs_started} job(s) started; {summary.reason}."
    if STOP_REQUESTED.is_set():
        console.fail(message, code=130)
    console.success(message)
