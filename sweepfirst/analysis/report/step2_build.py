"""Fill a report from a recorded run: the state database plus each job's output folder.

The database says what was chosen, which jobs ran and how they ended; the job folders hold what
only they have - per-example predictions (for the degenerate check, the bootstrap and McNemar's
test) and the evaluation history (learning curves). Nothing is dropped quietly: a degenerate run
stays in every statistic, which is also shown without it, and a job without a result is listed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sweepfirst.analysis.job_outputs import (
    Predictions,
    check_degenerate,
    read_history,
    read_predictions,
    shared_example_ids,
)
from sweepfirst.analysis.report.model import (
    FailedJob,
    JobBudget,
    LearningCurve,
    MethodComparison,
    MethodResult,
    RunReport,
    SeedRun,
    SweepTrial,
    TaskResult,
)
from sweepfirst.analysis.report.step1_drift_facts import (
    DRIFT_JOB_PHASES,
    drift_report,
    saved_models,
)
from sweepfirst.analysis.report.step1_run_facts import provenance, run_info
from sweepfirst.job_progress import read_progress
from sweepfirst.states import DEV_JOB_PHASES, JobPhase, JobState
from sweepfirst.store import jobs as job_store
from sweepfirst.store import runs as run_store
from sweepfirst.store.models import Job, Run, Selection

if TYPE_CHECKING:
    import numpy as np

    from sweepfirst.store.context import Context
    from sweepfirst.store.trials import Trial

#: Job phases of the chosen configuration's runs on dev, one per seed (the baseline is the other
#: dev-scored phase: the default configuration's).
PRODUCTION_PHASES = tuple(p.value for p in DEV_JOB_PHASES if p is not JobPhase.BASELINE)

#: The learning-curve metric of the training loss (progress.json), drawn beside the eval loss.
TRAIN_LOSS = "train_loss"

#: Label of a method in the comparison that leaves out every seed where either method's run is
#: degenerate (both sides lose the seed, so the comparison stays paired).
WITHOUT_FLAGGED = "{method} (flagged seeds excluded)"


@dataclass(frozen=True)
class _Recorded:
    """Everything the database holds about one run, read in one session."""

    run: Run
    jobs: list[Job]
    selections: dict[tuple[str, str], Selection]
    trials: dict[tuple[str, str], list[Trial]]
    events: list[Any]
    phase_seconds: dict[str, float]

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys([*(self.run.spec or {}).get("tasks", []),
                                   *(j.task for j in self.jobs)]))

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys([*((self.run.spec or {}).get("methods") or {}),
                                   *(j.method for j in self.jobs if j.phase not in DRIFT_JOB_PHASES)]))


def build_report_data(ctx: Context, run_ref: int | str | None = None) -> RunReport:
    """Everything the report shows about run ``run_ref`` (id or name; None: the latest).

    Raises `NotFound` (one sentence naming the known runs) when there is no such run.
    """
    recorded = _read(ctx, run_ref)
    run = recorded.run
    tasks = tuple(_task_result(ctx, recorded, task) for task in recorded.tasks
                  if any(j.task == task for j in recorded.jobs) or
                  any(t == task for t, _ in recorded.selections))
    return RunReport(
        run=run_info(run, recorded.events, recorded.selections.values()),
        tasks=tasks,
        provenance=dataclasses.replace(
            provenance(run, recorded.jobs, recorded.phase_seconds, ctx.data_dir),
            saved_models=saved_models(recorded.jobs)),
        drift=drift_report(recorded.jobs),
        phase=run.phase,
        error=run.error,
        failed_jobs=_failed_jobs(recorded.jobs),
    )


def _read(ctx: Context, run_ref: int | str | None) -> _Recorded:
    from sweepfirst.store.trials import sweep_trials

    # Read-only: a report written while workers still run must never block their writes.
    with ctx.db.session(readonly=True) as session:
        run = run_store.find_run(session, run_ref)
        jobs = job_store.list_jobs(session, run.id)
        cells = sorted({(j.task, j.method) for j in jobs if j.phase == JobPhase.SWEEP.value})
        return _Recorded(
            run=run,
            jobs=jobs,
            selections=run_store.selections(session, run.id),
            trials={cell: sweep_trials(session, run.id, *cell) for cell in cells},
            events=run_store.run_events(session, run.id),
            phase_seconds=run_store.time_per_phase(session, run.id),
        )


# ---- one task -----------------------------------------------------------------------------------


def _task_result(ctx: Context, recorded: _Recorded, task: str) -> TaskResult:
    metric = _task_metric(recorded, task)
    cells: list[MethodResult] = []
    predictions: dict[str, dict[int, Predictions]] = {}
    for method in recorded.methods:
        cell_jobs = [j for j in recorded.jobs if j.task == task and j.method == method]
        if not cell_jobs and (task, method) not in recorded.selections:
            continue
        cell, kept = _method_result(ctx, recorded, task, method, metric, cell_jobs)
        cells.append(cell)
        predictions[method] = kept
    names = _metric_names(cells, metric.removeprefix("eval_"))
    return TaskResult(task=task, metric=metric.removeprefix("eval_"), methods=tuple(cells),
                      comparisons=_comparisons(cells, predictions), metric_names=names,
                      majority_rate=_majority_rate(cells), majority_class=_majority_class(cells),
                      metric_comparisons={name: _metric_comparisons(cells, name) for name in names[1:]})


def _metric_names(cells: Sequence[MethodResult], headline: str) -> tuple[str, ...]:
    """Every metric the production runs recorded, the headline one first."""
    names = sorted({name for cell in cells for run in cell.production for name in run.metrics})
    return tuple(dict.fromkeys([headline, *names]))


def _majority_rate(cells: Sequence[MethodResult]) -> float | None:
    """The dev labels' majority-class rate (every run of a task is scored on the same dev set)."""
    return next((run.degenerate.majority_rate for cell in cells for run in (*cell.production, *cell.baseline)
                 if run.degenerate is not None), None)


