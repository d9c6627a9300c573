"""What a report is rendered from: plain frozen dataclasses, filled from the state database.

The model holds *recorded facts* (scores per seed, chosen hyperparameters, trials, curves,
provenance). Statistics that follow from those facts alone - seed summaries, the tuned-vs-baseline
comparison - are properties, so a model can never carry a summary that disagrees with its scores.
Statistics that need data the model does not keep (per-example correctness on the dev set, for the
bootstrap and McNemar) are stored: build them with `MethodComparison.between`.

Filling one from the database is a straight mapping, for example::

    MethodResult(
        method="lora",
        hyperparameters=chosen.params,
        selection_score=chosen.selection_score,
        production=tuple(SeedRun(seed=j.seed, score=j.score, job_name=j.name,
                                 degenerate=detect_degenerate(j.predictions, labels))
                         for j in production_jobs),
        trials=tuple(SweepTrial(j.trial_number, j.params, j.score, j.state) for j in sweep_jobs),
    )
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweepfirst.analysis.drift_comparison import DriftReport
from sweepfirst.analysis.statistics import (
    BootstrapResult,
    DegenerateCheck,
    McNemarResult,
    PairedComparison,
    SeedSummary,
    bootstrap_difference,
    compare_paired,
    mcnemar,
    summarize_seeds,
)
from sweepfirst.jsonable import fields_dict, to_jsonable
from sweepfirst.states import REPORTED_PHASES

#: A hyperparameter value as the sweep recorded it.
HyperparameterValue = float | int | str | bool
Hyperparameters = Mapping[str, HyperparameterValue]


class _Serializable:
    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return fields_dict(self)


@dataclasses.dataclass(frozen=True)
class PhaseTiming(_Serializable):
    """When one phase of the run started and finished (``None`` while not reached)."""

    phase: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclasses.dataclass(frozen=True)
class RunInfo(_Serializable):
    """Which run the report is about and how its configurations were selected."""

    name: str
    workflow_name: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    phase_times: tuple[PhaseTiming, ...]
    #: How the sweep scored trials, in words (e.g. "10% of train held out, stratified, seed 0").
    selection_split: str
    #: True when the sweep selected on the dev set the production scores are reported on: those
    #: scores are then optimistically biased, and the report says so at the top.
    selection_on_dev: bool


@dataclasses.dataclass(frozen=True)
class JobBudget(_Serializable):
    """What one job trained and how long it took (``None`` where not recorded)."""

    train_examples: int | None
    epochs: float | None
    steps: int | None
    #: Wall time of the job, summed over its attempts (loading and evaluation included).
    wall_seconds: float | None


@dataclasses.dataclass(frozen=True)
class SeedRun(_Serializable):
    """One training run of a fixed configuration: its seed and its dev-set score."""

    seed: int
    score: float
    job_name: str | None = None
    #: The degenerate-prediction check of this run; ``None`` when predictions were not kept.
    degenerate: DegenerateCheck | None = None
    #: Every dev metric the job recorded, without the ``eval_`` prefix (accuracy, f1, HasAns_f1...).
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    budget: JobBudget | None = None

    @property
    def near_degenerate(self) -> str | None:
        """The near-degenerate warning of this run (`analysis.degenerate`), or None."""
        return self.degenerate.near_degenerate if self.degenerate is not None else None

    @property
    def flagged(self) -> bool:
        """Whether the run collapsed (see `detect_degenerate`)."""
        return self.degenerate is not None and self.degenerate.is_degenerate

    def to_dict(self) -> dict[str, Any]:
        return {**fields_dict(self), "flagged": self.flagged}


@dataclasses.dataclass(frozen=True)
class SweepTrial(_Serializable):
    """One sweep trial: the hyperparameters tried and the selection score they got."""

    trial: int
    hyperparameters: Hyperparameters
    #: Selection-split score; ``None`` when the trial did not finish.
    score: float | None
    #: The job state as recorded ("succeeded", "failed", "pruned", ...).
    state: str
    job_name: str | None = None
    #: A trial that early termination paused: the evaluation it stopped after and its selection
    #: score there (not comparable with finished trials' scores: it trained less).
    paused_at_evaluation: int | None = None
    paused_score: float | None = None


@dataclasses.dataclass(frozen=True)
class LearningCurve(_Serializable):
    """One metric of one job over training: (step or epoch, value) points in order."""

    job_name: str
    #: "sweep" or "production": production curves are drawn in colour, sweep curves in grey.
    phase: str
    metric: str
    points: tuple[tuple[float, float], ...]
    x_label: str = "step"
    seed: int | None = None


@dataclasses.dataclass(frozen=True)
class MethodResult(_Serializable):
    """Everything recorded for one (task, method) cell: selection, production and baseline."""

    method: str
    #: The configuration the sweep chose and production trained.
    hyperparameters: Hyperparameters
    #: The chosen configuration's score on the selection split.
    selection_score: float | None
    production: tuple[SeedRun, ...]
    #: Runs with the method's default hyperparameters, if the workflow trained them.
    baseline: tuple[SeedRun, ...] = ()
    trials: tuple[SweepTrial, ...] = ()
    learning_curves: tuple[LearningCurve, ...] = ()
    #: "chosen from k of n planned trials; lost: ..." when the sweep lost trials (else None).
    choice_note: str | None = None
    #: "budget 24 trials; spent 24 trials, 1,920 training steps, 5.2 min" (None without a sweep).
    budget_note: str | None = None
    #: "trial 3 (0.774, 95% CI ...) against runner-up trial 1 (...): not distinguishable ..."
    certainty_note: str | None = None

    @property
    def scores_by_seed(self) -> dict[int, float]:
        return {run.seed: run.score for run in self.production}

    @property
    def flagged_runs(self) -> tuple[SeedRun, ...]:
        return tuple(run for run in (*self.production, *self.baseline) if run.flagged)

    @property
    def summary(self) -> SeedSummary | None:
        """Production scores over all seeds, flagged runs included; ``None`` with no runs."""
        return _summary(self.production)

    @property
    def summary_without_flagged(self) -> SeedSummary | None:
        """Production scores without degenerate runs; ``None`` when none (or all) were flagged."""
        kept = tuple(run for run in self.production if not run.flagged)
        if len(kept) in (0, len(self.production)):
            return None
        return _summary(kept)

    @property
    def baseline_summary(self) -> SeedSummary | None:
        return _summary(self.baseline)

    def metric_summary(self, metric: str, *, baseline: bool = False) -> SeedSummary | None:
        """One metric's summary over the production (or baseline) runs that recorded it."""
        values = [r.metrics[metric] for r in (self.baseline if baseline else self.production)
                  if metric in r.metrics]
        return summarize_seeds(values) if values else None

    @property
    def sweep_gain(self) -> PairedComparison | None:
        """Tuned minus default hyperparameters, paired by seed; ``None`` without a baseline."""
        if not self.baseline:
            return None
        return compare_paired(self.scores_by_seed, {r.seed: r.score for r in self.baseline})

    def to_dict(self) -> dict[str, Any]:
        derived = {
            "summary": self.summary,
            "summary_without_flagged": self.summary_without_flagged,
            "baseline_summary": self.baseline_summary,
            "sweep_gain": self.sweep_gain,
        }
        return {**fields_dict(self), **to_jsonable(derived)}


