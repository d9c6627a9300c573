"""What `run`, `resume` and `train` do, without the terminal: choose the run, then drive it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from sweepfirst.engine.executors import make_executor
from sweepfirst.engine.loop import CoordinatorLoop, LoopOptions
from sweepfirst.engine.phase_steps import earliest_unfinished_phase
from sweepfirst.errors import PhaseNotReady, RunBusy, SpecError, StateError
from sweepfirst.spec import Workflow
from sweepfirst.states import PHASE_ORDER, STOPPED_PHASES, JobPhase, Phase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.context import Context, job_relative_dir
from sweepfirst.store.models import Run

#: Serialises run creation between processes sharing one PostgreSQL database (SQLite's
#: BEGIN IMMEDIATE already does): two `run`s started at the same instant make one run.
_PG_CREATE_LOCK_KEY = 0x5EE9C4EA7E


@dataclass(frozen=True)
class ExecutionOptions:
    workers: int = 1
    gpus: Sequence[str] | None = None
    in_process: bool = False
    #: Worker processes sharing each GPU of ``gpus``.
    jobs_per_gpu: int = 1

    @property
    def slots(self) -> int:
        """Jobs at once."""
        return len(self.gpus) * self.jobs_per_gpu if self.gpus else max(self.workers, 1)


def launch_record(ctx: Context, execution: ExecutionOptions) -> dict[str, Any]:
    """How a run is started, recorded on it so `resume` can start it the same way."""
    return {
        "data_dir": str(ctx.data_dir.resolve()) if ctx.data_dir is not None else None,
        "artifacts": str(ctx.artifacts.resolve()),
        "workers": execution.workers,
        "gpus": list(execution.gpus) if execution.gpus else None,
        "jobs_per_gpu": execution.jobs_per_gpu,
        "in_process": execution.in_process,
    }


def new_run_name(prefix: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{prefix}-{stamp}"


def _create_run(session: Session, workflow: Workflow, launch: Mapping[str, Any], *, kind: str = "workflow",
                prefix: str | None = None) -> Run:
    from sweepfirst.provenance import run_provenance

    return run_store.create_run(
        session,
        name=new_run_name(prefix or workflow.name),
        workflow_name=workflow.name,
        spec=workflow.model_dump(mode="json"),
        spec_hash=workflow.spec_hash(),
        provenance=run_provenance(),
        kind=kind,
        launch=launch,
    )


def latest_workflow_run(session: Session) -> Run | None:
    runs = [r for r in run_store.list_runs(session) if r.kind == "workflow"]
    return runs[-1] if runs else None


def _lock_run_creation(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CREATE_LOCK_KEY})


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths where two recorded designs differ (``data.max_train_samples``)."""
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += changed_fields(a, b, f"{path}.")
        elif a != b:
            changed.append(path)
    return changed


def _different_design(ctx: Context, latest: Run, workflow: Workflow) -> StateError:
    fields = changed_fields(latest.spec, workflow.model_dump(mode="json"))
    shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
    return StateError(
        f"The state directory {ctx.state_dir} holds unfinished run '{latest.name}' of a different "
        f"design (changed: {shown or 'the workflow'}); continue it with `sweepfirst resume`, start "
        "another alongside it with --new-run, or use another --state-dir."
    )


def choose_run(ctx: Context, workflow: Workflow, *, new_run: bool, phase: Phase | None,
               launch: Mapping[str, Any] | None = None) -> tuple[Run, bool]:
    """The run this `sweepfirst run` works on, and whether it was just created.

    An unfinished run of the same design continues; an unfinished run of a different design is
    never touched -- the user is told how to proceed instead. Looking and creating happen in one
    write transaction (serialised between processes), so two `run`s started at the same instant
    make one run, not two.
    """
    with ctx.db.session() as session:
        _lock_run_creation(session)
        latest = latest_workflow_run(session)
        if phase in (Phase.ANALYSIS, Phase.PRODUCTION) and (latest is None or new_run):
            raise PhaseNotReady(
                f"There is no run whose {phase.value} could start in {ctx.state_dir}; start one with "
                "`sweepfirst run --phase sweep` (or hand production a configuration with --optimal-config FILE)."
            )
        if latest is not None and not new_run and latest.phase != Phase.COMPLETED.value:
            if latest.spec_hash != workflow.spec_hash():
                raise _different_design(ctx, latest, workflow)
            return latest, False
        if latest is not None and phase in (Phase.ANALYSIS, Phase.PRODUCTION):
            return latest, False
        return _create_run(session, workflow, launch or {}), True


def current_run(ctx: Context, ref: str | None = None) -> Run:
    """The run a command without a workflow acts on: ``ref``, else the latest workflow run."""
    with ctx.db.session(readonly=True) as session:
        if ref is not None:
            return run_store.find_run(session, ref)
        latest = latest_workflow_run(session)
    if latest is None:
        raise PhaseNotReady(
            f"There is no run in {ctx.state_dir} to act on; start one with `sweepfirst run WORKFLOW` "
            "(or point --state-dir at the folder that holds it)."
        )
    return latest