def _majority_class(cells: Sequence[MethodResult]) -> int | None:
    """The dev labels' most common class (the same dev set for every run of a task)."""
    return next((run.degenerate.majority_class for cell in cells for run in (*cell.production, *cell.baseline)
                 if run.degenerate is not None), None)


def _metric_comparisons(cells: Sequence[MethodResult], metric: str) -> tuple[MethodComparison, ...]:
    """The paired test over seeds in another metric than the headline one (F1 beside accuracy)."""
    comparisons = []
    for a, b in itertools.combinations(cells, 2):
        in_a = {r.seed: r.metrics[metric] for r in a.production if metric in r.metrics}
        in_b = {r.seed: r.metrics[metric] for r in b.production if metric in r.metrics}
        if in_a and in_b:
            from sweepfirst.analysis.statistics import compare_paired

            comparisons.append(MethodComparison(method_a=a.method, method_b=b.method,
                                                paired=compare_paired(in_a, in_b)))
    return tuple(comparisons)


def _task_metric(recorded: _Recorded, task: str) -> str:
    """The metric every score of the task is reported in: the one the sweep selected on (so the
    selection and production scores compare), else the task's headline metric."""
    chosen = {s.metric for (t, _), s in recorded.selections.items() if t == task and s.metric}
    if len(chosen) == 1:
        return chosen.pop()
    from sweepfirst.tasks import get_task

    return get_task(task).primary_metric


def _method_result(ctx: Context, recorded: _Recorded, task: str, method: str, metric: str,
                   jobs: Sequence[Job]) -> tuple[MethodResult, dict[int, Predictions]]:
    selection = recorded.selections.get((task, method))
    production, kept = _seed_runs(ctx, [j for j in jobs if j.phase in PRODUCTION_PHASES], metric)
    baseline, _ = _seed_runs(ctx, [j for j in jobs if j.phase == JobPhase.BASELINE.value], metric)
    if selection is not None:
        hyperparameters = dict(selection.hyperparameters)
    else:  # a `sweepfirst train` run, or production handed a file: what production trained
        hyperparameters = next((dict(j.hyperparameters) for j in jobs
                                if j.phase in PRODUCTION_PHASES), {})
    cell = MethodResult(
        method=method,
        hyperparameters=hyperparameters,
        selection_score=selection.score if selection is not None else None,
        production=production,
        baseline=baseline,
        trials=_sweep_trials(recorded, task, method),
        learning_curves=_learning_curves(ctx, jobs, metric),
        choice_note=_choice_note(selection),
        budget_note=_budget_note(selection),
        certainty_note=_certainty_note(selection),
    )
    return cell, kept


def _choice_note(selection: Selection | None) -> str | None:
    """"chosen from 1 of 2 planned trials; lost: ..." when the sweep lost trials, else None."""
    if selection is None or selection.trials_planned is None or selection.trials_used is None:
        return None
    from sweepfirst.analysis.selection import SPEND_KEY, describe_budget, describe_lost

    budget = describe_budget((selection.metrics or {}).get(SPEND_KEY))
    if selection.trials_used >= selection.trials_planned and not selection.lost_trials:
        return None
    lost = describe_lost(list(selection.lost_trials or []))
    return (f"chosen from {selection.trials_used} of {selection.trials_planned} planned trials"
            + (f"; lost: {lost}" if lost else "") + (f"; {budget}" if budget else ""))