@dataclasses.dataclass(frozen=True)
class SeedExampleTests(_Serializable):
    """Dev-example-level tests for one seed of two methods (same seed, same dev set)."""

    seed: int
    bootstrap: BootstrapResult
    mcnemar: McNemarResult


@dataclasses.dataclass(frozen=True)
class MethodComparison(_Serializable):
    """Method A against method B on one task: across seeds, and per seed across examples."""

    method_a: str
    method_b: str
    paired: PairedComparison
    per_seed: tuple[SeedExampleTests, ...] = ()

    @classmethod
    def between(
        cls,
        a: MethodResult,
        b: MethodResult,
        correct_a: Mapping[int, np.ndarray] | None = None,
        correct_b: Mapping[int, np.ndarray] | None = None,
        *,
        n_resamples: int = 2000,
    ) -> MethodComparison:
        """Compare two cells: the paired t-test over seeds, and - for each seed both have
        per-example correctness for - the paired bootstrap and McNemar's test."""
        per_seed: list[SeedExampleTests] = []
        if correct_a is not None and correct_b is not None:
            for seed in sorted(set(correct_a) & set(correct_b)):
                per_seed.append(SeedExampleTests(
                    seed=seed,
                    bootstrap=bootstrap_difference(
                        correct_a[seed], correct_b[seed], n_resamples=n_resamples, seed=seed
                    ),
                    mcnemar=mcnemar(correct_a[seed], correct_b[seed]),
                ))
        return cls(method_a=a.method, method_b=b.method,
                   paired=compare_paired(a.scores_by_seed, b.scores_by_seed),
                   per_seed=tuple(per_seed))


