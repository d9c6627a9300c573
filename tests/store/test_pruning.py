"""The sweep's pruner reads its peers' scores and losses from the database (both backends)."""

from __future__ import annotations

from typing import Any

from sweepfirst.engine.pruning import make_pruner
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase
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
