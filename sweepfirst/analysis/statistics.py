"""The statistics a comparison report rests on: pure functions over numbers, no database.

Two levels of evidence are kept apart on purpose:

* **across seeds** (`summarize_seeds`, `compare_paired`): one score per production run; the unit
  of replication is the training seed, so the interval says how much a method's score moves when
  it is trained again.
* **across dev examples** (`bootstrap_difference`, `mcnemar`): per-example correctness of one
  seed of each method on the same dev set; the unit is the example, so the interval says how much
  the difference would move on another dev set of the same size - not on another training run.

Every result is a frozen dataclass with ``to_dict()`` so the report can write it to JSON as is.
Statistics that are undefined for the input (a spread from one seed, a test with no discordant
pairs) are ``None`` together with a sentence that says why, never ``nan``: ``nan`` is not valid
JSON and reads like a bug.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# The degenerate-run rule needs no numpy or scipy: it lives apart, so `status` can apply it fast.
from sweepfirst.analysis.degenerate import DegenerateCheck, detect_degenerate  # noqa: F401


def _stats():  # scipy takes ~1 s to import; `status` must not pay it unless it computes
    from scipy import stats

    return stats

#: The confidence level of every interval in the report.
CONFIDENCE_LEVEL = 0.95

#: Fewer paired seeds than this and a comparison is marked underpowered. With 4 seeds a paired
#: t-test has 3 degrees of freedom (t_0.975 = 3.18), so only differences several times the
#: seed-to-seed spread reach p < 0.05; 5 seeds is the usual floor in fine-tuning papers.
MIN_SEEDS_FOR_POWER = 5

#: Above this many dev examples the bootstrap uses the percentile interval instead of BCa:
#: BCa's jackknife costs n^2 (40 s for QQP's 40k examples, per seed), and for a mean over that
#: many examples the bootstrap distribution is so close to symmetric that the two agree.
BCA_MAX_EXAMPLES = 5000

# Differences closer than this count as identical: seed scores that differ only by float
# round-off must not produce a t statistic of 1e15.
_IDENTICAL_ATOL = 1e-12


class _ToDict:
    """``to_dict()`` for the frozen result dataclasses below (all fields are plain values)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclasses.dataclass(frozen=True)
class SeedSummary(_ToDict):
    """Mean, spread and a t-based 95% confidence interval of one method's scores over seeds."""

    n: int
    mean: float
    #: Sample standard deviation (ddof=1); ``None`` for a single seed.
    std: float | None
    ci_low: float | None
    ci_high: float | None
    min: float
    max: float
    #: Why the interval is missing, when it is.
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class PairedComparison(_ToDict):
    """Method A minus method B over the seeds both were trained with."""

    #: The seeds present for both methods, ascending; only these enter the test.
    seeds: tuple[int, ...]
    #: Seeds one method has and the other does not; listed so a dropped run is visible.
    unmatched_seeds: tuple[int, ...]
    n: int
    mean_a: float | None
    mean_b: float | None
    #: Mean of the per-seed differences A - B.
    mean_difference: float | None
    #: Standard deviation (ddof=1) of the per-seed differences.
    std_difference: float | None
    t_statistic: float | None
    #: Two-sided paired t-test (scipy.stats.ttest_rel).
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    #: Cohen's d_z: mean difference / sd of the differences (the paired-design effect size).
    cohens_dz: float | None
    underpowered: bool
    #: A plain sentence about what this many seeds can and cannot show; ``None`` when enough.
    power_note: str | None
    #: Why a statistic is missing, when one is.
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class BootstrapResult(_ToDict):
    """Paired bootstrap over dev examples of mean(A) - mean(B) for one seed of each method."""

    n_examples: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    standard_error: float
    n_resamples: int
    seed: int
    #: The interval method scipy used: "BCa", or "percentile" where BCa is undefined.
    method: str
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class McNemarResult(_ToDict):
    """McNemar's test on the 2x2 table of per-example correctness of A and B on one dev set.

    In textbook notation ``only_a_correct`` is *b* and ``only_b_correct`` is *c*; only these
    discordant pairs carry evidence about which method is better.
    """

    n_examples: int
    both_correct: int
    #: McNemar's *b*: A right, B wrong.
    only_a_correct: int
    #: McNemar's *c*: A wrong, B right.
    only_b_correct: int
    both_wrong: int
    #: Exact two-sided p-value: binomial test of b successes in b + c trials at p = 0.5.
    p_value: float
    #: Chi-square statistic with continuity correction, (|b - c| - 1)^2 / (b + c).
    chi2_statistic: float | None
    chi2_p_value: float | None
    note: str | None = None