@dataclasses.dataclass(frozen=True)
class TaskResult(_Serializable):
    """One task: each method's cell and the comparisons between methods."""

    task: str
    #: The dev-set metric every score of this task is in ("accuracy", "matthews_correlation").
    metric: str
    methods: tuple[MethodResult, ...]
    comparisons: tuple[MethodComparison, ...] = ()
    #: Every dev metric the task's production runs recorded, headline first (accuracy, f1; for
    #: SQuAD exact, f1, HasAns_exact, ...); per-metric comparisons are keyed by these names.
    metric_names: tuple[str, ...] = ()
    #: Share of the dev labels in the most common class: the accuracy of always answering it.
    majority_rate: float | None = None
    #: metric -> comparisons in that metric (the headline metric's are ``comparisons``).
    metric_comparisons: Mapping[str, tuple[MethodComparison, ...]] = dataclasses.field(default_factory=dict)
    #: The most common dev label (a classifier's), the one ``majority_rate`` is the share of.
    majority_class: int | None = None

    def majority_answer_score(self, metric: str) -> float | None:
        """The score in ``metric`` of always answering the most common dev label: what a score
        must beat to show that the model learned something.

        accuracy: the majority-class rate. f1 (GLUE's binary F1 of class 1): 2p / (1 + p) when
        the most common label is 1 (every positive found, every negative a false positive), 0
        when it is 0 (nothing predicted positive). matthews_correlation: 0 (a constant answer
        carries no correlation). Any other metric: None (no such baseline is stated).
        """
        p = self.majority_rate
        if p is None:
            return None
        if metric == "accuracy":
            return p
        if metric == "f1" and self.majority_class is not None:
            return 2 * p / (1 + p) if self.majority_class == 1 else 0.0
        if metric == "matthews_correlation":
            return 0.0
        return None


@dataclasses.dataclass(frozen=True)
class PhaseCost(_Serializable):
    """Compute one phase used: wall-clock time, and accelerator time summed over its jobs."""

    phase: str
    wall_seconds: float | None
    accelerator_seconds: float | None
    jobs: int | None = None


@dataclasses.dataclass(frozen=True)
class SavedModel(_Serializable):
    """A production or baseline job's final model, kept in its folder (peft: the adapter)."""

    job_name: str
    phase: str
    task: str
    method: str
    seed: int
    path: str
    #: "full" or "adapter".
    kind: str
    sha256: str | None


@dataclasses.dataclass(frozen=True)
class Provenance(_Serializable):
    """What is needed to trust and reproduce the numbers."""

    package_versions: Mapping[str, str]
    git_commit: str | None
    model_name: str
    model_hash: str | None
    #: Task -> fingerprint of the data files the run read.
    data_fingerprints: Mapping[str, str]
    hardware: str
    phase_costs: tuple[PhaseCost, ...] = ()
    #: Whether the working tree had uncommitted changes; ``None`` when unknown.
    git_dirty: bool | None = None
    #: The production and baseline models kept in their job folders (path and weights hash).
    saved_models: tuple[SavedModel, ...] = ()


@dataclasses.dataclass(frozen=True)
class ReportData(_Serializable):
    """The whole report: the run, one entry per task, and provenance."""

    run: RunInfo
    tasks: tuple[TaskResult, ...]
    provenance: Provenance
    generated_at: dt.datetime | None = None
    #: How fine-tuning changed the models ("How the model changed"); None without drift jobs.
    drift: DriftReport | None = None

    @property
    def flagged_runs(self) -> tuple[tuple[str, str, str, SeedRun], ...]:
        """Every degenerate run as (task, method, "production" | "baseline", run)."""
        found: list[tuple[str, str, str, SeedRun]] = []
        for task in self.tasks:
            for cell in task.methods:
                for kind, runs in (("production", cell.production), ("baseline", cell.baseline)):
                    found.extend((task.task, cell.method, kind, r) for r in runs if r.flagged)
        return tuple(found)

    @property
    def near_degenerate_runs(self) -> tuple[tuple[str, str, str, SeedRun], ...]:
        """Every nearly degenerate run (see `analysis.degenerate`), as `flagged_runs` lists them."""
        return tuple((task.task, cell.method, kind, r) for task in self.tasks for cell in task.methods
                     for kind, runs in (("production", cell.production), ("baseline", cell.baseline))
                     for r in runs if r.near_degenerate)


def _summary(runs: tuple[SeedRun, ...]) -> SeedSummary | None:
    return summarize_seeds([run.score for run in runs]) if runs else None


# A recorded run: what only a real run has -- jobs that failed, the phase it is in.

_REPORTED = frozenset(p.value for p in REPORTED_PHASES)


@dataclasses.dataclass(frozen=True)
class FailedJob(_Serializable):
    """A job that ended without a usable result: failed, cancelled, or succeeded without a score."""

    job_id: int
    phase: str
    task: str
    method: str
    seed: int
    trial_index: int | None
    state: str
    attempts: int
    #: The first line of the recorded error (the full text is in `sweepfirst jobs show ID`).
    error: str | None


@dataclasses.dataclass(frozen=True)
class RunReport(ReportData):
    """`ReportData` of a recorded run, with its unfinished business."""

    #: The run's phase when the report was built ("completed", "report", "failed", ...).
    phase: str = "completed"
    #: Why the run failed, when it did.
    error: str | None = None
    failed_jobs: tuple[FailedJob, ...] = ()

    @property
    def partial(self) -> bool:
        """A phase before the report has work left: the numbers may change when the run resumes."""
        return self.phase not in _REPORTED

    @property
    def missing_results(self) -> tuple[FailedJob, ...]:
        """Failed jobs whose seeds are missing from the production statistics."""
        return tuple(j for j in self.failed_jobs if j.phase != "sweep")
