"""The analysis phase: one configuration per (task, method), chosen from finished sweep trials."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sweepfirst.engine.sweep_config import sweep_metric
from sweepfirst.errors import PhaseNotReady
from sweepfirst.spec import Workflow
from sweepfirst.states import JobState
from sweepfirst.store import runs as run_store
from sweepfirst.store.jobs import config_hash
from sweepfirst.store.models import Run


def selection_split_label(workflow: Workflow) -> str:
    if workflow.selection.split == "dev":
        return "dev"
    return f"selection ({workflow.selection.fraction:.0%} of train held out, seed {workflow.selection.seed})"


def _mean_metrics(metrics: list[Mapping[str, Any]]) -> dict[str, float]:
    keys = sorted({k for m in metrics for k, v in m.items() if isinstance(v, (int, float))})
    return {
        k: sum(float(m[k]) for m in metrics if k in m) / sum(1 for m in metrics if k in m) for k in keys
    }


def choose_configurations(session: Session, run: Run, workflow: Workflow) -> list[str]:
    """Record the best trial of every sweep cell; return one line per choice for the console.

    The best is the highest (or lowest) mean score over the trial's sweep seeds; ties go to the
    earlier trial so the choice does not depend on completion order.
    """
    from sweepfirst.engine.planner import sweep_trials

    lines = []
    for task in workflow.tasks:
        for method in workflow.methods:
            metric = sweep_metric(workflow, task, method)
            trials = [t for t in sweep_trials(session, run.id, task, method) if t.score is not None]
            if not trials:
                raise PhaseNotReady(
                    f"No sweep trial of {task}/{method} succeeded, so there is nothing to choose; "
                    "see `sweepfirst jobs list --state failed`, fix the cause, retry the jobs "
                    "(`sweepfirst jobs retry ID`) and run `sweepfirst resume`."
                )
            sign = 1.0 if metric.goal == "maximize" else -1.0
            best = max(trials, key=lambda t: (sign * (t.score if t.score is not None else -math.inf), -t.index))
            succeeded = [j for j in best.jobs if j.state == JobState.SUCCEEDED.value]
            run_store.save_selection(
                session,
                run.id,
                task=task,
                method=method,
                hyperparameters=best.hyperparameters,
                config_hash=config_hash(best.hyperparameters),
                metric=metric.name,
                score=best.score,
                metrics=_mean_metrics([j.metrics for j in succeeded]),
                split=workflow.selection.split,
                source="sweep",
            )
            lines.append(f"{task}/{method}: trial {best.index} ({metric.name} {best.score:.4f}) of {len(trials)}")
    return lines
