"""What the commands that drive runs share (`run`, `resume`, `train`, `drift`): the execution
options, the context a recorded run continues in, the stop flag, and the closing message.

Kept out of the command modules so no command imports another's names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sweepfirst.cli import console
from sweepfirst.cli.options import check_jobs_per_gpu, open_context, parse_gpus
from sweepfirst.states import Phase

if TYPE_CHECKING:
    from sweepfirst.engine.orchestrate import ExecutionOptions
    from sweepfirst.store.context import Context
    from sweepfirst.store.models import Run

Workers = Annotated[int | None, typer.Option("--workers", min=1, help="Jobs at once, each in its own process [default: 1, or what the run was started with].", show_default=False)]
Gpus = Annotated[str | None, typer.Option("--gpus", help="GPU ids (e.g. 0,1,2,3): one job per GPU, or --jobs-per-gpu N.")]
InProcess = Annotated[bool, typer.Option("--in-process", help="Run jobs inside this process (debugging).")]


def stop_flag() -> Callable[[], bool]:
    """Ctrl-C and SIGTERM set this flag: running jobs checkpoint and go back to pending."""
    from sweepfirst.engine.stop_signals import STOP_REQUESTED, request_stop_on_signals

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