def _budget_note(selection: Selection | None) -> str | None:
    """"budget 24 trials; spent 24 trials, 1,920 training steps, 5.2 min" (None before analysis)."""
    if selection is None:
        return None
    from sweepfirst.analysis.selection import SPEND_KEY, describe_budget

    return describe_budget((selection.metrics or {}).get(SPEND_KEY)) or None


def _certainty_note(selection: Selection | None) -> str | None:
    """How distinguishable the chosen trial was from the runner-up (None before analysis)."""
    if selection is None:
        return None
    from sweepfirst.analysis.selection import CERTAINTY_KEY, describe_certainty

    return describe_certainty((selection.metrics or {}).get(CERTAINTY_KEY)) or None


def _seed_runs(ctx: Context, jobs: Sequence[Job],
               metric: str) -> tuple[tuple[SeedRun, ...], dict[int, Predictions]]:
    """Succeeded jobs with a score, by seed, each with its degenerate check; and the predictions
    each seed left (for the per-example tests)."""
    runs, kept = [], {}
    for job in sorted(jobs, key=lambda j: j.seed):
        score = _score(job, metric)
        if job.state != JobState.SUCCEEDED.value or score is None:
            continue  # listed under failed jobs instead
        predictions = read_predictions(ctx.job_dir(job.output_dir))
        runs.append(SeedRun(seed=job.seed, score=score, job_name=f"job {job.id}",
                            degenerate=check_degenerate(predictions), metrics=_dev_metrics(job),
                            budget=_budget(ctx, job)))
        if predictions is not None:
            kept[job.seed] = predictions
    return tuple(runs), kept


def _dev_metrics(job: Job) -> dict[str, float]:
    """The job's recorded scores (not its timings or loss), without the ``eval_`` prefix."""
    from sweepfirst.analysis.report.step2_summary import SHOWN_METRIC_SUFFIXES

    return {name.removeprefix("eval_"): float(value) for name, value in (job.metrics or {}).items()
            if name.startswith("eval_") and not name.endswith(SHOWN_METRIC_SUFFIXES)
            and isinstance(value, (int, float)) and not isinstance(value, bool)}


def _budget(ctx: Context, job: Job) -> JobBudget:
    """Examples, epochs and steps the job trained (its job.json / progress.json) and its wall time."""
    import json

    from sweepfirst.job_progress import read_progress

    folder = ctx.job_dir(job.output_dir)
    try:
        record = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    progress = read_progress(folder)
    examples = record.get("num_train_examples") or (progress.num_train_examples if progress else None)
    steps = record.get("global_step") or (progress.step if progress else None)
    epochs = (job.hyperparameters or {}).get("num_train_epochs")
    return JobBudget(train_examples=int(examples) if isinstance(examples, int) else None,
                     epochs=float(epochs) if isinstance(epochs, (int, float)) else None,
                     steps=int(steps) if isinstance(steps, int) else None,
                     wall_seconds=float(job.runtime_s) if job.runtime_s else None)


def _score(job: Job, metric: str) -> float | None:
    value = (job.metrics or {}).get(metric, job.score)
    return float(value) if isinstance(value, (int, float)) else None


def _sweep_trials(recorded: _Recorded, task: str, method: str) -> tuple[SweepTrial, ...]:
    trials = recorded.trials.get((task, method), [])
    searched = _searched_names(recorded.run, method, trials)
    return tuple(
        SweepTrial(
            trial=t.index,
            hyperparameters={k: v for k, v in t.hyperparameters.items() if k in searched},
            score=t.score,
            # The planner calls a finished trial "complete"; the report speaks in job states.
            state="succeeded" if t.state == "complete" else t.state,
            job_name=", ".join(f"job {j.id}" for j in t.jobs),
            paused_at_evaluation=t.paused_at[0] if t.paused_at else None,
            paused_score=t.paused_at[1] if t.paused_at else None,
        )
        for t in trials
    )


def _searched_names(run: Run, method: str, trials: Sequence[Trial]) -> set[str]:
    """The hyperparameters the sweep varied: a panel for a fixed value would be one column."""
    sweep = (((run.spec or {}).get("methods") or {}).get(method) or {}).get("sweep") or {}
    parameters: Mapping[str, Any] = sweep.get("parameters") or {}
    searched = {name for name, spec in parameters.items()
                if not (isinstance(spec, Mapping) and set(spec) == {"value"})}
    if searched:
        return searched
    varied = {k for t in trials for k in t.hyperparameters
              if len({repr(u.hyperparameters.get(k)) for u in trials}) > 1}
    return varied or {k for t in trials for k in t.hyperparameters}


