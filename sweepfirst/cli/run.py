"""`sweepfirst run` and `sweepfirst resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import Artifacts, DataDir, DbUrl, StateDir, open_context
from sweepfirst.engine.context import Context
from sweepfirst.spec import DEFAULT_WORKFLOW, load_workflow
from sweepfirst.states import Phase

Workers = Annotated[int, typer.Option("--workers", min=1, help="Jobs at once, each in its own process.")]
Gpus = Annotated[str | None, typer.Option("--gpus", help="GPU ids, one job per GPU (e.g. 0,1,2,3).")]
InProcess = Annotated[bool, typer.Option("--in-process", help="Run jobs inside this process (debugging).")]


def _gpu_list(gpus: str | None) -> list[str] | None:
    return [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None


def _stop_flag() -> tuple[object, object]:
    from sweepfirst.engine.execute import STOP_REQUESTED, request_stop_on_signals

    request_stop_on_signals()
    return STOP_REQUESTED, STOP_REQUESTED.is_set


def _drive_and_report(ctx: Context, run: object, *, workers: int, gpus: str | None, in_process: bool,
                      only_phase: Phase | None = None) -> None:
    from sweepfirst.engine.orchestrate import ExecutionOptions, drive

    _flag, is_set = _stop_flag()
    execution = ExecutionOptions(workers=workers, gpus=_gpu_list(gpus), in_process=in_process)
    console.info(f"run [bold]{run.name}[/bold] ({run.workflow_name}), state in {ctx.state_dir}")  # type: ignore[attr-defined]
    phase = drive(ctx, run, execution, only_phase=only_phase, notify=console.info, should_stop=is_set)  # type: ignore[arg-type]
    if is_set():  # type: ignore[operator]
        console.fail("Stopped; running jobs were checkpointed. Continue with `sweepfirst resume`.", code=130)
    _finish_message(ctx, run.id, phase)  # type: ignore[attr-defined]


def _finish_message(ctx: Context, run_id: int, phase: Phase) -> None:
    from sweepfirst.store import runs as run_store

    with ctx.db.session() as session:
        run = run_store.find_run(session, run_id)
    if phase is Phase.FAILED:
        console.fail(run.error or "The run failed; see `sweepfirst status`.")
    if phase is Phase.COMPLETED:
        summary = ctx.run_dir(run.name) / "summary.md"
        if summary.is_file():
            console.print_text(summary.read_text())
        console.success(f"Run {run.name} completed; results in {ctx.run_dir(run.name)}")
    else:
        console.success(f"Run {run.name} is now in phase '{phase.value}'; continue with `sweepfirst resume`.")


def run(
    workflow: Annotated[Path | None, typer.Argument(help="Workflow YAML [default: workflows/default.yaml].", show_default=False)] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", help="Only these tasks: --tasks mrpc sst2.")] = None,
    methods: Annotated[list[str] | None, typer.Option("--methods", help="Only these methods: --methods full_finetune lora.")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="Run one phase of the current run: sweep, analysis or production.")] = None,
    optimal_config: Annotated[Path | None, typer.Option("--optimal-config", help="optimal_hyperparameters.yaml to use for production.")] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a workflow field: --set data.max_train_samples=512.")] = None,
    sweep_configs: Annotated[list[str] | None, typer.Option("--sweep-config", help="A W&B sweep YAML for one method: --sweep-config lora=sweep.yaml.")] = None,
    new_run: Annotated[bool, typer.Option("--new-run", help="Start a new run even if one is unfinished.")] = False,
    workers: Workers = 1,
    gpus: Gpus = None,
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
        reopen_if_stopped,
    )

    only_phase = _parse_phase(phase)
    if optimal_config is not None and only_phase not in (None, Phase.PRODUCTION):
        console.fail("--optimal-config goes with --phase production (or no --phase).", code=2)
    from sweepfirst.spec import parse_sweep_config_options

    spec = load_workflow(
        workflow or DEFAULT_WORKFLOW, overrides or [], parse_sweep_config_options(sweep_configs or [])
    ).restricted(tasks, methods)
    for warning in spec.budget_warnings():
        console.warn(warning)
    ctx = open_context(state_dir, db_url, artifacts, data_dir)
    # With --optimal-config, production may start a run of its own.
    lookup_phase = None if optimal_config is not None else only_phase
    run_row, created = choose_run(ctx, spec, new_run=new_run, phase=lookup_phase)
    if created:
        console.info(f"created run {run_row.name}")
    if optimal_config is not None:
        apply_optimal_config(ctx, run_row, spec, optimal_config)
    elif only_phase is not None:
        check_phase_ready(ctx, run_row, spec, only_phase)
    run_row = reopen_if_stopped(ctx, run_row)
    # Production goes on to write its report: the table is the point of running it.
    _drive_and_report(ctx, run_row, workers=workers, gpus=gpus, in_process=in_process,
                      only_phase=None if only_phase is Phase.PRODUCTION else only_phase)


def _parse_phase(phase: str | None) -> Phase | None:
    if phase is None:
        return None
    allowed = {"sweep": Phase.SWEEP, "analysis": Phase.ANALYSIS, "production": Phase.PRODUCTION}
    if phase not in allowed:
        console.fail(f"Unknown phase {phase!r}; use one of {', '.join(allowed)}.", code=2)
    return allowed[phase]


def resume(
    run_ref: Annotated[str | None, typer.Argument(metavar="[RUN]", help="Run name or id [default: the latest].", show_default=False)] = None,
    workers: Workers = 1,
    gpus: Gpus = None,
    in_process: InProcess = False,
    state_dir: StateDir = None,
    db_url: DbUrl = None,
    artifacts: Artifacts = None,
    data_dir: DataDir = None,
) -> None:
    """Continue a run exactly where it stopped (finished jobs never run again)."""
    from sweepfirst.engine.orchestrate import reopen_if_stopped
    from sweepfirst.store import runs as run_store

    ctx = open_context(state_dir, db_url, artifacts, data_dir)
    with ctx.db.session() as session:
        run_row = run_store.find_run(session, run_ref)
    if run_row.phase == Phase.COMPLETED.value:
        console.success(f"Run {run_row.name} is already completed; results in {ctx.run_dir(run_row.name)}")
        return
    run_row = reopen_if_stopped(ctx, run_row)
    _drive_and_report(ctx, run_row, workers=workers, gpus=gpus, in_process=in_process)
