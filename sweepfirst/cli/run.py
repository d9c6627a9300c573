"""`sweepfirst run` and `sweepfirst resume`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from sweepfirst.cli.plan import RunCap
from sweepfirst.engine.context import Context
from sweepfirst.spec import Workflow
from sweepfirst.states import Phase

if TYPE_CHECKING:
    from sweepfirst.engine.orchestrate import ExecutionOptions
    from sweepfirst.store.models import Run

Workers = Annotated[int | None, typer.Option("--workers", min=1, help="Jobs at once, each in its own process [default: 1, or what the run was started with].", show_default=False)]
Gpus = Annotated[str | None, typer.Option("--gpus", help="GPU ids (e.g. 0,1,2,3): one job per GPU, or --jobs-per-gpu N.")]
InProcess = Annotated[bool, typer.Option("--in-process", help="Run jobs inside this process (debugging).")]
RetryFailed = Annotated[bool, typer.Option("--retry-failed", help="Put every failed job of the run back in the queue first.")]


def stop_flag() -> Any:
    """Ctrl-C and SIGTERM set this flag: running jobs checkpoint and go back to pending."""
    from sweepfirst.engine.execute import STOP_REQUESTED, request_stop_on_signals

    request_stop_on_signals()
    return STOP_REQUESTED.is_set


def drive_and_report(ctx: Context, run: Run, execution: ExecutionOptions, *,
                     only_phase: Phase | None = None) -> None:
    from sweepfirst.engine.orchestrate import drive

    is_set = stop_flag()
    console.info(f"run [bold]{run.name}[/bold] ({run.workflow_name}), state in {ctx.state_dir}")
    from sweepfirst.cli.progress import live_progress, run_fetcher

    with live_progress(run_fetcher(ctx, run.id)):  # a bar per phase, a line per running job
        phase = drive(ctx, run, execution, only_phase=only_phase, notify=console.info, should_stop=is_set)
    if is_set():
        console.fail("Stopped; running jobs were checkpointed. Continue with `sweepfirst resume`.", code=130)
    finish_message(ctx, run.id, phase)


def finish_message(ctx: Context, run_id: int, phase: Phase) -> None:
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


def execution_options(run: Run | None, *, workers: int | None, gpus: str | None,
                      in_process: bool, jobs_per_gpu: int | None = None) -> ExecutionOptions:
    """Options given now, else the ones ``run`` was started with; says where the two differ."""
    from sweepfirst.engine.orchestrate import ExecutionOptions

    recorded = (run.launch or {}) if run is not None else {}
    given_gpus = parse_gpus(gpus)
    chosen_workers = workers if workers is not None else int(recorded.get("workers") or 1)
    chosen_gpus = given_gpus if given_gpus is not None else (tuple(recorded["gpus"]) if recorded.get("gpus") else None)
    if workers is not None and recorded.get("workers") not in (None, workers):
        console.info(f"using --workers {workers} (the run was started with {recorded['workers']})")
    if given_gpus is not None and recorded.get("gpus") and list(given_gpus) != list(recorded["gpus"]):
        console.info(f"using --gpus {','.join(given_gpus)} (the run was started with {','.join(recorded['gpus'])})")
    per_gpu = check_jobs_per_gpu(jobs_per_gpu, chosen_gpus) if jobs_per_gpu is not None else (
        int(recorded.get("jobs_per_gpu") or 1) if chosen_gpus else 1)
    if jobs_per_gpu is not None and recorded.get("jobs_per_gpu") not in (None, jobs_per_gpu):
        console.info(f"using --jobs-per-gpu {jobs_per_gpu} (the run was started with {recorded['jobs_per_gpu']})")
    # --in-process is a debugging choice of this invocation, never inherited.
    return ExecutionOptions(workers=chosen_workers, gpus=chosen_gpus, in_process=in_process, jobs_per_gpu=per_gpu)


def context_for_run(state_dir: Path | None, db_url: str | None, artifacts: Path | None,
                    data_dir: Path | None, run: Run) -> Context:
    """The context a recorded run continues in: its data folder and artifact store unless the
    command names others (then it says so: an interrupted job refuses a changed data source)."""
    recorded = run.launch or {}
    for name, given, was in (("--data-dir", data_dir, recorded.get("data_dir")),
                             ("--artifacts", artifacts, recorded.get("artifacts"))):
        if given is not None and was and Path(given).resolve() != Path(was):
            console.warn(f"using {name} {given} (the run was started with {was})")
    return open_context(
        state_dir, db_url,
        artifacts if artifacts is not None else (Path(recorded["artifacts"]) if recorded.get("artifacts") else None),
        data_dir if data_dir is not None else (Path(recorded["data_dir"]) if recorded.get("data_dir") else None),
        create=False,
    )


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
    from sweepfirst.engine.sweep_config import sweep_config_for

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
