"""`sweepfirst run` and `sweepfirst resume`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.driving import (
    Gpus,
    InProcess,
    Workers,
    context_for_run,
    drive_and_report,
    execution_options,
)
from sweepfirst.cli.options import (
    Artifacts,
    DataDir,
    DbUrl,
    JobsPerGpu,
    RunCap,
    StateDir,
    check_jobs_per_gpu,
    open_context,
    parse_gpus,
)
from sweepfirst.states import Phase

if TYPE_CHECKING:
    from sweepfirst.spec import Workflow
    from sweepfirst.store.context import Context

RetryFailed = Annotated[bool, typer.Option("--retry-failed", help="Put every failed job of the run back in the queue first.")]


def run(
    workflow: Annotated[Path | None, typer.Argument(help="Workflow YAML [default: workflows/default.yaml; with --phase: the current run's design].", show_default=False)] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", help="Only these tasks: --tasks mrpc sst2.")] = None,
    methods: Annotated[list[str] | None, typer.Option("--methods", help="Only these methods: --methods full_finetune lora.")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="Run one phase of the current run: sweep, analysis or production.")] = None,
    optimal_config: Annotated[Path | None, typer.Option("--optimal-config", help="optimal_hyperparameters.yaml to use for production.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field: --set data.max_train_samples=512.")] = None,
    sweep_configs: Annotated[list[str] | None, typer.Option("--sweep-config", help="A W&B sweep YAML for one method: --sweep-config lora=sweep.yaml.")] = None,
    new_run: Annotated[bool, typer.Option("--new-run", help="Start a new run even if one is unfinished.")] = False,
    run_cap: RunCap = None,
    workers: Workers = None,
    gpus: Gpus = None,
    jobs_per_gpu: JobsPerGpu = None,
    in_process: InProcess = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Run a workflow: sweep -> analysis -> production -> report (or one phase of it)."""
    from sweepfirst.engine.orchestrate import (
        apply_optimal_config,
        check_phase_ready,
        choose_run,
        current_run,
        launch_record,
        reopen,
    )

    only_phase = _parse_phase(phase)
    if optimal_config is not None and only_phase not in (None, Phase.PRODUCTION):
        console.fail("--optimal-config goes with --phase production (or no --phase).", code=2)
    check_jobs_per_gpu(jobs_per_gpu, parse_gpus(gpus))  # refuse bad --gpus before anything is recorded
    if workflow is None and only_phase is not None and optimal_config is None:
        # `run --phase X` acts on the current run, with the design it was started with.
        if tasks or methods or overrides or sweep_configs or new_run or run_cap:
            console.fail("--tasks, --methods, --set, --sweep-config and --new-run change the design; pass the "
                         "workflow file too (`sweepfirst run WORKFLOW --phase ...`).", code=2)
        probe = open_context(state_dir, db_url, artifacts, data_dir, create=False)
        recorded = current_run(probe)
        ctx = context_for_run(state_dir, db_url, artifacts, data_dir, recorded)
        from sweepfirst.spec import Workflow

        spec = Workflow.model_validate(recorded.spec)
        run_row, created = recorded, False
    else:
        spec = _load_design(workflow, overrides, sweep_configs, tasks, methods, run_cap)
        ctx = open_context(state_dir, db_url, artifacts, data_dir)
        _check_data(spec, ctx)
        # With --optimal-config, production may start a run of its own.
        lookup_phase = None if optimal_config is not None else only_phase
        launch = launch_record(ctx, execution_options(None, workers=workers, gpus=gpus, in_process=in_process,
                                                      jobs_per_gpu=jobs_per_gpu))
        run_row, created = choose_run(ctx, spec, new_run=new_run, phase=lookup_phase, launch=launch)
        if not created:
            ctx = context_for_run(state_dir, db_url, artifacts, data_dir, run_row)
    if created:
        console.info(f"created run {run_row.name}")
    if optimal_config is not None:
        apply_optimal_config(ctx, run_row, spec, optimal_config)
    elif only_phase is not None:
        check_phase_ready(ctx, run_row, spec, only_phase)
    run_row = reopen(ctx, run_row)
    execution = execution_options(run_row, workers=workers, gpus=gpus, in_process=in_process,
                                  jobs_per_gpu=jobs_per_gpu)
    # Production goes on to write its report: the table is the point of running it.
    drive_and_report(ctx, run_row, execution, only_phase=None if only_phase is Phase.PRODUCTION else only_phase)


