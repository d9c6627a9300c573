"""Walk the whole table of legal job and phase transitions -- and every illegal pair -- on each backend.

The expected tables are written out here by hand, from what each state means, not read from
``sweepfirst.states``: a wrong entry there fails the table test below, and the store tests walk
the hand-written table, so they check the behaviour rather than echo the code.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import update

from sweepfirst.errors import IllegalTransition, LeaseLost
from sweepfirst.states import (
    JOB_TRANSITIONS,
    PHASE_TRANSITIONS,
    JobEvent,
    JobPhase,
    JobState,
    Phase,
)
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database
from sweepfirst.store.models import Job, Run

#: event -> (the states it may happen in, the state it leads to).
EXPECTED_JOB_TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "claimed": ({"pending"}, "running"),           # only a waiting job is taken
    "succeeded": ({"running"}, "succeeded"),       # only a job being trained can finish ...
    "failed": ({"running"}, "failed"),             # ... or raise,
    "errored": ({"running"}, "pending"),           # ... or raise with attempts left,
    "pruned": ({"running"}, "pruned"),             # ... or be stopped below its rung,
    "crashed": ({"running"}, "pending"),           # ... or lose its worker,
    "interrupted": ({"running"}, "pending"),       # ... or be asked to stop
    "promoted": ({"pruned"}, "pending"),           # only a paused trial resumes
    "retried": ({"failed", "cancelled"}, "pending"),  # what a user gave up on, not a success
    "cancelled": ({"pending", "running"}, "cancelled"),  # only what has not ended
}

_WORKING = {"sweep", "analysis", "production", "drift", "report"}
#: to-phase -> the phases it may be entered from.
EXPECTED_PHASE_TRANSITIONS: dict[str, set[str]] = {
    # A run is created planned and never goes back there.
    "planned": set(),
    # The first phase; a retried sweep job reopens it from any later phase; resume after a stop.
    "sweep": {"planned", "analysis", "production", "drift", "report", "completed", "failed", "cancelled"},
    # After the sweep; again from any later phase when a sweep is reopened; resume.
    "analysis": {"sweep", "production", "drift", "report", "completed", "failed", "cancelled"},
    # After analysis, or straight from planned with --optimal-config; reopened later; resume.
    "production": {"analysis", "planned", "drift", "report", "completed", "failed", "cancelled"},
    # After production; `sweepfirst drift` on a reported or finished run; resume.
    "drift": {"production", "report", "completed", "failed", "cancelled"},
    # After drift, or after production when drift is off; written again on a finished run; resume.
    "report": {"production", "drift", "completed", "failed", "cancelled"},
    # Only a written report completes a run.
    "completed": {"report"},
    # A run stops (fails or is cancelled) from where it is, never from an end state.
    "failed": {"planned", *_WORKING},
    "cancelled": {"planned", *_WORKING},
}


def test_the_code_tables_are_the_expected_ones() -> None:
    assert {e.value: ({s.value for s in legal}, to.value) for e, (legal, to) in JOB_TRANSITIONS.items()} \
        == EXPECTED_JOB_TRANSITIONS
    assert {to.value: {p.value for p in legal} for to, legal in PHASE_TRANSITIONS.items()} \
        == EXPECTED_PHASE_TRANSITIONS


def _new_job(db: Database, state: JobState) -> tuple[int, str]:
    with db.session() as session:
        run = run_store.create_run(session, name=f"r-{state.value}-{id(object())}", workflow_name="w", spec={}, spec_hash="h")
        (job,) = job_store.ensure_jobs(
            session, run.id, [job_store.JobSpec(JobPhase.SWEEP, "mrpc", "lora", {"learning_rate": 1e-3}, 0, "out")]
        )
        token = "token-1"
        session.execute(update(Job).where(Job.id == job.id).values(state=state.value, lease_token=token))
        return job.id, token


@pytest.mark.parametrize(("event", "from_state"), [
    (JobEvent(event), JobState(state)) for event, (legal, _to) in EXPECTED_JOB_TRANSITIONS.items()
    for state in sorted(legal)
])
def test_every_legal_job_transition_applies_and_leaves_an_event(db: Database, event: JobEvent, from_state: JobState) -> None:
    job_id, token = _new_job(db, from_state)
    with db.session() as session:
        job_store.transition(session, job_id, event, held_token=token if from_state is JobState.RUNNING else None)
    with db.session() as session:
        job = job_store.get_job(session, job_id)
        assert job.state == EXPECTED_JOB_TRANSITIONS[event.value][1]
        (row,) = job_store.job_events(session, job_id)
        assert (row.event, row.from_state, row.to_state) == (event.value, from_state.value, job.state)


@pytest.mark.parametrize(("event", "from_state"), [
    (JobEvent(event), state) for event, (legal, _to) in EXPECTED_JOB_TRANSITIONS.items()
    for state in JobState if state.value not in legal
])
def test_every_illegal_job_transition_is_refused_and_changes_nothing(db: Database, event: JobEvent, from_state: JobState) -> None:
    job_id, _ = _new_job(db, from_state)
    with pytest.raises(IllegalTransition), db.session() as session:
        job_store.transition(session, job_id, event)
    with db.session() as session:
        assert job_store.get_job(session, job_id).state == from_state.value
        assert job_store.job_events(session, job_id) == []


def test_a_transition_with_someone_elses_lease_is_refused(db: Database) -> None:
    job_id, _ = _new_job(db, JobState.RUNNING)
    with pytest.raises(LeaseLost), db.session() as session:
        job_store.transition(session, job_id, JobEvent.SUCCEEDED, held_token="not-mine")
    with db.session() as session:
        assert job_store.get_job(session, job_id).state == JobState.RUNNING.value


def _new_run(db: Database, phase: Phase) -> int:
    with db.session() as session:
        run = run_store.create_run(session, name=f"run-{phase.value}-{id(object())}", workflow_name="w", spec={}, spec_hash="h")
        session.execute(update(Run).where(Run.id == run.id).values(phase=phase.value))
        return run.id


@pytest.mark.parametrize(("to_phase", "from_phase"), [
    (Phase(to), Phase(frm)) for to, legal in EXPECTED_PHASE_TRANSITIONS.items() for frm in sorted(legal)
])
def test_every_legal_phase_transition(db: Database, to_phase: Phase, from_phase: Phase) -> None:
    run_id = _new_run(db, from_phase)
    with db.session() as session:
        run_store.transition_run(session, run_id, to_phase)
    with db.session() as session:
        run = run_store.find_run(session, run_id)
        assert run.phase == to_phase.value
        if to_phase in (Phase.FAILED, Phase.CANCELLED):
            assert run.stopped_in_phase == from_phase.value
        assert run_store.run_events(session, run_id)[-1].to_phase == to_phase.value


@pytest.mark.parametrize(("to_phase", "from_phase"), [
    (to, frm) for to, frm in itertools.product(Phase, Phase)
    if frm.value not in EXPECTED_PHASE_TRANSITIONS[to.value]
])
def test_every_illegal_phase_transition_is_refused(db: Database, to_phase: Phase, from_phase: Phase) -> None:
    run_id = _new_run(db, from_phase)
    with pytest.raises(IllegalTransition), db.session() as session:
        run_store.transition_run(session, run_id, to_phase)
    with db.session() as session:
        assert run_store.find_run(session, run_id).phase == from_phase.value
