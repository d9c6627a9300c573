"""The sweep's pruner and the coordinator's promotions read scores and losses from the database (both backends)."""

from __future__ import annotations

from typing import Any

from sweepfirst.engine.pruning import make_pruner, promote_paused_trials
from sweepfirst.spec import Workflow
from sweepfirst.states import JobEvent, JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.database import Database
from sweepfirst.store.jobs import Lease


def _workflow() -> Workflow:
    sweep: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "eval_accuracy", "goal": "maximize"},
        "parameters": {"learning_rate": {"values": [1e-5, 2e-5, 3e-5, 4e-5]}},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
    }
    return Workflow.model_validate({
        "name": "prune", "model": "tiny", "tasks": ["mrpc"],
        "methods": {"full_finetune": {"sweep": sweep}},
        "seeds": {"sweep": [0], "production": [42]},
    })


def _claim_all(db: Database, n: int) -> list[Lease]:
    with db.session() as session:
        run = run_store.create_run(session, name="r", workflow_name="prune", spec={}, spec_hash="h")
        job_store.ensure_jobs(session, run.id, [
            job_store.JobSpec(JobPhase.SWEEP, "mrpc", "full_finetune", {"learning_rate": i}, 0, f"out{i}",
                              trial_index=i, priority=i)
            for i in range(n)
        ])
    leases = []
    for _ in range(n):
        with db.session() as session:
            claim = job_store.claim_next_job(session, run_ids=[run.id], lease_seconds=60)
            assert claim is not None
            leases.append(claim[1])
    return leases


def test_accuracy_ties_at_a_rung_are_broken_by_the_recorded_loss(db: Database) -> None:
    first, second, third, fourth = _claim_all(db, 4)
    with db.session() as session:
        job = job_store.get_job(session, first.job_id)
        pruner = make_pruner(_workflow(), job)
        assert pruner is not None
        # Two trials at the majority-class accuracy, one with a loss and one without (an old row).
        job_store.record_intermediate(session, first, 1, 0.6757, 0.61)
        job_store.record_intermediate(session, second, 1, 0.6757)
    with db.session() as session:
        assert job_store.get_job(session, first.job_id).intermediate_loss == {"1": 0.61}
        # n=3 keeps 1. Tied with both; only `first` has a loss to compare, and it is lower: stop.
        job_store.record_intermediate(session, third, 1, 0.6757, 0.64)
        assert pruner(session, third.job_id, 1, 0.6757, 0.64) is False
        # n=4 keeps 1: a lower loss than `first` continues, whatever `second` had.
        assert pruner(session, fourth.job_id, 1, 0.6757, 0.60) is True
        # A better accuracy continues whatever its loss.
        assert pruner(session, fourth.job_id, 1, 0.70, 0.95) is True


def _pause(db: Database, lease: Lease, scores: dict[int, float]) -> None:
    with db.session() as session:
        for iteration, score in scores.items():
            job_store.record_intermediate(session, lease, iteration, score, 1.0 - score)
        job_store.finish_job(session, lease, JobEvent.PRUNED, detail="pruned")


def test_the_coordinator_promotes_paused_jobs_and_settles_the_sweep(db: Database) -> None:
    leases = _claim_all(db, 4)
    workflow = _workflow()  # rungs 1, 3, 9 (eta 3)
    run_id = _run_id(db, leases[0])
    # Three jobs paused at rung 1, the fourth still running: n=3 keeps the best (job 1, 0.72).
    for lease, score in zip(leases[:3], [0.70, 0.72, 0.65], strict=True):
        _pause(db, lease, {1: score})
    with db.session() as session:
        promoted = promote_paused_trials(session, run_id, workflow, open_cells=set())
        assert [(job.id, rung) for job, rung in promoted] == [(leases[1].job_id, 1)]
        job = job_store.get_job(session, leases[1].job_id)
        assert (job.state, job.promoted_rung, job.failures) == ("pending", 1, 0)
        assert [e.event for e in job_store.job_events(session, job.id)][-1] == "promoted"
        # Nothing more is due while the last job runs: the sweep is not settled.
        assert promote_paused_trials(session, run_id, workflow, open_cells=set()) == []
    # The promoted job is claimed again and pauses at rung 3, alone there; the last pauses at 1.
    with db.session() as session:
        claim = job_store.claim_next_job(session, run_ids=[run_id], lease_seconds=60)
        assert claim is not None and claim[0].id == leases[1].job_id
    _pause(db, claim[1], {2: 0.73, 3: 0.74})
    _pause(db, leases[3], {1: 0.60})
    with db.session() as session:
        # A cell that may still propose trials is not settled: nothing below eta scores moves.
        assert promote_paused_trials(session, run_id, workflow, open_cells={("mrpc", "full_finetune")}) == []
        # Settled: the lowest rung with a paused job and fewer than eta scores (rung 3) sends its best on.
        promoted = promote_paused_trials(session, run_id, workflow, open_cells=set())
        assert [(job.id, rung) for job, rung in promoted] == [(leases[1].job_id, 3)]
        assert sum(j.state == "pruned" for j in job_store.list_jobs(session, run_id)) == 3


def test_a_promoted_job_is_not_judged_again_at_the_rung_it_was_promoted_from(db: Database) -> None:
    first, second, third, _running = _claim_all(db, 4)
    for lease, score in zip((first, second, third), [0.70, 0.72, 0.65], strict=True):
        _pause(db, lease, {1: score})
    with db.session() as session:
        job = job_store.get_job(session, first.job_id)
        pruner = make_pruner(_workflow(), job)
        assert pruner is not None
        # Job `first` would pause at rung 1 (0.72 is better)...
        assert pruner(session, first.job_id, 1, 0.70, 0.30) is False
        job_store.promote_job(session, first.job_id, rung=1, detail="by hand")
        # ... but once promoted from it, training through rung 1 again (no checkpoint) goes on.
        assert pruner(session, first.job_id, 1, 0.70, 0.30) is True


def _run_id(db: Database, lease: Lease) -> int:
    with db.session() as session:
        return job_store.get_job(session, lease.job_id).run_id
