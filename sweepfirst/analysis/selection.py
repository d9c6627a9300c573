"""The analysis phase: one configuration per (task, method), chosen from finished sweep trials."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sweepfirst.errors import CONTINUE_COMMAND, PhaseNotReady
from sweepfirst.spec import Workflow
from sweepfirst.states import JobState
from sweepfirst.store import runs as run_store
from sweepfirst.store.jobs import config_hash
from sweepfirst.store.models import Run
from sweepfirst.store.trials import Trial, sweep_spend, sweep_trials
from sweepfirst.sweep_config import sweep_config_for, sweep_metric

if TYPE_CHECKING:
    from sweepfirst.analysis.selection_uncertainty import SelectionUncertainty


def _mean_metrics(metrics: list[Mapping[str, Any]]) -> dict[str, float]:
    keys = sorted({k for m in metrics for k, v in m.items() if isinstance(v, (int, float))})
    return {
        k: sum(float(m[k]) for m in metrics if k in m) / sum(1 for m in metrics if k in m) for k in keys
    }


def planned_trial_count(workflow: Workflow, task: str, method: str, trials_seen: int) -> int:
    """How many trials the sweep of a cell planned: its run_cap or grid size, else what exists."""
    from sweepfirst.search.strategies import make_proposer

    config = sweep_config_for(workflow, task, method)
    total = make_proposer(config, seed=workflow.search_seed(task, method)).total_trials
    return max(total, trials_seen) if total is not None else trials_seen


#: The key of a selection's metrics that records the sweep's budget and what it spent.
SPEND_KEY = "sweep_budget"
#: Where the selection uncertainty rides along in the selection's metrics JSON (no schema change).
CERTAINTY_KEY = "selection_uncertainty"


def budget_record(workflow: Workflow, method: str, trials: list[Trial]) -> dict[str, Any]:
    """The cell's budget (as the workflow states it) and what its sweep spent, as JSON values."""
    budget = workflow.method_budget(method)
    spend = sweep_spend(trials)
    run_cap = workflow.methods[method].sweep.get("run_cap")
    stated = budget.describe() if budget is not None else (f"run_cap {run_cap}" if run_cap else "the whole space")
    return {"budget": stated, "trials": spend.trials, "train_steps": spend.train_steps,
            "seconds": round(spend.seconds, 1)}


def describe_budget(record: Mapping[str, Any] | None) -> str:
    """``budget 24 trials; spent 24 trials, 1,920 training steps, 5.2 min``."""
    if not record:
        return ""
    from sweepfirst.search.budget import Spend

    spend = Spend(int(record.get("trials", 0)), int(record.get("train_steps", 0)), float(record.get("seconds", 0.0)))
    return f"budget {record.get('budget')}; spent {spend.describe()}"


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


def choose_configurations(
    session: Session, run: Run, workflow: Workflow, job_dir: Callable[[str], Path] | None = None
) -> list[str]:
    """Record the best trial of every sweep cell; return one line per choice for the console.

    The best is the highest (or lowest) mean score over the trial's sweep seeds; ties go to the
    earlier trial so the choice does not depend on completion order. A choice made from fewer
    trials than the sweep planned says so, and names the trials that were lost. With ``job_dir``
    (a job's output folder from its relative path), the choice also states how sure it is: an
    interval per trial and the chosen trial against the runner-up (``selection_uncertainty``).
    """
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
                raise PhaseNotReady(
                    f"No sweep trial of {task}/{method} succeeded ({len(lost)} of {planned} planned trials "
                    f"lost: {describe_lost(lost) or 'none ran'}), so there is nothing to choose; fix the "
                    f"cause (`sweepfirst jobs show ID` has the traceback), then run {CONTINUE_COMMAND}."
                )
            sign = 1.0 if metric.goal == "maximize" else -1.0
            best = max(trials, key=lambda t: (sign * (t.score if t.score is not None else -math.inf), -t.index))
            succeeded = [j for j in best.jobs if j.state == JobState.SUCCEEDED.value]
            spend = budget_record(workflow, method, every)
            certainty = _certainty(metric.name, metric.goal, trials, job_dir)
            run_store.save_selection(
                session,
                run.id,
                task=task,
                method=method,
                hyperparameters=best.hyperparameters,
                config_hash=config_hash(best.hyperparameters),
                metric=metric.name,
                score=best.score,
                # The budget and its spend ride along in the metrics JSON (no schema change);
                # exports read only the eval_ keys.
                metrics={**_mean_metrics([j.metrics for j in succeeded]), SPEND_KEY: spend,
                         **({CERTAINTY_KEY: certainty.to_json()} if certainty else {})},
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
            line += f"; {describe_budget(spend)}"
            lines.append(line)
            if certainty is not None:
                lines.append(f"{task}/{method}: {certainty.sentence()}")
    return lines


def _certainty(metric: str, goal: str, trials: list[Trial],
               job_dir: Callable[[str], Path] | None) -> SelectionUncertainty | None:
    """How distinguishable the chosen trial is, from the finished trials' own predictions."""
    if job_dir is None:
        return None
    from sweepfirst.analysis.selection_uncertainty import load_trial, measure

    scored = [load_trial(t.index, t.score, [job_dir(j.output_dir) for j in t.jobs
                                            if j.state == JobState.SUCCEEDED.value])
              for t in trials if t.score is not None]
    return measure(metric, goal, scored)


def describe_certainty(record: Mapping[str, Any] | None) -> str:
    """The stored sentence ("trial 3 (0.774, 95% CI ...) against runner-up ..."), or ''."""
    return str(record.get("sentence", "")) if isinstance(record, Mapping) else ""
