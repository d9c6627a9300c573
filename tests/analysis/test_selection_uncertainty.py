"""Selection uncertainty: Wilson intervals and McNemar's exact test, against their textbook rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sweepfirst.analysis.job_outputs import Predictions
from sweepfirst.analysis.selection_uncertainty import ScoredTrial, load_trial, measure

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's score interval, written from its formula (Wilson 1927)."""
    p = k / n
    centre = p + Z95**2 / (2 * n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return (centre - half) / (1 + Z95**2 / n), (centre + half) / (1 + Z95**2 / n)


def predictions(right: list[bool]) -> Predictions:
    """Gold label 1 everywhere; predicted 1 where ``right``."""
    n = len(right)
    return Predictions(ids=tuple(range(n)), labels=(1,) * n, predicted=tuple(int(r) for r in right))


def test_interval_and_mcnemar_match_the_textbook() -> None:
    # 100 selection examples. Best: 70 right; runner-up: 60 right. They disagree on 20 examples:
    # best alone is right on 15, runner-up alone on 5 (55 both right, 25 both wrong).
    best = [True] * 55 + [True] * 15 + [False] * 5 + [False] * 25
    runner = [True] * 55 + [False] * 15 + [True] * 5 + [False] * 25
    result = measure("eval_accuracy", "maximize", [
        ScoredTrial(1, 0.60, (predictions(runner),)),
        ScoredTrial(4, 0.70, (predictions(best),)),
    ])
    first, second = result.intervals
    assert (first.index, first.correct, first.examples) == (4, 70, 100)
    assert (first.low, first.high) == pytest.approx(wilson(70, 100), abs=1e-12)
    assert (second.low, second.high) == pytest.approx(wilson(60, 100), abs=1e-12)
    assert first.low == pytest.approx(0.6041, abs=1e-4) and first.high == pytest.approx(0.7810, abs=1e-4)
    c = result.comparison
    assert c is not None and (c.best, c.runner_up, c.best_only, c.runner_up_only) == (4, 1, 15, 5)
    # Two-sided exact binomial test of 5 successes in 20 at p = 1/2: 2 * sum_{k<=5} C(20, k) / 2^20.
    expected = 2 * sum(math.comb(20, k) for k in range(6)) / 2**20
    assert expected == pytest.approx(0.041389, abs=1e-6)
    assert c.p_value == pytest.approx(expected, rel=1e-12)
    assert c.distinguishable
    assert "distinguishable (McNemar exact p = 0.0414" in result.sentence()


def test_close_trials_are_not_distinguishable_and_the_remedy_is_named() -> None:
    best = [True] * 72 + [False] * 28
    runner = [True] * 70 + [False] * 30
    result = measure("eval_accuracy", "maximize", [
        ScoredTrial(0, 0.72, (predictions(best),)), ScoredTrial(1, 0.70, (predictions(runner),))])
    assert result.comparison is not None and not result.comparison.distinguishable
    # 2 discordant examples, both for the best trial: p = 2 * (1/2)^2 = 0.5
    assert result.comparison.p_value == pytest.approx(0.5)
    assert "not distinguishable" in result.sentence() and "seeds.sweep" in result.sentence()


def test_sweep_seeds_are_pooled_as_paired_examples() -> None:
    a_seed0 = [True] * 8 + [False] * 2
    a_seed1 = [True] * 9 + [False] * 1
    b_seed0 = [True] * 6 + [False] * 4
    b_seed1 = [True] * 6 + [False] * 4
    result = measure("eval_accuracy", "maximize", [
        ScoredTrial(0, 0.85, (predictions(a_seed0), predictions(a_seed1))),
        ScoredTrial(1, 0.60, (predictions(b_seed0), predictions(b_seed1))),
    ])
    assert [(i.correct, i.examples) for i in result.intervals] == [(17, 20), (12, 20)]
    assert result.comparison is not None
    assert (result.comparison.best_only, result.comparison.runner_up_only) == (5, 0)


def test_lower_is_better_and_ties_go_to_the_earlier_trial() -> None:
    right = [True] * 5 + [False] * 5
    result = measure("eval_accuracy", "minimize", [
        ScoredTrial(3, 0.5, (predictions(right),)), ScoredTrial(2, 0.5, (predictions(right),))])
    assert result.comparison is not None and result.comparison.best == 2
    assert result.comparison.p_value == 1.0  # no discordant example


def test_what_has_no_interval_says_why() -> None:
    right = [True] * 5 + [False] * 5
    assert "not a proportion" in measure("eval_f1", "maximize", [ScoredTrial(0, 0.5, (predictions(right),))]).note
    one = measure("eval_accuracy", "maximize", [ScoredTrial(0, 0.5, (predictions(right),))])
    assert one.comparison is None and len(one.intervals) == 1 and "only one trial" in one.sentence()
    missing = measure("eval_accuracy", "maximize", [
        ScoredTrial(0, 0.5, (predictions(right),)), ScoredTrial(1, 0.4, (None,))])
    assert "trial 1 kept no predictions" in missing.sentence()
    json.dumps(missing.to_json())


def test_load_trial_reads_the_job_folders(tmp_path: Path) -> None:
    job = tmp_path / "trial000-seed0"
    job.mkdir()
    rows = [{"idx": 7, "label": 1, "prediction": 1}, {"idx": 3, "label": 0, "prediction": 1}]
    (job / "predictions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    trial = load_trial(0, 0.5, [job, tmp_path / "missing"])
    assert trial.predictions[0] is not None and trial.predictions[0].ids == (3, 7)
    assert trial.predictions[1] is None
