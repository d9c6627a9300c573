"""What `run`, `resume` and `train` do, without the terminal: choose the run, then drive it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sweepfirst.engine.context import Context, job_relative_dir
from sweepfirst.engine.coordination import CoordinatorLocks
from sweepfirst.engine.executors import make_executor
from sweepfirst.engine.scheduler import Scheduler, SchedulerOptions
from sweepfirst.errors import PhaseNotReady, RunBusy, SpecError, StateError
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import Run


@dataclass(frozen=True)
class ExecutionOptions:
    workers: int = 1
    gpus: Sequence[str] | None = None
    in_process: bool = False


def new_run_name(prefix: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{prefix}-{stamp}"


def _create_run(ctx: Context, workflow: Workflow, *, kind: str = "workflow", prefix: str | None = None) -> Run:
    from sweepfirst.provenance import run_provenance

    with ctx.db.session() as session:
        return run_store.create_run(
            session,
            name=new_run_name(prefix or workflow.name),
            workflow_name=workflow.name,
            spec=workflow.model_dump(mode="json"),
            spec_hash=workflow.spec_hash(),
            provenance=run_provenance(),
            kind=kind,
        )


def _latest_workflow_run(ctx: Context) -> Run | None:
    with ctx.db.session() as session:
        runs = [r for r in run_store.list_runs(session) if r.kind == "workflow"]
    return runs[-1] if runs else None


def choose_run(ctx: Context, workflow: Workflow, *, new_run: bool, phase: Phase | None) -> tuple[Run, bool]:
    """The run this `sweepfirst run` works on, and whether it was just created.

    An unfinished run of the same design continues; an unfinished run of a different design is
    never touched -- the user is told how to proceed instead.
    """
    latest = _latest_workflow_run(ctx)
    if phase in (Phase.ANALYSIS, Phase.PRODUCTION) and (latest is None or new_run):
        raise PhaseNotReady(
            f"There is no run whose {phase.value} could start in {ctx.state_dir}; start one with "
            "`sweepfirst run --phase sweep` (or hand production a configuration with --optimal-config FILE)."
        )
    if latest is not None and not new_run and latest.phase != Phase.COMPLETED.value:
        if latest.spec_hash != workflow.spec_hash():
            raise StateError(
                f"The state directory {ctx.state_dir} holds unfinished run '{latest.name}' of a different "
                f"design (workflow '{latest.workflow_name}'); continue it with `sweepfirst resume`, "
                "start another alongside it with --new-run, or use another --state-dir."
            )
        return latest, False
    if latest is not None and phase in (Phase.ANALYSIS, Phase.PRODUCTION):
        return latest, False
    return _create_run(ctx, workflow), True


def apply_optimal_config(ctx: Context, run: Run, workflow: Workflow, path: Path) -> None:
    """Record the configurations of an exported file as this run's selections, then production."""
    from sweepfirst.analysis.exports import read_optimal_config

    chosen = {(c.task, c.method): c for c in read_optimal_config(path)}
    missing = [f"{t}/{m}" for t in workflow.tasks for m in workflow.methods if (t, m) not in chosen]
    if missing:
        raise SpecError(
            f"{path} has no configuration for {', '.join(missing)}; add them or restrict the run with "
            "--tasks/--methods."
        )
    with ctx.db.session() as session:
        current = Phase(run_store.find_run(session, run.id).phase)
        if current not in (Phase.PLANNED, Phase.ANALYSIS, Phase.PRODUCTION):
            raise StateError(
                f"Run '{run.name}' is in phase '{current.value}'; --optimal-config applies to a new run "
                "(add --new-run) or one waiting for production."
            )
        for task in workflow.tasks:
            for method in workflow.methods:
                config = chosen[(task, method)]
                run_store.save_selection(
                    session, run.id, task=task, method=method, hyperparameters=config.hyperparameters,
                    config_hash=job_store.config_hash(config.hyperparameters), metric="", score=None,
                    metrics={}, split="file", source="file",
                )
        if current is not Phase.PRODUCTION:
            run_store.transition_run(session, run.id, Phase.PRODUCTION, detail=f"configurations from {path}")


