"""Drift across seeds and between methods: the numbers are the statistics module's, checked here
against scipy directly, and each comparison gets a sentence that says what the data show."""

from __future__ import annotations

from typing import Any

import pytest
from scipy import stats

from sweepfirst.analysis.drift_comparison import DriftRun, build_drift_report


def _run(method: str, seed: int, cka: list[float], change: float, intruders: int) -> DriftRun:
    layers = [{"layer": i, "name": "embeddings" if i == 0 else f"layer {i}", "cka_mean": c,
               "cka_mean_debiased": c, "cka_cls": None if i == 0 else c, "cka_cls_debiased": None if i == 0 else c}
              for i, c in enumerate(cka)]
    matrices: list[dict[str, Any]] = [
        {"layer": layer, "matrix": matrix, "relative_change": change * layer, "effective_rank": 3.0,
         "intruders": intruders if (layer, matrix) == (1, "query") else 0}
        for layer in (1, 2, 3) for matrix in ("query", "value")]
    return DriftRun.from_metrics(f"{method}-{seed}", {
        "source_job": seed, "source_phase": "production", "task": "mrpc", "method": method, "seed": seed,
        "model": {"path": "p", "kind": "full", "sha256": "x"}, "examples": 64, "layers": layers,
        "matrices": matrices, "intruder_top_k": 10, "intruder_threshold": 0.5})


def test_summaries_and_paired_tests_match_scipy() -> None:
    full = [_run("full_finetune", s, [0.99, 0.9 - d, 0.7 - d, 0.5 - d], 0.10 + d, 0) for s, d in ((1, 0.0), (2, 0.02), (3, 0.01))]
    lora = [_run("lora", s, [1.0, 0.99 - d, 0.98, 0.96 + d], 0.01, i) for s, d, i in ((1, 0.0, 2), (2, 0.01, 3), (3, 0.005, 2))]
    report = build_drift_report([*full, *lora])
    assert report is not None and report.intruder_top_k == 10
    (task,) = report.tasks
    by_method = {m.method: m for m in task.methods}
    last = by_method["full_finetune"].layers[-1].cka["cka_mean_debiased"]
    values = [0.5, 0.48, 0.49]
    assert last.mean == pytest.approx(sum(values) / 3)
    low, high = stats.t.interval(0.95, df=2, loc=sum(values) / 3, scale=stats.sem(values))
    assert (last.ci_low, last.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert by_method["lora"].intruders_total.mean == pytest.approx(7 / 3)
    assert by_method["full_finetune"].depth_spearman == pytest.approx(-1.0)
    assert "falls with depth" in by_method["full_finetune"].depth_sentence
    # The [CLS] vector of the embedding layer is undefined: left out, not averaged as a number.
    assert "cka_cls" not in by_method["lora"].layers[0].cka
    (comparison,) = task.comparisons
    layer3 = comparison.cka_by_layer[3]
    expected = stats.ttest_rel([0.5, 0.48, 0.49], [0.96, 0.97, 0.965])
    assert layer3.paired.p_value == pytest.approx(expected.pvalue)
    assert "full_finetune is lower than lora" in layer3.sentence
    # Embeddings: 0.99 against 1.0 on every seed -- a constant difference, said as such.
    assert "on every one of 3 seeds" in comparison.cka_by_layer[0].sentence
    intruders = comparison.intruders_total
    assert intruders.paired.mean_difference == pytest.approx(-7 / 3)


def test_no_detectable_difference_is_said_when_that_is_the_case() -> None:
    a = [_run("full_finetune", s, [1.0, 0.9 + e], 0.1, 0) for s, e in ((1, 0.01), (2, -0.02), (3, 0.015))]
    b = [_run("lora", s, [1.0, 0.9 + e], 0.1, 0) for s, e in ((1, -0.01), (2, 0.02), (3, 0.0))]
    report = build_drift_report([*a, *b])
    assert report is not None
    sentence = report.tasks[0].comparisons[0].cka_by_layer[1].sentence
    assert sentence.startswith("CKA at layer 1: no detectable difference between full_finetune and lora")
    assert build_drift_report([]) is None
