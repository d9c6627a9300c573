"""The report model: derived statistics follow the recorded scores, and it all serializes."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from sweepfirst.analysis.degenerate import detect_degenerate
from sweepfirst.analysis.report.model import (
    MethodComparison,
    MethodResult,
    PhaseTiming,
    ReportData,
    SeedRun,
)
from sweepfirst.analysis.statistics import compare_paired, summarize_seeds

COLLAPSED = detect_degenerate([1] * 10, [1] * 7 + [0] * 3)
HEALTHY = detect_degenerate([1] * 7 + [0] * 3, [1] * 7 + [0] * 3)


def _cell(
    scores: dict[int, float], flagged: frozenset[int] = frozenset(), **kwargs: object
) -> MethodResult:
    runs = tuple(SeedRun(seed, score, degenerate=COLLAPSED if seed in flagged else HEALTHY)
                 for seed, score in scores.items())
    return MethodResult(method="lora", hyperparameters={"learning_rate": 1e-4},
                        selection_score=0.9, production=runs, **kwargs)  # type: ignore[arg-type]


def test_summaries_follow_the_scores() -> None:
    cell = _cell({1: 0.85, 2: 0.86, 3: 0.70}, flagged=frozenset({3}))
    assert cell.summary == summarize_seeds([0.85, 0.86, 0.70])
    assert cell.summary_without_flagged == summarize_seeds([0.85, 0.86])
    assert [run.seed for run in cell.flagged_runs] == [3]


def test_without_flagged_is_none_when_nothing_or_everything_is_flagged() -> None:
    assert _cell({1: 0.85, 2: 0.86}).summary_without_flagged is None
    assert _cell({1: 0.7, 2: 0.7}, flagged=frozenset({1, 2})).summary_without_flagged is None


def test_sweep_gain_pairs_tuned_with_baseline_by_seed() -> None:
    baseline = (SeedRun(1, 0.80), SeedRun(2, 0.82), SeedRun(3, 0.81))
    cell = _cell({1: 0.85, 2: 0.86, 3: 0.84}, baseline=baseline)
    assert cell.sweep_gain == compare_paired({1: 0.85, 2: 0.86, 3: 0.84},
                                             {1: 0.80, 2: 0.82, 3: 0.81})
    assert _cell({1: 0.85}).sweep_gain is None


def test_comparison_between_runs_example_tests_for_common_seeds() -> None:
    rng = np.random.default_rng(0)
    a = _cell({1: 0.85, 2: 0.86})
    b = _cell({1: 0.84, 2: 0.83})
    correct_a = {s: (rng.random(100) < 0.85).astype(float) for s in (1, 2)}
    correct_b = {s: (rng.random(100) < 0.80).astype(float) for s in (2, 3)}
    comparison = MethodComparison.between(a, b, correct_a, correct_b, n_resamples=200)
    assert comparison.paired.seeds == (1, 2)
    assert [t.seed for t in comparison.per_seed] == [2]
    assert comparison.per_seed[0].mcnemar.n_examples == 100
    assert MethodComparison.between(a, b).per_seed == ()


def test_phase_duration() -> None:
    start = dt.datetime(2025, 1, 1, 12, 0)
    assert PhaseTiming("sweep", start, start + dt.timedelta(minutes=3)).duration_seconds == 180
    assert PhaseTiming("sweep", start, None).duration_seconds is None


def test_report_data_round_trips_through_json(sample_report: ReportData) -> None:
    data = json.loads(json.dumps(sample_report.to_dict(), allow_nan=False))
    mrpc_lora = data["tasks"][0]["methods"][1]
    assert mrpc_lora["method"] == "lora"
    assert mrpc_lora["summary"]["n"] == 3
    assert mrpc_lora["summary_without_flagged"]["n"] == 2
    assert mrpc_lora["production"][2]["flagged"] is True
    assert data["run"]["created_at"].startswith("2025-03-02T09:14:05")
    assert data["tasks"][0]["comparisons"][0]["per_seed"][0]["mcnemar"]["only_a_correct"] >= 0


def test_flagged_runs_are_listed_with_their_cell(sample_report: ReportData) -> None:
    assert [(t, m, k, r.seed) for t, m, k, r in sample_report.flagged_runs] == [
        ("MRPC", "lora", "production", 3)
    ]


def test_model_is_frozen(sample_report: ReportData) -> None:
    with pytest.raises(AttributeError):
        sample_report.tasks = ()  # type: ignore[misc]
