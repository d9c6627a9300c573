"""The analysis phase: one configuration per (task, method), chosen from finished sweep trials."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sweepfirst.engine.planner import Trial
from sweepfirst.engine.sweep_config import sweep_config_for, sweep_metric
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


def planned_trial_count(workflow: Workflow, task: str, method: str, trials_seen: int) -> int:
    """How many trials the sweep of a cell planned: its run_cap or grid size, else what exists."""
    from sweepfirst.engine.planner import search_seed
    from sweepfirst.search.strategies import make_proposer

    config = sweep_config_for(workflow, task, method)
    total = make_proposer(config, seed=search_seed(workflow, task, method)).total_trials
    return max(total, trials_seen) if total is not None else trials_seen


def _lost(trial: Trial) -> dict[str, Any]:
    """A planned trial that produced no score: which, in what state, and the first line of why."""
    errors = [j.error for j in trial.jobs if j.error]
    first = errors[0].strip().splitlines()[0] if errors and errors[0].strip() else ""
    states = sorted({j.state for j in trial.jobs})
    return {"trial": trial.index, "state": "/".join(states), "error": first}


def describe_lost(lost: list[dict[str, Any]]) -> str:
    """``trial 0 (failed: ValueError: boom), trial 3 (cancelled)``."""
    return ", ".join(f"trial {t['trial']} ({t['state']}" + (f": {t['error']}" if t.get("error") else "") + ")"
                     for t in lost)


def choose_configurations(session: Session, run: Run, workflow: Workflow) -> list[str]:
    """Record the best trial of every sweep cell; return one line per choice for the console.

    The best is the highest (or lowest) mean score over the trial's sweep seeds; ties go to the
    earlier trial so the choice does not depend on completion order. A choice made from fewer
    trials than the sweep planned says so, and names the trials that were lost.
    """
    from sweepfirst.engine.planner import sweep_trials

    lines = []
    for task in workflow.tasks:
        for method in workflow.methods:
            metric = sweep_metric(workflow, task, method)
            every = sweep_trials(session, run.id, task, method)
            trials = [t for t in every if t.score is not None]
            judged = [t for t in every if t.state in ("complete", "pruned")]
            lost = [_lost(t) for t in every if t.state not in ("complete", "pruned")]
            planned = planned_trial_count(workflow, task, method, len(every))
            if not trials:
                from sweepfirst.engine.phase_steps import CONTINUE_COMMAND

                raise PhaseNotReady(
                    f"No sweep trial of {task}/{method} succeeded ({len(lost)} of {planned} planned trials "
                    f"lost: {describe_lost(lost) or 'none ran'}), so there is nothing to choose; fix the "
                    f"cause (`sweepfirst jobs show ID` has the traceback), then run {CONTINUE_COMMAND}."
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
                trials_planned=planned,
                trials_used=len(judged),
                lost_trials=lost,
            )
            line = (f"{task}/{method}: trial {best.index} ({metric.name} {best.score:.4f}), chosen from "
                    f"{len(judged)} of {planned} planned trials")
            if lost:
                line += f"; lost: {describe_lost(lost)}"
            lines.append(line)
    return lines