def _learning_curves(ctx: Context, jobs: Sequence[Job], metric: str) -> tuple[LearningCurve, ...]:
    """The selection metric and the eval loss over training steps, for every sweep and
    production job that recorded its evaluations (baselines are left out to keep plots legible)."""
    curves = []
    for job in sorted(jobs, key=lambda j: (j.phase != JobPhase.SWEEP.value, j.id)):
        if job.phase not in (JobPhase.SWEEP.value, *PRODUCTION_PHASES):
            continue
        history = read_history(ctx.job_dir(job.output_dir))
        for name in dict.fromkeys((metric, "eval_loss")):
            points = tuple((float(h.get("step", i)), float(h["metrics"][name]))
                           for i, h in enumerate(history) if name in h["metrics"])
            if points:
                curves.append(LearningCurve(
                    job_name=f"job {job.id}",
                    phase="sweep" if job.phase == JobPhase.SWEEP.value else "production",
                    metric=name.removeprefix("eval_"), points=points,
                    seed=job.seed if job.phase in PRODUCTION_PHASES else None,
                ))
        progress = read_progress(ctx.job_dir(job.output_dir))
        if progress is not None and progress.train_loss:
            curves.append(LearningCurve(
                job_name=f"job {job.id}",
                phase="sweep" if job.phase == JobPhase.SWEEP.value else "production",
                metric=TRAIN_LOSS, points=tuple((float(step), float(loss)) for step, loss in progress.train_loss),
                seed=job.seed if job.phase in PRODUCTION_PHASES else None,
            ))
    return tuple(curves)


# ---- comparisons --------------------------------------------------------------------------------


def _comparisons(cells: Sequence[MethodResult],
                 predictions: Mapping[str, Mapping[int, Predictions]]) -> tuple[MethodComparison,
                                                                               ...]:
    """Every pair of methods: over all runs (with per-seed example-level tests), and - when a
    run of the pair is degenerate - again without the seeds that have a degenerate run."""
    comparisons = []
    for a, b in itertools.combinations(cells, 2):
        if not a.production or not b.production:
            continue
        correct_a, correct_b = _correctness(predictions.get(a.method, {}),
                                            predictions.get(b.method, {}))
        comparisons.append(MethodComparison.between(a, b, correct_a, correct_b))
        flagged_seeds = {r.seed for r in (*a.production, *b.production) if r.flagged}
        if flagged_seeds:
            clean_a, clean_b = _without_seeds(a, flagged_seeds), _without_seeds(b, flagged_seeds)
            if clean_a.production and clean_b.production:
                comparisons.append(MethodComparison.between(clean_a, clean_b))
    return tuple(comparisons)


def _correctness(a: Mapping[int, Predictions], b: Mapping[int, Predictions]
                 ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per-example 0/1 correctness of each seed both methods have predictions for, on the
    examples both were scored on, in example-id order (so index i is the same example)."""
    correct_a, correct_b = {}, {}
    for seed in sorted(set(a) & set(b)):
        ids = shared_example_ids(a[seed], b[seed])
        if ids:
            correct_a[seed] = a[seed].correctness(ids)
            correct_b[seed] = b[seed].correctness(ids)
    return correct_a, correct_b


def _without_seeds(cell: MethodResult, seeds: set[int]) -> MethodResult:
    return MethodResult(method=WITHOUT_FLAGGED.format(method=cell.method),
                        hyperparameters=cell.hyperparameters,
                        selection_score=cell.selection_score,
                        production=tuple(r for r in cell.production if r.seed not in seeds))


# ---- jobs without a result ----------------------------------------------------------------------


def _failed_jobs(jobs: Sequence[Job]) -> tuple[FailedJob, ...]:
    """Failed and cancelled jobs, and production jobs that succeeded without a score."""
    unfinished = {JobState.FAILED.value, JobState.CANCELLED.value}
    listed = []
    for job in jobs:
        unscored = (job.state == JobState.SUCCEEDED.value and job.phase != JobPhase.SWEEP.value
                    and job.phase not in DRIFT_JOB_PHASES and job.score is None)
        if job.state not in unfinished and not unscored:
            continue
        error = (job.error or "").strip().splitlines()
        listed.append(FailedJob(
            job_id=job.id, phase=job.phase, task=job.task, method=job.method, seed=job.seed,
            trial_index=job.trial_index,
            state=job.state if not unscored else "succeeded without a score",
            attempts=job.attempts, error=error[0][:300] if error else None,
        ))
    return tuple(listed)