def apply_optimal_config(ctx: Context, run: Run, workflow: Workflow, path: Path) -> None:
    """Record the configurations of an exported file as this run's selections, then production."""
    from sweepfirst.analysis.exports import read_optimal_config

    chosen = {(c.task, c.method): c for c in read_optimal_config(path, {m: s.peft for m, s in workflow.methods.items()})}
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
        if current in STOPPED_PHASES:
            current = Phase(run_store.find_run(session, run.id).stopped_in_phase or current.value)
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
    if PHASE_ORDER.index(current) < PHASE_ORDER.index(phase) and not (phase is Phase.SWEEP):
        raise PhaseNotReady(
            f"Run '{run.name}' is in phase '{current.value}', so '{phase.value}' cannot start yet; "
            f"run `sweepfirst run --phase {current.value if current.is_working() else 'sweep'}` first."
        )
    if PHASE_ORDER.index(current) > PHASE_ORDER.index(phase):
        raise PhaseNotReady(
            f"Run '{run.name}' has finished its {phase.value} phase (it is in '{current.value}'); "
            "continue with `sweepfirst resume`."
        )


def reopen(ctx: Context, run: Run, *, retry_failed: bool = False) -> Run:
    """Make a run drivable again: back to the earliest phase with unfinished work.

    A failed or cancelled run goes back to the phase it stopped in -- or earlier, if a job of an
    earlier phase is waiting (`jobs retry` of a sweep job reopens the sweep, and analysis runs
    again after it). With ``retry_failed`` every failed job goes back in the queue first.
    """
    with ctx.db.session() as session:
        if retry_failed:
            job_store.retry_failed_jobs(session, run.id)
        current = run_store.find_run(session, run.id)
        phase = Phase(current.phase)
        earliest = earliest_unfinished_phase(job_store.list_jobs(session, run.id))
        if phase in STOPPED_PHASES:
            back_to = Phase(current.stopped_in_phase or Phase.SWEEP.value)
            if back_to is Phase.PLANNED:
                back_to = Phase.SWEEP
        else:
            back_to = phase
        if earliest is not None and PHASE_ORDER.index(earliest) < PHASE_ORDER.index(back_to):
            back_to = earliest
        if back_to is not phase:
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
    """Work on the run until it completes, fails, leaves ``only_phase`` or is stopped.

    The driver plans trials and advances phases, so it holds the run's coordinator lock, the one
    `sweepfirst worker` processes take: a worker on another machine then only helps execute jobs,
    and a second `run` or `resume` of the same run is refused instead of planning it twice.

    Raises:
        RunBusy: another live process coordinates the run.
    """
    executor = make_executor(ctx, workers=execution.workers, gpus=execution.gpus, in_process=execution.in_process,
                             jobs_per_gpu=execution.jobs_per_gpu)
    loop = CoordinatorLoop(ctx, executor, LoopOptions(parallel_trials=execution.slots, should_stop=should_stop),
                           notify)
    if not loop.locks.try_hold(run.id):
        loop.locks.close()
        raise RunBusy(
            f"Run {run.name} is already being driven by another live sweepfirst process (a `run`, "
            "`resume` or `worker`); wait for it to finish, or add this machine's capacity with "
            "`sweepfirst worker`."
        )
    entered: list[Phase] = []

    def select_runs() -> list[Run]:
        with ctx.db.session(readonly=True) as session:
            return [run_store.find_run(session, run.id)]

    def keep_going(runs: list[Run]) -> bool:
        phase = Phase(runs[0].phase)
        if phase.is_terminal():
            return False
        if only_phase is not None and entered and phase is not entered[0]:
            return False
        if phase.is_working() and not entered:
            entered.append(phase)
        return True

    try:
        loop.serve(select_runs, before=keep_going)
    finally:
        loop.close()
    with ctx.db.session(readonly=True) as session:
        return Phase(run_store.find_run(session, run.id).phase)


def create_train_run(ctx: Context, workflow: Workflow, *, task: str, method: str, seed: int,
                     hyperparameters: dict[str, object], launch: Mapping[str, Any] | None = None) -> Run:
    """`sweepfirst train`: a run of one job, trained on train and scored on dev."""
    with ctx.db.session() as session:
        run = _create_run(session, workflow, launch or {}, kind="train", prefix=f"train-{task}-{method}")
        job_store.ensure_jobs(session, run.id, [job_store.JobSpec(
            phase=JobPhase.TRAIN, task=task, method=method, hyperparameters=hyperparameters, seed=seed,
            output_dir=job_relative_dir(run.name, "train", task, method, f"seed{seed}"),
            max_attempts=workflow.training.max_attempts,
            max_losses_at_point=workflow.training.max_losses_at_same_step,
        )])
        run_store.transition_run(session, run.id, Phase.PRODUCTION, detail="single experiment")
        session.refresh(run)  # the phase change expired it; load it while the session is open
    return run
