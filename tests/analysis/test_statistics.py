"""Every statistic against values computed by hand, with scipy as the oracle."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pytest
from scipy import stats

from sweepfirst.analysis import statistics
from sweepfirst.analysis.statistics import (
    bootstrap_difference,
    compare_paired,
    mcnemar,
    summarize_seeds,
)


class TestSummarizeSeeds:
    def test_mean_std_and_t_interval_by_hand(self) -> None:
        scores = [0.85, 0.86, 0.88]
        mean = (0.85 + 0.86 + 0.88) / 3
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / 2)
        half = stats.t.ppf(0.975, df=2) * std / math.sqrt(3)

        summary = summarize_seeds(scores)

        assert summary.n == 3
        assert summary.mean == pytest.approx(mean)
        assert summary.std == pytest.approx(std)
        assert summary.ci_low == pytest.approx(mean - half)
        assert summary.ci_high == pytest.approx(mean + half)
        assert (summary.min, summary.max) == (0.85, 0.88)
        assert summary.note is None

    def test_one_seed_has_no_interval_and_says_so(self) -> None:
        summary = summarize_seeds([0.9])
        assert (summary.n, summary.mean, summary.std) == (1, 0.9, None)
        assert summary.ci_low is None and summary.ci_high is None
        assert summary.note is not None and "one seed" in summary.note.lower()

    def test_identical_scores_give_a_zero_width_interval(self) -> None:
        summary = summarize_seeds([0.8, 0.8, 0.8])
        assert summary.std == 0.0
        assert summary.ci_low == summary.ci_high == pytest.approx(0.8)

    @pytest.mark.parametrize("scores", [[], [0.8, float("nan")]])
    def test_rejects_empty_or_nan(self, scores: list[float]) -> None:
        with pytest.raises(ValueError):
            summarize_seeds(scores)


A_BY_SEED: Mapping[int, float] = MappingProxyType({1: 0.86, 2: 0.85, 3: 0.88, 4: 0.87})
B_BY_SEED: Mapping[int, float] = MappingProxyType({1: 0.84, 2: 0.845, 3: 0.85, 5: 0.83})


class TestComparePaired:

    def test_pairs_only_common_seeds_and_lists_the_rest(self) -> None:
        result = compare_paired(A_BY_SEED, B_BY_SEED)
        assert result.seeds == (1, 2, 3)
        assert result.unmatched_seeds == (4, 5)
        assert result.n == 3

    def test_t_test_interval_and_dz_by_hand(self) -> None:
        diffs = np.array([0.86 - 0.84, 0.85 - 0.845, 0.88 - 0.85])
        mean, sd = diffs.mean(), diffs.std(ddof=1)
        t = mean / (sd / math.sqrt(3))
        half = stats.t.ppf(0.975, df=2) * sd / math.sqrt(3)

        result = compare_paired(A_BY_SEED, B_BY_SEED)

        assert result.mean_difference == pytest.approx(mean)
        assert result.std_difference == pytest.approx(sd)
        assert result.t_statistic == pytest.approx(t)
        assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), df=2))
        assert result.p_value == pytest.approx(
            stats.ttest_rel([0.86, 0.85, 0.88], [0.84, 0.845, 0.85]).pvalue
        )
        assert (result.ci_low, result.ci_high) == (
            pytest.approx(mean - half), pytest.approx(mean + half)
        )
        assert result.cohens_dz == pytest.approx(mean / sd)
        assert result.cohens_dz == pytest.approx(t / math.sqrt(3))

    def test_fewer_than_five_seeds_is_underpowered_with_a_sentence(self) -> None:
        result = compare_paired(A_BY_SEED, B_BY_SEED)
        assert result.underpowered
        assert result.power_note is not None and "3 paired seeds" in result.power_note
        assert result.power_note.endswith(".")

    def test_five_seeds_is_not_underpowered(self) -> None:
        a = {s: 0.85 + 0.01 * s for s in range(5)}
        b = {s: 0.84 + 0.012 * s ** 0.5 for s in range(5)}
        result = compare_paired(a, b)
        assert not result.underpowered and result.power_note is None

    def test_constant_difference_leaves_the_test_undefined(self) -> None:
        result = compare_paired({1: 0.9, 2: 0.8}, {1: 0.8, 2: 0.7})
        assert result.mean_difference == pytest.approx(0.1)
        assert result.p_value is None and result.cohens_dz is None
        assert result.note

    def test_no_common_seed(self) -> None:
        result = compare_paired({1: 0.9}, {2: 0.8})
        assert result.n == 0 and result.mean_difference is None and result.note

    def test_one_common_seed_has_a_difference_but_no_test(self) -> None:
        result = compare_paired({1: 0.9, 2: 0.5}, {1: 0.8})
        assert result.mean_difference == pytest.approx(0.1)
        assert result.p_value is None and result.unmatched_seeds == (2,)


def _pair(n: int, acc_a: float, acc_b: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < acc_a).astype(float), (rng.random(n) < acc_b).astype(float)


class TestBootstrapDifference:
    def test_interval_contains_the_observed_and_true_difference(self) -> None:
        a, b = _pair(2000, 0.85, 0.80)
        result = bootstrap_difference(a, b, n_resamples=2000, seed=0)
        assert result.difference == pytest.approx(a.mean() - b.mean())
        assert result.ci_low < result.difference < result.ci_high
        assert result.ci_low < 0.05 < result.ci_high
        assert result.method == "BCa"

    def test_matches_scipy_paired_bootstrap(self) -> None:
        a, b = _pair(300, 0.8, 0.75, seed=3)
        result = bootstrap_difference(a, b, n_resamples=500, seed=11)
        oracle = stats.bootstrap(
            (a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis), paired=True,
            vectorized=True, n_resamples=500, rng=np.random.default_rng(11), batch=200,
        )
        assert result.ci_low == pytest.approx(oracle.confidence_interval.low)
        assert result.ci_high == pytest.approx(oracle.confidence_interval.high)

    def test_deterministic_under_seed(self) -> None:
        a, b = _pair(400, 0.8, 0.78)
        first = bootstrap_difference(a, b, n_resamples=300, seed=5)
        assert bootstrap_difference(a, b, n_resamples=300, seed=5) == first
        assert bootstrap_difference(a, b, n_resamples=300, seed=6) != first

    def test_large_dev_sets_use_the_percentile_interval(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(statistics, "BCA_MAX_EXAMPLES", 100)
        a, b = _pair(300, 0.8, 0.75, seed=3)
        result = bootstrap_difference(a, b, n_resamples=500, seed=11)
        oracle = stats.bootstrap(
            (a, b), lambda x, y, axis: x.mean(axis) - y.mean(axis), paired=True,
            vectorized=True, n_resamples=500, rng=np.random.default_rng(11), method="percentile",
        )
        assert result.method == "percentile"
        assert result.ci_low == pytest.approx(oracle.confidence_interval.low)

    def test_identical_predictions_give_a_point_interval(self) -> None:
        a, _ = _pair(100, 0.8, 0.8)
        result = bootstrap_difference(a, a.copy())
        assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
        assert result.note

    def test_rejects_arrays_of_different_length(self) -> None:
        with pytest.raises(ValueError, match="same length"):
            bootstrap_difference(np.ones(5), np.ones(6))


class TestMcNemar:
    @staticmethod
    def _constructed() -> tuple[np.ndarray, np.ndarray]:
        # 50 both right, 12 only A right, 3 only B right, 5 both wrong.
        a = np.array([1] * 50 + [1] * 12 + [0] * 3 + [0] * 5)
        b = np.array([1] * 50 + [0] * 12 + [1] * 3 + [0] * 5)
        return a, b

    def test_counts(self) -> None:
        result = mcnemar(*self._constructed())
        assert (result.both_correct, result.only_a_correct, result.only_b_correct,
                result.both_wrong, result.n_examples) == (50, 12, 3, 5, 70)

    def test_exact_p_value_by_hand_and_by_scipy(self) -> None:
        result = mcnemar(*self._constructed())
        by_hand = 2 * sum(math.comb(15, k) for k in range(12, 16)) / 2 ** 15
        assert result.p_value == pytest.approx(by_hand)
        assert result.p_value == pytest.approx(stats.binomtest(12, 15, 0.5).pvalue)

    def test_chi_square_with_continuity_correction(self) -> None:
        result = mcnemar(*self._constructed())
        assert result.chi2_statistic == pytest.approx((abs(12 - 3) - 1) ** 2 / 15)
        assert result.chi2_p_value == pytest.approx(stats.chi2.sf(64 / 15, df=1))

    def test_no_discordant_pairs(self) -> None:
        a = np.array([1, 0, 1, 1])
        result = mcnemar(a, a)
        assert result.p_value == 1.0 and result.chi2_statistic is None and result.note

    def test_rejects_values_other_than_zero_and_one(self) -> None:
        with pytest.raises(ValueError, match="0/1"):
            mcnemar(np.array([0.5, 1.0]), np.array([1.0, 0.0]))


def test_every_result_is_frozen_and_json_ready() -> None:
    a, b = _pair(200, 0.8, 0.7)
    results = [
        summarize_seeds([0.8]),
        summarize_seeds([0.8, 0.9]),
        compare_paired({1: 0.8, 2: 0.9}, {1: 0.7, 2: 0.75}),
        compare_paired({1: 0.8}, {2: 0.7}),
        bootstrap_difference(a, b, n_resamples=200),
        mcnemar(a, b),
    ]
    for result in results:
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert json.loads(text) == json.loads(json.dumps(result.to_dict()))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, "note", "")  # noqa: B010 - the point is to bypass the type checker
