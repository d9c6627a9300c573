"""One run as plain rows, read in one query per table: what `status` and the live view show.

Two readers fill the same dataclasses:

* :func:`read_sqlite_snapshot` asks a SQLite state file with the standard library's ``sqlite3``
  (read-only, no SQLAlchemy), so `sweepfirst status` answers in a fraction of a second: importing
  SQLAlchemy's ORM alone takes longer than the whole answer may. It returns None whenever the
  database is anything but an ordinary, current sweepfirst database (no file, another schema
  revision, no such run): the caller then takes the full path, whose errors are the sentences.
* :func:`snapshot_from_session` reads the same rows through a SQLAlchemy session (PostgreSQL, the
  live view inside `run`).

The jobs query returns the run's jobs and the succeeded jobs of every other run: earlier runs'
throughput is the time-left estimate's second source.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MIGRATIONS_VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"

_RUN_COLUMNS = ("id", "name", "workflow_name", "kind", "phase", "error", "spec", "launch", "created_at",
                "updated_at")
_JOB_COLUMNS = ("id", "run_id", "phase", "task", "method", "seed", "trial_index", "state",
                "failures", "losses", "interrupts", "progress_step", "lease_owner", "lease_expires_at",
                "started_at", "runtime_s", "score", "output_dir")
#: SQLite reads a job's epochs out of its JSON in the query: parsing 10,000 hyperparameter
#: dicts in Python would cost more than the rest of `status` together.
_SQLITE_EPOCHS = "json_extract(hyperparameters, '$.num_train_epochs')"
_SELECTION_COLUMNS = ("task", "method", "hyperparameters", "metric", "score", "split", "source",
                      "trials_planned", "trials_used", "lost_trials")


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    workflow_name: str
    kind: str
    phase: str
    error: str | None
    spec: dict[str, Any]
    launch: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


# Not frozen: a frozen dataclass's __init__ costs a setattr call per field, 10,000 times over.
@dataclass(slots=True)
class JobRow:
    id: int
    run_id: int
    phase: str
    task: str
    method: str
    seed: int
    trial_index: int | None
    #: ``num_train_epochs`` of its hyperparameters (None when it has none).
    epochs: float | None
    state: str
    failures: int
    losses: int
    interrupts: int
    progress_step: int | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    #: Lease and start times are read for running jobs only (no other job needs them).
    started_at: dt.datetime | None
    runtime_s: float
    score: float | None
    output_dir: str


@dataclass(frozen=True)
class SelectionRow:
    task: str
    method: str
    hyperparameters: dict[str, Any]
    metric: str
    score: float | None
    split: str
    source: str
    trials_planned: int | None
    trials_used: int | None
    lost_trials: list[Any]


@dataclass(frozen=True)
class PhaseChange:
    to_phase: str
    at: dt.datetime


@dataclass(frozen=True)
class RunSnapshot:
    """A run, its jobs, phase changes and selections, plus what earlier runs measured."""

    run: RunRow
    jobs: list[JobRow]
    phase_changes: list[PhaseChange]
    selections: list[SelectionRow]
    #: Succeeded jobs of other runs, and those runs (for their model and data budget).
    earlier_jobs: list[JobRow] = field(default_factory=list)
    earlier_runs: dict[int, RunRow] = field(default_factory=dict)


def head_revision() -> str | None:
    """The newest migration's revision id, read off the file names (``0005_....py``) so no
    alembic or SQLAlchemy import is needed; a test checks it equals ``migrate.HEAD_REVISION``."""
    try:
        numbered = [p.name.split("_", 1)[0] for p in MIGRATIONS_VERSIONS.glob("[0-9]*_*.py")]
    except OSError:
        return None
    return max(numbered) if numbered else None


def _time(value: Any) -> dt.datetime | None:
    """SQLite keeps SQLAlchemy's DateTime as naive UTC text; PostgreSQL hands back datetimes."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def _run_row(values: dict[str, Any]) -> RunRow:
    created = _time(values["created_at"])
    assert created is not None
    return RunRow(
        id=int(values["id"]), name=values["name"], workflow_name=values["workflow_name"],
        kind=values["kind"] or "workflow", phase=values["phase"], error=values["error"],
        spec=_json(values["spec"], {}), launch=_json(values["launch"], {}) or {},
        created_at=created, updated_at=_time(values["updated_at"]) or created,
    )