def summarize_seeds(scores: Sequence[float]) -> SeedSummary:
    """Summarize one method's production scores over seeds.

    The 95% interval is ``mean ± t_{0.975, n-1} · std / sqrt(n)``: the t distribution, not the
    normal, because n is a handful of seeds. With one seed there is no spread, so ``std`` and the
    interval are ``None`` and ``note`` says so.
    """
    values = _finite_array(scores, "scores")
    if values.size == 0:
        raise ValueError("summarize_seeds needs at least one score; the method has no runs.")
    n = int(values.size)
    mean = float(values.mean())
    low, high = float(values.min()), float(values.max())
    if n == 1:
        return SeedSummary(
            n=1, mean=mean, std=None, ci_low=None, ci_high=None, min=low, max=high,
            note="Only one seed: the spread and the confidence interval are undefined.",
        )
    std = float(values.std(ddof=1))
    if std <= _IDENTICAL_ATOL:
        # scipy's interval is (nan, nan) at zero scale; the honest interval is the point.
        return SeedSummary(n=n, mean=mean, std=0.0, ci_low=mean, ci_high=mean, min=low, max=high,
                           note="All seeds scored the same; the interval has zero width.")
    ci_low, ci_high = _stats().t.interval(
        CONFIDENCE_LEVEL, df=n - 1, loc=mean, scale=std / np.sqrt(n)
    )
    return SeedSummary(n=n, mean=mean, std=std, ci_low=float(ci_low), ci_high=float(ci_high),
                       min=low, max=high)


def compare_paired(
    a_scores_by_seed: Mapping[int, float], b_scores_by_seed: Mapping[int, float]
) -> PairedComparison:
    """Compare two methods seed by seed: paired t-test, its 95% interval and Cohen's d_z.

    Seeds are matched by number because the seed fixes the data order and the classifier-head
    initialisation for both methods; pairing removes that shared variation. Seeds only one method
    has are left out and listed in ``unmatched_seeds``.

    The effect size is Cohen's d_z (mean of the differences over their standard deviation), the
    one that matches the paired test (t = d_z · sqrt(n)). It is larger than a between-groups d
    when seeds are strongly correlated, so compare it only with other d_z values.
    """
    common = tuple(sorted(set(a_scores_by_seed) & set(b_scores_by_seed)))
    unmatched = tuple(sorted(set(a_scores_by_seed) ^ set(b_scores_by_seed)))
    a = _finite_array([a_scores_by_seed[s] for s in common], "a_scores_by_seed")
    b = _finite_array([b_scores_by_seed[s] for s in common], "b_scores_by_seed")
    n = len(common)
    diffs = a - b

    mean_diff = std_diff = t_statistic = p_value = ci_low = ci_high = cohens_dz = None
    note = None
    if n == 0:
        note = "The two methods share no seed, so nothing can be paired."
    elif n == 1:
        mean_diff = float(diffs.mean())
        note = "Only one shared seed: the paired t-test and its interval need at least two."
    else:
        mean_diff = float(diffs.mean())
        std_diff = float(diffs.std(ddof=1))
        if std_diff <= _IDENTICAL_ATOL:
            std_diff = 0.0
            note = "The difference is the same on every seed, so the t-test and d_z are undefined."
        else:
            result = _stats().ttest_rel(a, b)
            ci = result.confidence_interval(CONFIDENCE_LEVEL)
            t_statistic, p_value = float(result.statistic), float(result.pvalue)
            ci_low, ci_high = float(ci.low), float(ci.high)
            cohens_dz = mean_diff / std_diff

    underpowered = n < MIN_SEEDS_FOR_POWER
    return PairedComparison(
        seeds=common,
        unmatched_seeds=unmatched,
        n=n,
        mean_a=float(a.mean()) if n else None,
        mean_b=float(b.mean()) if n else None,
        mean_difference=mean_diff,
        std_difference=std_diff,
        t_statistic=t_statistic,
        p_value=p_value,
        ci_low=ci_low,
        ci_high=ci_high,
        cohens_dz=cohens_dz,
        underpowered=underpowered,
        power_note=_power_note(n) if underpowered else None,
        note=note,
    )


