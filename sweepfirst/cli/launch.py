"""`sweepfirst launch slurm`: start workers as Slurm jobs (submitit) on a shared state database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DataDir, DbUrl, JobsPerGpu, StateDir, open_context
from sweepfirst.errors import StateError

if TYPE_CHECKING:
    from sweepfirst.store.context import Context

app = typer.Typer(help="Start workers on a cluster.", no_args_is_help=True)


def _start_run(ctx: Context, workflow: Path, overrides: list[str], new_run: bool, jobs_per_gpu: int) -> str:
    """Create (or continue) the workflow's run and make it active, without running anything here."""
    from sweepfirst.engine.orchestrate import ExecutionOptions, choose_run, launch_record, reopen
    from sweepfirst.spec import load_workflow
    from sweepfirst.states import Phase
    from sweepfirst.store import runs as run_store

    spec = load_workflow(workflow, overrides)
    run, created = choose_run(ctx, spec, new_run=new_run, phase=None,
                              launch=launch_record(ctx, ExecutionOptions(jobs_per_gpu=jobs_per_gpu)))
    run = reopen(ctx, run)
    if run.phase == Phase.PLANNED.value:
        with ctx.db.session() as session:
            run_store.transition_run(session, run.id, Phase.SWEEP, detail="started for workers")
    console.info(f"{'created' if created else 'continuing'} run {run.name}")
    return run.name


@app.command("slurm")
def slurm(
    workflow: Annotated[Path | None, typer.Argument(help="Also start (or continue) this workflow's run; default: serve the active runs.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker jobs to submit.")] = 1,
    gpus_per_worker: Annotated[int, typer.Option("--gpus-per-worker", min=0, help="GPUs per worker job (--jobs-per-gpu job slots each).")] = 1,
    jobs_per_gpu: JobsPerGpu = None,
    cpu_slots: Annotated[int, typer.Option("--cpu-slots", min=1, help="Job slots of a worker without GPUs.")] = 1,
    partition: Annotated[str | None, typer.Option("--partition", help="Slurm partition.")] = None,
    time: Annotated[str, typer.Option("--time", help="Time limit per worker job (Slurm format: 90, 4:00:00, 1-00:00:00).")] = "4:00:00",
    account: Annotated[str | None, typer.Option("--account", help="Slurm account.")] = None,
    cpus_per_worker: Annotated[int | None, typer.Option("--cpus-per-worker", help="CPUs per worker job.")] = None,
    mem_gb: Annotated[int | None, typer.Option("--mem-gb", help="Memory per worker job.")] = None,
    signal_delay: Annotated[int, typer.Option("--signal-delay", min=10, help="Seconds between the preemption signal and the kill (time to checkpoint).")] = 120,
    run_ref: Annotated[str | None, typer.Option("--run", help="Workers serve only this run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Workers keep waiting for new work until their time is up.")] = False,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field: --set data.max_train_samples=512.")] = None,
    new_run: Annotated[bool, typer.Option("--new-run", help="Start a new run even if one is unfinished.")] = False,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="submitit's folder of job scripts and logs; default: STATE_DIR/slurm.")] = None,
    cluster: Annotated[str, typer.Option("--cluster", hidden=True, help="submitit cluster: slurm, or local to try it on this machine.")] = "slurm",
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Submit `sweepfirst worker` jobs to Slurm; preempted workers hand their jobs back and are requeued."""
    from sweepfirst.engine.slurm import (
        SlurmResources,
        SlurmWorkerSettings,
        make_submitter,
        parse_slurm_time,
        submit_workers,
    )
    from sweepfirst.engine.worker import check_artifact_root
    from sweepfirst.store.database import redact_url

    per_gpu = jobs_per_gpu or 1
    if per_gpu > 1 and gpus_per_worker == 0:
        raise typer.BadParameter("--jobs-per-gpu shares GPUs; give each worker some with --gpus-per-worker N "
                                 "(or use --cpu-slots N without GPUs)", param_hint="--jobs-per-gpu")
    try:
        timeout_min = parse_slurm_time(time)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--time") from None
    if artifacts is not None:
        check_artifact_root(artifacts)
    ctx = open_context(state_dir, db_url, artifacts, data_dir)
    if ctx.db.is_sqlite and cluster == "slurm":
        raise StateError(
            "Slurm workers on other nodes need a PostgreSQL state database (a SQLite file works on one "
            "machine only); pass --db-url postgresql+psycopg://USER@HOST/DB."
        )
    if workflow is not None and run_ref is not None:
        raise typer.BadParameter("give a WORKFLOW to start or --run to serve, not both", param_hint="--run")
    resources = SlurmResources(gpus_per_worker=gpus_per_worker, timeout_min=timeout_min, partition=partition,
                               account=account, cpus_per_worker=cpus_per_worker, mem_gb=mem_gb,
                               signal_delay_s=signal_delay)
    folder = (log_dir or ctx.state_dir / "slurm").resolve()
    submitter = make_submitter(folder / "%j", resources, cluster=cluster)  # fails early off-cluster
    if workflow is not None:
        run_ref = _start_run(ctx, workflow, overrides or [], new_run, per_gpu)
    settings = SlurmWorkerSettings(
        state_dir=str(ctx.state_dir.resolve()), artifacts=str(ctx.artifacts.resolve()),
        data_dir=str(ctx.data_dir.resolve()) if ctx.data_dir else None, run=run_ref, wait=wait,
        gpus_per_worker=gpus_per_worker, jobs_per_gpu=per_gpu, cpu_slots=cpu_slots,
        stop_timeout_s=max(signal_delay - 20, 5),
    )
    jobs = submit_workers(submitter, settings, workers, db_url=ctx.db.url)
    console.success(
        f"submitted {len(jobs)} worker job(s) ({', '.join(j.job_id for j in jobs)}) on {redact_url(ctx.db.url)}; "
        f"logs in {folder}; follow with `sweepfirst status`"
    )
