"""Degenerate-run detection on constructed predictions."""

from __future__ import annotations

import json

import pytest

from sweepfirst.analysis.degenerate import detect_degenerate

# 70 positives, 30 negatives: the majority-class rate is 0.70.
LABELS = [1] * 70 + [0] * 30


def test_all_one_class_is_flagged_as_collapsed() -> None:
    check = detect_degenerate([1] * 100, LABELS)
    assert check.is_degenerate
    assert (check.dominant_class, check.dominant_share) == (1, 1.0)
    assert check.accuracy == pytest.approx(0.70)
    assert "collapsed" in check.reason


def test_accuracy_at_the_majority_rate_is_flagged_even_with_mixed_predictions() -> None:
    # 80 ones, 20 zeros, 70 right: accuracy equals the majority rate, no class above 95%.
    preds = [1] * 60 + [0] * 10 + [1] * 20 + [0] * 10
    check = detect_degenerate(preds, LABELS)
    assert check.dominant_share == pytest.approx(0.80)
    assert check.accuracy == pytest.approx(0.70)
    assert check.majority_rate == pytest.approx(0.70)
    assert check.is_degenerate
    assert "no better than always predicting class 1" in check.reason


def test_accuracy_within_tolerance_above_majority_is_flagged() -> None:
    preds = [1] * 55 + [0] * 15 + [0] * 16 + [1] * 14  # 71 right, class 1 takes 69%
    assert detect_degenerate(preds, LABELS, tolerance=0.02).is_degenerate
    assert not detect_degenerate(preds, LABELS, tolerance=0.005).is_degenerate


def test_accuracy_below_the_majority_rate_is_flagged() -> None:
    preds = [1] * 40 + [0] * 30 + [0] * 10 + [1] * 20  # 50 right, below 0.70
    check = detect_degenerate(preds, LABELS)
    assert check.is_degenerate and check.dominant_share < 0.95


def test_a_healthy_run_is_not_flagged() -> None:
    preds = [1] * 65 + [0] * 5 + [0] * 25 + [1] * 5  # 90 right
    check = detect_degenerate(preds, LABELS)
    assert not check.is_degenerate
    assert check.accuracy == pytest.approx(0.90)
    assert check.reason.startswith("Healthy")


def test_dominant_share_threshold_is_inclusive() -> None:
    labels = [0] * 50 + [1] * 50
    preds = [0] * 50 + [1] * 45 + [0] * 5  # 95% right, class 0 takes 55%
    assert not detect_degenerate(preds, labels).is_degenerate
    assert detect_degenerate(preds, labels, dominant_share=0.55).is_degenerate


def test_rejects_mismatched_lengths_and_empty_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        detect_degenerate([1, 0], [1])
    with pytest.raises(ValueError):
        detect_degenerate([], [])


def test_to_dict_is_json_ready() -> None:
    check = detect_degenerate([1] * 100, LABELS)
    assert json.loads(json.dumps(check.to_dict()))["is_degenerate"] is True