def check_phase_ready(ctx: Context, run: Run, workflow: Workflow, phase: Phase) -> None:
    """Refuse `run --phase X` with a sentence saying what to do, when X cannot start yet."""
    with ctx.db.session() as session:
        current = Phase(run_store.find_run(session, run.id).phase)
        chosen = run_store.selections(session, run.id)
        if current in (Phase.FAILED, Phase.CANCELLED):
            current = Phase(run_store.find_run(session, run.id).stopped_in_phase or current.value)
    order = [Phase.PLANNED, Phase.SWEEP, Phase.ANALYSIS, Phase.PRODUCTION, Phase.REPORT, Phase.COMPLETED]
    if phase is Phase.PRODUCTION:
        missing = [f"{t}/{m}" for t in workflow.tasks for m in workflow.methods if (t, m) not in chosen]
        if missing and current is not Phase.PRODUCTION:
            raise PhaseNotReady(
                f"Production needs a chosen configuration for every (task, method), and "
                f"{', '.join(missing)} has none yet; finish the sweep and analysis "
                "(`sweepfirst run --phase sweep`, then `--phase analysis`) or hand one in with "
                "--optimal-config FILE."
            )
        return
    if order.index(current) < order.index(phase) and not (phase is Phase.SWEEP):
        raise PhaseNotReady(
            f"Run '{run.name}' is in phase '{current.value}', so '{phase.value}' cannot start yet; "
            f"run `sweepfirst run --phase {current.value if current.is_working() else 'sweep'}` first."
        )
    if order.index(current) > order.index(phase):
        raise PhaseNotReady(
            f"Run '{run.name}' has finished its {phase.value} phase (it is in '{current.value}'); "
            "continue with `sweepfirst resume`."
        )


def reopen_if_stopped(ctx: Context, run: Run) -> Run:
    """A failed or cancelled run goes back to the phase it stopped in."""
    with ctx.db.session() as session:
        current = run_store.find_run(session, run.id)
        if current.phase in (Phase.FAILED.value, Phase.CANCELLED.value):
            back_to = Phase(current.stopped_in_phase or Phase.SWEEP.value)
            if back_to is Phase.PLANNED:
                back_to = Phase.SWEEP
            run_store.transition_run(session, run.id, back_to, detail="resumed")
        return run_store.find_run(session, run.id)


def drive(
    ctx: Context,
    run: Run,
    execution: ExecutionOptions,
    *,
    only_phase: Phase | None = None,
    notify: Callable[[str], None] = lambda _line: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Phase:
    """Reap, then work on the run until it completes, fails, leaves ``only_phase`` or is stopped.

    The driver plans trials and advances phases, so it holds the run's coordinator lock, the one
    `sweepfirst worker` processes take: a worker on another machine then only helps execute jobs,
    and a second `run` or `resume` of the same run is refused instead of planning it twice.

    Raises:
        RunBusy: another live process coordinates the run.
    """
    locks = CoordinatorLocks(ctx.db)
    if not locks.try_hold(run.id):
        locks.close()
        raise RunBusy(
            f"Run {run.name} is already being driven by another live sweepfirst process (a `run`, "
            "`resume` or `worker`); wait for it to finish, or add this machine's capacity with "
            "`sweepfirst worker`."
        )
    try:
        executor = make_executor(ctx, workers=execution.workers, gpus=execution.gpus, in_process=execution.in_process)
        slots = len(execution.gpus) if execution.gpus else max(execution.workers, 1)
        options = SchedulerOptions(only_phase=only_phase, parallel_trials=slots, should_stop=should_stop)
        scheduler = Scheduler(ctx, run.id, executor, options, notify)
        try:
            return scheduler.drive()
        finally:
            executor.stop()
    finally:
        locks.close()


def create_train_run(ctx: Context, workflow: Workflow, *, task: str, method: str, seed: int,
                     hyperparameters: dict[str, object]) -> Run:
    """`sweepfirst train`: a run of one job, trained on train and scored on dev."""
    run = _create_run(ctx, workflow, kind="train", prefix=f"train-{task}-{method}")
    with ctx.db.session() as session:
        job_store.ensure_jobs(session, run.id, [job_store.JobSpec(
            phase=JobPhase.TRAIN, task=task, method=method, hyperparameters=hyperparameters, seed=seed,
            output_dir=job_relative_dir(run.name, "train", task, method, f"seed{seed}"),
            max_attempts=workflow.training.max_attempts,
        )])
        run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="single experiment")
    return run


def default_data_dir_hint() -> str:
    return os.environ.get("SWEEPFIRST_DATA_DIR", "../shared/data/glue")
