"""Early termination of sweep trials: W&B's `early_terminate: hyperband`, run asynchronously.

At every evaluation a sweep job records its score (and its ``eval_loss``) as intermediate values;
when the evaluation count is a rung, the job is ranked against every score other trials of its
cell recorded at that rung so far and stops (as *pruned*) outside the top ``1/eta``, exact ties
on the score being broken by ``eval_loss``. The rule itself lives in sweepfirst.search.hyperband;
this module feeds it from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from sweepfirst.engine.sweep_config import sweep_config_for
from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase
from sweepfirst.store import jobs as job_store
from sweepfirst.store.models import Job

#: What breaks exact ties on the sweep metric at a rung (lower is better); every HF evaluation
#: reports it.
TIE_BREAK_METRIC = "eval_loss"

#: (session, job_id, evaluation number, score, tie-break value or None) -> continue?
Pruner = Callable[[Session, int, int, float, float | None], bool]


def make_pruner(workflow: Workflow, job: Job) -> Pruner | None:
    """None when the method's sweep has no early termination."""
    from sweepfirst.search.hyperband import Hyperband, RungScore

    config = sweep_config_for(workflow, job.task, job.method)
    if config.early_terminate is None:
        return None
    hyperband = Hyperband(config)

    def decide(session: Session, job_id: int, iteration: int, score: float, loss: float | None) -> bool:
        key = str(iteration)
        peers = [
            RungScore(float(other.intermediate[key]), _optional_float((other.intermediate_loss or {}).get(key)))
            for other in job_store.list_jobs(session, job.run_id, phase=JobPhase.SWEEP, task=job.task, method=job.method)
            if other.id != job_id and key in (other.intermediate or {})
        ]
        return not hyperband.decide(iteration, RungScore(score, loss), peers).stop

    return decide


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
