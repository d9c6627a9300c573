"""What a workflow would cost, without training or writing a run: ``sweepfirst plan``.

Per (task, method): the sweep's trials and jobs (its space, run_cap and budget), the production
(and baseline) jobs, the optimizer steps of each (the Trainer's arithmetic over the examples the
jobs would see), and an estimate of the time from this machine's recorded throughput (seconds per
optimizer step of finished jobs with the same model, method and sequence length in the state
database), when there is any.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sweepfirst.engine.sweep_config import sweep_config_for, trial_cap
from sweepfirst.methods import canonical_hyperparameters, complete_hyperparameters, get_method
from sweepfirst.spec import Workflow
from sweepfirst.states import JobState
from sweepfirst.training.hyperparameters import optimizer_steps, parse_hyperparameters

#: Trials planned to estimate an open-ended sweep (a budget of training steps or hours only).
OPEN_ENDED_SAMPLE = 8


@dataclass(frozen=True)
class CellForecast:
    """One (task, method): its jobs per phase, their training steps, and the time they would take."""

    task: str
    method: str
    search: str
    #: Trials the sweep plans; None when only a steps/hours budget ends it.
    trials: int | None
    sweep_jobs: int | None
    sweep_steps: int | None
    production_jobs: int
    production_steps: int | None
    baseline_jobs: int
    baseline_steps: int | None
    budget: str
    #: Seconds per optimizer step measured on this machine, or None without a recorded run.
    seconds_per_step: float | None
    ignored: tuple[tuple[str, str], ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_steps(self) -> int | None:
        parts = (self.sweep_steps, self.production_steps, self.baseline_steps)
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)

    @property
    def estimated_seconds(self) -> float | None:
        steps = self.total_steps
        return None if steps is None or self.seconds_per_step is None else steps * self.seconds_per_step


@dataclass(frozen=True)
class Forecast:
    workflow: str
    cells: list[CellForecast] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        cells = []
        for cell in self.cells:
            row = asdict(cell)
            row["total_steps"] = cell.total_steps
            row["estimated_seconds"] = cell.estimated_seconds
            cells.append(row)
        return {"workflow": self.workflow, "cells": cells, "warnings": self.warnings,
                "jobs": {"sweep": sum(c.sweep_jobs or 0 for c in self.cells),
                         "production": sum(c.production_jobs for c in self.cells),
                         "baseline": sum(c.baseline_jobs for c in self.cells)}}


def train_examples(workflow: Workflow, task: str, data_dir: Path | None) -> tuple[int | None, int | None]:
    """(sweep, production) training examples of ``task``: the local train file's rows, held-out
    selection split removed for the sweep, capped by ``data.max_train_samples``; None when unknown
    (data from the Hub and no cap)."""
    from sweepfirst.training.data_check import resolve_data_dir

    rows = _count_train_rows(task, resolve_data_dir(workflow, data_dir))
    cap = workflow.data.max_train_samples
    if rows is None:
        return (cap, cap)
    held_out = math.ceil(rows * workflow.selection.fraction) if workflow.selection.split == "train_holdout" else 0
    sweep = rows - held_out
    return (sweep if cap is None else min(cap, sweep), rows if cap is None else min(cap, rows))


def _count_train_rows(task_name: str, folder: Path | None) -> int | None:
    if folder is None:
        return None
    from sweepfirst.training.data import glue_split_paths, labelled_glue_rows, read_bytes
    from sweepfirst.training.tasks import get_task

    task = get_task(task_name)
    if task.glue is None:
        return None  # SQuAD counts features, not rows: left to the job
    path = glue_split_paths(task, folder)["train"]
    return sum(1 for _ in labelled_glue_rows(path, task.glue, read_bytes(path)))


def forecast(workflow: Workflow, data_dir: Path | None, session: Session | None) -> Forecast:
    """The jobs, steps and estimated time of every (task, method) of ``workflow``."""
    from sweepfirst.engine.planner import search_seed
    from sweepfirst.search.strategies import make_proposer

    result = Forecast(workflow.name, warnings=workflow.budget_warnings())
    for task in workflow.tasks:
        sweep_n, production_n = train_examples(workflow, task, data_dir)
        for name, spec in workflow.methods.items():
            method = get_method(name, spec.peft)
            config = sweep_config_for(workflow, task, name)
            budget = workflow.method_budget(name)
            cap = trial_cap(config, budget)
            fixed = canonical_hyperparameters(method, spec.fixed, workflow.parameter_names)
            sample = cap if cap is not None else OPEN_ENDED_SAMPLE
            # bayes proposes from what it has seen; its first proposals are random draws.
            proposing = config if config.method != "bayes" else replace(config, method="random")
            proposals = make_proposer(proposing, seed=search_seed(workflow, task, name)).propose([], sample)
            configs = [complete_hyperparameters(method, {**p, **fixed}) for p in proposals]
            seeds = len(workflow.seeds.sweep)
            notes = []
            sweep_steps = _steps(configs, name, spec.peft, sweep_n, seeds)
            if cap is None:
                notes.append(f"open-ended: runs until its budget ({budget.describe() if budget else 'none'}) is spent")
                sweep_steps = budget.train_steps if budget is not None and budget.train_steps else None
            if config.early_terminate is not None:
                notes.append("hyperband may stop trials early: the sweep steps are an upper bound")
            baseline = complete_hyperparameters(method, spec.fixed)
            production = len(workflow.seeds.production)
            # Production trains the chosen configuration; before the sweep, the largest planned one
            # bounds it.
            per_job = max((_steps([c], name, spec.peft, production_n, 1) or 0 for c in configs), default=0)
            result.cells.append(CellForecast(
                task=task, method=name, search=config.method, trials=cap,
                sweep_jobs=None if cap is None else cap * seeds, sweep_steps=sweep_steps,
                production_jobs=production,
                production_steps=None if production_n is None else per_job * production,
                baseline_jobs=production if workflow.baseline else 0,
                baseline_steps=(_steps([baseline], name, spec.peft, production_n, production)
                                if workflow.baseline else 0),
                budget=budget.describe() if budget is not None else (
                    f"run_cap {config.run_cap}" if config.run_cap else "the whole space"),
                seconds_per_step=None if session is None else seconds_per_step(session, workflow, name),
                ignored=config.ignored, renamed=config.renamed, notes=tuple(notes),
            ))
    return result


def _steps(configs: list[dict[str, Any]], method: str, peft: dict[str, Any] | None,
           examples: int | None, seeds: int) -> int | None:
    if examples is None:
        return None
    total = 0
    for values in configs:
        params = parse_hyperparameters(method, values, peft=peft)
        total += optimizer_steps(examples, params)[1] * seeds
    return total


def seconds_per_step(session: Session, workflow: Workflow, method: str) -> float | None:
    """Seconds per optimizer step of this machine's finished jobs of ``method`` with the same model
    and sequence length (any method when there are none of it); None without any. A job's steps
    are the ones it recorded at the end (``provenance.global_step``), its time its attempts' own."""
    from sweepfirst.store.models import Job, Run

    rows = session.execute(
        select(Job.method, Job.provenance, Job.progress_step, Job.runtime_s, Run.spec)
        .join(Run, Run.id == Job.run_id)
        .where(Job.state == JobState.SUCCEEDED.value, Job.runtime_s > 0)
    ).all()
    same = [(m, (p or {}).get("global_step") or step or 0, t) for m, p, step, t, spec in rows
            if spec.get("model") == workflow.model
            and (spec.get("data") or {}).get("max_seq_length", 128) == workflow.data.max_seq_length]
    for chosen in ([r for r in same if r[0] == method], same):
        steps = sum(s for _, s, _ in chosen)
        if steps:
            return sum(t for _, _, t in chosen) / steps
    return None