def _load_design(workflow: Path | None, overrides: list[str] | None, sweep_configs: list[str] | None,
                 tasks: list[str] | None, methods: list[str] | None, run_cap: int | None = None) -> Workflow:
    from sweepfirst.cli.plan import load_design

    # Narrowed to --tasks/--methods before it is checked, as `sweepfirst plan` does.
    spec = load_design(workflow, overrides, sweep_configs, tasks, methods, run_cap)
    for warning in spec.budget_warnings():
        console.warn(warning)
    _sweep_notes(spec)
    return spec


def _sweep_notes(spec: Workflow) -> None:
    """What the sweep configs hold that W&B would warn about, or that has no effect here."""
    from sweepfirst.sweep_config import sweep_config_for

    seen: set[str] = set()
    for task in spec.tasks:
        for method in spec.methods:
            config = sweep_config_for(spec, task, method)
            for line in config.warnings:
                if line not in seen:
                    seen.add(line)
                    console.warn(line)
            if config.unused_keys and method not in seen:
                seen.add(method)
                console.info(f"{method}'s sweep config: {', '.join(config.unused_keys)} have no effect here "
                             "(sweepfirst runs the training itself)")
            if config.ignored and f"ignored:{method}" not in seen:
                seen.add(f"ignored:{method}")
                console.info(f"{method}'s sweep parameters with no effect here: {config.describe_ignored()}")


def _check_data(spec: Workflow, ctx: Context) -> None:
    """Bad data is found before any compute is spent (and before any run is recorded)."""
    from sweepfirst.training.data_check import check_workflow_data

    check_workflow_data(spec, ctx.data_dir)


def _parse_phase(phase: str | None) -> Phase | None:
    if phase is None:
        return None
    allowed = {"sweep": Phase.SWEEP, "analysis": Phase.ANALYSIS, "production": Phase.PRODUCTION}
    if phase not in allowed:
        console.fail(f"Unknown phase {phase!r}; use one of {', '.join(allowed)}.", code=2)
    return allowed[phase]


def resume(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    retry_failed: RetryFailed = False,
    workers: Workers = None,
    gpus: Gpus = None,
    jobs_per_gpu: JobsPerGpu = None,
    in_process: InProcess = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Continue a run exactly where it stopped (finished jobs never run again), with the data
    folder, artifact store and workers it was started with unless told otherwise."""
    from sweepfirst.engine.orchestrate import reopen
    from sweepfirst.store import runs as run_store

    parse_gpus(gpus)
    probe = open_context(state_dir, db_url, artifacts, data_dir, create=False)
    with probe.db.session() as session:
        run_row = run_store.find_run(session, run_ref)
    if jobs_per_gpu is not None:  # refused (no GPUs to share) before the run is touched
        check_jobs_per_gpu(jobs_per_gpu, parse_gpus(gpus) or tuple((run_row.launch or {}).get("gpus") or ()) or None)
    ctx = context_for_run(state_dir, db_url, artifacts, data_dir, run_row)
    run_row = reopen(ctx, run_row, retry_failed=retry_failed)
    if run_row.phase == Phase.COMPLETED.value:
        console.success(f"Run {run_row.name} is already completed; results in {ctx.run_dir(run_row.name)}")
        return
    execution = execution_options(run_row, workers=workers, gpus=gpus, in_process=in_process,
                                  jobs_per_gpu=jobs_per_gpu)
    drive_and_report(ctx, run_row, execution)
