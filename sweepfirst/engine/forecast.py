"""What a workflow would cost, without training or writing a run: ``sweepfirst plan``.

Per (task, method): the sweep's trials and jobs (its space, run_cap and budget), the production
(and baseline) jobs, the optimizer steps of each (the Trainer's arithmetic over the examples the
jobs would see), and an estimate of the time by the one time-left rule of ``engine.estimates``: the jobs' work
(training examples x epochs) over the throughput this machine measured (examples per second of
finished jobs with the same model, sequence length, task and method in the state database), when
there is any.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sweepfirst.engine.estimates import ProgressReader, epochs_of, measured_throughputs, setup_of
from sweepfirst.methods import canonical_hyperparameters, complete_hyperparameters, get_method
from sweepfirst.spec import Workflow
from sweepfirst.sweep_config import sweep_config_for, trial_cap
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
    #: Training examples x epochs over every job of the cell (None when unknown): the work that
    #: the throughput divides.
    work: float | None
    #: Examples per second measured on this machine, or None without a recorded run to go on.
    examples_per_second: float | None
    ignored: tuple[tuple[str, str], ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_steps(self) -> int | None:
        parts = (self.sweep_steps, self.production_steps, self.baseline_steps)
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)

    @property
    def estimated_seconds(self) -> float | None:
        if self.work is None or not self.examples_per_second:
            return None
        return self.work / self.examples_per_second


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
    from sweepfirst.tasks import get_task
    from sweepfirst.training.data import glue_split_paths, labelled_glue_rows, read_bytes

    task = get_task(task_name)
    if task.glue is None:
        return None  # SQuAD counts features, not rows: left to the job
    path = glue_split_paths(task, folder)["train"]
    return sum(1 for _ in labelled_glue_rows(path, task.glue, read_bytes(path)))


def forecast(workflow: Workflow, data_dir: Path | None, session: Session | None,
             read_progress: ProgressReader = lambda _job: None) -> Forecast:
    """The jobs, steps and estimated time of every (task, method) of ``workflow``; the time only
    with a ``session`` of a state database (``read_progress``: a recorded job's progress file,
    for the examples it trained on)."""
    from sweepfirst.search.strategies import learns_from_results, make_proposer

    result = Forecast(workflow.name, warnings=workflow.budget_warnings())
    rates = {} if session is None else recorded_throughputs(session, workflow, read_progress)
    for task in workflow.tasks:
        sweep_n, production_n = train_examples(workflow, task, data_dir)
        for name, spec in workflow.methods.items():
            method = get_method(name, spec.peft)
            config = sweep_config_for(workflow, task, name)
            budget = workflow.method_budget(name)
            cap = trial_cap(config, None if budget is None else budget.trials)
            fixed = canonical_hyperparameters(method, spec.fixed, workflow.parameter_names)
            sample = cap if cap is not None else OPEN_ENDED_SAMPLE
            # A strategy that learns from finished trials (bayes) has seen none yet: its first
            # proposals are random draws.
            proposing = replace(config, method="random") if learns_from_results(config.method) else config
            proposals = make_proposer(proposing, seed=workflow.search_seed(task, name)).propose([], sample)
            configs = [complete_hyperparameters(method, {**p, **fixed}) for p in proposals]
            seeds = len(workflow.seeds.sweep)
            notes = []
            sweep_steps = _steps(configs, name, spec.peft, sweep_n, seeds)
            sweep_work = _work(configs, sweep_n, seeds)
            if cap is None:
                notes.append(f"open-ended: runs until its budget ({budget.describe() if budget else 'none'}) is spent")
                spent = budget.train_steps if budget is not None and budget.train_steps else None
                # The budget counts steps; the sampled trials say how much work a step is.
                sweep_work = None if spent is None or not sweep_work or not sweep_steps \
                    else sweep_work * spent / sweep_steps
                sweep_steps = spent
            if config.early_terminate is not None:
                notes.append("hyperband may stop trials early: the sweep steps are an upper bound")
            baseline = complete_hyperparameters(method, spec.fixed)
            production = len(workflow.seeds.production)
            # Production trains the chosen configuration; before the sweep, the largest planned one
            # bounds it.
            per_job = max((_steps([c], name, spec.peft, production_n, 1) or 0 for c in configs), default=0)
            # Its time, as `status` counts a production job not chosen yet: the trials' mean epochs.
            epochs = [e for e in (epochs_of(c) for c in configs) if e is not None]
            production_work = None if production_n is None or not epochs \
                else production_n * sum(epochs) / len(epochs) * production
            baseline_work = _work([baseline], production_n, production) if workflow.baseline else 0.0
            parts = (sweep_work, production_work, baseline_work)
            rate = rates.get((task, name))
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
                work=None if any(p is None for p in parts) else sum(p or 0.0 for p in parts),
                examples_per_second=None if rate is None else rate[0],
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


def _work(configs: list[dict[str, Any]], examples: int | None, seeds: int) -> float | None:
    """Training examples x epochs of ``configs``, each trained with ``seeds`` seeds."""
    epochs = [epochs_of(c) for c in configs]
    if examples is None or any(e is None for e in epochs):
        return None
    return sum(examples * (e or 0.0) * seeds for e in epochs)


def recorded_throughputs(session: Session, workflow: Workflow,
                         read_progress: ProgressReader) -> dict[tuple[str, str], tuple[float, str]]:
    """Examples per second per (task, method) that this database's runs of ``workflow``'s model
    and sequence length measured (``engine.estimates``' rule; each recorded run counts as an
    earlier run of this one)."""
    from sweepfirst.errors import NotFound
    from sweepfirst.store.snapshot import RunSnapshot, snapshot_from_session

    try:
        latest = snapshot_from_session(session, None)
    except NotFound:
        return {}  # no run recorded yet
    every_run = {latest.run.id: latest.run, **latest.earlier_runs}
    recorded = RunSnapshot(run=latest.run, jobs=[], phase_changes=[], selections=[],
                           earlier_jobs=[*latest.jobs, *latest.earlier_jobs], earlier_runs=every_run)
    setup = setup_of({"model": workflow.model, "data": {"max_seq_length": workflow.data.max_seq_length}})
    return measured_throughputs(recorded, read_progress, setup)
