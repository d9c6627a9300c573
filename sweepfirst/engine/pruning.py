"""Early termination of sweep trials: W&B's `early_terminate: hyperband`, run asynchronously.

At every evaluation a sweep job records its score as an intermediate value; when the evaluation
count is a rung, the job is ranked against every score other trials of its cell recorded at that
rung so far and stops (as *pruned*) below the cutoff. The rule itself lives in
sweepfirst.search.hyperband; this module feeds it from the database.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from sweepfirst.engine.sweep_config import sweep_config_for
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store.models import Job

#: (session, job_id, evaluation number, score) -> continue?
Pruner = Callable[[Session, int, int, float], bool]


def make_pruner(workflow: Workflow, job: Job) -> Pruner | None:
    """None when the method's sweep has no early termination."""
    from sweepfirst.search.hyperband import Hyperband

    config = sweep_config_for(workflow, job.task, job.method)
    if config.early_terminate is None:
        return None
    hyperband = Hyperband(config)

    def decide(session: Session, job_id: int, iteration: int, score: float) -> bool:
        peers = [
            float(other.intermediate[str(iteration)])
            for other in job_store.list_jobs(session, job.run_id, phase=JobPhase.SWEEP, task=job.task, method=job.method)
            if other.id != job_id and str(iteration) in (other.intermediate or {})
        ]
        return not hyperband.decide(iteration, score, peers).stop

    return decide
