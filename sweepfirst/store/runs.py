"""Every query and phase change of runs, and the selections analysis makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sweepfirst.errors import IllegalTransition, NotFound
from sweepfirst.states import PHASE_TRANSITIONS, STOPPED_PHASES, WORKING_PHASES, Phase
from sweepfirst.store.models import Run, RunEvent, Selection, utcnow


def create_run(
    session: Session,
    *,
    name: str,
    workflow_name: str,
    spec: Mapping[str, Any],
    spec_hash: str,
    provenance: Mapping[str, Any] | None = None,
    kind: str = "workflow",
    launch: Mapping[str, Any] | None = None,
) -> Run:
    run = Run(
        name=name,
        kind=kind,
        workflow_name=workflow_name,
        spec=dict(spec),
        spec_hash=spec_hash,
        phase=Phase.PLANNED.value,
        provenance=dict(provenance or {}),
        launch=dict(launch or {}),
    )
    session.add(run)
    session.flush()
    session.add(RunEvent(run_id=run.id, from_phase="", to_phase=Phase.PLANNED.value, detail="created"))
    session.flush()
    return run


def find_run(session: Session, ref: str | int | None = None) -> Run:
    """A run by id or name; None means the most recently created run."""
    if ref is None:
        run = session.scalar(select(Run).order_by(Run.id.desc()).limit(1))
        if run is None:
            raise NotFound("There is no run in this state database yet; start one with `sweepfirst run`.")
        return run
    run = None
    if isinstance(ref, int) or str(ref).isdigit():
        run = session.get(Run, int(ref))
    if run is None:
        run = session.scalar(select(Run).where(Run.name == str(ref)))
    if run is None:
        names = ", ".join(session.scalars(select(Run.name).order_by(Run.id.desc()).limit(5)))
        raise NotFound(
            f"There is no run {ref!r} in this state database; known runs: {names or 'none'}."
        )
    return run


def list_runs(session: Session) -> list[Run]:
    return list(session.scalars(select(Run).order_by(Run.id)))


def transition_run(
    session: Session, run_id: int, to_phase: Phase, *, detail: str | None = None, error: str | None = None
) -> Phase:
    """Move a run to ``to_phase`` if the table allows it from its current phase; return the old one."""
    current = session.scalar(select(Run.phase).where(Run.id == run_id))
    if current is None:
        raise NotFound(f"There is no run {run_id}.")
    legal_from = PHASE_TRANSITIONS[to_phase]
    values: dict[str, Any] = {"phase": to_phase.value, "updated_at": utcnow()}
    if to_phase in STOPPED_PHASES:
        values["stopped_in_phase"] = current
        values["error"] = error
    elif to_phase.is_working() or to_phase is Phase.COMPLETED:
        values["error"] = None
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.phase.in_([p.value for p in legal_from]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition(
            f"The run is in phase '{current}'; it cannot move to '{to_phase.value}' from there."
        )
    session.add(RunEvent(run_id=run_id, from_phase=current, to_phase=to_phase.value, detail=detail))
    session.flush()
    session.expire_all()
    return Phase(current)


def run_events(session: Session, run_id: int) -> list[RunEvent]:
    return list(session.scalars(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)))


def time_per_phase(session: Session, run_id: int) -> dict[str, float]:
    """Seconds spent in each phase, from the run's phase-change events (the current one runs on)."""
    events = run_events(session, run_id)
    spent: dict[str, float] = {}
    for this, following in zip(events, [*events[1:], None]):
        end = following.at if following is not None else utcnow()
        if this.to_phase in {p.value for p in WORKING_PHASES}:
            spent[this.to_phase] = spent.get(this.to_phase, 0.0) + (end - this.at).total_seconds()
    return spent


def save_selection(
    session: Session,
    run_id: int,
    *,
    task: str,
    method: str,
    hyperparameters: Mapping[str, Any],
    config_hash: str,
    metric: str,
    score: float | None,
    metrics: Mapping[str, Any],
    split: str,
    source: str,
    trials_planned: int | None = None,
    trials_used: int | None = None,
    lost_trials: list[dict[str, Any]] | None = None,
) -> Selection:
    """Record (or replace) the chosen configuration of one (task, method)."""
    existing = session.scalar(
        select(Selection).where(
            Selection.run_id == run_id, Selection.task == task, Selection.method == method
        )
    )
    if existing is not None:
        session.delete(existing)
        session.flush()
    selection = Selection(
        run_id=run_id,
        task=task,
        method=method,
        hyperparameters=dict(hyperparameters),
        config_hash=config_hash,
        metric=metric,
        score=score,
        metrics=dict(metrics),
        split=split,
        source=source,
        trials_planned=trials_planned,
        trials_used=trials_used,
        lost_trials=list(lost_trials or []),
    )
    session.add(selection)
    session.flush()
    return selection


def selections(session: Session, run_id: int) -> dict[tuple[str, str], Selection]:
    rows = session.scalars(select(Selection).where(Selection.run_id == run_id))
    return {(s.task, s.method): s for s in rows}

