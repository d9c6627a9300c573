"""Early termination of sweep trials: W&B's `early_terminate: hyperband`, run as ASHA.

Two halves, both fed from the database:

* In the job (:func:`make_pruner`): at every evaluation a sweep job records its score (and its
  ``eval_loss``); when the evaluation count is a rung, the job is ranked against every score its
  cell recorded at that rung so far and pauses -- stops as *pruned*, checkpoint kept -- outside
  the top ``1/eta``, exact ties on the score being broken by ``eval_loss``.
* In the coordinator (:func:`promote_paused_trials`), each round of the sweep phase: a pruned job
  that later arrivals put in the top of its rung goes back to pending and resumes from its
  checkpoint. Promotions are planning, like proposing trials, so the sweep cannot end while one
  is due.

The rule itself lives in sweepfirst.search.hyperband.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sweepfirst.spec import Workflow
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.models import Job
from sweepfirst.sweep_config import sweep_config_for

if TYPE_CHECKING:
    from sweepfirst.search.hyperband import Hyperband, RungScore

#: What breaks exact ties on the sweep metric at a rung (lower is better); every HF evaluation
#: reports it.
TIE_BREAK_METRIC = "eval_loss"

#: (session, job_id, evaluation number, score, tie-break value or None) -> continue?
Pruner = Callable[[Session, int, int, float, float | None], bool]

#: A sweep cell: (task, method).
Cell = tuple[str, str]


def make_pruner(workflow: Workflow, job: Job) -> Pruner | None:
    """None when the method's sweep has no early termination."""
    hyperband = _hyperband(workflow, job.task, job.method)
    if hyperband is None:
        return None

    def decide(session: Session, job_id: int, iteration: int, score: float, loss: float | None) -> bool:
        from sweepfirst.search.hyperband import RungScore

        own = job_store.get_job(session, job_id)
        if own.promoted_rung is not None and iteration <= own.promoted_rung:
            return True  # promoted past this rung already: training through it again (no checkpoint)
        key = str(iteration)
        peers = [
            _rung_score(other, key)
            for other in _cell_jobs(session, job.run_id, (job.task, job.method))
            if other.id != job_id and key in (other.intermediate or {})
        ]
        return not hyperband.decide(iteration, RungScore(score, loss), peers).stop

    return decide


def promote_paused_trials(
    session: Session, run_id: int, workflow: Workflow, *, open_cells: Collection[Cell]
) -> list[tuple[Job, int]]:
    """Send back to the queue every pruned sweep job its rung now promotes; returns (job, rung).

    ``open_cells`` may still propose trials. A cell that will not, with no job pending or
    running, is settled: if no ordinary promotion is due there, its lowest rung with a paused
    job promotes the best of them even below ``eta`` scores (the sweep's end, see
    sweepfirst.search.hyperband). Only the lowest: the trial promoted there will reach the
    higher rungs and change their ranking.
    """
    promoted: list[tuple[Job, int]] = []
    for task in workflow.tasks:
        for method in workflow.methods:
            hyperband = _hyperband(workflow, task, method)
            if hyperband is None:
                continue
            jobs = _cell_jobs(session, run_id, (task, method))
            chosen = _promotions(hyperband, jobs, settled=False)
            busy = any(j.state in (JobState.PENDING.value, JobState.RUNNING.value) for j in jobs)
            if not chosen and not busy and (task, method) not in open_cells:
                chosen = _promotions(hyperband, jobs, settled=True)[:1]
            for job, rung in chosen:
                job_store.promote_job(session, job.id, rung=rung,
                                      detail=f"in the top 1/{hyperband.eta:g} at evaluation {rung}")
                promoted.append((job, rung))
    return promoted


def _promotions(hyperband: Hyperband, jobs: list[Job], *, settled: bool) -> list[tuple[Job, int]]:
    """The paused jobs each rung promotes, lowest rung first."""
    paused_at = {
        job.id: hyperband.paused_rung({int(k) for k in job.intermediate or {}})
        for job in jobs
        if job.state == JobState.PRUNED.value
    }
    by_id = {job.id: job for job in jobs}
    chosen: list[tuple[Job, int]] = []
    for rung in hyperband.rungs:
        paused = {job_id for job_id, at in paused_at.items() if at == rung}
        if not paused:
            continue
        key = str(rung)
        scores = {job.id: _rung_score(job, key) for job in jobs if key in (job.intermediate or {})}
        chosen.extend((by_id[job_id], rung) for job_id in hyperband.promotable(scores, paused, settled=settled))
    return chosen


def _hyperband(workflow: Workflow, task: str, method: str) -> Hyperband | None:
    from sweepfirst.search.hyperband import Hyperband

    config = sweep_config_for(workflow, task, method)
    return None if config.early_terminate is None else Hyperband(config)


def _cell_jobs(session: Session, run_id: int, cell: Cell) -> list[Job]:
    task, method = cell
    return job_store.list_jobs(session, run_id, phase=JobPhase.SWEEP, task=task, method=method)


def _rung_score(job: Job, key: str) -> RungScore:
    from sweepfirst.search.hyperband import RungScore

    return RungScore(float(job.intermediate[key]), _optional_float((job.intermediate_loss or {}).get(key)))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