def bootstrap_difference(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> BootstrapResult:
    """95% paired-bootstrap interval of mean(A) - mean(B) over the same dev examples.

    ``correct_a[i]`` and ``correct_b[i]`` are the two methods' metric values on example ``i``
    (0/1 correctness for accuracy). Examples are resampled as pairs (``paired=True``) so the
    interval reflects how often the methods disagree, not just their two accuracies. The BCa
    interval is used; where it is undefined (very few disagreements) or too slow (more than
    `BCA_MAX_EXAMPLES` examples) the percentile interval is used instead, and ``method`` says so.
    Deterministic for a given ``seed``.
    """
    a, b = _paired_arrays(correct_a, correct_b)
    diffs = a - b
    mean_a, mean_b = float(a.mean()), float(b.mean())
    difference = mean_a - mean_b
    if np.ptp(diffs) == 0:
        # Every resample gives the same difference; scipy would return nan.
        return BootstrapResult(
            n_examples=int(a.size), mean_a=mean_a, mean_b=mean_b, difference=difference,
            ci_low=difference, ci_high=difference, standard_error=0.0,
            n_resamples=n_resamples, seed=seed, method="none",
            note=(
                "The per-example difference is the same on every example: the interval is a "
                "point."
            ),
        )

    def mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    def run(method: str) -> Any:
        return _stats().bootstrap(
            (a, b), mean_difference, paired=True, vectorized=True, n_resamples=n_resamples,
            confidence_level=CONFIDENCE_LEVEL, method=method, rng=np.random.default_rng(seed),
            # Bounds memory: a batch is (batch, n_examples) floats, and BCa's jackknife would
            # otherwise build an n x n array (800 MB for a 10k-example dev set).
            batch=200,
        )

    method = "BCa" if a.size <= BCA_MAX_EXAMPLES else "percentile"
    result = run(method)
    if not np.all(np.isfinite(result.confidence_interval)):
        method = "percentile"
        result = run(method)
    ci = result.confidence_interval
    return BootstrapResult(
        n_examples=int(a.size), mean_a=mean_a, mean_b=mean_b, difference=difference,
        ci_low=float(ci.low), ci_high=float(ci.high),
        standard_error=float(result.standard_error), n_resamples=n_resamples, seed=seed,
        method=method,
    )


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """McNemar's test of whether A and B err on the same dev examples equally often.

    The exact p-value is a two-sided binomial test (scipy.stats.binomtest) of the b "A right,
    B wrong" pairs among the b + c discordant pairs; it stays valid when b + c is small, where
    the chi-square approximation (also given, with continuity correction) does not.
    """
    a, b = _paired_arrays(correct_a, correct_b)
    for name, values in (("correct_a", a), ("correct_b", b)):
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError(f"{name} must hold 0/1 correctness per example for McNemar's test.")
    a_right, b_right = a.astype(bool), b.astype(bool)
    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(~a_right & b_right))
    discordant = only_a + only_b
    if discordant == 0:
        p_value, chi2, chi2_p = 1.0, None, None
        note = ("The methods are right and wrong on exactly the same examples: no evidence "
                "either way.")
    else:
        p_value = float(_stats().binomtest(only_a, discordant, p=0.5).pvalue)
        chi2 = (abs(only_a - only_b) - 1) ** 2 / discordant
        chi2_p = float(_stats().chi2.sf(chi2, df=1))
        note = None
    return McNemarResult(
        n_examples=int(a.size),
        both_correct=int(np.sum(a_right & b_right)),
        only_a_correct=only_a,
        only_b_correct=only_b,
        both_wrong=int(np.sum(~a_right & ~b_right)),
        p_value=p_value,
        chi2_statistic=chi2,
        chi2_p_value=chi2_p,
        note=note,
    )


def _power_note(n: int) -> str:
    seeds = "seed" if n == 1 else "seeds"
    return (
        f"Only {n} paired {seeds} (fewer than {MIN_SEEDS_FOR_POWER}): the test can detect only "
        "differences several times larger than the seed-to-seed spread, so a large p-value is "
        "not evidence that the methods are equal."
    )


def _finite_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} contains NaN or infinity; drop failed runs before the statistics."
        )
    return array


def _paired_arrays(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"correct_a {a.shape} and correct_b {b.shape} must be 1-D and the same length: "
            "one value per dev example, in the same example order."
        )
    if a.size == 0:
        raise ValueError("The per-example arrays are empty; there is no dev set to compare on.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("The per-example values contain NaN or infinity.")
    return a, b