def _epochs(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _job_row(values: Sequence[Any], epochs: Any) -> JobRow:
    """A row of ``_JOB_COLUMNS`` in that order (tuples: the 10,000-job case is what this is for)."""
    (job_id, run_id, phase, task, method, seed, trial_index, state, failures, losses, interrupts,
     progress_step, lease_owner, lease_expires_at, started_at, runtime_s, score, output_dir) = values
    running = state == "running"
    return JobRow(
        id=job_id, run_id=run_id, phase=phase, task=task, method=method, seed=seed,
        trial_index=trial_index, epochs=_epochs(epochs), state=state, failures=failures or 0,
        losses=losses or 0, interrupts=interrupts or 0, progress_step=progress_step,
        lease_owner=lease_owner, lease_expires_at=_time(lease_expires_at) if running else None,
        started_at=_time(started_at) if running else None, runtime_s=float(runtime_s or 0.0),
        score=score, output_dir=output_dir,
    )


def _selection_row(values: dict[str, Any]) -> SelectionRow:
    return SelectionRow(
        task=values["task"], method=values["method"], hyperparameters=_json(values["hyperparameters"], {}),
        metric=values["metric"], score=values["score"], split=values["split"], source=values["source"],
        trials_planned=values["trials_planned"], trials_used=values["trials_used"],
        lost_trials=_json(values["lost_trials"], []) or [],
    )


def _assemble(runs: list[RunRow], ref: str | int | None, jobs: list[JobRow] | None,
              read_rest: Any) -> RunSnapshot | None:
    run = pick_run(runs, ref)
    if run is None:
        return None
    jobs_rows, changes, chosen = read_rest(run.id)
    own = [j for j in jobs_rows if j.run_id == run.id]
    earlier = [j for j in jobs_rows if j.run_id != run.id]
    return RunSnapshot(run=run, jobs=own, phase_changes=changes, selections=chosen, earlier_jobs=earlier,
                       earlier_runs={r.id: r for r in runs if r.id != run.id})


def pick_run(runs: list[RunRow], ref: str | int | None) -> RunRow | None:
    """`find_run`'s rule: None is the latest run; digits are an id, else a name."""
    if not runs:
        return None
    if ref is None:
        return max(runs, key=lambda r: r.id)
    if isinstance(ref, int) or str(ref).isdigit():
        by_id = next((r for r in runs if r.id == int(ref)), None)
        if by_id is not None:
            return by_id
    return next((r for r in runs if r.name == str(ref)), None)


def read_sqlite_snapshot(path: Path, ref: str | int | None) -> RunSnapshot | None:
    """The run ``ref`` of the SQLite state file ``path``, or None when the full path must answer
    (no such file or run, an unreadable file, a schema revision other than this program's)."""
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        connection.row_factory = sqlite3.Row
        versions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        if versions != [head_revision()]:
            return None
        runs = [_run_row(dict(row)) for row in connection.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs")]

        def read_rest(run_id: int) -> tuple[list[JobRow], list[PhaseChange], list[SelectionRow]]:
            cursor = connection.cursor()
            cursor.row_factory = None  # plain tuples
            jobs = [_job_row(row[:-1], row[-1]) for row in cursor.execute(
                f"SELECT {', '.join(_JOB_COLUMNS)}, {_SQLITE_EPOCHS} FROM jobs "
                "WHERE run_id = ? OR state = 'succeeded' ORDER BY id", (run_id,))]
            changes = [PhaseChange(row["to_phase"], _time(row["at"]) or dt.datetime.now(dt.timezone.utc))
                       for row in connection.execute(
                           "SELECT to_phase, at FROM run_events WHERE run_id = ? ORDER BY id", (run_id,))]
            chosen = [_selection_row(dict(row)) for row in connection.execute(
                f"SELECT {', '.join(_SELECTION_COLUMNS)} FROM selections WHERE run_id = ?", (run_id,))]
            return jobs, changes, chosen

        return _assemble(runs, ref, None, read_rest)
    except (sqlite3.Error, ValueError, KeyError):
        return None
    finally:
        connection.close()


def snapshot_from_session(session: Session, ref: str | int | None) -> RunSnapshot:
    """The same snapshot through SQLAlchemy (any database), one query per table.

    Raises:
        NotFound: there is no such run (the sentence of ``runs.find_run``).
    """
    from sqlalchemy import or_, select

    from sweepfirst.store import runs as run_store
    from sweepfirst.store.models import Job, Run, RunEvent, Selection

    runs = [_run_row(dict(row._mapping)) for row in session.execute(
        select(*[getattr(Run, c) for c in _RUN_COLUMNS]))]
    if pick_run(runs, ref) is None:
        run_store.find_run(session, ref)  # raises the sentence that names the known runs

    def read_rest(run_id: int) -> tuple[list[JobRow], list[PhaseChange], list[SelectionRow]]:
        jobs = [_job_row(tuple(row)[:-1], (row[-1] or {}).get("num_train_epochs")) for row in session.execute(
            select(*[getattr(Job, c) for c in _JOB_COLUMNS], Job.hyperparameters)
            .where(or_(Job.run_id == run_id, Job.state == "succeeded")).order_by(Job.id))]
        changes = [PhaseChange(row.to_phase, row.at) for row in session.execute(
            select(RunEvent.to_phase, RunEvent.at).where(RunEvent.run_id == run_id).order_by(RunEvent.id))]
        chosen = [_selection_row(dict(row._mapping)) for row in session.execute(
            select(*[getattr(Selection, c) for c in _SELECTION_COLUMNS]).where(Selection.run_id == run_id))]
        return jobs, changes, chosen

    snapshot = _assemble(runs, ref, None, read_rest)
    assert snapshot is not None
    return snapshot
