"""Whether a run learned nothing useful, or nearly nothing: rules over predicted and gold labels.

Standard library only (no numpy, no scipy), so `status` flags degenerate runs without the cost of
the statistics module; `statistics` re-exports these names.

* **degenerate** (`detect_degenerate`): one class takes at least 95% of the predictions, or
  accuracy is no more than 1 point above the majority-class rate (or below it). Such runs are
  shown apart in every summary.
* **near-degenerate** (`near_degenerate`): not degenerate, but one class takes at least 85% of the
  predictions, or accuracy is within 3 points of the majority-class rate. The report warns with
  the numbers; the run stays in every statistic.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

#: The near-degenerate rule's thresholds (stated in the report's warning).
NEAR_DOMINANT_SHARE = 0.85
NEAR_MAJORITY_MARGIN = 0.03


@dataclasses.dataclass(frozen=True)
class DegenerateCheck:
    """Whether one run collapsed to (nearly) a single predicted class."""

    is_degenerate: bool
    n_examples: int
    #: The class predicted most often and the share of predictions it takes.
    dominant_class: int
    dominant_share: float
    accuracy: float
    #: The most frequent label and its share: the accuracy of always predicting it.
    majority_class: int
    majority_rate: float
    #: One sentence: why the run was flagged, or why it looks healthy.
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @property
    def near_degenerate(self) -> str | None:
        """The near-degenerate warning (see the module docstring), or None."""
        return near_degenerate(self)


def detect_degenerate(
    predictions: Sequence[int],
    labels: Sequence[int],
    *,
    dominant_share: float = 0.95,
    tolerance: float = 0.01,
) -> DegenerateCheck:
    """Flag a classification run that learned nothing useful.

    A run is degenerate when one class takes at least ``dominant_share`` of its predictions
    (it collapsed onto a class), or when its accuracy is no better than ``tolerance`` above the
    majority-class rate of the labels (it does no better than always answering the most common
    label). Accuracy *below* the majority rate is flagged too: such a run is worse than the
    constant answer. Such runs still count in the summary, but the report shows the summary
    without them as well, because one collapsed seed can dominate a mean over three.
    """
    preds = list(predictions)
    golds = list(labels)
    if len(preds) != len(golds):
        raise ValueError(
            f"predictions ({len(preds)}) and labels ({len(golds)}) must have the same length."
        )
    if not preds:
        raise ValueError("detect_degenerate needs at least one prediction.")
    n = len(preds)
    dominant_class, dominant_count = _most_common(preds)
    majority_class, majority_count = _most_common(golds)
    share = dominant_count / n
    majority_rate = majority_count / n
    accuracy = sum(p == g for p, g in zip(preds, golds)) / n

    collapsed = share >= dominant_share
    trivial = accuracy <= majority_rate + tolerance
    if collapsed:
        reason = (f"{share:.1%} of predictions are class {dominant_class} "
                  f"(threshold {dominant_share:.0%}): the run collapsed onto one class.")
    elif trivial:
        reason = (f"Accuracy {accuracy:.1%} is no better than always predicting class "
                  f"{majority_class} ({majority_rate:.1%}, tolerance {tolerance:.1%}).")
    else:
        reason = (f"Healthy: the most frequent prediction takes {share:.1%} and accuracy "
                  f"{accuracy:.1%} beats the majority-class rate {majority_rate:.1%}.")
    return DegenerateCheck(
        is_degenerate=collapsed or trivial, n_examples=n, dominant_class=dominant_class,
        dominant_share=share, accuracy=accuracy, majority_class=majority_class,
        majority_rate=majority_rate, reason=reason,
    )


def near_degenerate(check: DegenerateCheck) -> str | None:
    """A sentence with the numbers when ``check``'s run is nearly degenerate, else None."""
    if check.is_degenerate:
        return None
    margin = check.accuracy - check.majority_rate
    reasons = []
    if check.dominant_share >= NEAR_DOMINANT_SHARE:
        reasons.append(f"{check.dominant_share:.1%} of predictions are class {check.dominant_class} "
                       f"(warning at {NEAR_DOMINANT_SHARE:.0%})")
    if margin <= NEAR_MAJORITY_MARGIN:
        reasons.append(f"accuracy {check.accuracy:.1%} is only {margin * 100:+.1f} points from the "
                       f"majority-class rate {check.majority_rate:.1%} (warning within "
                       f"{NEAR_MAJORITY_MARGIN * 100:.0f} points)")
    return "; ".join(reasons) + ": nearly degenerate" if reasons else None


def _most_common(values: list[int]) -> tuple[int, int]:
    # Ties go to the smallest class so the result does not depend on input order.
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top), top
