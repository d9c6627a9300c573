"""The production table: per (task, method), each metric's mean and spread over seeds.

This is what `run` prints at the end and writes as summary.md / summary.json in the run's folder.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sweepfirst.analysis.statistics import SeedSummary, summarize_seeds
from sweepfirst.states import DEV_JOB_PHASES, JobState
from sweepfirst.store import jobs as job_store

if TYPE_CHECKING:
    from sweepfirst.store.context import Context

#: Metrics shown in tables; timing and loss numbers are left to the job records.
SHOWN_METRIC_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_loss", "_epoch")


@dataclass(frozen=True)
class CellSummary:
    task: str
    method: str
    phase: str
    metrics: dict[str, SeedSummary]
    seeds: list[int]
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "method": self.method, "phase": self.phase, "seeds": self.seeds,
                "failed": self.failed, "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}


def _shown(metric: str) -> bool:
    return metric.startswith("eval_") and not metric.endswith(SHOWN_METRIC_SUFFIXES)


def production_summaries(ctx: Context, run_id: int) -> list[CellSummary]:
    with ctx.db.session() as session:
        jobs = [j for p in DEV_JOB_PHASES for j in job_store.list_jobs(session, run_id, phase=p)]
    cells: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for job in jobs:
        cells[(job.task, job.method, job.phase)].append(job)
    summaries = []
    for (task, method, phase), cell_jobs in sorted(cells.items()):
        done = [j for j in cell_jobs if j.state == JobState.SUCCEEDED.value]
        metric_names = sorted({k for j in done for k in j.metrics if _shown(k)})
        summaries.append(
            CellSummary(
                task=task,
                method=method,
                phase=phase,
                metrics={m: summarize_seeds([float(j.metrics[m]) for j in done if m in j.metrics])
                         for m in metric_names},
                seeds=sorted(j.seed for j in done),
                failed=sum(1 for j in cell_jobs if j.state == JobState.FAILED.value),
            )
        )
    return summaries
