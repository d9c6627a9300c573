"""The trials of a sweep cell as recorded: its jobs grouped by configuration, one per sweep seed.

Planning, analysis and the report all read a sweep this way, so it lives with the other queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sweepfirst.search.budget import Spend
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store.models import Job

if TYPE_CHECKING:
    from sweepfirst.search.trials import TrialState


@dataclass(frozen=True)
class Trial:
    """One sweep configuration and its jobs (one per sweep seed)."""

    index: int
    hyperparameters: dict[str, Any]
    jobs: list[Job]

    @property
    def state(self) -> TrialState:
        states = {j.state for j in self.jobs}
        if JobState.PENDING.value in states or JobState.RUNNING.value in states:
            return "running"
        if JobState.PRUNED.value in states:
            return "pruned"
        if JobState.SUCCEEDED.value in states:
            return "complete"
        return "failed"

    @property
    def score(self) -> float | None:
        scores = [j.score for j in self.jobs if j.state == JobState.SUCCEEDED.value and j.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def paused_at(self) -> tuple[int, float] | None:
        """A pruned trial's last evaluation and its selection score there (mean over its jobs at
        the last evaluation all of them reached): where ASHA paused it. None for other trials."""
        if self.state != "pruned":
            return None
        reached = [{int(k): float(v) for k, v in (j.intermediate or {}).items()} for j in self.jobs]
        if not reached or not all(reached):
            return None
        last = min(max(scores) for scores in reached)
        at_last = [scores[last] for scores in reached if last in scores]
        return (last, sum(at_last) / len(at_last)) if len(at_last) == len(reached) else None


def sweep_trials(session: Session, run_id: int, task: str, method: str) -> list[Trial]:
    """The trials of one sweep cell, grouped by configuration, in trial order."""
    grouped: dict[str, list[Job]] = defaultdict(list)
    for job in job_store.list_jobs(session, run_id, phase=JobPhase.SWEEP, task=task, method=method):
        grouped[job.config_hash].append(job)
    trials = [
        Trial(index=jobs[0].trial_index or 0, hyperparameters=dict(jobs[0].hyperparameters), jobs=jobs)
        for jobs in grouped.values()
    ]
    return sorted(trials, key=lambda t: t.index)


def sweep_spend(trials: Sequence[Trial]) -> Spend:
    """What a sweep cell has spent: its trials, the optimizer steps its jobs reached, their time."""
    jobs = [j for t in trials for j in t.jobs]
    # A finished job records its final step; a running one its last heartbeat's.
    steps = ((j.provenance or {}).get("global_step") or j.progress_step for j in jobs)
    return Spend.of(len(trials), steps, (j.runtime_s for j in jobs))
