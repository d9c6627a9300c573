"""Reading what a finished job left in its folder: predictions and learning curves.

The training module writes these files (``sweepfirst.training.outputs``); this side only reads
them, with the standard library, so `status` and the report never import torch. A missing or
unreadable file is ``None``: an old job, or one whose folder was cleaned up, still reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from sweepfirst.analysis.degenerate import DegenerateCheck

PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Predictions:
    """One job's predictions on its eval split, ordered by example id."""

    ids: tuple[int, ...]
    labels: tuple[int, ...]
    predicted: tuple[int, ...]

    def correctness(self, ids: tuple[int, ...]) -> np.ndarray:
        """1.0 where the prediction matches the gold label, for the given example ids in order."""
        import numpy as np

        by_id = {i: float(p == g) for i, p, g in zip(self.ids, self.predicted, self.labels)}
        return np.array([by_id[i] for i in ids], dtype=float)


def read_predictions(job_dir: Path) -> Predictions | None:
    """The job's ``predictions.jsonl``, or None when it has none (not finished, or not kept)."""
    path = Path(job_dir) / PREDICTIONS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    rows = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append((int(record["idx"]), int(record["label"]), int(record["prediction"])))
        except (ValueError, KeyError, TypeError):
            return None  # a file we cannot read is reported as "not recorded", never guessed at
    if not rows:
        return None
    rows.sort()
    ids, labels, predicted = zip(*rows)
    return Predictions(ids=ids, labels=labels, predicted=predicted)


def check_degenerate(predictions: Predictions | None) -> DegenerateCheck | None:
    """`detect_degenerate` on a job's predictions; None when it has none."""
    if predictions is None:
        return None
    from sweepfirst.analysis.degenerate import detect_degenerate  # standard library only: fast

    return detect_degenerate(predictions.predicted, predictions.labels)


def read_history(job_dir: Path) -> list[dict[str, Any]]:
    """The evaluations recorded in ``metrics.json`` (``{"step", "epoch", "metrics"}``, oldest
    first); empty when the file is missing or has none."""
    path = Path(job_dir) / METRICS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    history = data.get("history") if isinstance(data, dict) else None
    return [h for h in history or [] if isinstance(h, dict) and isinstance(h.get("metrics"), dict)]


def shared_example_ids(a: Predictions, b: Predictions) -> tuple[int, ...]:
    """The example ids both jobs were scored on, ascending: what pairs up for McNemar."""
    return tuple(sorted(set(a.ids) & set(b.ids)))
