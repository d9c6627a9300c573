"""How sure a sweep's choice is: an interval per trial's selection score, best against runner-up.

A 10% selection split of MRPC is 367 pairs, so one trial's accuracy there has a standard error of
about 2.4 points, and the trials of a sweep often lie within that of each other: the sweep may pick
on noise. This module states it with the numbers, from the trials' own predictions:

* each trial's selection accuracy with its 95% Wilson interval (``scipy.stats.binomtest``), over
  every (sweep seed, selection example) it was scored on;
* the chosen trial against the runner-up, paired on the same examples (both are scored on the
  same selection split and the same sweep seeds): McNemar's exact test, i.e. a two-sided binomial
  test of the examples only one of the two got right (``statistics.mcnemar``, the test the
  report uses between methods). "Distinguishable" means p < 0.05.

Only accuracy is a proportion of examples; for other selection metrics (F1, a loss) the module
says that it has no interval rather than inventing one. The remedies it names are the ones the
methodology allows: more sweep seeds per trial (averaged), a larger selection fraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepfirst.analysis.job_outputs import Predictions, read_predictions

#: Selection metrics that are a proportion of examples answered right.
PROPORTION_METRICS = frozenset({"eval_accuracy", "accuracy", "eval/accuracy"})
LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class ScoredTrial:
    """A finished trial: its selection score and the predictions of each of its sweep seeds."""

    index: int
    score: float
    #: One entry per sweep seed's job, in seed order; None where the job kept no predictions.
    predictions: tuple[Predictions | None, ...]


@dataclass(frozen=True)
class TrialInterval:
    index: int
    score: float
    correct: int
    examples: int
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    best: int
    runner_up: int
    #: Paired examples (seed, example) that exactly one of the two got right.
    best_only: int
    runner_up_only: int
    examples: int
    p_value: float

    @property
    def distinguishable(self) -> bool:
        return self.p_value < ALPHA


@dataclass(frozen=True)
class SelectionUncertainty:
    metric: str
    intervals: tuple[TrialInterval, ...]
    comparison: Comparison | None
    #: Why there is no interval or comparison, when there is none (one sentence).
    note: str = ""

    def sentence(self) -> str:
        """One line for the console, status and the report."""
        if self.comparison is None:
            return self.note
        c = self.comparison
        by_index = {i.index: i for i in self.intervals}
        best, runner = by_index[c.best], by_index[c.runner_up]
        verdict = "distinguishable" if c.distinguishable else "not distinguishable"
        line = (f"trial {best.index} {_interval(best)} against runner-up trial {runner.index} "
                f"{_interval(runner)}: {verdict} (McNemar exact p = {c.p_value:.3g}, "
                f"{c.best_only} vs {c.runner_up_only} of {c.examples} paired examples right by one only)")
        if not c.distinguishable:
            line += ("; the choice may be noise: average more sweep seeds per trial (seeds.sweep: "
                     "[0, 1, 2]) or hold out more of train (selection.fraction: 0.2)")
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "level": LEVEL,
            "intervals": [vars(i) for i in self.intervals],
            "comparison": None if self.comparison is None else {
                **vars(self.comparison), "distinguishable": self.comparison.distinguishable},
            "note": self.note,
            "sentence": self.sentence(),
        }


def _interval(t: TrialInterval) -> str:
    return f"({t.score:.4f}, 95% CI {t.low:.3f}-{t.high:.3f}, n={t.examples})"


def _pooled_correctness(trial: ScoredTrial, ids: tuple[int, ...]) -> list[float] | None:
    """Correctness over (seed, example) for the given example ids; None if a seed has no file."""
    if not trial.predictions or any(p is None for p in trial.predictions):
        return None
    pooled: list[float] = []
    for predictions in trial.predictions:
        assert predictions is not None
        if set(predictions.ids) != set(ids):
            return None
        pooled.extend(predictions.correctness(ids).tolist())
    return pooled


def measure(metric: str, goal: str, trials: Sequence[ScoredTrial]) -> SelectionUncertainty:
    """Intervals for every finished trial and the best-vs-runner-up test (needs two trials)."""
    from scipy.stats import binomtest

    if metric not in PROPORTION_METRICS:
        return SelectionUncertainty(metric, (), None, note=(
            f"no selection interval: {metric} is not a proportion of examples (only accuracy has one)"))
    sign = 1.0 if goal == "maximize" else -1.0
    ranked = sorted(trials, key=lambda t: (-sign * t.score, t.index))
    reference = next((p for t in ranked for p in t.predictions if p is not None), None)
    if reference is None:
        return SelectionUncertainty(metric, (), None, note="no selection interval: no trial kept its predictions")
    ids = reference.ids
    intervals: list[TrialInterval] = []
    pooled: dict[int, list[float]] = {}
    for trial in ranked:
        correct = _pooled_correctness(trial, ids)
        if correct is None:
            continue
        pooled[trial.index] = correct
        k, n = int(sum(correct)), len(correct)
        ci = binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
        intervals.append(TrialInterval(trial.index, trial.score, k, n, float(ci.low), float(ci.high)))
    if len(ranked) < 2:
        return SelectionUncertainty(metric, tuple(intervals), None, note=(
            "no runner-up to compare the chosen trial with: only one trial finished"))
    best, runner = ranked[0], ranked[1]
    if best.index not in pooled or runner.index not in pooled:
        return SelectionUncertainty(metric, tuple(intervals), None, note=(
            f"no paired comparison: trial {best.index if best.index not in pooled else runner.index} "
            "kept no predictions"))
    import numpy as np

    from sweepfirst.analysis.statistics import mcnemar

    test = mcnemar(np.array(pooled[best.index]), np.array(pooled[runner.index]))
    return SelectionUncertainty(
        metric, tuple(intervals),
        Comparison(best.index, runner.index, test.only_a_correct, test.only_b_correct,
                   test.n_examples, test.p_value),
    )


def load_trial(index: int, score: float, job_dirs: Sequence[Path]) -> ScoredTrial:
    """A trial's predictions from its jobs' folders (one per sweep seed)."""
    return ScoredTrial(index, score, tuple(read_predictions(d) for d in job_dirs))
