"""The production table: per (task, method), each metric's mean and spread over seeds.

This is what `run` prints at the end and writes as summary.md / summary.json in the run's folder.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepfirst.analysis.statistics import SeedSummary, summarize_seeds
from sweepfirst.states import JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store

if TYPE_CHECKING:
    from sweepfirst.engine.context import Context

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
        jobs = [j for p in (JobPhase.PRODUCTION, JobPhase.BASELINE, JobPhase.TRAIN)
                for j in job_store.list_jobs(session, run_id, phase=p)]
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


def format_mean_std(summary: SeedSummary) -> str:
    spread = f" ± {summary.std:.4f}" if summary.std is not None else ""
    return f"{summary.mean:.4f}{spread}"


def markdown_table(summaries: list[CellSummary]) -> str:
    metric_names = sorted({m for s in summaries for m in s.metrics})
    header = ["task", "method", "phase", "seeds", *metric_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        cells = [s.task, s.method, s.phase, str(len(s.seeds))]
        cells += [format_mean_std(s.metrics[m]) if m in s.metrics else "" for m in metric_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_run_summary(ctx: Context, run_id: int) -> list[Path]:
    """Write summary.md and summary.json (production metrics on the dev split, mean ± std)."""
    with ctx.db.session() as session:
        run = run_store.find_run(session, run_id)
        chosen = run_store.selections(session, run_id)
    summaries = production_summaries(ctx, run_id)
    out = ctx.run_dir(run.name)
    out.mkdir(parents=True, exist_ok=True)
    text = [f"# {run.name}: production results", "",
            "Scores on the dev split, mean ± sample standard deviation over production seeds.", "",
            markdown_table(summaries), ""]
    if chosen:
        text += ["## Chosen configurations", ""]
        for (task, method), sel in sorted(chosen.items()):
            text.append(f"- {task}/{method}: {sel.hyperparameters} ({sel.metric} {sel.score} on the "
                        f"{'dev split' if sel.split == 'dev' else 'selection split'}, chosen by {sel.source})")
    paths = []
    for name, content in (("summary.md", "\n".join(text) + "\n"),
                          ("summary.json", json.dumps([s.to_dict() for s in summaries], indent=2))):
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
        paths.append(path)
    return paths
