"""Walk the whole table of legal job and phase transitions -- and every illegal pair -- on each backend."""

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
    (event, state) for event, (legal, _to) in JOB_TRANSITIONS.items() for state in sorted(legal, key=str)
])
def test_every_legal_job_transition_applies_and_leaves_an_event(db: Database, event: JobEvent, from_state: JobState) -> None:
    job_id, token = _new_job(db, from_state)
    with db.session() as session:
        job_store.transition(session, job_id, event, held_token=token if from_state is JobState.RUNNING else None)
    with db.session() as session:
        job = job_store.get_job(session, job_id)
        assert job.state == JOB_TRANSITIONS[event][1].value
        (row,) = job_store.job_events(session, job_id)
        assert (row.event, row.from_state, row.to_state) == (event.value, from_state.value, job.state)


@pytest.mark.parametrize(("event", "from_state"), [
    (event, state) for event, (legal, _to) in JOB_TRANSITIONS.items() for state in JobState if state not in legal
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
    (to, frm) for to, legal in PHASE_TRANSITIONS.items() for frm in sorted(legal, key=str)
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
    (to, frm) for to, frm in itertools.product(Phase, Phase) if to in PHASE_TRANSITIONS and frm not in PHASE_TRANSITIONS[to]
])
def test_every_illegal_phase_transition_is_refused(db: Database, to_phase: Phase, from_phase: Phase) -> None:
    run_id = _new_run(db, from_phase)
    with pytest.raises(IllegalTransition), db.session() as session:
        run_store.transition_run(session, run_id, to_phase)
    with db.session() as session:
        assert run_store.find_run(session, run_id).phase == from_phase.value
